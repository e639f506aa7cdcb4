import Foundation

/// The local hours (e.g. 22:00–06:00) in which routine and policy items are held so the village can sleep;
/// emergencies and rumor rebuttals still play.
public struct QuietHours: Sendable, Equatable, Codable {
    /// Minutes after local midnight when quiet begins, 0..<1440.
    public var start: Int
    /// Minutes after local midnight when quiet ends; smaller than `start` when the period wraps midnight.
    public var end: Int

    /// Equal start and end mean no quiet time at all, not a whole day of it: a typo should not silence the village.
    public init(start: Int, end: Int) {
        self.start = ((start % 1440) + 1440) % 1440
        self.end = ((end % 1440) + 1440) % 1440
    }

    public init(startHour: Int, startMinute: Int = 0, endHour: Int, endMinute: Int = 0) {
        self.init(start: startHour * 60 + startMinute, end: endHour * 60 + endMinute)
    }

    /// Whether `date` falls inside quiet hours, read on the local clock of `timeZone`.
    public func contains(_ date: Date, in timeZone: TimeZone) -> Bool {
        let minute = Self.minuteOfDay(date, in: timeZone)
        if start < end { return start <= minute && minute < end }
        if start > end { return minute >= start || minute < end }
        return false
    }

    /// The instant the quiet period containing `date` ends, so held items can be woken then; nil outside quiet hours.
    public func end(after date: Date, in timeZone: TimeZone) -> Date? {
        guard contains(date, in: timeZone) else { return nil }
        let calendar = Self.calendar(timeZone)
        let midnight = calendar.startOfDay(for: date)
        let minute = Self.minuteOfDay(date, in: timeZone)
        // Before `end` on the local clock it ends today; otherwise (the evening side of a wrap) tomorrow.
        let day = minute < end ? midnight : calendar.date(byAdding: .day, value: 1, to: midnight) ?? midnight
        return calendar.date(byAdding: .minute, value: end, to: day) ?? day.addingTimeInterval(Double(end) * 60)
    }

    private static func minuteOfDay(_ date: Date, in timeZone: TimeZone) -> Int {
        let parts = calendar(timeZone).dateComponents([.hour, .minute], from: date)
        return (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
    }

    private static func calendar(_ timeZone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }
}
