import Foundation
import GRDB

/// The base level an admin set (`dalaba volume --base`, `POST /v1/volume`), kept in `storeSetting` so it outlasts a
/// restart; until one is set, the configuration's `[volume] base` applies. No migration: `storeSetting` is in v1.
extension StationStore {
    /// The stored base level, who set it and when.
    public struct BaseVolume: Sendable, Equatable {
        public var decibels: Double
        public var setBy: String
        public var setAt: Date
        public init(decibels: Double, setBy: String, setAt: Date) {
            self.decibels = decibels
            self.setBy = setBy
            self.setAt = setAt
        }
    }

    static let baseVolumeKey = "volume.base"
    static let baseVolumeByKey = "volume.base.by"
    static let baseVolumeAtKey = "volume.base.at"

    /// The base level an admin set, or nil when none has been (the configuration's then applies).
    public func baseVolume() throws -> BaseVolume? {
        try read("read the base volume") { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT key, value FROM storeSetting WHERE key IN (?, ?, ?)",
                arguments: [Self.baseVolumeKey, Self.baseVolumeByKey, Self.baseVolumeAtKey])
            var values: [String: DatabaseValue] = [:]
            for row in rows { values[row["key"]] = row["value"] as DatabaseValue }
            guard let decibels = values[Self.baseVolumeKey].flatMap(Double.fromDatabaseValue) else { return nil }
            return BaseVolume(
                decibels: decibels, setBy: values[Self.baseVolumeByKey].flatMap(String.fromDatabaseValue) ?? "",
                setAt: Date(millisecondsSince1970: values[Self.baseVolumeAtKey].flatMap(Int64.fromDatabaseValue) ?? 0))
        }
    }

    /// Stores a new base level in one synced transaction. Blocking: call it off the cooperative pool.
    public func setBaseVolume(_ volume: BaseVolume) throws {
        try write("store the base volume") { db in
            let sql = "INSERT OR REPLACE INTO storeSetting (key, value) VALUES (?, ?)"
            try db.execute(sql: sql, arguments: [Self.baseVolumeKey, volume.decibels])
            try db.execute(sql: sql, arguments: [Self.baseVolumeByKey, volume.setBy])
            try db.execute(sql: sql, arguments: [Self.baseVolumeAtKey, volume.setAt.millisecondsSince1970])
        }
    }
}
