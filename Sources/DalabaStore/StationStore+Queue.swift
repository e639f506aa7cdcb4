import DalabaCore
import Foundation
import GRDB

/// The persistent queue: the Station saves and removes entries as its Arbiter decides, and reloads them after a restart.
extension StationStore {
    /// Inserts the entry, or replaces the one with the same announcement id (its play count, resume point or state changed).
    public func save(_ entry: QueueEntry) throws {
        let json: String
        do {
            json = try Self.encodeJSON(entry)
        } catch {
            throw StoreError(operation: "save queue entry \(entry.id)", path: path, reason: .invalidData, message: "\(error)")
        }
        try write("save queue entry \(entry.id)") { db in try Self.saveRow(entry, json: json, db) }
    }

    static func saveRow(_ entry: QueueEntry, json: String, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO queueEntry (id, sequence, entry) VALUES (?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET sequence = excluded.sequence, entry = excluded.entry
                """,
            arguments: [entry.id, entry.sequence, json])
        // The highest sequence ever saved outlives the entries, so numbering never restarts after the queue empties.
        try db.execute(
            sql: """
                INSERT INTO storeSetting (key, value) VALUES ('queue.maxSequence', ?)
                ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)
                """,
            arguments: [entry.sequence])
    }

    /// Removes the entry with this announcement id; removing one that is not there is not an error.
    public func remove(id: String) throws {
        try write("remove queue entry \(id)") { db in
            try db.execute(sql: "DELETE FROM queueEntry WHERE id = ?", arguments: [id])
        }
    }

    /// Every queued entry, in arrival order.
    public func loadQueue() throws -> [QueueEntry] {
        let rows = try read("load the queue") { db in
            try Row.fetchAll(db, sql: "SELECT id, entry FROM queueEntry ORDER BY sequence, id")
        }
        return try rows.map { row in
            let id: String = row["id"]
            do {
                return try Self.decodeJSON(QueueEntry.self, from: row["entry"])
            } catch {
                throw StoreError(operation: "load the queue", path: path, reason: .invalidData, message: "entry \(id) cannot be read: \(error)")
            }
        }
    }

    /// The sequence number for the next arrival: one more than any ever saved, across restarts and an emptied queue.
    public func nextSequence() throws -> Int64 {
        try read("read the queue sequence") { db in
            let kept = try Int64.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = 'queue.maxSequence'") ?? 0
            let queued = try Int64.fetchOne(db, sql: "SELECT max(sequence) FROM queueEntry") ?? 0
            return max(kept, queued) + 1
        }
    }

    // MARK: - JSON columns

    static func encodeJSON(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decodeJSON<T: Decodable>(_ type: T.Type, from json: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(json.utf8))
    }
}
