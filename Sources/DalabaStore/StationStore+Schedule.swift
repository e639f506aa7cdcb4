import DalabaSchedule
import Foundation
import GRDB

/// The scheduler's memory across restarts: the keys of slots already handled (queued or logged as missed) and the instant
/// up to which every slot has been handled. With both, a restart neither plays a slot twice nor loses one in silence: slots
/// after that instant that have no key were missed while the daemon was down.
extension StationStore {
    /// The `storeSetting` key of the instant up to which every schedule slot has been handled.
    static let scheduleHandledThroughKey = "schedule.handledThrough"

    /// Adds the schedule tables; registered after "v1" in `migrator`, and like every shipped migration never edited.
    static func registerScheduleMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-schedule") { db in
            try db.execute(
                sql: """
                    CREATE TABLE firedSlot (
                        programme TEXT NOT NULL,
                        time INTEGER NOT NULL,
                        firedAt INTEGER NOT NULL,
                        PRIMARY KEY (programme, time)
                    ) WITHOUT ROWID, STRICT;
                    CREATE INDEX firedSlot_time ON firedSlot(time);
                    """)
        }
    }

    /// Remembers that a slot has been handled, and moves the handled-through instant up to its time.
    ///
    /// Called after the slot's announcements were queued (or its missed row written): a crash in between re-offers the slot,
    /// and the station refuses the second copy because its id is still queued.
    public func markFired(_ key: SlotKey) throws {
        let firedAt = clock().millisecondsSince1970
        try write("remember schedule slot \(key)") { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO firedSlot (programme, time, firedAt) VALUES (?, ?, ?)",
                arguments: [key.programme, key.time.millisecondsSince1970, firedAt])
            try Self.raiseHandledThrough(key.time, db)
        }
    }

    /// Moves the handled-through instant forward to `instant`; an earlier instant (the clock went back) changes nothing.
    public func markScheduleHandled(through instant: Date) throws {
        try write("remember how far the schedule has run") { db in try Self.raiseHandledThrough(instant, db) }
    }

    /// The instant up to which every slot has been handled, or nil when the scheduler has never run on this database.
    ///
    /// This is the `lastFired` the `Scheduler` is restored with: it covers stretches without slots, so a slot missed after
    /// a quiet afternoon is still found.
    public func lastFired() throws -> Date? {
        try read("read how far the schedule has run") { db in
            let marked = try Int64.fetchOne(
                db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [Self.scheduleHandledThroughKey])
            let newestKey = try Int64.fetchOne(db, sql: "SELECT max(time) FROM firedSlot")
            return [marked, newestKey].compactMap { $0 }.max().map { Date(millisecondsSince1970: $0) }
        }
    }

    /// The keys of slots at or after `instant`, which is all a restored `Scheduler` needs.
    public func firedKeys(since instant: Date) throws -> Set<SlotKey> {
        try read("read the handled schedule slots") { db in
            let rows = try Row.fetchCursor(
                db, sql: "SELECT programme, time FROM firedSlot WHERE time >= ?", arguments: [instant.millisecondsSince1970])
            var keys = Set<SlotKey>()
            while let row = try rows.next() {
                keys.insert(SlotKey(programme: row[0], time: Date(millisecondsSince1970: row[1])))
            }
            return keys
        }
    }

    /// Forgets keys of slots before `instant`; the scheduler never looks behind its handled-through instant, so keys well
    /// before it only take space. Returns how many were removed.
    @discardableResult
    public func pruneFiredKeys(before instant: Date) throws -> Int {
        try write("prune the handled schedule slots") { db in
            try db.execute(sql: "DELETE FROM firedSlot WHERE time < ?", arguments: [instant.millisecondsSince1970])
            return db.changesCount
        }
    }

    private static func raiseHandledThrough(_ instant: Date, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO storeSetting (key, value) VALUES (?, ?)
                ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)
                """,
            arguments: [scheduleHandledThroughKey, instant.millisecondsSince1970])
    }
}
