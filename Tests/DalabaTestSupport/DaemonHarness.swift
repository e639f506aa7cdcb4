import DalabaAudio
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A real `dalabad` process in a directory of its own: audio, configuration, state, and (optionally) the paced
/// capture device. Tests drive it with the real `dalaba` tool or plain HTTP.
public final class DaemonHarness: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public var device: String
    public let tokens: [String: String] = [
        "operator": "operator-token-0123456789", "official": "official-token-0123456789", "admin": "admin-token-0123456789abc",
    ]
    public var extraConfiguration = ""
    /// Extra keys for the [station] table.
    public var stationConfiguration = ""
    /// Extra keys for the [device] table.
    public var deviceConfiguration = ""
    public var environment: [String: String] = [:]
    private var process: Process?
    private var logHandle: FileHandle?

    public init(name: String, device: String = "null") throws {
        directory = try Processes.temporaryDirectory(name)
        port = 20_000 + Int.random(in: 0..<20_000)
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
        schedules-directory = "\(directory.appendingPathComponent("schedules").path)"
        \(stationConfiguration)

        [http]
        listen = "127.0.0.1:\(port)"

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

    /// Starts `dalabad` and waits until its API answers.
    public func start() async throws {
        let configPath = directory.appendingPathComponent("dalaba.toml").path
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Processes.resolve("dalabad"))
        process.arguments = ["--config", configPath]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = directory
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        logHandle = log
        for _ in 0..<200 {
            if let (status, _) = try? await request("GET", "/v1/status", role: "admin"), status == 200 { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw HarnessError.didNotStart((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
    }

    /// Sends SIGTERM and returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        guard let process, process.isRunning else { return process?.terminationStatus ?? 0 }
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// `kill -9`: no chance to record anything.
    public func kill() {
        guard let process, process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    deinit {
        kill()
    }

    /// Runs the real `dalaba` tool against this daemon with `role`'s token.
    public func dalaba(_ arguments: [String], role: String = "operator") throws -> Processes.Result {
        try Processes.run("dalaba", arguments + ["--server", server, "--token", tokens[role] ?? role])
    }

    /// One HTTP request; `role` picks a configured token, any other string is sent as the token itself, nil sends none.
    public func request(
        _ method: String, _ path: String, role: String? = nil, body: Data? = nil, contentType: String = "application/json"
    ) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: server + path)!)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 10
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
        while Date() < deadline {
            if let status = try? await status(), condition(status) { return }
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
