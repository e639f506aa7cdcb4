@_exported import DalabaProcess
import Foundation
import Synchronization

/// Real processes for end-to-end tests: the built executables, jackd, sox, aplay.
///
/// Tests run in parallel in one process, so nothing here touches this process's environment: a child gets its environment
/// as an explicit argument, and every wait on a child is bounded in time.
public enum Processes {
    /// The directory holding the built `dalaba` and `dalabad` (beside the test bundle), or `DALABA_BIN_DIR`.
    public static var binDirectory: URL {
        if let dir = ProcessInfo.processInfo.environment["DALABA_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        var candidate = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("dalaba").path) { return candidate }
            candidate.deleteLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug")
    }

    /// The package's root directory.
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` to completion, reading its stdout and stderr at the same time (a child that fills one pipe while
    /// the other is being read would otherwise block for ever). `environment` is added to this process's environment for the
    /// child only. After `timeout` seconds the child is killed and `ProcessError.timedOut` names it with what it printed.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 60
    ) throws -> Result {
        let process = Child()
        process.executableURL = URL(fileURLWithPath: resolve(executable))
        process.arguments = arguments
        process.environment = childEnvironment(environment)
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try start(process)
        // The parent's copies of the write ends must go, or the readers never see end of file.
        try? out.fileHandleForWriting.close()
        try? err.fileHandleForWriting.close()
        let outData = Collected()
        let errData = Collected()
        let readers = DispatchGroup()
        for (pipe, collected) in [(out, outData), (err, errData)] {
            readers.enter()
            let handle = pipe.fileHandleForReading
            // A thread of its own, not Dispatch's global queue: that has a thread or two per core and does not see a read
            // block, so beside other runs' readers this one waited seconds for a thread, and a child filling its pipe meanwhile
            // could not exit.
            let reader = Thread {
                // Chunk by chunk, so what a child printed before it hung is there for the error message.
                while case let chunk = handle.availableData, !chunk.isEmpty { collected.append(chunk) }
                readers.leave()
            }
            reader.stackSize = 1 << 20
            reader.start()
        }
        let exited = wait(for: process, timeout: timeout)
        if !exited {
            killTree(process)
            _ = wait(for: process, timeout: 5)
        }
        // A grandchild holding a pipe open (a daemon the child started) must not hang the test either.
        let drained = readers.wait(timeout: .now() + (exited ? 10 : 2)) == .success
        let result = Result(
            status: process.isRunning ? -1 : process.terminationStatus, stdout: String(decoding: outData.data, as: UTF8.self),
            stderr: String(decoding: errData.data, as: UTF8.self))
        if !exited { throw ProcessError.timedOut("\(executable) \(arguments.joined(separator: " "))", seconds: timeout, output: result) }
        if !drained { throw ProcessError.timedOut("the output of \(executable) \(arguments.joined(separator: " "))", seconds: 10, output: result) }
        return result
    }

    /// `run` for async tests, on a thread of its own (`offPool`): a child's whole run would otherwise hold one of the
    /// cooperative pool's two threads, and other tests' deadlines pass while they never ran.
    @discardableResult
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 60
    ) async throws -> Result {
        try await offPool { try run(executable, arguments, environment: environment, timeout: timeout) }
    }

    /// Starts `child` (a `Child`, not Foundation's `Process`: its doc comment says why).
    public static func start(_ child: Child) throws { try child.run() }

    /// A stand-in server (a script of Tests/Hostile, a Python server of a test's own) that prints the port it bound as its
    /// first line: started, and that port read. The caller kills it with `killTree` (SIGKILL: this process's blocked signal
    /// mask is inherited, so the child would ignore SIGTERM).
    public static func startListening(_ executable: String, _ arguments: [String]) throws -> (process: Child, port: Int) {
        let process = Child()
        process.executableURL = URL(fileURLWithPath: resolve(executable))
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try start(process)
        var said = Data()
        while !said.contains(UInt8(ascii: "\n")) {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { break }
            said.append(more)
        }
        guard let port = Int(String(decoding: said, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            killTree(process)
            throw ProcessError.noPort("\(executable) \(arguments.joined(separator: " "))", said: String(decoding: said, as: UTF8.self))
        }
        return (process, port)
    }

    /// `startListening` for async tests: the wait for the server's first line (a Python start-up, seconds under load) off
    /// the cooperative pool.
    public static func startListening(_ executable: String, _ arguments: [String]) async throws -> (process: Child, port: Int) {
        try await offPool { try startListening(executable, arguments) }
    }

    /// Runs blocking work (a child process waited for, a server's start-up) on a thread of its own and awaits it. The
    /// cooperative pool has one thread per core, two here: a fixture that blocks one for the seconds initdb or jack_wait
    /// take stalls every other test in the process, and their deadlines then pass while they never ran.
    public static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Swift.Result { try body() }) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// This process's environment with `extra` laid over it: what a child should get.
    public static func childEnvironment(_ extra: [String: String]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(extra) { $1 }
    }

    /// Waits at most `timeout` seconds for `process` to exit; true when it did.
    public static func wait(for process: Child, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline { return false }
            usleep(5_000)
        }
        // isRunning turns false when the child is reaped; waitUntilExit then returns at once and settles terminationStatus.
        process.waitUntilExit()
        return true
    }

    /// Waits at most `timeout` seconds for `process` to exit, without holding a thread of the cooperative pool.
    public static func wait(for process: Child, timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
        process.waitUntilExit()
        return true
    }

    /// SIGKILL to `child` and everything it started, only while it is ours and unreaped: a child that has gone is left
    /// alone, since a suite wraps Linux's 32,768 pids and its pid may be another test's process by now (see `Child.signal`).
    public static func killTree(_ child: Child) {
        _ = child.whileRunning { killTree($0) }
    }

    /// SIGKILL to `pid` and to every process below it: a grandchild left running would keep the child's pipes open. Only
    /// for a pid known to be live and ours (a postmaster's, checked against its data directory); a `Child` goes through
    /// `killTree(_ child:)`.
    public static func killTree(_ pid: Int32) {
        var children: [Int32: [Int32]] = [:]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let child = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // "pid (comm) state ppid …": the name may hold spaces and parentheses, so read after the last ")".
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, let parent = Int32(fields[1]) { children[parent, default: []].append(child) }
        }
        var order: [Int32] = []
        var pending = [pid]
        while let next = pending.popLast() {
            order.append(next)
            pending += children[next] ?? []
        }
        for victim in order { kill(victim, SIGKILL) }
    }

    /// SIGTERM, then SIGKILL if `process` has not exited after `grace` seconds. Returns whether it exited on SIGTERM.
    @discardableResult
    public static func terminate(_ process: Child, grace: Double = 10) -> Bool {
        guard process.isRunning else { return true }
        process.terminate()
        if wait(for: process, timeout: grace) { return true }
        killTree(process)
        _ = wait(for: process, timeout: 5)
        return false
    }

    /// `terminate` for async tests: the same signals, waited for without holding a thread of the cooperative pool.
    @discardableResult
    public static func terminate(_ process: Child, grace: Double = 10) async -> Bool {
        guard process.isRunning else { return true }
        process.terminate()
        if await wait(for: process, timeout: grace) { return true }
        killTree(process)
        _ = await wait(for: process, timeout: 5)
        return false
    }

    /// `dalaba` or a tool on PATH, as an absolute path.
    public static func resolve(_ executable: String) -> String {
        if executable.hasPrefix("/") { return executable }
        if executable == "dalaba" || executable == "dalabad" { return binDirectory.appendingPathComponent(executable).path }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return executable
    }

    /// A fresh directory for one test's files.
    public static func temporaryDirectory(_ name: String = "test") throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Bytes read from one pipe by its own thread.
    private final class Collected: Sendable {
        private let bytes = Mutex(Data())
        func append(_ data: Data) { bytes.withLock { $0.append(data) } }
        var data: Data { bytes.withLock { $0 } }
    }
}

public enum ProcessError: Error, CustomStringConvertible {
    case timedOut(String, seconds: Double, output: Processes.Result)
    case noPort(String, said: String)

    public var description: String {
        switch self {
        case .timedOut(let what, let seconds, let output):
            "\(what) did not finish within \(seconds) s (killed); stdout: \(output.stdout.suffix(2000)) stderr: \(output.stderr.suffix(2000))"
        case .noPort(let what, let said):
            "\(what) printed no port as its first line: \(said.prefix(500).debugDescription)"
        }
    }
}
