import DalabaCore
import Foundation
import GRDB

/// The airtime log: append-only, hash-chained (see `AirtimeLogChain` for what that does and does not protect against), with the
/// checkpoints that bound what a crash can lose to one second of accounting.
extension StationStore {
    // MARK: - Appending

    /// Appends one play attempt as the next row of the chain and, in the same transaction, drops the checkpoint of that
    /// announcement's play: the final row and the end of the checkpoint are never seen apart, so a crash can neither lose the
    /// play nor count it twice.
    ///
    /// Times are stored to the millisecond; the returned row holds the record as stored.
    @discardableResult
    public func append(_ record: AirtimeRecord, clearingCheckpoint: Bool = true) throws -> LogRow {
        let recordedAt = clock()
        return try write("append to the airtime log") { db in
            let content = try appendRows([record], recordedAt: recordedAt, db).last!
            if clearingCheckpoint {
                try db.execute(sql: "DELETE FROM playCheckpoint WHERE announcementID = ?", arguments: [record.announcementID])
            }
            return try content.row(db)
        }
    }

    /// Appends many rows in one transaction, in order (imports, and building large logs for benchmarks); all or none are kept.
    @discardableResult
    public func append(contentsOf records: [AirtimeRecord]) throws -> ChainHead? {
        let recordedAt = clock()
        return try write("append to the airtime log") { db in
            guard let last = try appendRows(records, recordedAt: recordedAt, db).last else { return try Self.head(db) }
            return ChainHead(seq: last.content.seq, hash: last.hash)
        }
    }

    /// The content of an appended row with its links, read back as a `LogRow` after the insert.
    struct AppendedRow {
        var content: ChainedContent
        var previousHash: String
        var hash: String

        func row(_ db: Database) throws -> LogRow {
            LogRow(
                seq: content.seq, record: try content.record(), recordedAt: Date(millisecondsSince1970: content.recordedAt),
                previousHash: previousHash, hash: hash)
        }
    }

    func appendRows(_ records: [AirtimeRecord], recordedAt: Date, _ db: Database) throws -> [AppendedRow] {
        let head = try Self.head(db)
        var seq = head?.seq ?? 0
        var previousHash = head?.hash ?? AirtimeLogChain.genesis
        var buffer = [UInt8]()
        buffer.reserveCapacity(1024)
        var calendar = LocalCalendar(timeZone: timeZone)
        var totals: [ReportTotals.Key: ReportTotals.Amount] = [:]
        var appended: [AppendedRow] = []
        appended.reserveCapacity(records.count)
        let placeholders = Array(repeating: "?", count: ChainedContent.columns.count + 4).joined(separator: ", ")
        let insert = try db.cachedStatement(sql: "INSERT INTO airtimeLog (\(ChainedContent.storedColumnList)) VALUES (\(placeholders))")
        for record in records {
            seq += 1
            let content = ChainedContent(seq: seq, recordedAt: recordedAt, record: record)
            let hash = content.hash(previousHash: previousHash, buffer: &buffer)
            var arguments = content.arguments
            arguments += [content.at, previousHash, hash, content.volume]
            try insert.execute(arguments: arguments)
            ReportTotals.add(content, calendar: &calendar, to: &totals)
            appended.append(AppendedRow(content: content, previousHash: previousHash, hash: hash))
            previousHash = hash
        }
        try ReportTotals.apply(totals, db)
        return appended
    }

    /// The newest link, airtime row or retention record (see `StationStore+Retention`).
    static func head(_ db: Database) throws -> ChainHead? {
        try chainHead(db)
    }

    /// The newest row's seq and hash: print or publish it so that a later truncation or rewrite can be detected.
    public func latestHash() throws -> ChainHead? {
        try read("read the airtime log head") { db in try Self.head(db) }
    }

    // MARK: - Checkpoints

    /// Records how far a play in progress has got, replacing its previous checkpoint.
    public func checkpoint(_ play: PlayCheckpoint) throws {
        let json: String
        do {
            json = try Self.encodeJSON(play.record)
        } catch {
            throw StoreError(operation: "checkpoint play \(play.announcementID)", path: path, reason: .invalidData, message: "\(error)")
        }
        try write("checkpoint play \(play.announcementID)") { db in try Self.checkpointRow(play, json: json, db) }
    }

    static func checkpointRow(_ play: PlayCheckpoint, json: String, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO playCheckpoint (announcementID, record, updatedAt) VALUES (?, ?, ?)
                ON CONFLICT(announcementID) DO UPDATE SET record = excluded.record, updatedAt = excluded.updatedAt
                """,
            arguments: [play.announcementID, json, play.updatedAt.millisecondsSince1970])
    }

    /// Drops a play's checkpoint without logging it; `append(_:clearingCheckpoint:)` does this together with the final row.
    public func clearCheckpoint(announcementID: String) throws {
        try write("clear the checkpoint of \(announcementID)") { db in
            try db.execute(sql: "DELETE FROM playCheckpoint WHERE announcementID = ?", arguments: [announcementID])
        }
    }

    /// The plays in progress as last checkpointed, oldest first.
    public func loadCheckpoints() throws -> [PlayCheckpoint] {
        try read("load the play checkpoints") { db in try checkpoints(db) }
    }

    private func checkpoints(_ db: Database) throws -> [PlayCheckpoint] {
        try Row.fetchAll(db, sql: "SELECT announcementID, record, updatedAt FROM playCheckpoint ORDER BY updatedAt, announcementID").map { row in
            let id: String = row[0]
            do {
                return PlayCheckpoint(record: try Self.decodeJSON(AirtimeRecord.self, from: row[1]), updatedAt: Date(millisecondsSince1970: row[2]))
            } catch {
                throw StoreError(
                    operation: "read the play checkpoints", path: path, reason: .invalidData,
                    message: "the checkpoint of \(id) cannot be read: \(error)")
            }
        }
    }

    /// At start-up, turns every checkpoint left by a daemon that stopped mid-play into an `interrupted` row with the frames
    /// checkpointed and the checkpoint's time as its end, and removes the checkpoints, all in one transaction.
    public func recoverCheckpoints(now: Date) throws -> [LogRow] {
        try write("recover interrupted plays") { db in
            let records = try checkpoints(db).map { checkpoint in
                var record = checkpoint.record
                record.outcome = .interrupted
                record.endedAt = checkpoint.updatedAt
                record.error = "daemon stopped while playing"
                return record
            }
            guard !records.isEmpty else { return [] }
            let rows = try appendRows(records, recordedAt: now, db).map { try $0.row(db) }
            try db.execute(sql: "DELETE FROM playCheckpoint")
            return rows
        }
    }

    // MARK: - Reading

    /// The rows matching the query, one page of them, newest or oldest first (by the time they are filed under, then seq).
    public func log(_ query: LogQuery) throws -> [LogRow] {
        let (whereClause, arguments) = Self.filter(query)
        let direction = query.order == .newestFirst ? "DESC" : "ASC"
        var pageArguments = arguments
        pageArguments += [query.limit ?? -1, query.offset]
        return try read("read the airtime log") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(ChainedContent.storedColumnList) FROM airtimeLog \(whereClause)
                    ORDER BY at \(direction), seq \(direction) LIMIT ? OFFSET ?
                    """,
                arguments: pageArguments
            ).map { row in
                guard let content = ChainedContent(row: row) else {
                    throw StoreError(
                        operation: "read the airtime log", path: path, reason: .invalidData,
                        message: "row \(row[0] as DatabaseValue) holds a value Dalaba never writes; run `dalaba log verify`")
                }
                return LogRow(
                    seq: content.seq, record: try content.record(), recordedAt: Date(millisecondsSince1970: content.recordedAt),
                    previousHash: row[21], hash: row[22])
            }
        }
    }

    /// How many rows match the query's filters (ignoring its page), for pagination.
    public func logCount(_ query: LogQuery) throws -> Int {
        let (whereClause, arguments) = Self.filter(query)
        return try read("count the airtime log") { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM airtimeLog \(whereClause)", arguments: arguments) ?? 0
        }
    }

    private static func filter(_ query: LogQuery) -> (String, StatementArguments) {
        var conditions: [String] = []
        var arguments = StatementArguments()
        if let from = query.from {
            conditions.append("at >= ?")
            arguments += [from.millisecondsSince1970]
        }
        if let to = query.to {
            conditions.append("at < ?")
            arguments += [to.millisecondsSince1970]
        }
        if let kind = query.kind {
            conditions.append("kind = ?")
            arguments += [kind.rawValue]
        }
        if let outcome = query.outcome {
            conditions.append("outcome = ?")
            arguments += [outcome.rawValue]
        }
        if let isTest = query.isTest {
            conditions.append("isTest = ?")
            arguments += [isTest ? 1 : 0]
        }
        return (conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "), arguments)
    }
}
