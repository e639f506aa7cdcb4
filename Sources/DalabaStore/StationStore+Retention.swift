import Crypto
import DalabaCore
import Foundation
import GRDB

/// Retention: the station can be told to keep only the last N days of the airtime log. The oldest rows are removed as a
/// contiguous prefix of the chain, and every retention is itself a link of the chain: a retention record, appended after the
/// newest row with the next seq, names the range removed and the anchor (the hash of the last removed row) that the first
/// kept row links to. `verify()` starts the walk from the newest record's anchor, so an anchor can only come from the chain:
/// one written anywhere else (the settings table an older version kept it in) is reported as forged, and a head published
/// after a retention covers its anchor like any other link.
/// The daemon never rewrites a row; with retention off (the default) it never removes one either.
extension StationStore {
    /// Where versions before retention records kept the anchor, unchained. Migration v3 turns such an anchor into a record;
    /// after it, a value here is one no version of Dalaba wrote.
    static let legacyAnchorSeqSetting = "airtimeLog.anchorSeq"
    static let legacyAnchorHashSetting = "airtimeLog.anchorHash"

    /// Adds the retention records; registered after "v2-schedule" in `migrator`, and like every shipped migration never edited.
    static func registerRetentionMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-retention-records") { db in
            try db.execute(
                sql: """
                    CREATE TABLE logRetention (
                        seq INTEGER PRIMARY KEY,
                        madeAt INTEGER NOT NULL,
                        cutoff INTEGER,
                        removedFrom INTEGER NOT NULL,
                        removedThrough INTEGER NOT NULL,
                        removedRows INTEGER NOT NULL,
                        anchorHash TEXT NOT NULL,
                        madeBy TEXT NOT NULL,
                        previousHash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    ) STRICT;
                    CREATE TRIGGER logRetention_noUpdate BEFORE UPDATE ON logRetention
                    BEGIN SELECT RAISE(ABORT, '\(AirtimeLogSchema.appendOnlyMessage)'); END;
                    \(retentionDeleteTrigger);
                    """)
            // An anchor left by the unchained retention of an earlier version is adopted as it stands, once, and says so.
            if let seq = try Int64.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [legacyAnchorSeqSetting]),
                let hash = try String.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [legacyAnchorHashSetting])
            {
                // Those versions chained airtime rows only, so the rows removed were exactly 1 through the anchor.
                _ = try appendRetention(
                    madeAt: Date(), cutoff: nil, removedFrom: 1, removedThrough: seq, removedRows: Int(seq), anchorHash: hash,
                    madeBy: "upgrade: adopted the anchor an earlier version kept outside the chain", db)
                try db.execute(
                    sql: "DELETE FROM storeSetting WHERE key IN (?, ?)", arguments: [legacyAnchorSeqSetting, legacyAnchorHashSetting])
            }
        }
    }

    static let retentionDeleteTrigger = """
        CREATE TRIGGER logRetention_noDelete BEFORE DELETE ON logRetention
        BEGIN SELECT RAISE(ABORT, '\(AirtimeLogSchema.appendOnlyMessage)'); END
        """
    static let airtimeDeleteTrigger = """
        CREATE TRIGGER airtimeLog_noDelete BEFORE DELETE ON airtimeLog
        BEGIN SELECT RAISE(ABORT, '\(AirtimeLogSchema.appendOnlyMessage)'); END
        """

    /// Removes the rows played (or, if never played, ended) before `cutoff`, always keeping the newest row, and appends the
    /// retention record naming what went, all in one transaction. Returns how many airtime rows went.
    ///
    /// - Parameter policy: who asked, in words, kept in the record ("keep 90 days").
    @discardableResult
    public func prune(before cutoff: Date, policy: String = "retention") throws -> Int {
        let madeAt = clock()
        return try write("prune the airtime log") { db in
            guard let newest = try Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM airtimeLog") else { return 0 }
            let firstKept =
                try Int64.fetchOne(db, sql: "SELECT MIN(seq) FROM airtimeLog WHERE at >= ?", arguments: [cutoff.millisecondsSince1970])
                ?? newest
            let lastRemoved = min(firstKept, newest) - 1
            let start = try Self.latestRetention(db).map { $0.removedThrough + 1 } ?? 1
            guard lastRemoved >= start, let anchorHash = try Self.linkHash(seq: lastRemoved, db) else { return 0 }
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM airtimeLog WHERE seq <= ?", arguments: [lastRemoved]) ?? 0
            _ = try Self.appendRetention(
                madeAt: madeAt, cutoff: cutoff, removedFrom: start, removedThrough: lastRemoved, removedRows: count, anchorHash: anchorHash,
                madeBy: policy, db)
            // The delete triggers guard against everything else; they are lifted only inside this transaction.
            try db.execute(sql: "DROP TRIGGER airtimeLog_noDelete")
            try db.execute(sql: "DELETE FROM airtimeLog WHERE seq <= ?", arguments: [lastRemoved])
            try db.execute(sql: Self.airtimeDeleteTrigger)
            try db.execute(sql: "DROP TRIGGER logRetention_noDelete")
            try db.execute(sql: "DELETE FROM logRetention WHERE seq <= ?", arguments: [lastRemoved])
            try db.execute(sql: Self.retentionDeleteTrigger)
            try ReportTotals.rebuild(timeZone: timeZone, db)
            return count
        }
    }

    /// The hash of link `seq`, an airtime row or a retention record.
    static func linkHash(seq: Int64, _ db: Database) throws -> String? {
        try String.fetchOne(
            db, sql: "SELECT hash FROM airtimeLog WHERE seq = ? UNION ALL SELECT hash FROM logRetention WHERE seq = ?", arguments: [seq, seq])
    }

    /// The newest link of the whole chain, airtime row or retention record: what the next row links to.
    static func chainHead(_ db: Database) throws -> ChainHead? {
        try Row.fetchOne(
            db,
            sql: """
                SELECT seq, hash FROM (SELECT seq, hash FROM airtimeLog UNION ALL SELECT seq, hash FROM logRetention)
                ORDER BY seq DESC LIMIT 1
                """
        ).map { ChainHead(seq: $0[0], hash: $0[1]) }
    }

    static func latestRetention(_ db: Database) throws -> RetentionRecord? {
        try Row.fetchOne(db, sql: "SELECT \(RetentionRecord.columnList) FROM logRetention ORDER BY seq DESC LIMIT 1").flatMap(RetentionRecord.init(row:))
    }

    /// Appends a retention record as the next link of the chain.
    static func appendRetention(
        madeAt: Date, cutoff: Date?, removedFrom: Int64, removedThrough: Int64, removedRows: Int, anchorHash: String, madeBy: String,
        _ db: Database
    ) throws -> RetentionRecord {
        let head = try chainHead(db)
        var record = RetentionRecord(
            seq: (head?.seq ?? 0) + 1, madeAt: madeAt.millisecondsSince1970, cutoff: cutoff?.millisecondsSince1970, removedFrom: removedFrom,
            removedThrough: removedThrough, removedRows: Int64(removedRows), anchorHash: anchorHash, madeBy: madeBy,
            previousHash: head?.hash ?? AirtimeLogChain.genesis, hash: "")
        record.hash = record.computedHash()
        try db.execute(
            sql: "INSERT INTO logRetention (\(RetentionRecord.columnList)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                record.seq, record.madeAt, record.cutoff, record.removedFrom, record.removedThrough, record.removedRows, record.anchorHash,
                record.madeBy, record.previousHash, record.hash,
            ])
        return record
    }
}

/// One retention as chained: the rows it removed (a prefix of the chain), the anchor the first kept row links to, and its
/// own link. Its hash covers every field, so rewriting the anchor breaks every link after it.
struct RetentionRecord: Equatable {
    var seq: Int64
    var madeAt: Int64
    var cutoff: Int64?
    var removedFrom: Int64
    var removedThrough: Int64
    var removedRows: Int64
    var anchorHash: String
    var madeBy: String
    var previousHash: String
    var hash: String

    static let columnList = "seq, madeAt, cutoff, removedFrom, removedThrough, removedRows, anchorHash, madeBy, previousHash, hash"
    static let encodingVersion = "dalaba.retention.v1\n"

    /// Reads the columns of `columnList`; nil when a value has a type no append could have written.
    init?(row: Row) {
        func int(_ i: Int) -> Int64?? {
            switch (row[i] as DatabaseValue).storage {
            case .null: return .some(nil)
            case .int64(let v): return .some(v)
            default: return nil
            }
        }
        func string(_ i: Int) -> String? {
            if case .string(let v) = (row[i] as DatabaseValue).storage { return v }
            return nil
        }
        guard let seq = int(0) ?? nil, let madeAt = int(1) ?? nil, let cutoff = int(2), let removedFrom = int(3) ?? nil,
            let removedThrough = int(4) ?? nil, let removedRows = int(5) ?? nil, let anchorHash = string(6), let madeBy = string(7),
            let previousHash = string(8), let hash = string(9)
        else { return nil }
        self.init(
            seq: seq, madeAt: madeAt, cutoff: cutoff, removedFrom: removedFrom, removedThrough: removedThrough, removedRows: removedRows,
            anchorHash: anchorHash, madeBy: madeBy, previousHash: previousHash, hash: hash)
    }

    init(
        seq: Int64, madeAt: Int64, cutoff: Int64?, removedFrom: Int64, removedThrough: Int64, removedRows: Int64, anchorHash: String,
        madeBy: String, previousHash: String, hash: String
    ) {
        self.seq = seq
        self.madeAt = madeAt
        self.cutoff = cutoff
        self.removedFrom = removedFrom
        self.removedThrough = removedThrough
        self.removedRows = removedRows
        self.anchorHash = anchorHash
        self.madeBy = madeBy
        self.previousHash = previousHash
        self.hash = hash
    }

    /// SHA-256 of `previousHash` followed by the record's canonical encoding: the same rules as an airtime row's (a version
    /// line, `name=value` lines, `i<decimal>`, `s<bytes>:<UTF-8>`, `-` for nil) under a version line of its own, so no
    /// record encodes like a row.
    func computedHash() -> String {
        var bytes = Array(previousHash.utf8)
        bytes.append(contentsOf: Self.encodingVersion.utf8)
        func line(_ name: String, _ value: String) {
            bytes.append(contentsOf: "\(name)=\(value)\n".utf8)
        }
        func int(_ name: String, _ value: Int64?) { line(name, value.map { "i\($0)" } ?? "-") }
        func string(_ name: String, _ value: String) { line(name, "s\(value.utf8.count):\(value)") }
        int("seq", seq)
        int("madeAt", madeAt)
        int("cutoff", cutoff)
        int("removedFrom", removedFrom)
        int("removedThrough", removedThrough)
        int("removedRows", removedRows)
        string("anchorHash", anchorHash)
        string("madeBy", madeBy)
        return SHA256.hash(data: bytes).hexString
    }

    /// The anchor as `verify` reports it.
    var anchor: RetentionAnchor {
        RetentionAnchor(
            firstKeptSeq: removedThrough + 1, anchorHash: anchorHash, retentionSeq: seq, madeAt: Date(millisecondsSince1970: madeAt),
            madeBy: madeBy, cutoff: cutoff.map(Date.init(millisecondsSince1970:)), removedRows: Int(removedRows))
    }
}
