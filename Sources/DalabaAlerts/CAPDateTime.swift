import Foundation

/// CAP 1.2 date-times: `YYYY-MM-DDThh:mm:ss±hh:mm` exactly (the schema's pattern), UTC written as `-00:00`.
/// Parsed by hand rather than with a formatter so the result never depends on the machine's locale or calendar.
public enum CAPDateTime {
    /// Parses a CAP dateTime. `acceptZulu` lets a trailing `Z` stand for UTC; CAP 1.2 forbids it
    /// ("Alphabetic timezone designators such as 'Z' MUST NOT be used"), so it is off unless a feed needs it.
    public static func parse(_ text: String, field: String, acceptZulu: Bool = false) throws(CAPError) -> Date {
        let bytes = Array(text.utf8)
        func fail(_ reason: String) -> CAPError {
            CAPError(field: field, reason: "'\(text)' is not a CAP date-time (YYYY-MM-DDThh:mm:ss±hh:mm): \(reason)")
        }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func expect(_ index: Int, _ character: Character) -> Bool {
            index < bytes.count && bytes[index] == character.asciiValue
        }
        guard bytes.count >= 19, let year = number(0..<4), expect(4, "-"), let month = number(5..<7), expect(7, "-"),
            let day = number(8..<10), expect(10, "T"), let hour = number(11..<13), expect(13, ":"), let minute = number(14..<16),
            expect(16, ":"), let second = number(17..<19)
        else { throw fail("wrong shape") }
        let offsetSeconds: Int
        if bytes.count == 20 && expect(19, "Z") {
            guard acceptZulu else { throw fail("CAP 1.2 forbids 'Z'; write UTC as -00:00") }
            offsetSeconds = 0
        } else {
            guard bytes.count == 25, expect(19, "+") || expect(19, "-"), let offsetHours = number(20..<22), expect(22, ":"),
                let offsetMinutes = number(23..<25)
            else {
                if bytes.count > 19 && expect(19, ".") { throw fail("fractional seconds are not allowed") }
                throw fail(bytes.count == 19 ? "the time-zone offset is missing" : "the time-zone offset is malformed")
            }
            guard offsetHours <= 14, offsetMinutes <= 59 else { throw fail("offset out of range") }
            offsetSeconds = (expect(19, "-") ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60)
        }
        guard (1...12).contains(month) else { throw fail("month \(month) out of range") }
        guard (1...daysIn(month: month, year: year)).contains(day) else { throw fail("day \(day) does not exist in that month") }
        guard hour <= 23, minute <= 59, second <= 59 else { throw fail("time of day out of range") }
        let days = daysFromCivil(year: year, month: month, day: day)
        let local = days * 86_400 + hour * 3600 + minute * 60 + second
        return Date(timeIntervalSince1970: TimeInterval(local - offsetSeconds))
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
