import DalabaCore
import DalabaLink
import Foundation
import Logging
import PostgresNIO

/// The county's central log in PostgreSQL (postgres-nio): villages, every village's airtime rows exactly once, receipts,
/// announcements with their targets, and the outbox of signed messages still to publish. Each ingest is one transaction.
public struct CountyStore: Sendable {
    /// The client every query goes through now: `PostgresReconnector` puts a fresh one in after an outage.
    public var client: PostgresClient { clients.current }
    public let clients: PostgresClientSlot
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.clients = PostgresClientSlot(client)
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
        """,
        // The volume each row played at (hundredths of a dB) is in the row's hash, so the county keeps it to re-verify the chain
        // from PostgreSQL alone. IF NOT EXISTS: a head-end that added it by hand before this migration still starts.
        """
        ALTER TABLE airtime_row ADD COLUMN IF NOT EXISTS volume bigint;
        """,
        // How often, and when last, an announcement was published again to one targeted village that sent no receipt for it
        // (`RepublishPolicy`): the back-off survives a head-end restart.
        """
        CREATE TABLE IF NOT EXISTS republish (
            announcement_id text NOT NULL REFERENCES announcement (id),
            village text NOT NULL,
            attempts integer NOT NULL,
            last_at timestamptz NOT NULL,
            PRIMARY KEY (announcement_id, village)
        );
        """,
        // The re-publish scan looks for messages of an announcement still waiting in the outbox.
        """
        CREATE INDEX IF NOT EXISTS message_announcement ON message (announcement_id);
        """,
        // Coverage reads one announcement's rows and receipts: without these it read every row of the county (2 million rows:
        // 340-400 ms a request; with them 1.4 ms).
        """
        CREATE INDEX IF NOT EXISTS airtime_row_announcement ON airtime_row (announcement_id);
        CREATE INDEX IF NOT EXISTS receipt_announcement ON receipt (announcement_id);
        """,
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
    /// confirmed row (read back from PostgreSQL) and records any fault on the village. Throws (and stores nothing) when
    /// PostgreSQL fails: then nothing is confirmed and the village sends the rows again.
    public func ingest(village: RegionCode, rows: [LinkRow]) async throws -> IngestOutcome {
        var marks = ChainMarks()
        let result = try await ingest([PreparedRows(village: village, rows: rows)], marks: &marks)
        if let error = result.refusals[village] { throw error }
        return result.outcomes[village]!
    }

    /// Every village's confirmed mark as PostgreSQL holds it, for villages with no stored row beyond it: what the row writer
    /// starts from, so only a village new to the county or in a gap has its chain read back.
    public func chainMarks() async throws -> ChainMarks {
        var marks = ChainMarks()
        for try await (code, seq, hash) in try await client.query(
            """
            SELECT code, confirmed_seq, confirmed_hash FROM village v
            WHERE NOT EXISTS (SELECT 1 FROM airtime_row a WHERE a.village = v.code AND a.seq > v.confirmed_seq)
            """, logger: logger
        ).decode((String, Int64, String).self) {
            marks.remember(village: code, walk: ChainWalk(confirmedSeq: seq, confirmedHash: hash), clean: true)
        }
        return marks
    }

    /// What one transaction of several villages' batches did.
    public struct IngestResult: Sendable {
        public var outcomes: [RegionCode: IngestOutcome]
        /// The villages whose chain was read back from PostgreSQL (the rest were walked in memory from their marks).
        public var readBack: [RegionCode]
        /// Villages whose batch PostgreSQL refused for its data, stored without the others: nothing of theirs is stored.
        public var refusals: [RegionCode: any Error] = [:]
    }

    /// Stores the batches of several villages in one transaction: one insert for all their rows (idempotent by village and
    /// seq), then each village's chain walked forward from its confirmed row. A village whose batch continues its remembered
    /// mark in `marks` with every row new is walked in memory and all of them are updated in one statement; any other (a
    /// gap, a re-send, a village not seen since start) has its chain read back from PostgreSQL as `ingest(village:rows:)`
    /// does. `marks` changes only once the transaction has committed, and loses every village of a transaction that threw.
    public func ingest(_ batches: [PreparedRows], marks: inout ChainMarks) async throws -> IngestResult {
        var merged: [RegionCode: PreparedRows] = [:]
        for batch in batches { merged[batch.village, default: PreparedRows(village: batch.village)].merge(batch) }
        let villages = merged.values.sorted { $0.village < $1.village }
        let known = marks
        let logger = self.logger
        do {
            let results = try await client.withTransaction(logger: logger) { connection in
                try await Self.ingest(villages, known: known, on: connection, logger: logger)
            }
            var outcomes: [RegionCode: IngestOutcome] = [:]
            for result in results {
                marks.remember(village: result.village.digits, walk: result.walk, clean: result.clean)
                outcomes[result.village] = result.outcome
            }
            return IngestResult(outcomes: outcomes, readBack: results.filter(\.readBack).map(\.village).sorted())
        } catch {
            for batch in villages { marks.forget(village: batch.village.digits) }
            guard Self.isRefusedForItsData(error) else { throw error }
            guard villages.count > 1 else { return IngestResult(outcomes: [:], readBack: [], refusals: [villages[0].village: error]) }
            // One village's rows must not hold back the others': each is stored on its own.
            var combined = IngestResult(outcomes: [:], readBack: [])
            for batch in villages {
                let alone = try await ingest([batch], marks: &marks)
                combined.outcomes.merge(alone.outcomes) { $1 }
                combined.readBack += alone.readBack
                combined.refusals.merge(alone.refusals) { $1 }
            }
            return combined
        }
    }

    /// True when PostgreSQL refused the statement for the values in it (SQLSTATE class 22 data exception or 23 integrity
    /// violation), rather than the connection or the server failing: storing the same rows again would fail the same way.
    static func isRefusedForItsData(_ error: any Error) -> Bool {
        var inner = error
        if let transaction = error as? PostgresTransactionError, let cause = transaction.closureError ?? transaction.commitError ?? transaction.beginError {
            inner = cause
        }
        guard let psql = inner as? PSQLError, psql.code == .server, let state = psql.serverInfo?[.sqlState] else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    private struct VillageResult: Sendable {
        var village: RegionCode
        var outcome: IngestOutcome
        var walk: ChainWalk
        /// No stored row lies beyond the walk's end, so its mark may be remembered.
        var clean: Bool
        var readBack: Bool
    }

    private static func ingest(
        _ villages: [PreparedRows], known: ChainMarks, on connection: PostgresConnection, logger: Logger
    ) async throws -> [VillageResult] {
        let none = Int64.min
        let newCodes = villages.filter { known[$0.village.digits] == nil }.map(\.village.digits)
        if !newCodes.isEmpty {
            try await connection.query(
                """
                INSERT INTO village (code, name, township) SELECT c, c, substr(c, 1, 9) FROM UNNEST(\(newCodes)::text[]) AS v(c)
                ON CONFLICT (code) DO NOTHING
                """, logger: logger)
        }
        var codes: [String] = [], seqs: [Int64] = [], recorded: [Int64] = [], ids: [String] = [], titles: [String] = [], kinds: [String] = []
        var levels: [Int64] = [], tests: [Bool] = [], tiers: [String] = [], sources: [String] = [], audios: [String] = [], texts: [String] = []
        var hasText: [Bool] = [], plays: [Int64] = [], scheduled: [Int64] = [], started: [Int64] = [], ended: [Int64] = [], frames: [Int64] = []
        var signals: [Int64] = [], rates: [Int64] = [], outcomes: [String] = [], errors: [String] = [], hasError: [Bool] = []
        var volumes: [Int64] = [], previous: [String] = [], hashes: [String] = []
        let total = villages.reduce(0) { $0 + $1.rows.count }
        codes.reserveCapacity(total)
        seqs.reserveCapacity(total)
        hashes.reserveCapacity(total)
        previous.reserveCapacity(total)
        for batch in villages {
            for row in batch.rows {
                codes.append(batch.village.digits)
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
                volumes.append(row.volume ?? none)
                previous.append(row.previousHash)
                hashes.append(row.hash)
            }
        }
        var inserted: [String: Int] = [:]
        if total > 0 {
            let result = try await connection.query(
                """
                WITH stored AS (
                    INSERT INTO airtime_row (village, seq, recorded_ms, announcement_id, title, kind, level, is_test, tier, source, audio, text,
                        play_number, scheduled_ms, started_ms, ended_ms, frames, signal_frames, rate, outcome, error, volume, previous_hash, hash)
                    SELECT village, seq, recorded, id, title, kind, NULLIF(level, \(none)), test, tier, source, audio, CASE WHEN has_text THEN text END,
                        play, NULLIF(sched, \(none)), NULLIF(start, \(none)), ended, frames, signals, rate, outcome,
                        CASE WHEN has_error THEN error END, NULLIF(volume, \(none)), previous, hash
                    FROM UNNEST(\(codes)::text[], \(seqs)::bigint[], \(recorded)::bigint[], \(ids)::text[], \(titles)::text[], \(kinds)::text[],
                        \(levels)::bigint[], \(tests)::boolean[], \(tiers)::text[], \(sources)::text[], \(audios)::text[], \(texts)::text[],
                        \(hasText)::boolean[], \(plays)::bigint[], \(scheduled)::bigint[], \(started)::bigint[], \(ended)::bigint[],
                        \(frames)::bigint[], \(signals)::bigint[], \(rates)::bigint[], \(outcomes)::text[], \(errors)::text[],
                        \(hasError)::boolean[], \(volumes)::bigint[], \(previous)::text[], \(hashes)::text[])
                        AS r(village, seq, recorded, id, title, kind, level, test, tier, source, audio, text, has_text, play, sched, start, ended,
                            frames, signals, rate, outcome, error, has_error, volume, previous, hash)
                    ON CONFLICT (village, seq) DO NOTHING
                    RETURNING village
                )
                SELECT village, count(*) FROM stored GROUP BY village
                """, logger: logger)
            for try await (village, count) in result.decode((String, Int64).self) { inserted[village] = Int(count) }
        }

        // Villages whose batch continues their mark with every row new: walked in memory, updated together, on condition that
        // PostgreSQL still holds the mark.
        var results: [VillageResult] = []
        var readBack: [PreparedRows] = []
        var fast: [(batch: PreparedRows, expected: ChainMarks.Mark, walk: ChainWalk, faults: [ChainWalk.Fault])] = []
        for batch in villages {
            let code = batch.village.digits
            if inserted[code, default: 0] == batch.rows.count, let mark = known[code],
                let walk = known.walk(village: code, over: batch.rows.map { .init(seq: $0.seq, previousHash: $0.previousHash, hash: $0.hash) })
            {
                fast.append((batch, mark, walk, batch.faults + walk.faults))
            } else {
                readBack.append(batch)
            }
        }
        if !fast.isEmpty {
            let edits = fast.map { $0.faults.map(\.description).joined(separator: "; ") }
            var updated = Set<String>()
            for try await code in try await connection.query(
                """
                UPDATE village AS v SET confirmed_seq = u.seq, confirmed_hash = u.hash,
                    chain_fault = CASE WHEN u.edits <> '' THEN u.edits WHEN v.chain_fault LIKE 'gap: %' THEN NULL ELSE v.chain_fault END,
                    chain_fault_at = CASE WHEN u.edits = '' THEN v.chain_fault_at ELSE now() END
                FROM UNNEST(\(fast.map(\.batch.village.digits))::text[], \(fast.map(\.expected.seq))::bigint[], \(fast.map(\.expected.hash))::text[],
                    \(fast.map(\.walk.confirmedSeq))::bigint[], \(fast.map(\.walk.confirmedHash))::text[], \(edits)::text[])
                    AS u(code, expected_seq, expected_hash, seq, hash, edits)
                WHERE v.code = u.code AND v.confirmed_seq = u.expected_seq AND v.confirmed_hash = u.expected_hash
                RETURNING v.code
                """, logger: logger
            ).decode(String.self) {
                updated.insert(code)
            }
            for entry in fast {
                guard updated.contains(entry.batch.village.digits) else {
                    readBack.append(entry.batch)
                    continue
                }
                let outcome = IngestOutcome(inserted: entry.batch.rows.count, duplicates: 0, confirmedSeq: entry.walk.confirmedSeq, faults: entry.faults)
                results.append(VillageResult(village: entry.batch.village, outcome: outcome, walk: entry.walk, clean: true, readBack: false))
            }
        }
        for batch in readBack.sorted(by: { $0.village < $1.village }) {
            results.append(try await readBackWalk(batch, inserted: inserted[batch.village.digits, default: 0], on: connection, logger: logger))
        }
        return results
    }

    /// The walk for one village from PostgreSQL: its confirmed row (locked), the rows it already had with other content, and
    /// every stored row after the confirmed one.
    private static func readBackWalk(
        _ batch: PreparedRows, inserted: Int, on connection: PostgresConnection, logger: Logger
    ) async throws -> VillageResult {
        let code = batch.village.digits
        var walk = ChainWalk()
        for try await (seq, hash) in try await connection.query(
            "SELECT confirmed_seq, confirmed_hash FROM village WHERE code = \(code) FOR UPDATE", logger: logger
        ).decode((Int64, String).self) {
            walk = ChainWalk(confirmedSeq: seq, confirmedHash: hash)
        }
        var faults = batch.faults
        if inserted < batch.rows.count {
            for try await seq in try await connection.query(
                """
                SELECT a.seq FROM airtime_row a JOIN UNNEST(\(batch.rows.map(\.seq))::bigint[], \(batch.rows.map(\.hash))::text[]) AS i(seq, hash)
                    ON a.seq = i.seq
                WHERE a.village = \(code) AND a.hash <> i.hash ORDER BY a.seq
                """, logger: logger
            ).decode(Int64.self) {
                faults.append(.changed(seq: seq))
            }
        }
        // Whole rows, so each stored row's hash is recomputed from its fields: a row edited in PostgreSQL is flagged too.
        var links: [ChainWalk.Link] = []
        for try await row in try await connection.query(
            PostgresQuery(
                unsafeSQL: "SELECT \(storedRowColumns) FROM airtime_row WHERE village = $1 AND seq > $2 ORDER BY seq",
                binds: bindings(code, walk.confirmedSeq)),
            logger: logger
        ) {
            links.append(ChainWalk.Link(try storedRow(row)))
        }
        walk.advance(over: links)
        let clean = walk.confirmedSeq == (links.last?.seq ?? walk.confirmedSeq)
        // The batch's own rows were hash-checked before the transaction: an edit found there is not counted twice.
        faults += walk.faults.filter { !faults.contains($0) }
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
        let outcome = IngestOutcome(inserted: inserted, duplicates: batch.rows.count - inserted, confirmedSeq: walk.confirmedSeq, faults: faults)
        return VillageResult(village: batch.village, outcome: outcome, walk: walk, clean: clean, readBack: true)
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
