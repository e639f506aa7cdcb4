import Foundation
import Synchronization

/// Starts child processes one at a time in this process, and makes the pipes they are handed under the same lock.
///
/// Foundation's `Process` on Linux learns that a child exited when a socket pair it shares with that child closes, and in a
/// new child it closes only the descriptors that were open when it looked. A child started by another thread in that moment
/// inherits the socket (or a pipe made meanwhile), so the first child's exit, or the end of its output, goes unnoticed until
/// the second child exits: an amplifier command would "time out" behind a long conversion, and CI saw `openssl ecparam`
/// "not finish" within 30 s beside a broker being started. Every `Process` this package starts goes through here.
public enum ChildStart {
    private static let lock = Mutex(())

    /// `process.run()`, never at the same time as another start or pipe made here.
    public static func run(_ process: Process) throws {
        try lock.withLock { _ in try process.run() }
    }

    /// `body` (a child started another way than by `Process`), under the same lock.
    public static func locked(_ body: () throws -> Void) throws {
        try lock.withLock { _ in try body() }
    }

    /// A pipe for a child, never made while another child is being started.
    public static func pipe() -> Pipe {
        lock.withLock { _ in Pipe() }
    }
}
