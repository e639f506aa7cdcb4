import Foundation

/// The one directory announcements and schedules may play from, and the one rule for names in it, used by the HTTP API
/// (`AnnouncementIntake`), the daemon's schedules and `dalaba schedule check`: a name is relative to the directory or
/// absolute inside it, and once `..` and every symlink are resolved it must still be inside.
public struct AudioDirectory: Sendable, Hashable {
    /// The directory as configured, standardized (no `.` or `..`), as messages name it.
    public let path: String

    public init(_ path: String) {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// Why a name is refused, in the words the API answers with (field `audio`).
    public enum Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        case outside(name: String, directory: String)
        case missing(name: String, directory: String)

        public var description: String {
            switch self {
            case .outside(let name, let directory): "\(name) is outside the audio directory \(directory)"
            case .missing(let name, let directory): "\(name) does not exist in the audio directory \(directory)"
            }
        }
    }

    /// The real path of the file `name` names, or why it may not be played.
    public func resolve(_ name: String) throws(Refusal) -> String {
        let candidate = name.hasPrefix("/") ? URL(fileURLWithPath: name) : URL(fileURLWithPath: path).appendingPathComponent(name)
        let resolved = candidate.standardizedFileURL.resolvingSymlinksInPath().path
        let root = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard resolved.hasPrefix(root + "/") else { throw .outside(name: name, directory: path) }
        guard FileManager.default.fileExists(atPath: resolved) else { throw .missing(name: name, directory: path) }
        return resolved
    }

    /// What a schedule's audio name comes to: a file libsndfile opens, or why not. The CLI and the daemon ask this of every
    /// audio name in a schedule, so `dalaba schedule check` refuses what the daemon would.
    public enum Check: Sendable, Hashable {
        case playable(String)
        case outside(String)
        case missing
        case unreadable(String)
    }

    public func check(_ name: String) -> Check {
        let path: String
        do {
            path = try resolve(name)
        } catch {
            switch error {
            case .outside: return .outside(error.description)
            case .missing: return .missing
            }
        }
        do {
            _ = try SoundFile(path: path)
            return .playable(path)
        } catch {
            switch error {
            case .unreadable(_, let reason), .unsupported(_, let reason): return .unreadable(reason)
            default: return .unreadable(error.description)
            }
        }
    }
}
