import DalabaCore
import Foundation
import GRDB

/// What the county link keeps across restarts: the ids of head-end messages already acted on (so a replay is caught after
/// a restart too), the receipts waiting for the broker's acknowledgement (the outbox), which county announcement came in
/// which message, the announcements whose audio is still being fetched, and two marks: the last row seq the county confirmed
/// and the last row turned into receipts.
extension StationStore {
    static let linkConfirmedSeqKey = "link.confirmedSeq"
    static let linkReceiptSeqKey = "link.receiptSeq"

    /// Adds the link tables; registered after the retention migration, and like every shipped migration never edited.
    static func registerCountyLinkMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-county-link") { db in
            try db.execute(
                sql: """
                    CREATE TABLE linkSeenMessage (
                        id TEXT PRIMARY KEY NOT NULL,
                        keepUntil INTEGER NOT NULL
                    ) WITHOUT ROWID, STRICT;
                    CREATE INDEX linkSeenMessage_keepUntil ON linkSeenMessage(keepUntil);

                    CREATE TABLE linkOutbox (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        topic TEXT NOT NULL,
                        payload BLOB NOT NULL,
                        createdAt INTEGER NOT NULL
                    ) STRICT;

                    CREATE TABLE linkAnnouncement (
                        id TEXT PRIMARY KEY NOT NULL,
                        message TEXT NOT NULL,
                        receivedAt INTEGER NOT NULL
                    ) WITHOUT ROWID, STRICT;
                    """)
            // Rows logged before the link existed are uploaded, but never turned into receipts.
            let head = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM airtimeLog") ?? 0
            try db.execute(sql: "INSERT INTO storeSetting (key, value) VALUES (?, ?)", arguments: [linkReceiptSeqKey, head])
        }
    }

    /// One receipt (or other uplink message) waiting for the broker's acknowledgement.
    public struct OutboxEntry: Sendable, Hashable {
        public var id: Int64
        public var topic: String
        public var payload: Data
    }

    // MARK: Seen messages

    /// The ids of messages acted on, with how long each is kept; those past their keep time are dropped first.
    public func linkSeenMessages(now: Date) throws -> [String: Date] {
        try write("read the county link's seen messages") { db in
            try db.execute(sql: "DELETE FROM linkSeenMessage WHERE keepUntil < ?", arguments: [now.millisecondsSince1970])
            var seen: [String: Date] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT id, keepUntil FROM linkSeenMessage") {
                seen[row[0]] = Date(millisecondsSince1970: row[1])
            }
            return seen
        }
    }

    /// Remembers a message id (and, for an announcement, which message brought it), before the station acts on it.
    public func rememberLinkMessage(_ id: String, keepUntil: Date, announcement: String?, now: Date) throws {
        try write("remember county message \(id)") { db in try Self.remember(id, keepUntil: keepUntil, announcement: announcement, now: now, db) }
    }

    static func remember(_ id: String, keepUntil: Date, announcement: String?, now: Date, _ db: Database) throws {
        try db.execute(sql: "INSERT OR REPLACE INTO linkSeenMessage (id, keepUntil) VALUES (?, ?)", arguments: [id, keepUntil.millisecondsSince1970])
        if let announcement {
            try db.execute(
                sql: "INSERT OR REPLACE INTO linkAnnouncement (id, message, receivedAt) VALUES (?, ?, ?)",
                arguments: [announcement, id, now.millisecondsSince1970])
        }
    }

    /// The message that brought a county announcement, if it came over the link.
    public func linkMessage(forAnnouncement id: String) throws -> String? {
        try read("read the county announcement \(id)") { db in
            try String.fetchOne(db, sql: "SELECT message FROM linkAnnouncement WHERE id = ?", arguments: [id])
        }
    }

    // MARK: Marks

    /// The last row seq the county confirmed it stored (0 before any).
    public func linkConfirmedSeq() throws -> Int64 {
        try read("read the county link's confirmed row") { db in
            try Int64.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [Self.linkConfirmedSeqKey]) ?? 0
        }
    }

    /// Raises the confirmed mark (never lowers it).
    public func setLinkConfirmedSeq(_ seq: Int64) throws {
        try write("store the county link's confirmed row") { db in
            let current = try Int64.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [Self.linkConfirmedSeqKey]) ?? 0
            guard seq > current else { return }
            try db.execute(sql: "INSERT OR REPLACE INTO storeSetting (key, value) VALUES (?, ?)", arguments: [Self.linkConfirmedSeqKey, seq])
        }
    }

    // MARK: Rows

    /// Up to `limit` airtime rows after `seq`, oldest first: what the village uploads.
    public func rows(after seq: Int64, limit: Int) throws -> [LogRow] {
        try read("read the airtime log after row \(seq)") { db in
            try Row.fetchAll(
                db, sql: "SELECT \(ChainedContent.storedColumnList) FROM airtimeLog WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]
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

    // MARK: Outbox

    /// Queues uplink messages, in order.
    public func addToOutbox(_ messages: [(topic: String, payload: Data)], now: Date) throws {
        guard !messages.isEmpty else { return }
        try write("queue county receipts") { db in
            for m in messages {
                try db.execute(
                    sql: "INSERT INTO linkOutbox (topic, payload, createdAt) VALUES (?, ?, ?)", arguments: [m.topic, m.payload, now.millisecondsSince1970])
            }
        }
    }

    /// Turns the airtime rows logged since the last call into receipts, in one transaction with the mark that says how far
    /// it got, so a crash neither loses a receipt nor makes a second one. `receipt` gets each row and the message of its
    /// announcement (nil when the row is not a county item) and returns the uplink messages for it, if any.
    @discardableResult
    public func receiptsFromNewRows(limit: Int = 500, now: Date, _ receipt: (LogRow, String?) -> [(topic: String, payload: Data)]) throws -> Int {
        try write("turn airtime rows into county receipts") { db in
            let mark = try Int64.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [Self.linkReceiptSeqKey]) ?? 0
            let rows = try Row.fetchAll(
                db, sql: "SELECT \(ChainedContent.storedColumnList) FROM airtimeLog WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [mark, limit])
            guard !rows.isEmpty else { return 0 }
            var last = mark
            var made = 0
            for row in rows {
                let seq: Int64 = row[0]
                last = seq
                guard let content = ChainedContent(row: row), let record = try? content.record() else { continue }
                let logRow = LogRow(
                    seq: seq, record: record, recordedAt: Date(millisecondsSince1970: content.recordedAt), previousHash: row[21], hash: row[22])
                let message = try String.fetchOne(db, sql: "SELECT message FROM linkAnnouncement WHERE id = ?", arguments: [record.announcementID])
                for out in receipt(logRow, message) {
                    try db.execute(
                        sql: "INSERT INTO linkOutbox (topic, payload, createdAt) VALUES (?, ?, ?)",
                        arguments: [out.topic, out.payload, now.millisecondsSince1970])
                    made += 1
                }
            }
            try db.execute(sql: "INSERT OR REPLACE INTO storeSetting (key, value) VALUES (?, ?)", arguments: [Self.linkReceiptSeqKey, last])
            return made
        }
    }

    /// The oldest waiting uplink messages, skipping those already handed to the broker client.
    public func outbox(limit: Int, excluding: Set<Int64> = []) throws -> [OutboxEntry] {
        try read("read the county outbox") { db in
            var entries: [OutboxEntry] = []
            let cursor = try Row.fetchCursor(db, sql: "SELECT id, topic, payload FROM linkOutbox ORDER BY id")
            while entries.count < limit, let row = try cursor.next() {
                let id: Int64 = row[0]
                if excluding.contains(id) { continue }
                entries.append(OutboxEntry(id: id, topic: row[1], payload: row[2]))
            }
            return entries
        }
    }

    /// Removes messages the broker acknowledged.
    public func removeFromOutbox(_ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try write("remove acknowledged county receipts") { db in
            for id in ids { try db.execute(sql: "DELETE FROM linkOutbox WHERE id = ?", arguments: [id]) }
        }
    }

    public func outboxCount() throws -> Int {
        try read("count the county outbox") { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM linkOutbox") ?? 0 }
    }

    /// Keeps the outbox within `capacity` entries by deleting the oldest whose receipt is not a final stage (`$.stage` of the
    /// payload not in `finalStages`); final ones are never dropped. Returns the ids dropped.
    public func trimOutbox(capacity: Int, finalStages: [String]) throws -> [Int64] {
        try write("trim the county outbox") { db in
            let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM linkOutbox") ?? 0
            guard count > capacity else { return [] }
            let placeholders = finalStages.isEmpty ? "''" : finalStages.map { _ in "?" }.joined(separator: ", ")
            return try Int64.fetchAll(
                db,
                sql: """
                    DELETE FROM linkOutbox WHERE id IN (
                        SELECT id FROM linkOutbox WHERE coalesce(json_extract(CAST(payload AS TEXT), '$.stage'), '') NOT IN (\(placeholders))
                        ORDER BY id LIMIT \(count - capacity))
                    RETURNING id
                    """, arguments: StatementArguments(finalStages))
        }
    }

    /// The message that brought a county announcement and when it was received, if it came over the link.
    public func linkAnnouncement(_ id: String) throws -> (message: String, receivedAt: Date)? {
        try read("read the county announcement \(id)") { db in
            try Row.fetchOne(db, sql: "SELECT message, receivedAt FROM linkAnnouncement WHERE id = ?", arguments: [id]).map {
                ($0[0], Date(millisecondsSince1970: $0[1]))
            }
        }
    }

    // MARK: Pending fetches

    /// A county announcement whose audio is fetched from the head-end (or waits its turn), kept from its `received` receipt
    /// until its outcome is in the station's log or queue: a kill -9 or a stop mid-fetch then resumes it at the next start,
    /// where before it was lost (the head-end, holding the receipt, never sends it again).
    public struct PendingFetch: Sendable, Hashable {
        /// What is queued once the audio is here (`audio` is the cache path), with the title and expiry updates gave it.
        public var announcement: Announcement
        /// The head-end message that brought it, which its receipts name.
        public var message: String
        public var url: String
        /// Lowercase hex SHA-256 of the audio, which also names its cache file.
        public var sha256: String
        /// The size the message declares, if it does.
        public var bytes: Int?
        /// Who cancelled it while its audio was fetched: it is then recorded as cancelled, never queued.
        public var cancelledBy: String?

        public init(announcement: Announcement, message: String, url: String, sha256: String, bytes: Int?, cancelledBy: String? = nil) {
            self.announcement = announcement
            self.message = message
            self.url = url
            self.sha256 = sha256
            self.bytes = bytes
            self.cancelledBy = cancelledBy
        }
    }

    /// Adds the pending fetches; registered after the volume migration, and like every shipped migration never edited. An
    /// older store simply has none.
    static func registerCountyFetchMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v6-county-pending-fetch") { db in
            try db.execute(
                sql: """
                    CREATE TABLE linkPendingFetch (
                        arrival INTEGER PRIMARY KEY AUTOINCREMENT,
                        announcementID TEXT NOT NULL UNIQUE,
                        message TEXT NOT NULL,
                        announcement TEXT NOT NULL,
                        url TEXT NOT NULL,
                        sha256 TEXT NOT NULL,
                        bytes INTEGER,
                        cancelledBy TEXT
                    ) STRICT;
                    """)
        }
    }

    /// Keeps a pending fetch in one transaction with its `received` receipt and the message that brought it (remembered as
    /// `rememberLinkMessage` does): the receipt says "I have it", so it is never sent for an announcement not kept, and a
    /// re-publish after a crash finds the announcement already here rather than a second copy.
    public func keepPendingFetch(_ fetch: PendingFetch, receipt: (topic: String, payload: Data), keepMessageUntil: Date, now: Date) throws {
        let json = try encodePendingAnnouncement(fetch)
        try write("keep county announcement \(fetch.announcement.id) while its audio is fetched") { db in
            try db.execute(
                sql: "INSERT INTO linkOutbox (topic, payload, createdAt) VALUES (?, ?, ?)",
                arguments: [receipt.topic, receipt.payload, now.millisecondsSince1970])
            try Self.remember(fetch.message, keepUntil: keepMessageUntil, announcement: fetch.announcement.id, now: now, db)
            try db.execute(
                sql: """
                    INSERT INTO linkPendingFetch (announcementID, message, announcement, url, sha256, bytes, cancelledBy)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(announcementID) DO UPDATE SET
                        message = excluded.message, announcement = excluded.announcement, url = excluded.url, sha256 = excluded.sha256,
                        bytes = excluded.bytes, cancelledBy = excluded.cancelledBy
                    """,
                arguments: [fetch.announcement.id, fetch.message, json, fetch.url, fetch.sha256, fetch.bytes, fetch.cancelledBy])
        }
    }

    /// Stores what the county changed of a pending fetch meanwhile (an update's title or expiry, a cancel); one no longer
    /// kept is left alone.
    public func updatePendingFetch(_ fetch: PendingFetch) throws {
        let json = try encodePendingAnnouncement(fetch)
        try write("update county announcement \(fetch.announcement.id) while its audio is fetched") { db in
            try db.execute(
                sql: "UPDATE linkPendingFetch SET announcement = ?, cancelledBy = ? WHERE announcementID = ?",
                arguments: [json, fetch.cancelledBy, fetch.announcement.id])
        }
    }

    /// Forgets a pending fetch once its outcome is in the station's log or queue.
    public func removePendingFetch(_ announcementID: String) throws {
        try write("forget the pending fetch of county announcement \(announcementID)") { db in
            try db.execute(sql: "DELETE FROM linkPendingFetch WHERE announcementID = ?", arguments: [announcementID])
        }
    }

    /// Every pending fetch, in the order the announcements came.
    public func pendingFetches() throws -> [PendingFetch] {
        let rows = try read("read the pending county fetches") { db in
            try Row.fetchAll(
                db, sql: "SELECT announcementID, message, announcement, url, sha256, bytes, cancelledBy FROM linkPendingFetch ORDER BY arrival")
        }
        return try rows.map { row in
            let id: String = row[0]
            do {
                return PendingFetch(
                    announcement: try Self.decodeJSON(Announcement.self, from: row[2]), message: row[1], url: row[3], sha256: row[4], bytes: row[5],
                    cancelledBy: row[6])
            } catch {
                throw StoreError(
                    operation: "read the pending county fetches", path: path, reason: .invalidData,
                    message: "the pending fetch of \(id) cannot be read: \(error)")
            }
        }
    }

    /// Whether the airtime log has a row of this county announcement: a pending fetch whose outcome was written just before
    /// a crash (and not yet forgotten) is then not queued a second time.
    public func hasCountyRow(forAnnouncement id: String) throws -> Bool {
        try read("look for county announcement \(id) in the airtime log") { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM airtimeLog WHERE announcementID = ? AND source = 'county')", arguments: [id]) ?? false
        }
    }

    private func encodePendingAnnouncement(_ fetch: PendingFetch) throws -> String {
        do {
            return try Self.encodeJSON(fetch.announcement)
        } catch {
            throw StoreError(
                operation: "keep county announcement \(fetch.announcement.id) while its audio is fetched", path: path, reason: .invalidData,
                message: "\(error)")
        }
    }
}
