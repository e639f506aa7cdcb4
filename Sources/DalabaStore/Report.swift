import DalabaCore
import Foundation
import GRDB

/// What `dalaba report` asks: totals grouped one way, over a time range, with days, weeks and months in a given zone.
public struct ReportQuery: Sendable, Hashable {
    public enum Grouping: String, Sendable, Codable, CaseIterable {
        case day, week, month, kind, level, source
    }

    public var by: Grouping
    /// Plays filed at or after this instant (started, or ended if never started).
    public var from: Date?
    /// Plays filed before this instant.
    public var to: Date?
    /// The zone whose midnights divide days, ISO weeks (Monday first) and months.
    public var timeZone: TimeZone

    public init(by: Grouping = .month, from: Date? = nil, to: Date? = nil, timeZone: TimeZone = StationStore.defaultTimeZone) {
        self.by = by
        self.from = from
        self.to = to
        self.timeZone = timeZone
    }
}

/// Plays and seconds of airtime for one group, real broadcasts and drills apart. A play is a log row whose announcement reached
/// the device (frames > 0); seconds are the announcement's own frames over their rate, chimes excluded. The same type the API
/// and the `dalaba` tool read, so a report is never copied field by field on its way out.
public typealias ReportGroup = StationAPI.AirtimeTotals

/// Grouped totals and the grand total, as officials read them ("播出总时长").
public struct Report: Sendable, Codable, Hashable {
    public var by: ReportQuery.Grouping
    /// In key order: chronological for times, the rank order for kinds, alphabetical otherwise.
    public var groups: [ReportGroup]
    public var total: ReportGroup

    public init(by: ReportQuery.Grouping, groups: [ReportGroup], total: ReportGroup) {
        self.by = by
        self.groups = groups
        self.total = total
    }
}

/// Frames summed per rate, so seconds are computed once per rate at the end and stay exact whatever the mix of rates.
private struct Tally {
    var realCount: Int64 = 0
    var realFrames: [Int64: Int64] = [:]
    var drillCount: Int64 = 0
    var drillFrames: [Int64: Int64] = [:]

    mutating func add(isTest: Bool, rate: Int64, plays: Int64, frames: Int64) {
        if isTest {
            drillCount += plays
            drillFrames[rate, default: 0] += frames
        } else {
            realCount += plays
            realFrames[rate, default: 0] += frames
        }
    }

    static func seconds(_ frames: [Int64: Int64]) -> Double {
        frames.keys.sorted().reduce(0) { sum, rate in rate > 0 ? sum + Double(frames[rate]!) / Double(rate) : sum }
    }

    func group(_ key: String) -> ReportGroup {
        ReportGroup(
            key: key, realCount: Int(realCount), realSeconds: Self.seconds(realFrames), drillCount: Int(drillCount),
            drillSeconds: Self.seconds(drillFrames))
    }
}

extension StationStore {
    /// Grouped totals of plays and airtime, real broadcasts and drills apart, and the grand total.
    ///
    /// When the query's zone is the store's, whole local days come from the daily totals (a few thousand rows even for a million
    /// log rows), and only the partial days at the ends of a range that does not start or end at midnight are summed from the log.
    /// In any other zone every row in the range is read from the log: correct, but proportional to the rows.
    public func report(_ query: ReportQuery) throws -> Report {
        try read("compute the airtime report") { db in
            var tallies: [String: Tally] = [:]
            var total = Tally()
            func add(_ key: String, isTest: Bool, rate: Int64, plays: Int64, frames: Int64) {
                tallies[key, default: Tally()].add(isTest: isTest, rate: rate, plays: plays, frames: frames)
                total.add(isTest: isTest, rate: rate, plays: plays, frames: frames)
            }
            let from = query.from?.millisecondsSince1970 ?? .min
            let to = query.to?.millisecondsSince1970 ?? .max
            guard from < to else { return Report(by: query.by, groups: [], total: total.group("total")) }

            let storedZone = try String.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [ReportTotals.timeZoneSetting])
            var calendar = LocalCalendar(timeZone: query.timeZone)
            var scans: [(Int64, Int64)] = [(from, to)]
            if storedZone == query.timeZone.identifier {
                // Whole days [firstDay, lastDay] from the totals; the partial days at either end from the log.
                var firstDay = Int64.min
                if from != .min {
                    let fromDay = calendar.day(atMilliseconds: from)
                    firstDay = calendar.start(ofDay: fromDay) == from ? fromDay : fromDay + 1
                }
                let lastDay = to == .max ? Int64.max : calendar.day(atMilliseconds: to) - 1
                if firstDay <= lastDay {
                    scans = []
                    if from != .min, calendar.start(ofDay: firstDay) > from { scans.append((from, calendar.start(ofDay: firstDay))) }
                    if to != .max, calendar.start(ofDay: lastDay + 1) < to { scans.append((calendar.start(ofDay: lastDay + 1), to)) }
                    let byTime = query.by == .day || query.by == .week || query.by == .month
                    // For other groupings `+localDay` keeps SQLite from picking the day index for the range, so it scans the
                    // index in GROUP BY order (about 8 times faster than sorting).
                    let rows = try Row.fetchCursor(
                        db,
                        sql: """
                            SELECT \(byTime ? "localDay" : query.by.rawValue), isTest, rate, sum(plays), sum(frames) FROM airtimeDailyTotal
                            WHERE \(byTime ? "localDay" : "+localDay") BETWEEN ? AND ? GROUP BY 1, 2, 3
                            """,
                        arguments: [firstDay, lastDay])
                    while let row = try rows.next() {
                        let key: String =
                            switch query.by {
                            case .day: LocalCalendar.dayKey(row[0])
                            case .week: LocalCalendar.weekKey(row[0])
                            case .month: LocalCalendar.monthKey(row[0])
                            case .level: Self.levelKey(row[0] as Int64)
                            case .kind, .source: row[0]
                            }
                        add(key, isTest: (row[1] as Int64) != 0, rate: row[2], plays: row[3], frames: row[4])
                    }
                }
            }
            for (scanFrom, scanTo) in scans {
                let rows = try Row.fetchCursor(
                    db,
                    sql: "SELECT at, kind, level, source, isTest, rate, frames FROM airtimeLog WHERE at >= ? AND at < ? AND frames > 0 ORDER BY at",
                    arguments: [scanFrom, scanTo])
                while let row = try rows.next() {
                    let key: String =
                        switch query.by {
                        case .day: LocalCalendar.dayKey(calendar.day(atMilliseconds: row[0]))
                        case .week: LocalCalendar.weekKey(calendar.day(atMilliseconds: row[0]))
                        case .month: LocalCalendar.monthKey(calendar.day(atMilliseconds: row[0]))
                        case .kind: row[1]
                        case .level: Self.levelKey((row[2] as Int64?) ?? 0)
                        case .source: row[3]
                        }
                    add(key, isTest: (row[4] as Int64) != 0, rate: row[5], plays: 1, frames: row[6])
                }
            }

            let keys: [String]
            if query.by == .kind {
                let order = Dictionary(uniqueKeysWithValues: Kind.allCases.enumerated().map { ($1.rawValue, $0) })
                keys = tallies.keys.sorted { (order[$0] ?? .max, $0) < (order[$1] ?? .max, $1) }
            } else {
                keys = tallies.keys.sorted()
            }
            return Report(by: query.by, groups: keys.map { tallies[$0]!.group($0) }, total: total.group("total"))
        }
    }

    static func levelKey(_ level: Int64) -> String { level == 0 ? "none" : String(level) }
}
