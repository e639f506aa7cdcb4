import Foundation

/// Local calendar days of a time zone as plain integers (days since 1970-01-01 in that zone), the form in which daily totals
/// are keyed. Converting an instant costs one offset look-up, cached between the zone's transitions, so a million rows in time
/// order cost a handful of calendar calls.
struct LocalCalendar {
    static let millisecondsPerDay: Int64 = 86_400_000

    let timeZone: TimeZone
    private var cachedOffset: Int64 = 0
    private var cachedFrom: Int64 = .max
    private var cachedUntil: Int64 = .min

    init(timeZone: TimeZone) {
        self.timeZone = timeZone
    }

    /// The zone's offset from UTC at this instant, in milliseconds.
    mutating func offset(atMilliseconds ms: Int64) -> Int64 {
        if ms >= cachedFrom && ms < cachedUntil { return cachedOffset }
        let date = Date(millisecondsSince1970: ms)
        cachedOffset = Int64(timeZone.secondsFromGMT(for: date)) * 1000
        cachedFrom = ms
        cachedUntil = timeZone.nextDaylightSavingTimeTransition(after: date)?.millisecondsSince1970 ?? .max
        return cachedOffset
    }

    /// The local day an instant falls on.
    mutating func day(atMilliseconds ms: Int64) -> Int64 {
        Self.floorDivide(ms + offset(atMilliseconds: ms), Self.millisecondsPerDay)
    }

    /// The instant a local day begins (its first existing moment, on a day whose midnight a DST change skips).
    func start(ofDay day: Int64) -> Int64 {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let (y, m, d) = Self.civil(fromDay: day)
        let date = calendar.date(from: DateComponents(year: Int(y), month: Int(m), day: Int(d)))!
        return calendar.startOfDay(for: date).millisecondsSince1970
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// Year, month and day of a day number (proleptic Gregorian; Howard Hinnant's `civil_from_days`).
    static func civil(fromDay day: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = day + 719_468
        let era = floorDivide(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// The day number of a date (Hinnant's `days_from_civil`).
    static func day(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// "2025-03-14".
    static func dayKey(_ day: Int64) -> String {
        let (y, m, d) = civil(fromDay: day)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// "2025-03".
    static func monthKey(_ day: Int64) -> String {
        let (y, m, _) = civil(fromDay: day)
        return "\(pad(y, 4))-\(pad(m, 2))"
    }

    /// The ISO 8601 week, Monday to Sunday, as "2025-W11" (the week-year is the year of the week's Thursday).
    static func weekKey(_ day: Int64) -> String {
        // Day 0, 1970-01-01, was a Thursday, so (day + 3) mod 7 counts days since Monday.
        let monday = day - ((day + 3) - floorDivide(day + 3, 7) * 7)
        let thursday = monday + 3
        let year = civil(fromDay: thursday).year
        let week = (thursday - Self.day(year: year, month: 1, day: 1)) / 7 + 1
        return "\(pad(year, 4))-W\(pad(week, 2))"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
