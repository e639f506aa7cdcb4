import DalabaCore
import DalabaLink
import Foundation
import PostgresNIO

extension CountyStore {
    /// An accepted announcement as the head-end records it before answering.
    public struct AnnouncementRecord: Sendable, Equatable {
        public var id: String
        public var title: String
        public var kind: Kind
        public var level: Int?
        public var isTest: Bool
        public var tier: Tier
        public var source: String
        public var targets: [RegionCode]
        public var villages: [RegionCode]
        public var text: String?
        public var audioSHA256: String
        public var audioBytes: Int
        public var notBefore: Date?
        public var expires: Date?
        public var acceptedAt: Date
    }

    /// A signed message and the regions it is still to be published to.
    public struct Pending: Sendable, Equatable {
        public var messageID: String
        public var region: String
        public var envelope: Data
    }

    /// Records the announcement, the villages its targets reach, the signed message and one outbox entry per target region,
    /// in one transaction, so that once the caller is told "accepted" the message will be published (again after a crash)
    /// until the broker has it. Returns false (and records nothing) when an announcement with this id exists.
    public func accept(_ announcement: AnnouncementRecord, messageID: String, envelope: Data) async throws -> Bool {
        let a = announcement
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            let inserted = try await connection.query(
                """
                INSERT INTO announcement (id, message_id, title, kind, level, is_test, tier, source, targets, text, audio_sha256, audio_bytes,
                    not_before, expires, accepted_at)
                VALUES (\(a.id), \(messageID), \(a.title), \(a.kind.rawValue), \(a.level), \(a.isTest), \(a.tier.name), \(a.source),
                    \(a.targets.map(\.digits))::text[], \(a.text), \(a.audioSHA256), \(Int64(a.audioBytes)), \(a.notBefore), \(a.expires), \(a.acceptedAt))
                ON CONFLICT (id) DO NOTHING RETURNING id
                """, logger: logger)
            var fresh = false
            for try await _ in inserted { fresh = true }
            guard fresh else { return false }
            try await connection.query(
                """
                INSERT INTO announcement_village (announcement_id, village) SELECT \(a.id), v FROM UNNEST(\(a.villages.map(\.digits))::text[]) AS v
                """, logger: logger)
            try await Self.enqueue(connection, messageID: messageID, type: "announce", announcement: a.id, envelope: envelope, regions: a.targets, logger: logger)
            return true
        }
    }

    /// Records a cancel, stop-all or update message and its outbox entries; for a cancel, marks the announcement cancelled.
    public func enqueue(messageID: String, type: String, announcement: String?, envelope: Data, regions: [RegionCode]) async throws {
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            if type == "cancel", let announcement {
                try await connection.query(
                    "UPDATE announcement SET cancelled_at = coalesce(cancelled_at, now()) WHERE id = \(announcement)", logger: logger)
            }
            try await Self.enqueue(connection, messageID: messageID, type: type, announcement: announcement, envelope: envelope, regions: regions, logger: logger)
        }
    }

    private static func enqueue(
        _ connection: PostgresConnection, messageID: String, type: String, announcement: String?, envelope: Data, regions: [RegionCode], logger: Logger
    ) async throws {
        try await connection.query(
            """
            INSERT INTO message (id, body_type, announcement_id, envelope) VALUES (\(messageID), \(type), \(announcement), \(ByteBuffer(bytes: envelope)))
            """, logger: logger)
        try await connection.query(
            "INSERT INTO outbox (message_id, region) SELECT \(messageID), r FROM UNNEST(\(regions.map(\.digits))::text[]) AS r", logger: logger)
    }

    /// Outbox entries not yet acknowledged by the broker, oldest first.
    public func pending(limit: Int = 500) async throws -> [Pending] {
        var out: [Pending] = []
        let rows = try await client.query(
            """
            SELECT o.message_id, o.region, m.envelope FROM outbox o JOIN message m ON m.id = o.message_id
            WHERE o.published_at IS NULL ORDER BY m.created_at, o.message_id, o.region LIMIT \(Int64(limit))
            """, logger: logger)
        for try await (id, region, envelope) in rows.decode((String, String, ByteBuffer).self) {
            out.append(Pending(messageID: id, region: region, envelope: Data(envelope.readableBytesView)))
        }
        return out
    }

    /// The broker acknowledged `messageID` on `region`'s topic.
    public func published(messageID: String, region: String) async throws {
        try await client.query(
            "UPDATE outbox SET published_at = now() WHERE message_id = \(messageID) AND region = \(region) AND published_at IS NULL", logger: logger)
    }

    /// The announcement with `id`: its targets, its message and when it was accepted; nil when there is none.
    public func announcement(id: String) async throws -> (targets: [RegionCode], title: String, kind: Kind, level: Int?, acceptedAt: Date, cancelledAt: Date?)? {
        let rows = try await client.query(
            "SELECT targets, title, kind, level, accepted_at, cancelled_at FROM announcement WHERE id = \(id)", logger: logger)
        for try await (targets, title, kind, level, accepted, cancelled) in rows.decode(([String], String, String, Int?, Date, Date?).self) {
            return (targets.compactMap { try? RegionCode($0) }, title, Kind(rawValue: kind) ?? .policy, level, accepted, cancelled)
        }
        return nil
    }
}
