import Foundation

/// ISO 8601 date-times as the API takes them, read exactly: `2026-11-21T08:00+08:00`, `2026-11-21T08:00:00Z`,
/// `2026-11-21T08:00:00.250+0800`. The offset is required (a bare local time means something else on every client), and a
/// day that does not exist (`2027-02-30`, `2026-13-01`, `24:00`) is refused rather than rolled over into the next month as
/// Foundation's parser does.
public enum StrictDate {
    /// Years accepted at all; how far ahead a request may reach is `QueueRequestDecoder.maximumLeadTime`.
    public static let years = 2000...2199

    /// Why a text is not a date the API accepts.
    public struct Invalid: Error, Sendable, Equatable {
        public var reason: String
    }

    /// The date, or why the text is not one.
    public static func parse(_ text: String) throws(Invalid) -> Date {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<index + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            index += count
            return value
        }
        func literal(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue else { return false }
            index += 1
            return true
        }
        let shape = "must be a date and time with its offset, like 2026-11-21T08:00:00+08:00"
        guard let year = number(4), literal("-"), let month = number(2), literal("-"), let day = number(2) else { throw Invalid(reason: shape) }
        guard literal("T") || literal("t") else { throw Invalid(reason: shape) }
        guard let hour = number(2), literal(":"), let minute = number(2) else { throw Invalid(reason: shape) }
        var second = 0
        var fraction = 0.0
        if literal(":") {
            guard let s = number(2) else { throw Invalid(reason: shape) }
            second = s
            if literal(".") || literal(",") {
                var scale = 0.1
                var count = 0
                while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
                    if count < 9 { fraction += Double(bytes[index] - UInt8(ascii: "0")) * scale }
                    scale /= 10
                    count += 1
                    index += 1
                }
                guard (1...9).contains(count) else { throw Invalid(reason: shape) }
            }
        }
        var offset = 0
        if literal("Z") || literal("z") {
            offset = 0
        } else if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            guard let offsetHours = number(2) else { throw Invalid(reason: shape) }
            _ = literal(":")
            guard let offsetMinutes = number(2), offsetHours <= 14, offsetMinutes < 60 else {
                throw Invalid(reason: "has an offset that does not exist (from -14:00 to +14:00)")
            }
            offset = sign * (offsetHours * 3600 + offsetMinutes * 60)
        } else {
            throw Invalid(reason: "needs its offset from UTC, like +08:00 or Z")
        }
        guard index == bytes.count else { throw Invalid(reason: shape) }
        guard years.contains(year) else { throw Invalid(reason: "has the year \(year), outside \(years.lowerBound)–\(years.upperBound)") }
        guard (1...12).contains(month) else { throw Invalid(reason: "has the month \(month), which does not exist") }
        guard (1...daysIn(month: month, year: year)).contains(day) else {
            throw Invalid(reason: "names \(text.prefix(10)), a day that does not exist")
        }
        guard hour < 24, minute < 60, second < 60 else { throw Invalid(reason: "names a time of day that does not exist") }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
