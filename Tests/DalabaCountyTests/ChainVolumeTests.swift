import DalabaLink
import DalabaTestSupport
import Foundation
import Testing

@testable import DalabaCounty

/// The volume a row played at is in its hash: the county stores it, and re-verifies every chain from PostgreSQL alone.
struct ChainWalkIntegrityTests {
    @Test func aLinkWhoseFieldsNoLongerGiveItsHashIsFlaggedAndTheWalkGoesOn() {
        var rows = chainedRows(count: 4, volume: -600)
        rows[1].volume = 0
        var walk = ChainWalk()
        walk.advance(over: rows.map(ChainWalk.Link.init))
        #expect(walk.faults == [.edited(seq: 2)])
        #expect(walk.confirmedSeq == 4)
    }

    @Test func theCountyLogCSVShowsTheVolumeEachRowPlayedAt() {
        let rows = chainedRows(count: 1, volume: -650) + chainedRows(from: 2, count: 1)
        let csv = CountyController.logCSV([("370703001001", rows[0]), ("370703001001", rows[1])], timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let lines = csv.split(whereSeparator: \.isNewline).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let column = lines[0].firstIndex(of: "volume (dB)")
        #expect(column != nil, "\(lines[0])")
        #expect(lines.dropFirst().map { $0[column ?? 0] } == ["-6.50", ""], "a row logged before volumes were recorded has none")
    }

    @Test func aRowWithoutAVolumeHashesAsBeforeAndGainingOneIsAnEdit() {
        var row = chainedRows(count: 1)[0]
        #expect(row.isIntact)
        row.volume = -600
        #expect(!row.isIntact)
    }
}

@Suite(.enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct ChainVolumeTests {
    let village = region("370703001001")

    @Test func aVolumeEditedInPostgresIsFlaggedByTheVerifyAndByTheIngestWalk() async throws {
        try await withCountyStore("volume-edit") { store, cluster in
            let rows = chainedRows(count: 8, volume: -600)
            _ = try await store.ingest(village: village, rows: Array(rows[0..<3]))
            // Rows 5…8 wait beyond a gap, so the ingest walk will read them back from PostgreSQL when row 4 comes.
            _ = try await store.ingest(village: village, rows: Array(rows[4..<8]))
            #expect(try await store.verifyChain(village: village.digits).faults == ["row 4 is missing"])
            _ = try cluster.scalar("UPDATE airtime_row SET volume = 0 WHERE seq = 6")  // louder than it played, by hand
            let filled = try await store.ingest(village: village, rows: [rows[3]])
            #expect(filled.faults == [.edited(seq: 6)])
            #expect(filled.confirmedSeq == 8)
            #expect(try cluster.scalar("SELECT chain_fault FROM village") == "row 6 was edited: its content no longer matches its hash")

            // A row confirmed long ago and edited since: only the walk from row 1 sees it.
            _ = try cluster.scalar("UPDATE airtime_row SET volume = -1200 WHERE seq = 2")
            let check = try await store.verifyChain(village: village.digits, pageSize: 3)
            #expect(check.rows == 8)
            #expect(check.lastSeq == 8)
            #expect(
                check.faults == [
                    "row 2 was edited: its content no longer matches its hash", "row 6 was edited: its content no longer matches its hash",
                ])
            #expect(try await store.verifyChains(region: region("370703")).map(\.intact) == [false])
        }
    }

    @Test func anHonestBacklogWithVolumesIsIntactAndTheMigrationAddsTheColumnToAnOldDatabase() async throws {
        try await withCountyStore("volume-honest") { store, cluster in
            // An old head-end: migration 2 not yet recorded, one row stored without a volume.
            _ = try cluster.scalar("ALTER TABLE airtime_row DROP COLUMN volume; DELETE FROM schema_migration WHERE version = 2")
            let old = chainedRows(count: 1)
            _ = try cluster.scalar(
                """
                INSERT INTO airtime_row (village, seq, recorded_ms, announcement_id, title, kind, level, is_test, tier, source, audio, text,
                    play_number, scheduled_ms, started_ms, ended_ms, frames, signal_frames, rate, outcome, error, previous_hash, hash)
                VALUES ('\(village.digits)', 1, \(old[0].recordedAt), 'a-1', '通知 1', 'policy', NULL, false, 'county', 'county', '/a/1.opus',
                    NULL, 1, NULL, \(old[0].startedAt!), \(old[0].endedAt), \(old[0].frames), 100, 48000, 'completed', NULL,
                    '\(old[0].previousHash)', '\(old[0].hash)')
                """)
            _ = try cluster.scalar(
                """
                INSERT INTO village (code, name, township, confirmed_seq, confirmed_hash)
                VALUES ('\(village.digits)', 'v', '370703001', 1, '\(old[0].hash)')
                """)
            try await store.migrate()
            try await store.migrate()
            // The village's backlog since: 600 rows with their volumes, in the batches a village sends.
            let backlog = chainedRows(from: 2, count: 600, after: old[0].hash, volume: -650)
            for start in stride(from: 0, to: backlog.count, by: VillageRows.maximumRows) {
                let batch = Array(backlog[start..<min(start + VillageRows.maximumRows, backlog.count)])
                let outcome = try await store.ingest(village: village, rows: batch)
                #expect(outcome.faults == [])
            }
            #expect(try cluster.scalar("SELECT count(*), count(volume), sum(volume) FROM airtime_row") == "601|600|-390000")
            #expect(try cluster.scalar("SELECT coalesce(chain_fault, 'none'), confirmed_seq FROM village") == "none|601")
            let check = try await store.verifyChain(village: village.digits, pageSize: 250)
            #expect(check.village == village.digits && check.rows == 601 && check.lastSeq == 601 && check.faults == [])
            let page = try await store.log(region: village, from: nil, to: nil, limit: 2, offset: 599)
            #expect(page.rows.map(\.row.volume) == [-650, nil])
            #expect(page.rows.allSatisfy { $0.row.isIntact })
        }
    }
}
