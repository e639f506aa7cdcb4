import DalabaCore
import Foundation

/// One coming slot as `dalaba schedule next` prints it and `GET /v1/schedule/next` returns it: when it plays in the
/// programme's own time zone, what plays, and the rule that produced it.
public struct SlotListing: Codable, Sendable, Equatable {
    public var programme: String
    public var title: String
    public var kind: Kind
    public var level: Int?
    /// The slot's instant.
    public var time: Date
    /// The wall-clock time in `timeZone`, e.g. `2026-03-02 06:30 mon`, which is how villagers and operators say it.
    public var localTime: String
    public var timeZone: String
    /// E.g. "lunar days 1, 5, 11, 15, 21, 25 at 07:30".
    public var rule: String
    /// Audio names as the schedule writes them, or empty for a programme that is spoken from text.
    public var audio: [String]
    /// Where the programme is written.
    public var file: String
    public var line: Int
}

extension ScheduleBook {
    /// The next `count` slots strictly after `start`, earliest first, described for people.
    ///
    /// Works on the slot queue directly rather than `nextSlots`, which also builds each slot's announcements.
    public func listing(after start: Date, count: Int) -> [SlotListing] {
        var queue = SlotQueue(rules: rules, from: start, inclusive: false)
        var found: [SlotListing] = []
        found.reserveCapacity(max(0, min(count, 100_000)))
        while found.count < count, let entry = queue.popAndAdvance(rules: rules) {
            let programme = programmes[entry.index]
            found.append(
                SlotListing(
                    programme: programme.name, title: programme.title, kind: programme.kind, level: programme.level, time: entry.time,
                    localTime: Self.localTime(entry.time, in: programme.timeZone), timeZone: programme.timeZone.identifier,
                    rule: programme.describe(times: [rules[entry.index].timeOfDay(entry.time)]), audio: programme.audio, file: programme.file,
                    line: programme.line))
        }
        return found
    }

    /// `YYYY-MM-DD HH:MM www` in `zone`, by integer arithmetic: DateFormatter is slow when listing thousands of slots.
    public static func localTime(_ instant: Date, in zone: TimeZone) -> String {
        let local = Int(instant.timeIntervalSince1970.rounded(.down)) + zone.secondsFromGMT(for: instant)
        let day = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let inDay = local - day * 86400
        let time = TimeOfDay(hour: inDay / 3600, minute: inDay / 60 % 60)!
        return "\(LocalDate(dayNumber: day)) \(time) \(Weekday(dayNumber: day))"
    }
}
