import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process (an amplifier command, espeak-ng; a test's daemon or server): started with `posix_spawn`, given only its
/// three standard descriptors, and reaped by its own pid.
///
/// Not Foundation's `Process`: on Linux that learns a child exited when a socket it hands the child closes, and one manager
/// thread then blocks in `waitpid` for that child. A child that closes its inherited descriptors at start (as servers do)
/// ends that socket at once, so the manager thread waits for that child's real exit and sees no other child's exit meanwhile:
/// on CI, `openssl ecparam` "did not finish" within 30 s twice at the same moment. And an amplifier command that leaves a job
/// running (`amp-ctl on &`) hands it the socket, so the command's own exit was not seen until the job ended: "did not finish
/// within 5 s and was killed". A `Child` is polled by its pid instead. Its surface is the part of `Process` in use here.
public final class Child: @unchecked Sendable {
    public var executableURL: URL?
    public var arguments: [String] = []
    /// The child's whole environment; this process's when nil.
    public var environment: [String: String]?
    public var currentDirectoryURL: URL?
    /// A `Pipe` or a `FileHandle`; this process's own descriptor when left alone, `/dev/null` when set to nil or to
    /// `FileHandle.nullDevice`.
    public var standardInput: Any? = FileHandle.standardInput
    public var standardOutput: Any? = FileHandle.standardOutput
    public var standardError: Any? = FileHandle.standardError

    private enum State {
        case notStarted
        case running(pid_t)
        case exited(pid_t, status: Int32)
    }
    private let state = Mutex(State.notStarted)

    public init() {}

    public var processIdentifier: Int32 {
        state.withLock {
            switch $0 {
            case .notStarted: 0
            case .running(let pid), .exited(let pid, _): pid
            }
        }
    }

    /// Whether the child still runs; reaps it (without blocking) once it has exited.
    public var isRunning: Bool { state.withLock { Self.stillRunning(&$0) != nil } }

    /// The pid while the child runs (or is a zombie not yet reaped); reaps it once it has exited. Called with the lock held.
    private static func stillRunning(_ state: inout State) -> pid_t? {
        guard case .running(let pid) = state else { return nil }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid {
            state = .exited(pid, status: status)
            return nil
        }
        if reaped == -1, errno == ECHILD {
            // Reaped by someone else: gone, its status unknown.
            state = .exited(pid, status: 0xff00)
            return nil
        }
        return pid
    }

    /// Sends `signal` only while the child is ours and unreaped, under the lock that reaps it: a pid is free for the kernel
    /// to give again once reaped, and a suite starts children fast enough to wrap Linux's 32,768 pids, so a signal to the pid
    /// of a child that has gone could reach another test's process. Returns whether it was sent.
    @discardableResult
    public func signal(_ number: Int32) -> Bool {
        state.withLock { state in
            guard let pid = Self.stillRunning(&state) else { return false }
            return Glibc.kill(pid, number) == 0
        }
    }

    /// Runs `body` with the child's pid while it is ours and unreaped (so the pid is not another process's), holding the lock
    /// that reaps it; nil when it has exited.
    public func whileRunning<T>(_ body: (pid_t) -> T) -> T? {
        state.withLock { state in
            guard let pid = Self.stillRunning(&state) else { return nil }
            return body(pid)
        }
    }

    /// The exit status, or the number of the signal that ended it.
    public var terminationStatus: Int32 {
        guard case .exited(_, let status) = state.withLock({ $0 }) else { preconditionFailure("the child has not exited") }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    public var terminationReason: Process.TerminationReason {
        guard case .exited(_, let status) = state.withLock({ $0 }) else { preconditionFailure("the child has not exited") }
        return status & 0x7f == 0 ? .exit : .uncaughtSignal
    }

    /// SIGTERM, while it runs.
    public func terminate() { signal(SIGTERM) }

    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// Waits at most `seconds` for the child to exit; true when it did.
    public func wait(timeout seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning {
            if Date() >= deadline { return false }
            usleep(5_000)
        }
        return true
    }

    /// SIGKILL to the child alone, while it runs.
    public func kill() { signal(SIGKILL) }

    /// Starts the child, in a process group of its own as `Process` does. Its standard descriptors are duplicated from what
    /// was set; every other descriptor is closed in it. A pipe's end that the child holds is then closed here, so a reader of
    /// its output sees end of file when the child (and whatever it started) has closed it.
    public func run() throws {
        guard let executableURL else { throw ChildError("no executable set") }
        var path = executableURL.path
        var argv = [path] + arguments
        if let currentDirectoryURL {
            // posix_spawn's chdir is a GNU extension not in Swift's Glibc: a shell changes directory and execs the child.
            argv = ["/bin/sh", "-c", "cd -- \"$0\" && exec \"$@\"", currentDirectoryURL.path] + argv
            path = "/bin/sh"
        }
        var descriptors: [Int32] = []
        var devNull: FileHandle?
        for (target, value) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            switch value {
            case let pipe as Pipe:
                descriptors.append(target == 0 ? pipe.fileHandleForReading.fileDescriptor : pipe.fileHandleForWriting.fileDescriptor)
            case let handle as FileHandle where handle.fileDescriptor >= 0:
                descriptors.append(handle.fileDescriptor)
            case is FileHandle, nil:
                // `FileHandle.nullDevice` has no descriptor (-1): /dev/null, as for nil.
                if devNull == nil { devNull = FileHandle(forUpdatingAtPath: "/dev/null") }
                guard let devNull else { throw ChildError("cannot open /dev/null") }
                descriptors.append(devNull.fileDescriptor)
            default:
                throw ChildError("standard descriptor \(target): \(type(of: value as Any)) is neither a Pipe nor a FileHandle")
            }
        }
        defer { try? devNull?.close() }

        var actions = posix_spawn_file_actions_t()
        try check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init")
        defer { posix_spawn_file_actions_destroy(&actions) }
        // A source that is itself 0, 1 or 2 but another target (stderr onto this process's stdout) could be overwritten before
        // it is copied: then every source goes first onto a descriptor above them all, and from there onto 0, 1, 2.
        let crossed = descriptors.enumerated().contains { $0.element < 3 && $0.element != Int32($0.offset) }
        if crossed {
            let base = (descriptors.max() ?? 2) + 1
            for (i, fd) in descriptors.enumerated() {
                try check(posix_spawn_file_actions_adddup2(&actions, fd, base + Int32(i)), "posix_spawn_file_actions_adddup2 \(fd)")
            }
            descriptors = (0..<3).map { base + Int32($0) }
        }
        for (target, fd) in descriptors.enumerated() where fd != Int32(target) {
            try check(posix_spawn_file_actions_adddup2(&actions, fd, Int32(target)), "posix_spawn_file_actions_adddup2 \(fd) onto \(target)")
        }
        try check(addCloseFrom(&actions, 3), "posix_spawn_file_actions_addclosefrom_np")

        var attributes = posix_spawnattr_t()
        try check(posix_spawnattr_init(&attributes), "posix_spawnattr_init")
        defer { posix_spawnattr_destroy(&attributes) }
        // Every signal unblocked and at its default in the child: a thread of this process may block or ignore some (a test
        // runner blocks SIGTERM), and a child would inherit that and be deaf to it.
        var none = sigset_t()
        var all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        try check(posix_spawnattr_setsigmask(&attributes, &none), "posix_spawnattr_setsigmask")
        try check(posix_spawnattr_setsigdefault(&attributes, &all), "posix_spawnattr_setsigdefault")
        try check(
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)),
            "posix_spawnattr_setflags")
        try check(posix_spawnattr_setpgroup(&attributes, 0), "posix_spawnattr_setpgroup")

        let environment = (self.environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        let cArguments = argv.map { strdup($0) } + [nil]
        let cEnvironment = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in cArguments { free(pointer) }
            for pointer in cEnvironment { free(pointer) }
        }
        var pid: pid_t = 0
        try check(posix_spawn(&pid, path, &actions, &attributes, cArguments, cEnvironment), "posix_spawn \(path)")
        state.withLock { $0 = .running(pid) }
        Self.reap(self)
        for (target, value) in [(0, standardInput), (1, standardOutput), (2, standardError)] {
            guard let pipe = value as? Pipe else { continue }
            try? (target == 0 ? pipe.fileHandleForReading : pipe.fileHandleForWriting).close()
        }
    }

    /// The children not yet reaped. swift-testing's exit tests wait with `waitid(P_ALL, WNOWAIT)`: a zombie of ours left
    /// unreaped comes back from it again and again, and the exit test's own child is not seen. So one thread reaps every child
    /// within 10 ms of its exit, whether or not its test asks.
    private static let unreaped = Mutex<[Child]>([])

    private static func reap(_ child: Child) {
        let first = unreaped.withLock { list in
            list.append(child)
            return list.count == 1
        }
        guard first else { return }
        let reaper = Thread {
            while true {
                usleep(10_000)
                let done = unreaped.withLock { list in
                    list.removeAll { !$0.isRunning }
                    return list.isEmpty
                }
                if done { return }
            }
        }
        reaper.name = "child reaper"
        reaper.start()
    }

    private func check(_ code: Int32, _ what: String) throws {
        guard code == 0 else { throw ChildError("\(what): \(String(cString: strerror(code)))") }
    }
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34), which Swift's Glibc module leaves out with the other GNU
/// extensions of spawn.h: in the child, every descriptor from `from` up is closed.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
private func addCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// What a child writes to a pipe, read on a thread of its own so the child never blocks on a full pipe, and kept up to a limit.
/// A job the child left running may hold the pipe open after the child exits: `text(within:)` then answers with what came.
public final class ChildOutput: @unchecked Sendable {
    private let bytes = Mutex(Data())
    private let ended = DispatchSemaphore(value: 0)

    /// Starts reading `pipe` (whose write end the child has, and which `Child.run` closed here).
    public init(_ pipe: Pipe, limit: Int = 64 << 10) {
        let handle = pipe.fileHandleForReading
        let thread = Thread { [self] in
            while case let chunk = handle.availableData, !chunk.isEmpty {
                bytes.withLock { if $0.count < limit { $0.append(chunk.prefix(limit - $0.count)) } }
            }
            ended.signal()
        }
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// What was read, once the pipe has ended or `seconds` have passed.
    public func text(within seconds: Double) -> String {
        _ = ended.wait(timeout: .now() + seconds)
        return String(decoding: bytes.withLock { $0 }, as: UTF8.self)
    }
}

public struct ChildError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
