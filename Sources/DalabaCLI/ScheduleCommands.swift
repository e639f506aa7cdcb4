import ArgumentParser
import DalabaAudio
import DalabaCore
import DalabaSchedule
import Foundation

/// `dalaba schedule check|next`: the schedule files read on this machine, without the daemon, so a maintainer can check an
/// edit before the station reloads it.
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule", abstract: "Check the schedule files and list the slots they produce.",
        subcommands: [ScheduleCheckCommand.self, ScheduleNextCommand.self])
}

/// Where the schedule files are and how to read them; shared by `check` and `next`.
struct ScheduleSource: ParsableArguments {
    @Argument(help: "A directory of schedule files (*.yaml, *.yml), or one file.")
    var directory = "Schedules"

    @Option(help: "The audio directory that relative audio names are resolved against.")
    var audio = "Audio"

    @Option(help: "The time zone of programmes whose file does not name one.")
    var timezone = "Asia/Shanghai"

    func validate() throws {
        guard TimeZone(identifier: timezone) != nil else { throw ValidationError("--timezone: unknown time zone \(timezone)") }
    }

    var defaults: ScheduleDefaults {
        ScheduleDefaults(audioDirectory: audio, timeZone: TimeZone(identifier: timezone) ?? ScheduleDefaults.shanghai)
    }

    /// The schedule files by name; a file that cannot be read is a problem with its name, like any other.
    func files() throws(ScheduleProblem) -> [ScheduleFile] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) else {
            throw ScheduleProblem(file: directory, line: 1, message: "no such file or directory")
        }
        var paths = [directory]
        if isDirectory.boolValue {
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: directory)
            } catch {
                throw ScheduleProblem(file: directory, line: 1, message: "cannot list the directory: \(error.localizedDescription)")
            }
            let base = directory.hasSuffix("/") ? directory : directory + "/"
            paths = names.filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }.sorted().map { base + $0 }
        }
        return try paths.map { path throws(ScheduleProblem) in
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ScheduleProblem(file: path, line: 1, message: "cannot read the file")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw ScheduleProblem(file: path, line: 1, message: "is not UTF-8 text") }
            return ScheduleFile(name: path, contents: text)
        }
    }

    /// The check the daemon makes too: the file must exist and libsndfile must open it. Each path is opened once.
    static func audioChecker() -> (String) -> AudioProblem? {
        var checked: [String: AudioProblem?] = [:]
        return { path in
            if let known = checked[path] { return known }
            let problem = audioProblem(path)
            checked[path] = problem
            return problem
        }
    }

    static func audioProblem(_ path: String) -> AudioProblem? {
        guard FileManager.default.fileExists(atPath: path) else { return .missing }
        do {
            _ = try SoundFile(path: path)
            return nil
        } catch {
            switch error {
            case .unreadable(_, let reason), .unsupported(_, let reason): return .unreadable(reason)
            default: return .unreadable(error.description)
            }
        }
    }
}

struct ScheduleCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Report every problem in the schedule files as file:line: message.",
        discussion: "Exits 1 when there is any problem (unknown key, bad time, impossible date, missing or unreadable audio, …).")

    @OptionGroup var source: ScheduleSource

    func run() async throws {
        let files: [ScheduleFile]
        do {
            files = try source.files()
        } catch {
            print(error.description)
            throw ExitCode(1)
        }
        do {
            let book = try ScheduleBook.parse(files, defaults: source.defaults, audioProblem: ScheduleSource.audioChecker())
            let count = book.programmes.count
            guard !files.isEmpty else {
                print("0 programmes OK (no *.yaml or *.yml files in \(source.directory))")
                return
            }
            print("\(count) programme\(count == 1 ? "" : "s") OK (\(files.count) file\(files.count == 1 ? "" : "s") in \(source.directory))")
        } catch {
            for problem in error.problems { print(problem.description) }
            let inFiles = Set(error.problems.map(\.file)).count
            Console.error("\(error.problems.count) problem\(error.problems.count == 1 ? "" : "s") in \(inFiles) file\(inFiles == 1 ? "" : "s")")
            throw ExitCode(1)
        }
    }
}

struct ScheduleNextCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next", abstract: "List the next slots across all schedules, in each programme's local time, with its rule.",
        discussion: "Computed from the files on this machine; the running daemon answers the same on GET /v1/schedule/next.")

    @OptionGroup var source: ScheduleSource

    @Option(help: "How many slots to list.")
    var count = 10

    @Option(help: "List slots after this instant (ISO 8601, e.g. 2026-03-02T08:00:00+08:00) instead of now.")
    var after: String?

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    @Option(help: "Output: table (readable) or json.")
    var format: OutputFormat = .table

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be 1 or more") }
        if let after, Self.instant(after) == nil { throw ValidationError("--after: '\(after)' is not an ISO 8601 date and time") }
    }

    static func instant(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions.insert(.withFractionalSeconds)
        return formatter.date(from: text)
    }

    func run() async throws {
        let start = after.flatMap(Self.instant) ?? Date()
        let book: ScheduleBook
        do {
            // Audio is not opened here: `next` answers "when", and `check` answers "will it play".
            book = try ScheduleBook.parse(try source.files(), defaults: source.defaults)
        } catch let error as ScheduleProblems {
            for problem in error.problems { print(problem.description) }
            Console.error("the schedule has problems; run `dalaba schedule check`")
            throw ExitCode(1)
        } catch let error as ScheduleProblem {
            Console.error(error.description)
            throw ExitCode(1)
        }
        let slots = book.listing(after: start, count: count)
        switch format {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(slots), as: UTF8.self))
        case .table:
            guard !slots.isEmpty else {
                print("no slots: no programme runs after \(ISO8601DateFormatter().string(from: start))")
                return
            }
            let nameWidth = slots.map(\.programme.count).max() ?? 0
            let kindWidth = slots.map { Self.kind($0).count }.max() ?? 0
            var lines: [String] = []
            lines.reserveCapacity(slots.count)
            for slot in slots {
                let name = slot.programme.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                let kind = Self.kind(slot).padding(toLength: kindWidth, withPad: " ", startingAt: 0)
                lines.append("\(slot.localTime)  \(name)  \(kind)  \(slot.rule)  \(slot.title)")
            }
            print(lines.joined(separator: "\n"))
        }
    }

    static func kind(_ slot: SlotListing) -> String {
        slot.kind == .emergency ? "emergency L\(slot.level ?? 0)" : slot.kind.rawValue
    }
}
