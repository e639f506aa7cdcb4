import DalabaCore
import DalabaLink
import Foundation
import Logging
import PostgresNIO

/// The county's central log in PostgreSQL (postgres-nio): villages, every village's airtime rows exactly once, receipts,
/// announcements with their targets, and the outbox of signed messages still to publish. Each ingest is one transaction.
public struct CountyStore: Sendable {
    public let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// The client configuration for `database`, without TLS on loopback.
    public static func clientConfiguration(_ database: CountyConfiguration.Database) -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: database.host, port: database.port, username: database.user, password: database.password, database: database.database,
            tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.maximumConnections = 8
        return configuration
    }

    // MARK: Schema

    /// Migrations, applied in order and recorded; never edited once shipped.
    static let migrations: [String] = [
        """
        CREATE TABLE village (
            code text PRIMARY KEY CHECK (code ~ '^[0-9]{12}$'),
            name text NOT NULL,
            township text NOT NULL,
            online boolean NOT NULL DEFAULT false,
            online_since timestamptz,
            last_heartbeat timestamptz,
            device_up boolean,
            on_air text,
            queue_length integer,
            underruns bigint,
            version text,
            confirmed_seq bigint NOT NULL DEFAULT 0,
            confirmed_hash text NOT NULL DEFAULT '\(ChainWalk.genesis)',
            chain_fault text,
            chain_fault_at timestamptz
        );
        CREATE TABLE airtime_row (
            village text NOT NULL,
            seq bigint NOT NULL CHECK (seq > 0),
            recorded_ms bigint NOT NULL,
            announcement_id text NOT NULL,
            title text NOT NULL,
            kind text NOT NULL,
            level bigint,
            is_test boolean NOT NULL,
            tier text NOT NULL,
            source text NOT NULL,
            audio text NOT NULL,
            text text,
            play_number bigint NOT NULL,
            scheduled_ms bigint,
            started_ms bigint,
            ended_ms bigint NOT NULL,
            frames bigint NOT NULL CHECK (frames >= 0),
            signal_frames bigint NOT NULL,
            rate bigint NOT NULL,
            outcome text NOT NULL,
            error text,
            previous_hash text NOT NULL,
            hash text NOT NULL,
            at timestamptz GENERATED ALWAYS AS (to_timestamp(coalesce(started_ms, ended_ms) / 1000.0)) STORED,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (village, seq)
        );
        CREATE INDEX airtime_row_at ON airtime_row (at);
        CREATE TABLE receipt (
            village text NOT NULL,
            announcement_id text NOT NULL,
            message_id text NOT NULL,
            stage text NOT NULL,
            at timestamptz NOT NULL,
            frames bigint,
            rate integer,
            reason text,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (village, announcement_id, stage, at)
        );
        CREATE TABLE announcement (
            id text PRIMARY KEY,
            message_id text NOT NULL,
            title text NOT NULL,
            kind text NOT NULL,
            level integer,
            is_test boolean NOT NULL,
            tier text NOT NULL,
            source text NOT NULL,
            targets text[] NOT NULL,
            text text,
            audio_sha256 text NOT NULL,
            audio_bytes bigint NOT NULL,
            not_before timestamptz,
            expires timestamptz,
            accepted_at timestamptz NOT NULL,
            cancelled_at timestamptz
        );
        CREATE TABLE announcement_village (
            announcement_id text NOT NULL REFERENCES announcement (id),
            village text NOT NULL,
            PRIMARY KEY (announcement_id, village)
        );
        CREATE TABLE message (
            id text PRIMARY KEY,
            body_type text NOT NULL,
            announcement_id text,
            envelope bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE outbox (
            message_id text NOT NULL REFERENCES message (id),
            region text NOT NULL,
            published_at timestamptz,
            PRIMARY KEY (message_id, region)
        );
        CREATE INDEX outbox_pending ON outbox (message_id) WHERE published_at IS NULL;
        """
    ]

    /// Brings the schema up to date, in one transaction per migration; safe to run from several head-ends at once.
    public func migrate() async throws {
        try await client.query("CREATE TABLE IF NOT EXISTS schema_migration (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)")
        for (index, sql) in Self.migrations.enumerated() {
            let version = index + 1
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("LOCK TABLE schema_migration IN EXCLUSIVE MODE", logger: logger)
                let rows = try await connection.query("SELECT 1 FROM schema_migration WHERE version = \(version)", logger: logger)
                var applied = false
                for try await _ in rows { applied = true }
                guard !applied else { return }
                for statement in sql.split(separator: ";\n") where !statement.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    try await connection.query(PostgresQuery(unsafeSQL: String(statement)), logger: logger)
                }
                try await connection.query("INSERT INTO schema_migration VALUES (\(version), now())", logger: logger)
            }
        }
    }

    /// Makes sure every configured village has a row, with its configured name.
    public func register(_ villages: [CountyConfiguration.Village]) async throws {
        guard !villages.isEmpty else { return }
        let codes = villages.map(\.code.digits)
        let names = villages.map(\.name)
        try await client.query(
            """
            INSERT INTO village (code, name, township)
            SELECT c, n, substr(c, 1, 9) FROM UNNEST(\(codes)::text[], \(names)::text[]) AS v(c, n)
            ON CONFLICT (code) DO UPDATE SET name = excluded.name
            """, logger: logger)
    }

    // MARK: Ingest

    /// What one batch of rows did.
    public struct IngestOutcome: Sendable, Equatable {
        /// Rows new to the county.
        public var inserted: Int
        /// Rows it already had (sent again), which change nothing.
        public var duplicates: Int
        /// Every row up to this seq is stored: what the head-end confirms to the village.
        public var confirmedSeq: Int64
        /// New faults found in this batch.
        public var faults: [ChainWalk.Fault]
        public init(inserted: Int, duplicates: Int, confirmedSeq: Int64, faults: [ChainWalk.Fault]) {
            self.inserted = inserted
            self.duplicates = duplicates
            self.confirmedSeq = confirmedSeq
            self.faults = faults
        }
    }

    /// Stores `rows` of `village` idempotently by (village, seq) in one transaction, checks the chain forward from the last
    /// confirmed row and records any fault on the village. Throws (and stores nothing) when PostgreSQL fails: then nothing
    /// is confirmed and the village sends the rows again.
    public func ingest(village: RegionCode, rows: [LinkRow]) async throws -> IngestOutcome {
        let code = village.digits
        let sorted = rows.sorted { $0.seq < $1.seq }
        let none = Int64.min
        var seqs: [Int64] = [], recorded: [Int64] = [], ids: [String] = [], titles: [String] = [], kinds: [String] = [], levels: [Int64] = []
        var tests: [Bool] = [], tiers: [String] = [], sources: [String] = [], audios: [String] = [], texts: [String] = [], hasText: [Bool] = []
        var plays: [Int64] = [], scheduled: [Int64] = [], started: [Int64] = [], ended: [Int64] = [], frames: [Int64] = [], signals: [Int64] = []
        var rates: [Int64] = [], outcomes: [String] = [], errors: [String] = [], hasError: [Bool] = [], previous: [String] = [], hashes: [String] = []
        var edited: [ChainWalk.Fault] = []
        for row in sorted {
            if !row.isIntact { edited.append(.edited(seq: row.seq)) }
            seqs.append(row.seq)
            recorded.append(row.recordedAt)
            ids.append(row.announcementID)
            titles.append(row.title)
            kinds.append(row.kind)
            levels.append(row.level ?? none)
            tests.append(row.isTest)
            tiers.append(row.tier)
            sources.append(row.source)
            audios.append(row.audio)
            texts.append(row.text ?? "")
            hasText.append(row.text != nil)
            plays.append(row.playNumber)
            scheduled.append(row.scheduledAt ?? none)
            started.append(row.startedAt ?? none)
            ended.append(row.endedAt)
            frames.append(row.frames)
            signals.append(row.signalFrames)
            rates.append(row.rate)
            outcomes.append(row.outcome)
            errors.append(row.error ?? "")
            hasError.append(row.error != nil)
            previous.append(row.previousHash)
            hashes.append(row.hash)
        }
        let logger = self.logger
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "INSERT INTO village (code, name, township) VALUES (\(code), \(code), \(String(code.prefix(9)))) ON CONFLICT (code) DO NOTHING",
                logger: logger)
            var walk = ChainWalk()
            for try await (seq, hash) in try await connection.query(
                "SELECT confirmed_seq, confirmed_hash FROM village WHERE code = \(code) FOR UPDATE", logger: logger
            ).decode((Int64, String).self) {
                walk = ChainWalk(confirmedSeq: seq, confirmedHash: hash)
            }
            var inserted = 0
            if !seqs.isEmpty {
                let result = try await connection.query(
                    """
                    INSERT INTO airtime_row (village, seq, recorded_ms, announcement_id, title, kind, level, is_test, tier, source, audio, text,
                        play_number, scheduled_ms, started_ms, ended_ms, frames, signal_frames, rate, outcome, error, previous_hash, hash)
                    SELECT \(code), seq, recorded, id, title, kind, NULLIF(level, \(none)), test, tier, source, audio, CASE WHEN has_text THEN text END,
                        play, NULLIF(sched, \(none)), NULLIF(start, \(none)), ended, frames, signals, rate, outcome, CASE WHEN has_error THEN error END,
                        previous, hash
                    FROM UNNEST(\(seqs)::bigint[], \(recorded)::bigint[], \(ids)::text[], \(titles)::text[], \(kinds)::text[], \(levels)::bigint[],
                        \(tests)::boolean[], \(tiers)::text[], \(sources)::text[], \(audios)::text[], \(texts)::text[], \(hasText)::boolean[],
                        \(plays)::bigint[], \(scheduled)::bigint[], \(started)::bigint[], \(ended)::bigint[], \(frames)::bigint[], \(signals)::bigint[],
                        \(rates)::bigint[], \(outcomes)::text[], \(errors)::text[], \(hasError)::boolean[], \(previous)::text[], \(hashes)::text[])
                        AS r(seq, recorded, id, title, kind, level, test, tier, source, audio, text, has_text, play, sched, start, ended, frames,
                            signals, rate, outcome, error, has_error, previous, hash)
                    ON CONFLICT (village, seq) DO NOTHING
                    RETURNING seq
                    """, logger: logger)
                for try await _ in result { inserted += 1 }
            }
            var faults = edited
            if inserted < seqs.count {
                for try await seq in try await connection.query(
                    """
                    SELECT a.seq FROM airtime_row a JOIN UNNEST(\(seqs)::bigint[], \(hashes)::text[]) AS i(seq, hash) ON a.seq = i.seq
                    WHERE a.village = \(code) AND a.hash <> i.hash ORDER BY a.seq
                    """, logger: logger
                ).decode(Int64.self) {
                    faults.append(.changed(seq: seq))
                }
            }
            var links: [ChainWalk.Link] = []
            for try await (seq, previousHash, hash) in try await connection.query(
                "SELECT seq, previous_hash, hash FROM airtime_row WHERE village = \(code) AND seq > \(walk.confirmedSeq) ORDER BY seq",
                logger: logger
            ).decode((Int64, String, String).self) {
                links.append(.init(seq: seq, previousHash: previousHash, hash: hash))
            }
            walk.advance(over: links)
            faults += walk.faults
            let edits = faults.filter(\.isEdit).map(\.description)
            let gap = faults.first { !$0.isEdit }?.description
            // An edit stays flagged for good; a gap is flagged while it lasts.
            try await connection.query(
                """
                UPDATE village SET confirmed_seq = \(walk.confirmedSeq), confirmed_hash = \(walk.confirmedHash),
                    chain_fault = CASE
                        WHEN \(edits.isEmpty) AND chain_fault LIKE 'gap: %' THEN \(gap.map { "gap: " + $0 })
                        WHEN \(edits.isEmpty) AND chain_fault IS NULL THEN \(gap.map { "gap: " + $0 })
                        WHEN \(edits.isEmpty) THEN chain_fault
                        ELSE \(edits.joined(separator: "; ")) END,
                    chain_fault_at = CASE WHEN \(faults.isEmpty) THEN chain_fault_at ELSE now() END
                WHERE code = \(code)
                """, logger: logger)
            return IngestOutcome(inserted: inserted, duplicates: seqs.count - inserted, confirmedSeq: walk.confirmedSeq, faults: faults)
        }
    }

    /// The last seq confirmed for `village` (0 when none).
    public func confirmedSeq(village: RegionCode) async throws -> Int64 {
        for try await seq in try await client.query("SELECT confirmed_seq FROM village WHERE code = \(village.digits)", logger: logger).decode(Int64.self) {
            return seq
        }
        return 0
    }

    /// Stores a receipt once (the same receipt sent twice is one row).
    public func record(_ receipt: VillageReceipt) async throws {
        let code = receipt.village.digits
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "INSERT INTO village (code, name, township) VALUES (\(code), \(code), \(String(code.prefix(9)))) ON CONFLICT (code) DO NOTHING",
                logger: logger)
            try await connection.query(
                """
                INSERT INTO receipt (village, announcement_id, message_id, stage, at, frames, rate, reason)
                VALUES (\(code), \(receipt.announcement ?? ""), \(receipt.message ?? ""), \(receipt.stage.rawValue), \(receipt.at), \(receipt.frames),
                    \(receipt.rate.map(Int32.init)), \(receipt.reason))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
    }

    /// Records a heartbeat, or the last will (`online == false`), which marks the village offline at once; `receivedAt` stands
    /// in for a will's `at` (a will is written when the village connects, so its own time says nothing).
    public func record(_ state: VillageState, receivedAt: Date) async throws {
        let code = state.village.digits
        let at = state.online ? state.at : receivedAt
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                "INSERT INTO village (code, name, township) VALUES (\(code), \(code), \(String(code.prefix(9)))) ON CONFLICT (code) DO NOTHING",
                logger: logger)
            if state.online {
                try await connection.query(
                    """
                    UPDATE village SET online_since = CASE WHEN online THEN online_since ELSE \(at) END, online = true,
                        last_heartbeat = \(at), device_up = \(state.deviceUp), on_air = \(state.onAir.map { "\($0.id) \($0.title)" }),
                        queue_length = \(Int32(clamping: state.queueLength)), underruns = \(Int64(state.underruns)), version = \(state.version)
                    WHERE code = \(code)
                    """, logger: logger)
            } else {
                try await connection.query(
                    """
                    UPDATE village SET online_since = CASE WHEN online OR online_since IS NULL THEN \(at) ELSE online_since END,
                        online = false, on_air = NULL
                    WHERE code = \(code)
                    """, logger: logger)
            }
        }
    }

}
