import DalabaCore
import Foundation
import GRDB

/// Retention: the station can be told to keep only the last N days of the airtime log. The oldest rows are removed as a
/// contiguous prefix of the chain, and the hash of the last removed row is kept as the chain's anchor, so `verify()`
/// still proves every remaining row is unedited and that nothing after the anchor was removed.
/// The daemon never rewrites a row; with retention off (the default) it never removes one either.
extension StationStore {
    static let anchorSeqSetting = "airtimeLog.anchorSeq"
    static let anchorHashSetting = "airtimeLog.anchorHash"

    /// Removes the rows played (or, if never played, ended) before `cutoff`, always keeping the newest row as the
    /// chain's head. Returns how many rows went.
    @discardableResult
    public func prune(before cutoff: Date) throws -> Int {
        try write("prune the airtime log") { db in
            guard let newest = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM airtimeLog") else { return 0 }
            let firstKept =
                try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM airtimeLog WHERE at >= ?", arguments: [cutoff.millisecondsSince1970])
                ?? newest
            let lastRemoved = min(firstKept, newest) - 1
            guard let hash = try String.fetchOne(db, sql: "SELECT hash FROM airtimeLog WHERE seq = ?", arguments: [lastRemoved]) else {
                return 0
            }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM airtimeLog WHERE seq <= ?", arguments: [lastRemoved]) ?? 0
            try db.execute(
                sql: "INSERT OR REPLACE INTO storeSetting(key, value) VALUES (?, ?), (?, ?)",
                arguments: [Self.anchorSeqSetting, lastRemoved, Self.anchorHashSetting, hash])
            // The delete trigger guards against everything else; it is lifted only inside this transaction.
            try db.execute(sql: "DROP TRIGGER airtimeLog_noDelete")
            try db.execute(sql: "DELETE FROM airtimeLog WHERE seq <= ?", arguments: [lastRemoved])
            try db.execute(
                sql: """
                    CREATE TRIGGER airtimeLog_noDelete BEFORE DELETE ON airtimeLog
                    BEGIN SELECT RAISE(ABORT, '\(AirtimeLogSchema.appendOnlyMessage)'); END
                    """)
            try ReportTotals.rebuild(timeZone: timeZone, db)
            return count
        }
    }

    /// Where the chain starts: after the anchor left by retention, else at row 1 from the genesis hash.
    static func chainStart(_ db: Database) throws -> (seq: Int64, previousHash: String) {
        guard let seq = try Int64.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [anchorSeqSetting]),
            let hash = try String.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [anchorHashSetting])
        else { return (1, AirtimeLogChain.genesis) }
        return (seq + 1, hash)
    }
}
