import DalabaCore
import Foundation
import GRDB

/// One change the Station makes to its durable state; an event's changes are committed together.
public enum StoreChange: Sendable, Equatable {
    /// Insert or replace a queue entry.
    case save(QueueEntry)
    /// Delete a queue entry (absent is fine).
    case remove(id: String)
    /// Append a log row; the checkpoint of that announcement's play ends with it.
    case record(AirtimeRecord)
    /// Replace the checkpoint of a play in progress.
    case checkpoint(PlayCheckpoint)
}

extension StationStore {
    /// Applies `changes` in order in one transaction: a crash or a full disk leaves either all of them or none, so the log
    /// never says `completed` for an item that is still queued, and no acknowledged entry is half-written.
    public func commit(_ changes: [StoreChange]) throws {
        guard !changes.isEmpty else { return }
        // Encoding happens before the transaction, so a value that cannot be encoded fails the commit cleanly.
        var encoded: [String?] = []
        encoded.reserveCapacity(changes.count)
        do {
            for change in changes {
                switch change {
                case .save(let entry): encoded.append(try Self.encodeJSON(entry))
                case .checkpoint(let play): encoded.append(try Self.encodeJSON(play.record))
                case .remove, .record: encoded.append(nil)
                }
            }
        } catch {
            throw StoreError(operation: "commit station changes", path: path, reason: .invalidData, message: "\(error)")
        }
        let recordedAt = clock()
        try write("commit station changes") { db in
            for (change, json) in zip(changes, encoded) {
                switch change {
                case .save(let entry):
                    try Self.saveRow(entry, json: json!, db)
                case .remove(let id):
                    try db.execute(sql: "DELETE FROM queueEntry WHERE id = ?", arguments: [id])
                case .record(let record):
                    _ = try appendRows([record], recordedAt: recordedAt, db)
                    try db.execute(sql: "DELETE FROM playCheckpoint WHERE announcementID = ?", arguments: [record.announcementID])
                case .checkpoint(let play):
                    try Self.checkpointRow(play, json: json!, db)
                }
            }
        }
    }
}

extension StationStore {
    /// Frees SQLite's caches (page caches of the writer and of idle readers, statement caches), so a flood that was
    /// cancelled leaves no lasting footprint. Blocking: call it off the cooperative pool.
    public func releaseMemory() {
        if let pool = writer as? DatabasePool { pool.releaseMemory() } else if let queue = writer as? DatabaseQueue { queue.releaseMemory() }
    }
}

extension StationStore {
    /// `PRAGMA synchronous` of the connection that commits (2 is FULL), for tests and `dalaba doctor`.
    public func synchronousMode() throws -> Int {
        do {
            return try writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
        } catch {
            throw StoreError(operation: "read the sync mode", path: path, wrapping: error)
        }
    }
}
