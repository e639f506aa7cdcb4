import DalabaCore
import Foundation
import GRDB

/// The `airtimeDailyTotal` table: plays and frames per local day, kind, level, source, drill flag and rate, kept in the same
/// transaction as every append. Reports read these few thousand rows instead of scanning a million log rows, which is what keeps
/// `report --by month` far under 50 ms. It is derived data, outside the hash chain: `verify()` recomputes it from the log and
/// `rebuildReportTotals()` restores it.
enum ReportTotals {
    static let timeZoneSetting = "reportTotals.timeZone"

    struct Key: Hashable {
        var localDay: Int64
        var kind: String
        /// 0 for no level, so the key never holds NULL (NULLs never conflict in an upsert).
        var level: Int64
        var source: String
        var isTest: Int64
        var rate: Int64
    }

    struct Amount: Equatable {
        var plays: Int64 = 0
        var frames: Int64 = 0
    }

    /// Adds one row's contribution; rows that never reached the device add nothing.
    static func add(_ content: ChainedContent, calendar: inout LocalCalendar, to totals: inout [Key: Amount]) {
        guard content.frames > 0 else { return }
        let key = Key(
            localDay: calendar.day(atMilliseconds: content.at), kind: content.kind, level: content.level ?? 0, source: content.source,
            isTest: content.isTest, rate: content.rate)
        totals[key, default: Amount()].plays += 1
        totals[key, default: Amount()].frames += content.frames
    }

    static func apply(_ totals: [Key: Amount], _ db: Database) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO airtimeDailyTotal (localDay, kind, level, source, isTest, rate, plays, frames) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(localDay, kind, level, source, isTest, rate)
                DO UPDATE SET plays = plays + excluded.plays, frames = frames + excluded.frames
                """)
        for (key, amount) in totals {
            try statement.execute(arguments: [key.localDay, key.kind, key.level, key.source, key.isTest, key.rate, amount.plays, amount.frames])
        }
    }

    static func stored(_ db: Database) throws -> [Key: Amount] {
        var totals: [Key: Amount] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT localDay, kind, level, source, isTest, rate, plays, frames FROM airtimeDailyTotal")
        while let row = try rows.next() {
            let key = Key(localDay: row[0], kind: row[1], level: row[2], source: row[3], isTest: row[4], rate: row[5])
            totals[key] = Amount(plays: row[6], frames: row[7])
        }
        return totals
    }

    /// Makes the totals follow `timeZone`, recomputing them from the log when the station's zone changed since last time.
    static func adopt(timeZone: TimeZone, _ db: Database) throws {
        let current = try String.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [timeZoneSetting])
        guard current != timeZone.identifier else { return }
        try rebuild(timeZone: timeZone, db)
    }

    static func rebuild(timeZone: TimeZone, _ db: Database) throws {
        var calendar = LocalCalendar(timeZone: timeZone)
        var totals: [Key: Amount] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT \(ChainedContent.columnList) FROM airtimeLog WHERE frames > 0 ORDER BY at")
        while let row = try rows.next() {
            guard let content = ChainedContent(row: row) else { continue }
            add(content, calendar: &calendar, to: &totals)
        }
        try db.execute(sql: "DELETE FROM airtimeDailyTotal")
        try apply(totals, db)
        try db.execute(
            sql: "INSERT INTO storeSetting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [timeZoneSetting, timeZone.identifier])
    }
}

extension StationStore {
    /// Recomputes the daily report totals from the log, after `verify()` found them out of step with it (a hand edit).
    public func rebuildReportTotals() throws {
        try write("rebuild the report totals") { db in try ReportTotals.rebuild(timeZone: timeZone, db) }
    }
}
