import Foundation
import Synchronization

/// A PostgreSQL 15 cluster of one test's own: `initdb` into a temporary directory owned by the `postgres` user (root may not
/// run the server), `pg_ctl` to start it on a free loopback port, and stop, kill -9 and restart for fault tests. Nothing is
/// shared with another test or with a system cluster; `destroy()` stops the server and removes its files.
public final class PostgresCluster: @unchecked Sendable {
    public let directory: URL
    public private(set) var port = 0
    public let database = "dalaba"
    public let user = "postgres"
    /// Debian's server binaries.
    public static let binaries = "/usr/lib/postgresql/15/bin"

    public var dataDirectory: String { directory.appendingPathComponent("data").path }
    public var logPath: String { directory.appendingPathComponent("server.log").path }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Whether this machine can run a cluster (the packages are installed and we may switch to `postgres`).
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: "\(binaries)/initdb") && FileManager.default.isExecutableFile(atPath: "/usr/sbin/runuser")
            && getpwnam("postgres") != nil
    }

    /// Makes the cluster (initdb, trust authentication on loopback) and the `dalaba` database, and starts it.
    public init(name: String = "pg") async throws {
        directory = URL(fileURLWithPath: "/tmp").appendingPathComponent("dalaba-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        guard let owner = getpwnam("postgres") else { throw ClusterError.failed("there is no postgres user (apt-get install postgresql)") }
        guard chown(directory.path, owner.pointee.pw_uid, owner.pointee.pw_gid) == 0 else {
            throw ClusterError.failed("chown \(directory.path): \(String(cString: strerror(errno)))")
        }
        let arguments = ["-u", "postgres", "--", "\(Self.binaries)/initdb", "-D", dataDirectory, "-A", "trust", "-U", user, "-E", "UTF8", "--no-sync"]
        // Seconds of initdb and start-up, off the cooperative pool (Processes.offPool says why).
        let initdb = try await Processes.offPool { try Processes.run("/usr/sbin/runuser", arguments, timeout: 120) }
        guard initdb.status == 0 else { throw ClusterError.failed("initdb: \(initdb.stderr)") }
        try await Processes.offPool { [self] in try start() }
        let create = try await Processes.offPool { [self] in try psql("CREATE DATABASE \(database)", database: "postgres") }
        guard create.status == 0 else { throw ClusterError.failed("CREATE DATABASE: \(create.stderr)") }
    }

    deinit { destroy() }

    /// Starts the server (on the port it had before, or on a new free one the first time) and waits until it accepts.
    ///
    /// `postgres` runs as a direct child (under `runuser`), not daemonised by `pg_ctl start`: a daemon would inherit the
    /// socket by which Foundation learns that its child exited, and the start would never be seen to finish.
    ///
    /// The port chosen is free when probed, yet another test may bind it before postgres does (CI's neighbours start
    /// hundreds of servers): a first start then tries another port, a restart (whose clients know the port) the same one
    /// again a moment later, up to five times.
    public func start(timeout: Double = 60) throws {
        let fresh = port == 0
        for attempt in 1...5 {
            if port == 0 { port = try Self.freePort() }
            do {
                return try startOnce(timeout: timeout)
            } catch ClusterError.portTaken(let log) {
                if attempt == 5 { throw ClusterError.failed("postgres exited: port \(port) was taken five times: \(log.suffix(2000))") }
                if fresh { port = 0 } else { usleep(500_000) }
            }
        }
    }

    private func startOnce(timeout: Double) throws {
        let process = Child()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/runuser")
        // fsync off: a test cluster need not survive a power cut (a kill -9 of the server still loses no commit, since the
        // kernel keeps what was written), and the suite runs on a shared 2-core machine. Commits stay synchronous.
        process.arguments = [
            "-u", "postgres", "--", "\(Self.binaries)/postgres", "-D", dataDirectory, "-p", "\(port)", "-k", directory.path,
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
        ]
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try Processes.start(process)
        try? log.close()
        server = process
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard process.isRunning else {
                let log = self.log
                if log.contains("could not bind") && log.contains("Address already in use") { throw ClusterError.portTaken(log) }
                throw ClusterError.failed("postgres exited: \(log.suffix(2000))")
            }
            // Asked on the server's own socket in this cluster's directory, which postgres makes only once it has bound its
            // TCP port: over TCP, another test's cluster on the same port would answer "ready" for a server that is failing
            // to bind (CI saw a CREATE DATABASE land in the wrong cluster).
            if let ready = try? Processes.run("\(Self.binaries)/pg_isready", ["-q", "-h", directory.path, "-p", "\(port)"], timeout: 10),
                ready.status == 0
            {
                return
            }
            usleep(50_000)
        }
        throw ClusterError.failed("postgres did not accept connections within \(timeout) s: \(self.log.suffix(2000))")
    }

    private var server: Child?

    /// A fast shutdown: open sessions are ended, the server exits cleanly.
    @discardableResult
    public func stop() -> Bool {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") else { return true }
        let result = try? Processes.run(
            "/usr/sbin/runuser", ["-u", "postgres", "--", "\(Self.binaries)/pg_ctl", "-D", dataDirectory, "-m", "fast", "-w", "stop"], timeout: 60)
        if let server { _ = Processes.wait(for: server, timeout: 10) }
        server = nil
        return result?.status == 0
    }

    /// SIGKILL to the postmaster and its backends, as a crash or an OOM kill would do.
    public func kill() {
        if let pid = postmasterPID {
            Processes.killTree(pid)
            let deadline = Date().addingTimeInterval(10)
            while Foundation.kill(pid, 0) == 0, Date() < deadline { usleep(10_000) }
        }
        if let server { _ = Processes.wait(for: server, timeout: 10) }
        server = nil
    }

    /// The postmaster's pid, from `postmaster.pid`, while it runs.
    public var postmasterPID: Int32? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let pid = Int32(first), Foundation.kill(pid, 0) == 0
        else { return nil }
        // The file outlives a kill -9, and a suite wraps Linux's 32,768 pids: only a postgres of this data directory is ours.
        let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))).map { String(decoding: $0, as: UTF8.self) } ?? ""
        guard command.contains("postgres"), command.contains(dataDirectory) else { return nil }
        return pid
    }

    /// Stops the server (kill -9 when it does not stop) and removes the cluster's files.
    public func destroy() {
        if postmasterPID != nil, !stop() { kill() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Runs SQL through `psql` as the cluster's superuser; `-v ON_ERROR_STOP=1`, unaligned tuples only.
    @discardableResult
    public func psql(_ sql: String, database: String? = nil) throws -> Processes.Result {
        try Processes.run(
            "/usr/bin/psql",
            ["-h", "127.0.0.1", "-p", "\(port)", "-U", user, "-d", database ?? self.database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            timeout: 120)
    }

    /// One value from a query, trimmed.
    public func scalar(_ sql: String) throws -> String {
        let result = try psql(sql)
        guard result.status == 0 else { throw ClusterError.failed("psql: \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `start` for async tests: pg_isready polled off the cooperative pool (`Processes.offPool` says why).
    public func start(timeout: Double = 60) async throws {
        try await Processes.offPool { [self] in try start(timeout: timeout) }
    }

    /// `stop` for async tests: `pg_ctl stop` waits for the server's shutdown, off the cooperative pool.
    @discardableResult
    public func stop() async -> Bool {
        (try? await Processes.offPool { [self] in stop() }) ?? false
    }

    /// `kill` for async tests, waiting for the postmaster's exit off the cooperative pool.
    public func kill() async {
        _ = try? await Processes.offPool { [self] in kill() }
    }

    /// `destroy` for async tests (a test's cleanup), off the cooperative pool.
    public func destroy() async {
        _ = try? await Processes.offPool { [self] in destroy() }
    }

    /// `psql` for async tests, off the cooperative pool (`Processes.run`'s async overload says why).
    @discardableResult
    public func psql(_ sql: String, database: String? = nil) async throws -> Processes.Result {
        try await Processes.offPool { [self] in try psql(sql, database: database) }
    }

    /// `scalar` for async tests, off the cooperative pool.
    public func scalar(_ sql: String) async throws -> String {
        try await Processes.offPool { [self] in try scalar(sql) }
    }

    /// The next port to try; see `freePort`.
    private static let nextPort = Mutex(20_000 + Int(getpid()) % 6_000)

    /// A loopback port nobody listens on now, from below the kernel's ephemeral range (32768–60999 on Debian): the system
    /// never gives those to an outgoing connection or to another fixture's port-0 probe, and this process hands them out
    /// one after another, so a cluster restarted on its port after a kill -9 finds it still free.
    public static func freePort() throws -> Int {
        for _ in 0..<2_000 {
            let port = nextPort.withLock { next in
                defer { next = next >= 31_999 ? 20_000 : next + 1 }
                return next
            }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ClusterError.failed("socket: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0 { return port }
        }
        throw ClusterError.failed("no free port in 20000–31999")
    }

    public enum ClusterError: Error, CustomStringConvertible {
        case failed(String)
        /// Another process bound the port first; the server's log.
        case portTaken(String)
        public var description: String {
            switch self {
            case .failed(let what): "PostgreSQL test cluster: \(what)"
            case .portTaken(let log): "PostgreSQL test cluster: the port was taken: \(log.suffix(2000))"
            }
        }
    }
}
