import Foundation

/// A real Mosquitto broker of the test's own: `mosquitto -c FILE` on a free loopback port in a temp directory, TLS only
/// (a CA and server certificate made with `openssl` for this broker), `password_file` made with `mosquitto_passwd`, an
/// `acl_file` with one user per village (it reads its county, township and village topics and writes only its own uplink)
/// and one head-end user, and `persistence true` (saved every second and at shutdown), so `restart()` keeps sessions and
/// queued messages. Stop it with `stop()` (or `kill()`, SIGKILL by pid); `deinit` kills a broker left running.
public final class Broker: @unchecked Sendable {
    /// A username and password on this broker.
    public struct Credential: Sendable, Hashable {
        public var username: String
        public var password: String
    }

    public let directory: URL
    /// The TLS listener on 127.0.0.1; the same port across `restart()`.
    public private(set) var port = 0
    /// The CA certificate clients verify the broker with.
    public var caFile: String { directory.appendingPathComponent("ca.crt").path }
    public var logPath: String { directory.appendingPathComponent("mosquitto.log").path }
    public var configPath: String { directory.appendingPathComponent("mosquitto.conf").path }
    /// What the broker has logged so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The head-end's credential: reads and writes every `dalaba/` topic.
    public let headEnd: Credential
    /// One credential per village code: username = the code.
    public private(set) var villages: [String: Credential] = [:]
    private var process: Child?

    /// The credentials for `villages` (12-digit codes); the certificates, password and ACL files are written at the first start.
    public init(villages: [String], name: String = "broker") throws {
        directory = try Processes.temporaryDirectory(name)
        headEnd = Credential(username: "county-head-end", password: "head-end-" + UUID().uuidString)
        for village in villages { self.villages[village] = Credential(username: village, password: "v-" + UUID().uuidString) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("data"), withIntermediateDirectories: true)
    }

    /// The certificates and the hashed password file, made at the first start: five openssl runs and a mosquitto_passwd
    /// over every village take seconds, which must not be spent on the cooperative pool (Processes.offPool says why).
    private var prepared = false

    deinit { if let process { Processes.killTree(process) } }

    /// The village's credential (a precondition failure for a code the broker was not made for).
    public func credential(for village: String) -> Credential {
        guard let c = villages[village] else { preconditionFailure("the broker has no user for village \(village)") }
        return c
    }

    public var pid: Int32? { process?.isRunning == true ? process?.processIdentifier : nil }
    public var isRunning: Bool { process?.isRunning ?? false }

    // MARK: Running

    /// Starts the broker (on a fresh free port the first time, the same one after) and waits until it accepts connections.
    public func start(timeout: Double = 15) async throws {
        guard !isRunning else { return }
        if !prepared {
            try await Processes.offPool { [self] in
                try makeCertificates()
                try writeUsers()
            }
            prepared = true
        }
        for attempt in 0..<5 {
            if port == 0 || attempt > 0 && !everStarted { port = try Self.freePort() }
            try writeConfiguration()
            let process = Child()
            // Through python3, which unblocks and resets SIGTERM/SIGINT/SIGHUP before exec: the test runner's threads block
            // them, a child inherits that mask, and a broker deaf to SIGTERM never saves its persistence file on `stop()`.
            process.executableURL = URL(fileURLWithPath: Processes.resolve("python3"))
            process.arguments = [
                "-c",
                "import os, signal, sys\n"
                    + "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, signal.SIG_DFL)\n"
                    + "signal.pthread_sigmask(signal.SIG_SETMASK, set())\n"
                    + "os.execv(sys.argv[1], ['mosquitto', '-c', sys.argv[2]])",
                Processes.resolve("mosquitto"), configPath,
            ]
            process.currentDirectoryURL = directory
            let out = try FileHandle(forWritingTo: ensureFile(directory.appendingPathComponent("mosquitto.out")))
            out.seekToEndOfFile()
            process.standardOutput = out
            process.standardError = out
            try Processes.start(process)
            self.process = process
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline, process.isRunning {
                if Self.accepts(port: port) {
                    everStarted = true
                    return
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            // One last look: on a loaded machine this task may have slept through the deadline while the broker came up.
            if process.isRunning, Self.accepts(port: port) {
                everStarted = true
                return
            }
            if process.isRunning {
                Processes.killTree(process)
                throw BrokerFixtureError("mosquitto did not listen on \(port) within \(timeout) s; log: \(log.suffix(2000))")
            }
            // Exited: most likely the port was taken between choosing and binding it; try another unless it was ours before.
            if everStarted { break }
        }
        throw BrokerFixtureError("mosquitto exited at start; log: \(log.suffix(2000)) output: \(outputText.suffix(2000))")
    }

    private var everStarted = false

    /// SIGTERM (mosquitto saves its persistence file), waiting for the exit.
    public func stop() async {
        guard let process, process.isRunning else { return }
        process.terminate()
        if !(await Processes.wait(for: process, timeout: 10)) {
            Processes.killTree(process)
            _ = await Processes.wait(for: process, timeout: 5)
        }
    }

    /// SIGKILL by pid: what was saved by the last autosave (at most a second ago) survives.
    public func kill() async {
        guard let process, process.isRunning else { return }
        Processes.killTree(process)
        _ = await Processes.wait(for: process, timeout: 5)
    }

    /// Stops and starts again on the same port with the same persistence directory.
    public func restart() async throws {
        await stop()
        try await start()
    }

    /// Kills the broker (SIGKILL by pid) and removes its directory, at once: for a test's `defer`.
    public func shutdown() {
        if let process, process.isRunning {
            Processes.killTree(process)
            _ = Processes.wait(for: process, timeout: 5)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Removes the directory (after stopping).
    public func remove() async {
        await stop()
        try? FileManager.default.removeItem(at: directory)
    }

    private var outputText: String {
        (try? String(contentsOf: directory.appendingPathComponent("mosquitto.out"), encoding: .utf8)) ?? ""
    }

    // MARK: Files

    private func writeConfiguration() throws {
        let d = directory.path
        var text = """
            per_listener_settings false
            allow_anonymous false
            password_file \(d)/passwd
            acl_file \(d)/acl
            persistence true
            persistence_location \(d)/data/
            autosave_interval 1
            max_queued_messages 100000
            max_inflight_messages 100
            log_dest file \(d)/mosquitto.log
            log_type error
            log_type warning
            log_type notice
            log_type information
            connection_messages true
            listener \(port) 127.0.0.1
            cafile \(d)/ca.crt
            certfile \(d)/server.crt
            keyfile \(d)/server.key

            """
        // Run as root (a test machine's usual user), mosquitto would switch to the `mosquitto` user, which cannot read this
        // directory's files.
        if getuid() == 0 { text = "user root\n" + text }
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    private func writeUsers() throws {
        let passwd = directory.appendingPathComponent("passwd").path
        var plain = "\(headEnd.username):\(headEnd.password)\n"
        var acl = "user \(headEnd.username)\ntopic readwrite dalaba/#\n\n"
        for (code, credential) in villages.sorted(by: { $0.key < $1.key }) {
            plain += "\(credential.username):\(credential.password)\n"
            let county = code.prefix(6)
            let township = code.prefix(9)
            acl += """
                user \(credential.username)
                topic read dalaba/down/\(county)
                topic read dalaba/down/\(township)
                topic read dalaba/down/\(code)
                topic write dalaba/up/\(code)/#

                """
        }
        try plain.write(toFile: passwd, atomically: true, encoding: .utf8)
        // `-U` hashes every line of a plain `user:password` file in one run (rather than one mosquitto_passwd per village).
        let result = try Processes.run("mosquitto_passwd", ["-U", passwd], timeout: 120)
        guard result.status == 0 else { throw BrokerFixtureError("mosquitto_passwd -U failed: \(result.stderr)") }
        try acl.write(toFile: directory.appendingPathComponent("acl").path, atomically: true, encoding: .utf8)
    }

    /// A CA and a server certificate for 127.0.0.1 and localhost, signed by it (EC keys: fast to make).
    private func makeCertificates() throws {
        let d = directory.path
        let steps: [[String]] = [
            ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "\(d)/ca.key"],
            ["req", "-x509", "-new", "-key", "\(d)/ca.key", "-sha256", "-days", "30", "-subj", "/CN=Dalaba test CA", "-out", "\(d)/ca.crt"],
            ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "\(d)/server.key"],
            ["req", "-new", "-key", "\(d)/server.key", "-subj", "/CN=127.0.0.1", "-out", "\(d)/server.csr"],
            [
                "x509", "-req", "-in", "\(d)/server.csr", "-CA", "\(d)/ca.crt", "-CAkey", "\(d)/ca.key", "-CAcreateserial", "-days", "30",
                "-sha256", "-extfile", "\(d)/san.ext", "-out", "\(d)/server.crt",
            ],
        ]
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\n".write(toFile: "\(d)/san.ext", atomically: true, encoding: .utf8)
        for step in steps {
            let result = try Processes.run("openssl", step, timeout: 30)
            guard result.status == 0 else { throw BrokerFixtureError("openssl \(step.joined(separator: " ")) failed: \(result.stderr)") }
        }
    }

    private func ensureFile(_ url: URL) -> URL {
        if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil) }
        return url
    }

    // MARK: Ports

    /// A port the system just handed out for 127.0.0.1 (bound to port 0 and closed again).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BrokerFixtureError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw BrokerFixtureError("bind: \(String(cString: strerror(errno)))") }
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        guard named == 0 else { throw BrokerFixtureError("getsockname: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// True when something accepts TCP connections on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}

public struct BrokerFixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
