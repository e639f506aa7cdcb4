import DalabaCore
import Foundation

/// What a programme gets when its entry does not say: the station's configuration supplies these.
public struct ScheduleDefaults: Sendable {
    /// China Standard Time, the zone the design names as the default.
    public static let shanghai = TimeZone(identifier: "Asia/Shanghai") ?? TimeZone(secondsFromGMT: 8 * 3600)!

    /// Relative audio names in schedules are resolved against it.
    public var audioDirectory: String
    public var timeZone: TimeZone
    public var tier: Tier
    /// Seconds a missed slot may still play late.
    public var grace: TimeInterval

    public init(audioDirectory: String, timeZone: TimeZone = ScheduleDefaults.shanghai, tier: Tier = .village, grace: TimeInterval = 600) {
        self.audioDirectory = audioDirectory
        self.timeZone = timeZone
        self.tier = tier
        self.grace = grace
    }
}

/// All programmes of all schedule files, checked and ready to answer "what plays next?".
public struct ScheduleBook: Sendable {
    public let programmes: [Programme]
    public let audioDirectory: String
    let rules: [FireRule]

    /// Builds a book from programmes already checked; names must be unique, as `parse` guarantees for files.
    public init(programmes: [Programme], audioDirectory: String) {
        self.programmes = programmes
        self.audioDirectory = audioDirectory
        self.rules = programmes.map(FireRule.init)
    }

    /// Reads schedule files, throwing every problem at once so the caller can keep its last good book.
    ///
    /// This is the parser's pure entry point (file names and contents in, a book or problems out; the fuzz target calls it).
    /// Each file is read within `limits`, its time budget measured on `clock`; `isCancelled` is asked as often, so a stopping
    /// daemon is not held by a file. `audioProblem` is asked about each audio name as the schedule writes it (relative to
    /// the audio directory, or absolute): the CLI and daemon pass one that applies the API's audio-directory rule and opens
    /// the file.
    public static func parse<C: Clock>(
        _ files: [ScheduleFile], defaults: ScheduleDefaults, limits: ScheduleLimits = .standard, clock: C = ContinuousClock(),
        isCancelled: () -> Bool = { false }, audioProblem: (String) -> AudioProblem? = { _ in nil }
    ) throws(ScheduleProblems) -> ScheduleBook where C.Duration == Duration {
        let (programmes, problems) = withoutActuallyEscaping(audioProblem) { audioProblem in
            withoutActuallyEscaping(isCancelled) { isCancelled in
                var parser = ScheduleParser(
                    defaults: defaults, limits: limits,
                    budget: { ReadingBudget(clock: clock, limit: limits.timeBudget, cancelled: isCancelled) }, audioProblem: audioProblem)
                for file in files { parser.parse(file) }
                return (parser.programmes, parser.problems)
            }
        }
        guard problems.isEmpty else { throw ScheduleProblems(problems) }
        return ScheduleBook(programmes: programmes, audioDirectory: defaults.audioDirectory)
    }

    /// Every problem in the files, in file order and then line order: what `dalaba schedule check` prints.
    public static func check<C: Clock>(
        _ files: [ScheduleFile], defaults: ScheduleDefaults, limits: ScheduleLimits = .standard, clock: C = ContinuousClock(),
        audioProblem: (String) -> AudioProblem? = { _ in nil }
    ) -> [ScheduleProblem] where C.Duration == Duration {
        do {
            _ = try parse(files, defaults: defaults, limits: limits, clock: clock, audioProblem: audioProblem)
            return []
        } catch {
            return error.problems
        }
    }

    /// The programme with this name, if the book has one.
    public func programme(named name: String) -> Programme? {
        programmes.first { $0.name == name }
    }

    /// Every slot of every programme strictly after `start` and at or before `end`, earliest first.
    public func slots(after start: Date, through end: Date) -> [Slot] {
        var queue = SlotQueue(rules: rules, from: start, inclusive: false)
        var found: [Slot] = []
        while let entry = queue.first, entry.time <= end {
            _ = queue.popAndAdvance(rules: rules)
            found.append(slot(entry))
        }
        return found
    }

    /// The next `count` slots across all programmes strictly after `start`, earliest first: `dalaba schedule next`.
    public func nextSlots(after start: Date, count: Int) -> [Slot] {
        var queue = SlotQueue(rules: rules, from: start, inclusive: false)
        var found: [Slot] = []
        found.reserveCapacity(max(0, min(count, 100_000)))
        while found.count < count, let entry = queue.popAndAdvance(rules: rules) {
            found.append(slot(entry))
        }
        return found
    }

    func slot(_ entry: SlotQueue.Entry) -> Slot {
        let programme = programmes[entry.index]
        let time = entry.time
        return Slot(
            programme: programme.name, time: time, rule: programme.describe(times: [rules[entry.index].timeOfDay(time)]),
            announcements: programme.announcements(at: time, audioDirectory: audioDirectory, queuedAt: time)
        )
    }
}
