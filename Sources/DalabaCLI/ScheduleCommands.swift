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

    @Option(help: "The largest schedule file to read, in bytes (the daemon's limit is 1 MiB).")
    var maxFileBytes = ScheduleLimits.standard.maxFileBytes

    func validate() throws {
        guard TimeZone(identifier: timezone) != nil else { throw ValidationError("--timezone: unknown time zone \(timezone)") }
        guard maxFileBytes > 0 else { throw ValidationError("--max-file-bytes must be 1 or more") }
    }

    var limits: ScheduleLimits {
        var limits = ScheduleLimits.standard
        limits.maxFileBytes = maxFileBytes
        return limits
    }

    var defaults: ScheduleDefaults {
        ScheduleDefaults(audioDirectory: audio, timeZone: TimeZone(identifier: timezone) ?? ScheduleDefaults.shanghai)
    }

    /// The schedule files by name; a file that cannot be read is a problem with its name, like any other, and a file over
    /// the size limit is one too, reported beside the others without being read.
    func files() throws(ScheduleProblem) -> (files: [ScheduleFile], problems: [ScheduleProblem]) {
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
        var files: [ScheduleFile] = []
        var problems: [ScheduleProblem] = []
        for path in paths {
            var status = stat()
            if stat(path, &status) == 0, let tooLarge = limits.sizeProblem(bytes: Int(status.st_size)) {
                problems.append(ScheduleProblem(file: path, line: 1, message: tooLarge))
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ScheduleProblem(file: path, line: 1, message: "cannot read the file")
            }
            guard let text = String(data: data, encoding: .utf8) else { throw ScheduleProblem(file: path, line: 1, message: "is not UTF-8 text") }
            files.append(ScheduleFile(name: path, contents: text))
        }
        return (files, problems)
    }

    /// The check the daemon makes too: the API's rule for the audio directory, then libsndfile must open the file. Each
    /// name is checked once.
    func audioChecker() -> (String) -> AudioProblem? {
        let directory = AudioDirectory(audio)
        var checked: [String: AudioProblem?] = [:]
        return { name in
            if let known = checked[name] { return known }
            let problem: AudioProblem? =
                switch directory.check(name) {
                case .playable: nil
                case .outside(let reason): .outside(reason)
                case .missing: .missing
                case .unreadable(let reason): .unreadable(reason)
                }
            checked[name] = problem
            return problem
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
        var problems: [ScheduleProblem]
        do {
            (files, problems) = try source.files()
        } catch {
            print(error.description)
            throw ExitCode(1)
        }
        var book: ScheduleBook?
        do {
            book = try ScheduleBook.parse(files, defaults: source.defaults, limits: source.limits, audioProblem: source.audioChecker())
        } catch {
            problems += error.problems
        }
        guard problems.isEmpty, let book else {
            // By file name, as the files were read; a file too large to read has its problem in its place among them.
            let ordered = problems.enumerated().sorted { ($0.element.file, $0.offset) < ($1.element.file, $1.offset) }.map(\.element)
            for problem in ordered { print(problem.description) }
            let inFiles = Set(problems.map(\.file)).count
            Console.error("\(problems.count) problem\(problems.count == 1 ? "" : "s") in \(inFiles) file\(inFiles == 1 ? "" : "s")")
            throw ExitCode(1)
        }
        let count = book.programmes.count
        guard !files.isEmpty else {
            print("0 programmes OK (no *.yaml or *.yml files in \(source.directory))")
            return
        }
        print("\(count) programme\(count == 1 ? "" : "s") OK (\(files.count) file\(files.count == 1 ? "" : "s") in \(source.directory))")
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
            let (files, unread) = try source.files()
            if !unread.isEmpty { throw ScheduleProblems(unread) }
            book = try ScheduleBook.parse(files, defaults: source.defaults, limits: source.limits)
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
