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

    /// Records a cancel, stop-all or update message and its outbox entries; for a cancel, marks the announcement cancelled;
    /// for an update that reaches every target (`changed`), records the new title and expiry on the announcement.
    public func enqueue(
        messageID: String, type: String, announcement: String?, envelope: Data, regions: [RegionCode], changed: CountyAPI.UpdateRequest? = nil
    ) async throws {
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            if type == "cancel", let announcement {
                try await connection.query(
                    "UPDATE announcement SET cancelled_at = coalesce(cancelled_at, now()) WHERE id = \(announcement)", logger: logger)
            }
            if let changed, let announcement {
                try await connection.query(
                    """
                    UPDATE announcement SET title = coalesce(\(changed.title), title), expires = coalesce(\(changed.expires), expires)
                    WHERE id = \(announcement)
                    """, logger: logger)
            }
            try await Self.enqueue(connection, messageID: messageID, type: type, announcement: announcement, envelope: envelope, regions: regions, logger: logger)
        }
    }

    static func enqueue(
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
    public func announcement(id: String) async throws
        -> (targets: [RegionCode], title: String, kind: Kind, level: Int?, acceptedAt: Date, cancelledAt: Date?, notBefore: Date?)?
    {
        let rows = try await client.query(
            "SELECT targets, title, kind, level, accepted_at, cancelled_at, not_before FROM announcement WHERE id = \(id)", logger: logger)
        for try await (targets, title, kind, level, accepted, cancelled, notBefore) in rows.decode(
            ([String], String, String, Int?, Date, Date?, Date?).self)
        {
            return (targets.compactMap { try? RegionCode($0) }, title, Kind(rawValue: kind) ?? .policy, level, accepted, cancelled, notBefore)
        }
        return nil
    }
}

extension CountyStore {
    /// Targeted villages that are online and have sent no receipt at all for an announcement still valid (not cancelled,
    /// before its expiry or, without one, its message lifetime), whose first publish the broker has acknowledged and which
    /// have no re-publish waiting in the outbox: what `RepublishPolicy` decides about.
    public func republishCandidates(now: Date, lifetime: Double, limit: Int = 1_000) async throws -> [RepublishPolicy.Candidate] {
        var out: [RepublishPolicy.Candidate] = []
        let rows = try await client.query(
            """
            SELECT a.id, a.message_id, av.village, a.title, a.expires, v.online_since, v.version, coalesce(r.attempts, 0),
                coalesce(r.last_at, (SELECT max(o.published_at) FROM outbox o WHERE o.message_id = a.message_id))
            FROM announcement a
            JOIN announcement_village av ON av.announcement_id = a.id
            JOIN village v ON v.code = av.village
            LEFT JOIN republish r ON r.announcement_id = a.id AND r.village = av.village
            WHERE a.cancelled_at IS NULL AND v.online
                AND coalesce(a.expires, a.accepted_at + make_interval(secs => \(lifetime))) > \(now)
                AND NOT EXISTS (SELECT 1 FROM receipt x WHERE x.village = av.village AND x.announcement_id = a.id)
                AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = a.message_id AND o.published_at IS NULL)
                AND NOT EXISTS (
                    SELECT 1 FROM outbox o JOIN message m ON m.id = o.message_id
                    WHERE m.announcement_id = a.id AND o.region = av.village AND o.published_at IS NULL)
            ORDER BY a.accepted_at, av.village LIMIT \(Int64(limit))
            """, logger: logger)
        for try await (id, message, village, title, expires, onlineSince, version, attempts, last) in rows.decode(
            (String, String, String, String, Date?, Date?, String?, Int32, Date?).self)
        {
            guard let code = try? RegionCode(village), let last else { continue }
            out.append(
                .init(
                    announcement: id, message: message, village: code, title: title, expires: expires, onlineSince: onlineSince,
                    version: version, attempts: Int(attempts), lastPublished: last))
        }
        return out
    }

    /// The signed envelope of a recorded message.
    public func envelope(messageID: String) async throws -> Data? {
        let rows = try await client.query("SELECT envelope FROM message WHERE id = \(messageID)", logger: logger)
        for try await envelope in rows.decode(ByteBuffer.self) {
            return Data(envelope.readableBytesView)
        }
        return nil
    }

    /// Records a re-publish of `announcement` to one village: the new signed message, its outbox entry and the attempt, in one
    /// transaction, so a crash neither loses it nor counts it without sending it.
    public func recordRepublish(announcement: String, village: RegionCode, messageID: String, envelope: Data, at now: Date) async throws {
        let logger = self.logger
        try await client.withTransaction(logger: logger) { connection in
            try await Self.enqueue(
                connection, messageID: messageID, type: "announce", announcement: announcement, envelope: envelope, regions: [village],
                logger: logger)
            try await connection.query(
                """
                INSERT INTO republish (announcement_id, village, attempts, last_at) VALUES (\(announcement), \(village.digits), 1, \(now))
                ON CONFLICT (announcement_id, village) DO UPDATE SET attempts = republish.attempts + 1, last_at = excluded.last_at
                """, logger: logger)
        }
    }
}
