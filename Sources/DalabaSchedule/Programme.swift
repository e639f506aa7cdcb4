import DalabaCore
import Foundation

/// One entry of a schedule file: what plays, and on which days and at which times it plays.
public struct Programme: Sendable, Hashable {
    /// Unique across all schedule files; it names the programme's slots, so renaming one starts a new history.
    public var name: String
    public var title: String
    public var kind: Kind
    public var level: Int?
    /// Audio files relative to the audio directory, played in order as consecutive announcements.
    public var audio: [String]
    /// The words spoken once speech synthesis exists; also kept as the transcript when audio is given.
    public var text: String?
    /// Sorted wall-clock times in `timeZone`.
    public var times: [TimeOfDay]
    public var days: DayRule
    public var from: LocalDate?
    /// The last day the programme runs on (inclusive).
    public var until: LocalDate?
    public var except: Set<LocalDate>
    public var repeatCount: Int
    public var repeatInterval: Double
    public var timeZone: TimeZone
    public var tier: Tier
    /// Seconds a slot may still start late, after downtime or a clock jump; older slots are logged as missed.
    public var grace: TimeInterval
    /// Where the entry is written, for messages about it.
    public var file: String
    public var line: Int

    public init(
        name: String, title: String, kind: Kind, level: Int? = nil, audio: [String], text: String? = nil, times: [TimeOfDay],
        days: DayRule, from: LocalDate? = nil, until: LocalDate? = nil, except: Set<LocalDate> = [], repeatCount: Int = 1,
        repeatInterval: Double = 0, timeZone: TimeZone = ScheduleDefaults.shanghai, tier: Tier = .village, grace: TimeInterval = 600,
        file: String = "", line: Int = 0
    ) {
        self.name = name
        self.title = title
        self.kind = kind
        self.level = level
        self.audio = audio
        self.text = text
        self.times = times.sorted()
        self.days = days
        self.from = from
        self.until = until
        self.except = except
        self.repeatCount = repeatCount
        self.repeatInterval = repeatInterval
        self.timeZone = timeZone
        self.tier = tier
        self.grace = grace
        self.file = file
        self.line = line
    }

    /// How an operator would say the programme's timing, e.g. "lunar days 1, 5, 11, 15, 21, 25 at 07:30".
    public var ruleDescription: String {
        describe(times: times)
    }

    func describe(times: [TimeOfDay]) -> String {
        var text = "\(days) at " + times.map(\.description).joined(separator: ", ")
        if timeZone.identifier != ScheduleDefaults.shanghai.identifier { text += " (\(timeZone.identifier))" }
        return text
    }

    /// The announcements one slot queues: one per audio file, in order, sharing the slot's time.
    ///
    /// The first keeps the plain id `sched:<name>:<slot>`; later parts add `#2`, `#3`, … so each is queued once.
    /// A text-only programme has an empty `audio` until speech synthesis exists.
    public func announcements(at slot: Date, audioDirectory: String, queuedAt: Date) -> [Announcement] {
        let stamp = isoTimestamp(slot)
        let files = audio.isEmpty ? [""] : audio
        return files.enumerated().map { index, file in
            Announcement(
                id: "sched:\(name):\(stamp)" + (index == 0 ? "" : "#\(index + 1)"),
                title: title, kind: kind, level: level, tier: tier,
                audio: file.isEmpty ? "" : resolve(file, in: audioDirectory),
                text: text, source: "schedule:\(name)", repeatCount: repeatCount, repeatInterval: repeatInterval,
                expires: slot.addingTimeInterval(grace), scheduledAt: slot, queuedAt: queuedAt
            )
        }
    }
}

/// An audio name from a schedule as a path on the station: relative names live in the audio directory.
func resolve(_ file: String, in directory: String) -> String {
    if file.hasPrefix("/") || directory.isEmpty { return file }
    return directory.hasSuffix("/") ? directory + file : directory + "/" + file
}

/// `2026-03-01T23:00:00Z`: the slot time in UTC, written without Foundation's formatters, which are slow in bulk.
func isoTimestamp(_ date: Date) -> String {
    let seconds = Int(date.timeIntervalSince1970.rounded(.down))
    let day = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
    let inDay = seconds - day * 86400
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(LocalDate(dayNumber: day))T\(two(inDay / 3600)):\(two(inDay / 60 % 60)):\(two(inDay % 60))Z"
}

/// A programme's timing compiled for fast next-fire questions: bit masks and day numbers instead of Calendar calls.
struct FireRule: Sendable {
    enum Days: Sendable {
        case daily
        case weekdays(UInt8)
        case monthDays(fromStart: UInt32, fromEnd: UInt32)
        case lunar(UInt32)
    }

    /// No rule needs more than this to find its next day; lunar day 30 is the rarest and recurs within months.
    static let searchDays = 800

    let days: Days
    let minutes: [Int]
    let fromDay: Int?
    let untilDay: Int?
    let except: Set<Int>
    let timeZone: TimeZone

    init(_ programme: Programme) {
        switch programme.days {
        case .daily:
            days = .daily
        case .weekdays(let list):
            days = .weekdays(list.reduce(0) { $0 | UInt8(1) << UInt8($1.rawValue) })
        case .daysOfMonth(let list):
            let start = list.filter { $0 > 0 }.reduce(UInt32(0)) { $0 | UInt32(1) << UInt32($1) }
            let end = list.filter { $0 < 0 }.reduce(UInt32(0)) { $0 | UInt32(1) << UInt32(-$1) }
            days = .monthDays(fromStart: start, fromEnd: end)
        case .lunarDays(let list):
            days = .lunar(list.reduce(0) { $0 | UInt32(1) << UInt32($1) })
        }
        minutes = programme.times.map(\.minuteOfDay)
        fromDay = programme.from?.dayNumber
        untilDay = programme.until?.dayNumber
        except = Set(programme.except.map(\.dayNumber))
        timeZone = programme.timeZone
    }

    func runs(onDay day: Int) -> Bool {
        switch days {
        case .daily:
            return true
        case .weekdays(let mask):
            return mask & (UInt8(1) << UInt8(Weekday(dayNumber: day).rawValue)) != 0
        case .monthDays(let fromStart, let fromEnd):
            let date = LocalDate(dayNumber: day)
            if fromStart & (UInt32(1) << UInt32(date.day)) != 0 { return true }
            let fromLast = LocalDate.daysIn(year: date.year, month: date.month) - date.day + 1
            return fromEnd & (UInt32(1) << UInt32(fromLast)) != 0
        case .lunar(let mask):
            return mask & (UInt32(1) << UInt32(LunarCalendar.day(ofDayNumber: day))) != 0
        }
    }

    /// The first slot at or after `start` (strictly after when `inclusive` is false), or nil when there is none.
    func firstFire(from start: Date, inclusive: Bool) -> Date? {
        let seconds = Int(start.timeIntervalSince1970.rounded(.down))
        let local = seconds + timeZone.secondsFromGMT(for: start)
        // A day early, so a zone change that moves a slot across midnight cannot hide it.
        var day = (local >= 0 ? local / 86400 : (local - 86399) / 86400) - 1
        if let fromDay, day < fromDay { day = fromDay }
        let last = min(untilDay ?? Int.max, day + FireRule.searchDays)
        while day <= last {
            if (except.isEmpty || !except.contains(day)) && runs(onDay: day) {
                for minute in minutes {
                    let slot = instant(day: day, minute: minute)
                    if inclusive ? slot >= start : slot > start { return slot }
                }
            }
            day += 1
        }
        return nil
    }

    /// The instant a wall-clock time happens in this zone; across a daylight-saving change the offset is re-read once.
    func instant(day: Int, minute: Int) -> Date {
        let local = Double(day * 86400 + minute * 60)
        let guess = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: local))
        let first = local - Double(guess)
        let offset = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: first))
        return Date(timeIntervalSince1970: offset == guess ? first : local - Double(offset))
    }

    /// The wall-clock time of an instant, for describing a slot.
    func timeOfDay(_ instant: Date) -> TimeOfDay {
        let local = Int(instant.timeIntervalSince1970.rounded(.down)) + timeZone.secondsFromGMT(for: instant)
        let inDay = ((local % 86400) + 86400) % 86400
        return TimeOfDay(hour: inDay / 3600, minute: inDay / 60 % 60)!
    }
}
