import Foundation
import Synchronization

/// Days of the Chinese lunar month for Gregorian dates, from Foundation's `Calendar(identifier: .chinese)`.
///
/// Foundation takes microseconds per date, and 10,000 programmes ask about the same few dates, so answers are kept
/// for the life of the process: a handful of bytes per date ever asked about.
enum LunarCalendar {
    private struct State: ~Copyable {
        var calendar: Calendar
        var days: [Int: UInt8] = [:]
    }

    private static let state: Mutex<State> = {
        var calendar = Calendar(identifier: .chinese)
        calendar.timeZone = chinaStandardTime
        return Mutex(State(calendar: calendar))
    }()

    /// The lunar calendar is reckoned in China Standard Time whatever zone a programme runs in.
    static let chinaStandardTime = TimeZone(identifier: "Asia/Shanghai") ?? TimeZone(secondsFromGMT: 8 * 3600)!

    /// The lunar day (1…30) of the Gregorian date `dayNumber` days after 1970-01-01.
    static func day(ofDayNumber dayNumber: Int) -> Int {
        state.withLock { state in
            if let known = state.days[dayNumber] { return Int(known) }
            let noon = Date(timeIntervalSince1970: Double(dayNumber * 86400 + 4 * 3600))
            let day = state.calendar.component(.day, from: noon)
            // Every lunar month has at least 29 days, so one answer also fixes its neighbours in the same month.
            for offset in (1 - day)...max(0, 29 - day) {
                state.days[dayNumber + offset] = UInt8(day + offset)
            }
            return day
        }
    }

    /// The lunar month, day and leap flag of a Gregorian date, for messages and tests.
    static func date(of date: LocalDate) -> (month: Int, day: Int, isLeapMonth: Bool) {
        state.withLock { state in
            let noon = Date(timeIntervalSince1970: Double(date.dayNumber * 86400 + 4 * 3600))
            let parts = state.calendar.dateComponents([.month, .day, .isLeapMonth], from: noon)
            return (parts.month ?? 0, parts.day ?? 0, parts.isLeapMonth ?? false)
        }
    }
}
