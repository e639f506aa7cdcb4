import Foundation

/// A date on the wall calendar (no time, no zone), as written in `from`, `until` and `except`.
public struct LocalDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    /// Refuses dates that do not exist, such as 2026-02-30, so a typo in `except` is reported instead of ignored.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= LocalDate.daysIn(year: year, month: month) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD`.
    public init?(_ text: String) {
        guard let (year, month, day) = LocalDate.fields(text) else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// The date `dayNumber` days after 1970-01-01.
    init(dayNumber: Int) {
        // Howard Hinnant's civil_from_days: plain integer arithmetic, far cheaper than Calendar in the hot path.
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        self.year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        self.month = month
        self.day = day
    }

    /// Days since 1970-01-01; consecutive dates have consecutive numbers.
    var dayNumber: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = month > 2 ? month - 3 : month + 9
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// The numeric fields of `YYYY-MM-DD` without range checks, so a message can say what is wrong with them.
    static func fields(_ text: String) -> (Int, Int, Int)? {
        let bytes = text.utf8
        guard bytes.count == 10 else { return nil }
        var values = [0, 0, 0]
        var field = 0
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 7 {
                guard byte == UInt8(ascii: "-") else { return nil }
                field += 1
            } else {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                values[field] = values[field] * 10 + Int(byte - UInt8(ascii: "0"))
            }
        }
        return (values[0], values[1], values[2])
    }
}

/// A wall-clock time in a programme's time zone, as written in `times`.
public struct TimeOfDay: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var hour: Int
    public var minute: Int

    public init?(hour: Int, minute: Int) {
        guard (0...23).contains(hour), (0...59).contains(minute) else { return nil }
        self.hour = hour
        self.minute = minute
    }

    /// Parses `HH:MM` or `H:MM` (24-hour clock); anything else is refused rather than guessed.
    public init?(_ text: String) {
        let bytes = Array(text.utf8.prefix(6))
        guard bytes.count == 4 || bytes.count == 5, bytes[bytes.count - 3] == UInt8(ascii: ":") else { return nil }
        func digits(_ slice: ArraySlice<UInt8>) -> Int? {
            var value = 0
            for byte in slice {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let hour = digits(bytes[..<(bytes.count - 3)]), let minute = digits(bytes[(bytes.count - 2)...]) else { return nil }
        self.init(hour: hour, minute: minute)
    }

    var minuteOfDay: Int { hour * 60 + minute }

    public var description: String { (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)" }

    public static func < (lhs: TimeOfDay, rhs: TimeOfDay) -> Bool { lhs.minuteOfDay < rhs.minuteOfDay }
}

/// A day of the week, numbered as ISO 8601 does (Monday 1 … Sunday 7).
public enum Weekday: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case mon = 1, tue, wed, thu, fri, sat, sun

    /// Accepts `mon` or `monday`, in any case, which is how people write them in a schedule.
    public init?(name: String) {
        let lower = name.lowercased()
        let full = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        guard let found = Weekday.allCases.first(where: { $0.description == lower || full[$0.rawValue - 1] == lower }) else { return nil }
        self = found
    }

    /// The weekday of a day number (days since 1970-01-01, which was a Thursday).
    init(dayNumber: Int) {
        let index = ((dayNumber % 7) + 7 + 3) % 7
        self = Weekday(rawValue: index + 1)!
    }

    public var description: String {
        switch self {
        case .mon: "mon"
        case .tue: "tue"
        case .wed: "wed"
        case .thu: "thu"
        case .fri: "fri"
        case .sat: "sat"
        case .sun: "sun"
        }
    }

    public static func < (lhs: Weekday, rhs: Weekday) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Which days a programme runs on; exactly one rule per programme keeps a schedule easy to read aloud.
public enum DayRule: Sendable, Hashable, CustomStringConvertible {
    case daily
    case weekdays([Weekday])
    /// Days of the Gregorian month: 1…31, or -1 for the last day (-2 the one before, and so on).
    case daysOfMonth([Int])
    /// Days of the Chinese lunar month, 1…30 (逢一逢五 market days are 1, 5, 11, 15, 21, 25).
    case lunarDays([Int])

    public var description: String {
        switch self {
        case .daily:
            return "daily"
        case .weekdays(let days):
            return "weekdays " + days.map(\.description).joined(separator: ", ")
        case .daysOfMonth(let days):
            let names = days.map { day in day == -1 ? "-1 (last)" : String(day) }
            return "days of month " + names.joined(separator: ", ")
        case .lunarDays(let days):
            return "lunar days " + days.map(String.init).joined(separator: ", ")
        }
    }
}
