import Foundation

/// An exclusive lock on the state directory, held for the daemon's life: a second `dalabad` on the same directory stops
/// before it opens the store, restores a queue or writes schedule state, and says which process holds it.
///
/// `flock` on `<state>/dalabad.lock`: the kernel drops it when the process dies, even by kill -9, so a stale lock file
/// never blocks a restart.
final class StateDirectoryLock {
    struct Held: Error, CustomStringConvertible {
        var directory: String
        var pid: String?
        var description: String {
            "the state directory \(directory) is in use by another dalabad\(pid.map { " (pid \($0))" } ?? ""); "
                + "stop it first, or give this one its own station.state-directory"
        }
    }

    struct Failed: Error, CustomStringConvertible {
        var path: String
        var call: String
        var code: Int32
        var description: String { "cannot lock \(path): \(call) failed: \(String(cString: strerror(code)))" }
    }

    private let descriptor: Int32
    let path: String

    init(directory: String) throws {
        path = directory + "/dalabad.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failed(path: path, call: "open", code: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            guard code == EWOULDBLOCK else { throw Failed(path: path, call: "flock", code: code) }
            let pid = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            throw Held(directory: directory, pid: pid?.isEmpty == false ? pid : nil)
        }
        descriptor = fd
        let text = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0 else { throw Failed(path: path, call: "ftruncate", code: errno) }
        let written = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        guard written == text.count else { throw Failed(path: path, call: "write", code: errno) }
    }

    deinit { close(descriptor) }
}
