import DalabaCore
import DalabaStore
import Foundation
import Hummingbird

/// The filters an official types in a query string (`from`, `to`, `kind`, `outcome`, `test`), read once for the API and the
/// console alike, with every mistake named by its field.
struct LogFilters: Sendable, Equatable {
    var from: Date?
    var to: Date?
    var kind: Kind?
    var outcome: Outcome?
    /// true for drills only, false for real broadcasts only.
    var isTest: Bool?

    /// Reads the filters; dates are the station's local days, `to` included whole.
    static func parse(_ parameters: QueryParameters, timeZone: TimeZone) throws(APIError) -> LogFilters {
        var filters = LogFilters()
        if let text = parameters["from"] {
            guard let date = StationDate.parse(text, asEnd: false, timeZone: timeZone) else { throw StationDate.invalid(text, field: "from") }
            filters.from = date
        }
        if let text = parameters["to"] {
            guard let date = StationDate.parse(text, asEnd: true, timeZone: timeZone) else { throw StationDate.invalid(text, field: "to") }
            filters.to = date
        }
        if let from = filters.from, let to = filters.to, from >= to {
            throw APIError(
                .badRequest, "must be after from (from \(parameters["from"] ?? "") to \(parameters["to"] ?? "") is an inverted range)", field: "to")
        }
        if let text = parameters["kind"] {
            guard let kind = Kind(rawValue: text) else {
                throw APIError(.badRequest, "unknown kind \"\(text)\" (use \(Kind.allCases.map(\.rawValue).joined(separator: ", ")))", field: "kind")
            }
            filters.kind = kind
        }
        if let text = parameters["outcome"] {
            guard let outcome = Outcome(rawValue: text) else {
                throw APIError(
                    .badRequest, "unknown outcome \"\(text)\" (use \(Outcome.allCases.map(\.rawValue).joined(separator: ", ")))", field: "outcome")
            }
            filters.outcome = outcome
        }
        if let text = parameters["test"] {
            switch text.lowercased() {
            case "true", "1", "yes", "drill": filters.isTest = true
            case "false", "0", "no", "real": filters.isTest = false
            default: throw APIError(.badRequest, "must be true (drills only) or false (real broadcasts only), not \"\(text)\"", field: "test")
            }
        }
        return filters
    }

    func logQuery(limit: Int?, offset: Int, order: LogQuery.Order) -> LogQuery {
        LogQuery(from: from, to: to, kind: kind, outcome: outcome, isTest: isTest, limit: limit, offset: offset, order: order)
    }
}

/// Query parameters as plain strings: the first value of each name, with empty values (a form's untouched field) left out.
struct QueryParameters: Sendable {
    private var values: [String: String] = [:]

    init(_ request: Request) {
        for (key, value) in request.uri.queryParameters where !value.isEmpty && values[String(key)] == nil {
            values[String(key)] = String(value)
        }
    }

    init(_ values: [String: String]) {
        self.values = values.filter { !$0.value.isEmpty }
    }

    subscript(_ name: String) -> String? { values[name] }

    /// An integer within `range`, `defaultValue` when absent.
    func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let text = values[name] else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw APIError(.badRequest, "must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(text)\"", field: name)
        }
        return value
    }

    /// One of `allowed`, `defaultValue` when absent.
    func choice(_ name: String, default defaultValue: String, among allowed: [String]) throws(APIError) -> String {
        guard let text = values[name] else { return defaultValue }
        guard allowed.contains(text) else {
            throw APIError(.badRequest, "must be one of \(allowed.joined(separator: ", ")), not \"\(text)\"", field: name)
        }
        return text
    }
}

/// Dates and times as officials write them, read in the station's zone.
enum StationDate {
    /// "2025-03-14" is that local day: its first moment as a start, the first moment of the next day as an end (so `to` includes
    /// the day named). "2025-03-14T08:00" or "2025-03-14 08:00:00" is a local time; ISO 8601 with an offset or Z is that instant.
    static func parse(_ text: String, asEnd: Bool, timeZone: TimeZone) -> Date? {
        // A "+" typed into a URL unencoded arrives as a space.
        let text = text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " +", with: "+")
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        if let (y, m, d) = day(text) {
            guard let start = localDate(y, m, d, 0, 0, 0, calendar) else { return nil }
            return asEnd ? calendar.date(byAdding: .day, value: 1, to: start) : start
        }
        if let instant = instant(text) { return instant }
        let parts = text.split(maxSplits: 1, whereSeparator: { $0 == "T" || $0 == " " })
        guard parts.count == 2, let (y, m, d) = day(String(parts[0])) else { return nil }
        let clock = parts[1].split(separator: ":")
        guard clock.count == 2 || clock.count == 3, clock.allSatisfy({ part in part.count == 2 && part.allSatisfy { $0.isASCII } }),
            let h = Int(clock[0]), let min = Int(clock[1]), let s = clock.count == 3 ? Int(clock[2]) : 0,
            (0..<24).contains(h), (0..<60).contains(min), (0..<60).contains(s)
        else { return nil }
        return localDate(y, m, d, h, min, s, calendar)
    }

    static func invalid(_ text: String, field: String) -> APIError {
        APIError(
            .badRequest,
            "must be a date like 2025-03-14 (a day in the station's time zone) or an ISO 8601 time like 2025-03-14T08:00:00+08:00, not \"\(text)\"",
            field: field)
    }

    /// "YYYY-MM-DD" as numbers, nil for anything else.
    private static func day(_ text: String) -> (Int, Int, Int)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2])
        else { return nil }
        return (y, m, d)
    }

    /// The local time, or nil when the date does not exist (2025-02-30, month 13): the calendar would roll it over silently.
    private static func localDate(_ y: Int, _ m: Int, _ d: Int, _ h: Int, _ min: Int, _ s: Int, _ calendar: Calendar) -> Date? {
        guard (1...12).contains(m), (1...31).contains(d),
            let date = calendar.date(from: DateComponents(year: y, month: m, day: d, hour: h, minute: min, second: s))
        else { return nil }
        let back = calendar.dateComponents([.year, .month, .day], from: date)
        guard back.year == y, back.month == m, back.day == d else { return nil }
        return date
    }

    private static func instant(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text)
    }
}
