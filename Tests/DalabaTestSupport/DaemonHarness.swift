import DalabaAudio
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `dalabad` process in a directory of its own: audio, configuration, state, and (optionally) the paced
/// capture device. Tests drive it with the real `dalaba` tool or plain HTTP.
///
/// The daemon binds port 0, so the system gives it a free port, and the harness reads the bound address back from
/// `<state-directory>/listen`, which dalabad writes once it listens: no two tests can collide on a port. Every wait on the
/// daemon is bounded and fails with its log.
public final class DaemonHarness: @unchecked Sendable {
    public let directory: URL
    /// The port the running daemon listens on; 0 before `start()` and new at each start.
    public private(set) var port = 0
    public var device: String
    public let tokens: [String: String] = [
        "operator": "operator-token-0123456789", "official": "official-token-0123456789", "admin": "admin-token-0123456789abc",
    ]
    public var extraConfiguration = ""
    /// Extra keys for the [station] table.
    public var stationConfiguration = ""
    /// Extra keys for the [device] table.
    public var deviceConfiguration = ""
    /// Laid over this process's environment for the daemon only (the paced device's, for one).
    public var environment: [String: String] = [:]
    /// How long `start()` waits for the daemon to listen, and `stop()` for it to exit on SIGTERM.
    public var startTimeout: Double = 30
    public var stopTimeout: Double = 20
    private var process: Child?
    private var logHandle: FileHandle?

    public init(name: String, device: String = "null") throws {
        directory = try Processes.temporaryDirectory(name)
        self.device = device
        try FileManager.default.createDirectory(at: audioDirectory, withIntermediateDirectories: true)
        for signal in ["chime.wav", "attention.wav"] {
            try FileManager.default.copyItem(
                at: Processes.packageRoot.appendingPathComponent("Audio/\(signal)"), to: audioDirectory.appendingPathComponent(signal))
        }
    }

    public var audioDirectory: URL { directory.appendingPathComponent("audio") }
    public var stateDirectory: URL { directory.appendingPathComponent("state") }
    public var server: String { "http://127.0.0.1:\(port)" }
    public var logPath: String { directory.appendingPathComponent("dalabad.log").path }
    public var schedulesDirectory: URL { directory.appendingPathComponent("schedules") }
    /// Where dalabad writes the address it listens on.
    public var listenFile: String { stateDirectory.appendingPathComponent("listen").path }
    /// What the daemon has logged so far.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Writes a tone into the audio directory and returns its name there.
    @discardableResult
    public func tone(_ name: String, frequency: Double, seconds: Double, rate: Int = 48_000, channels: Int = 2) throws -> String {
        let writer = try SoundFileWriter(path: audioDirectory.appendingPathComponent(name).path, format: .wav16, rate: rate, channels: channels)
        try writer.write(Tone.sine(frequency: frequency, seconds: seconds, rate: rate, channels: channels))
        writer.close()
        return name
    }

    public var configuration: String {
        """
        log-level = "debug"

        [device]
        name = "\(device)"
        \(deviceConfiguration)

        [station]
        state-directory = "\(stateDirectory.path)"
        audio-directory = "\(audioDirectory.path)"
        schedules-directory = "\(schedulesDirectory.path)"
        \(stationConfiguration)

        [[tokens]]
        name = "op-wang"
        token = "\(tokens["operator"]!)"
        role = "operator"

        [[tokens]]
        name = "official-li"
        token = "\(tokens["official"]!)"
        role = "official"

        [[tokens]]
        name = "admin-zhao"
        token = "\(tokens["admin"]!)"
        role = "admin"

        \(extraConfiguration)
        """
    }

    /// Starts `dalabad` on port 0 and waits, at most `startTimeout` seconds, until it has reported its address and its API
    /// answers there.
    public func start() async throws {
        // Tests start daemons in parallel: at the suite's start, dozens at once on two cores (beside stress-ng) took over
        // 30 s each. Starting a few at a time keeps each start quick; the wait for a turn is not part of the start's limit
        // (it is part of a test's `.timeLimit`, so tests that start daemons allow a few minutes).
        await StartTurns.shared.take()
        defer { Task { await StartTurns.shared.give() } }
        let configPath = directory.appendingPathComponent("dalaba.toml").path
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        let process = Child()
        process.executableURL = URL(fileURLWithPath: Processes.resolve("dalabad"))
        // Port 0 on the command line: the configuration file's `http.listen` takes only real ports.
        process.arguments = ["--config", configPath, "--listen", "127.0.0.1:0"]
        process.environment = Processes.childEnvironment(environment)
        process.currentDirectoryURL = directory
        process.standardOutput = log
        process.standardError = log
        // An address left by an earlier run of this directory is not this run's.
        try? FileManager.default.removeItem(atPath: listenFile)
        port = 0
        try Processes.start(process)
        self.process = process
        logHandle = log
        let deadline = Date().addingTimeInterval(startTimeout)
        // Look before judging the time: a test process that did not run for a while (a busy pool) must not call a daemon
        // that answered meanwhile "not started".
        var lastLook = false
        while process.isRunning, !lastLook {
            lastLook = Date() >= deadline
            if port == 0, let text = try? String(contentsOfFile: listenFile, encoding: .utf8),
                let colon = text.lastIndex(of: ":"), let bound = Int(text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)),
                bound > 0
            {
                port = bound
            }
            if port != 0, let (status, _) = try? await request("GET", "/v1/status", role: "admin", timeout: 5), status == 200 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        let running = process.isRunning
        await kill()
        throw HarnessError.didNotStart(
            (running ? "no answer within \(startTimeout) s (listen file: \(port == 0 ? "absent" : "port \(port)"))\n" : "it exited\n") + self.log)
    }

    /// Sends SIGTERM and returns the exit status; after `stopTimeout` seconds it kills the daemon and returns -1.
    @discardableResult
    public func stop() -> Int32 {
        guard let process, process.isRunning else { return process?.terminationStatus ?? 0 }
        process.terminate()
        guard Processes.wait(for: process, timeout: stopTimeout) else {
            kill()
            return -1
        }
        return process.terminationStatus
    }

    /// `kill -9`: no chance to record anything.
    public func kill() {
        guard let process, process.isRunning else { return }
        Processes.killTree(process)
        _ = Processes.wait(for: process, timeout: 10)
    }

    /// `stop` for async tests: the wait for the daemon's exit holds no thread of the cooperative pool.
    @discardableResult
    public func stop() async -> Int32 {
        guard let process, process.isRunning else { return process?.terminationStatus ?? 0 }
        process.terminate()
        guard await Processes.wait(for: process, timeout: stopTimeout) else {
            await kill()
            return -1
        }
        return process.terminationStatus
    }

    /// `kill` for async tests, waiting for the exit without holding a pool thread.
    public func kill() async {
        guard let process, process.isRunning else { return }
        Processes.killTree(process)
        _ = await Processes.wait(for: process, timeout: 10)
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// Sends `signal` (SIGHUP to reload, say) to the running daemon.
    public func signal(_ signal: Int32) {
        process?.signal(signal)
    }

    deinit {
        kill()
    }

    /// Runs the real `dalaba` tool against this daemon with `role`'s token, for at most `timeout` seconds.
    public func dalaba(_ arguments: [String], role: String = "operator", timeout: Double = 60) throws -> Processes.Result {
        try Processes.run("dalaba", arguments + ["--server", server, "--token", tokens[role] ?? role], timeout: timeout)
    }

    /// `dalaba` for async tests, off the cooperative pool (`Processes.run`'s async overload says why).
    public func dalaba(_ arguments: [String], role: String = "operator", timeout: Double = 60) async throws -> Processes.Result {
        try await Processes.run("dalaba", arguments + ["--server", server, "--token", tokens[role] ?? role], timeout: timeout)
    }

    /// One HTTP request; `role` picks a configured token, any other string is sent as the token itself, nil sends none.
    public func request(
        _ method: String, _ path: String, role: String? = nil, body: Data? = nil, contentType: String = "application/json",
        timeout: Double = 10
    ) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: server + path)!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = timeout
        if body != nil { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let role { request.setValue("Bearer \(tokens[role] ?? role)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// The daemon's status as JSON.
    public func status() async throws -> [String: Any] {
        let (_, data) = try await request("GET", "/v1/status", role: "admin")
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Polls status until `condition` holds (the daemon's own state, not a schedule): at most `timeout` seconds.
    public func waitFor(_ what: String, timeout: Double = 20, _ condition: ([String: Any]) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            // Looked at once more after the deadline, in case this test did not run for a while.
            let last = Date() >= deadline
            if let status = try? await status(), condition(status) { return }
            if last { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError.timedOut(what)
    }

    /// The device's negotiated period and buffer, read from the daemon's log after it stopped.
    public func deviceSettingsFromLog() async throws -> (period: Int, buffer: Int) {
        let log = try String(contentsOfFile: logPath, encoding: .utf8)
        guard let line = log.split(separator: "\n").last(where: { $0.contains("device open") }) else { return (0, 0) }
        let value = { (key: String) in
            line.split(separator: " ").first { $0.hasPrefix("\(key)=") }.flatMap { Int($0.dropFirst(key.count + 1)) } ?? 0
        }
        return (value("period"), value("buffer"))
    }

    public static func nowPlayingID(_ status: [String: Any]) -> String? {
        ((status["nowPlaying"] as? [String: Any])?["item"] as? [String: Any])?["id"] as? String
    }

    public static func position(_ status: [String: Any]) -> Double {
        ((status["nowPlaying"] as? [String: Any])?["position"] as? Double) ?? 0
    }

    public static func queueIDs(_ status: [String: Any]) -> [String] {
        ((status["queue"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
    }

    public static func isIdle(_ status: [String: Any]) -> Bool {
        status["nowPlaying"] == nil && queueIDs(status).isEmpty
    }
}

public enum HarnessError: Error, CustomStringConvertible {
    case didNotStart(String)
    case timedOut(String)
    public var description: String {
        switch self {
        case .didNotStart(let log): "dalabad did not start:\n\(log)"
        case .timedOut(let what): "timed out waiting for \(what)"
        }
    }
}

/// At most `count` test processes (daemons, head-ends) starting at once, in arrival order; a turn is held from launch
/// until the process answers (or fails to).
public actor StartTurns {
    public static let shared = StartTurns(count: 3)
    private var free: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(count: Int) { free = count }

    public func take() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func give() {
        if waiters.isEmpty { free += 1 } else { waiters.removeFirst().resume() }
    }
}
