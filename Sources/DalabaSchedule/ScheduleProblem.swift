/// One thing wrong in a schedule file, with the place an operator has to look.
///
/// `dalaba schedule check` prints every problem of every file, so a maintainer fixes them all in one pass.
public struct ScheduleProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int?
    /// The programme key the problem is about (`times`, `title`, …), or nil for the file as a whole (YAML syntax, limits).
    public var field: String?
    public var message: String

    public init(file: String, line: Int, column: Int? = nil, field: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.message = message
    }

    /// `file:line: message`, the shape editors and terminals turn into a link. A file name with control characters in it
    /// (a name is anything a directory holds) is escaped like any text from a schedule, before it reaches a terminal.
    public var description: String { "\(ScheduleText.echo(file, limit: 4096)):\(line): \(message)" }
}

/// Every problem found in a set of schedule files; thrown so that the daemon keeps its last good schedule.
public struct ScheduleProblems: Error, Sendable, Hashable, CustomStringConvertible {
    public var problems: [ScheduleProblem]

    public init(_ problems: [ScheduleProblem]) {
        self.problems = problems
    }

    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// Why an audio file named by a schedule cannot be played; the caller looks at the disk, this module never does.
public enum AudioProblem: Sendable, Hashable, CustomStringConvertible {
    case missing
    case unreadable(String)
    /// The name escapes the audio directory (`..`, an absolute path, a symlink): the reason is the API's own words for it.
    case outside(String)

    public var description: String {
        switch self {
        case .missing: "does not exist"
        case .unreadable(let reason): "cannot be read: \(reason)"
        case .outside(let reason): reason
        }
    }
}

/// One schedule file's name (for messages) and contents: the module takes text, it does not read files itself.
public struct ScheduleFile: Sendable, Hashable {
    public var name: String
    public var contents: String

    public init(name: String, contents: String) {
        self.name = name
        self.contents = contents
    }
}
