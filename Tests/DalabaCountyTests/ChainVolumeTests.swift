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
            _ = try await cluster.scalar("UPDATE airtime_row SET volume = 0 WHERE seq = 6")  // louder than it played, by hand
            let filled = try await store.ingest(village: village, rows: [rows[3]])
            #expect(filled.faults == [.edited(seq: 6)])
            #expect(filled.confirmedSeq == 8)
            #expect(try await cluster.scalar("SELECT chain_fault FROM village") == "row 6 was edited: its content no longer matches its hash")

            // A row confirmed long ago and edited since: only the walk from row 1 sees it.
            _ = try await cluster.scalar("UPDATE airtime_row SET volume = -1200 WHERE seq = 2")
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
            _ = try await cluster.scalar("ALTER TABLE airtime_row DROP COLUMN volume; DELETE FROM schema_migration WHERE version = 2")
            let old = chainedRows(count: 1)
            _ = try await cluster.scalar(
                """
                INSERT INTO airtime_row (village, seq, recorded_ms, announcement_id, title, kind, level, is_test, tier, source, audio, text,
                    play_number, scheduled_ms, started_ms, ended_ms, frames, signal_frames, rate, outcome, error, previous_hash, hash)
                VALUES ('\(village.digits)', 1, \(old[0].recordedAt), 'a-1', '通知 1', 'policy', NULL, false, 'county', 'county', '/a/1.opus',
                    NULL, 1, NULL, \(old[0].startedAt!), \(old[0].endedAt), \(old[0].frames), 100, 48000, 'completed', NULL,
                    '\(old[0].previousHash)', '\(old[0].hash)')
                """)
            _ = try await cluster.scalar(
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
            #expect(try await cluster.scalar("SELECT count(*), count(volume), sum(volume) FROM airtime_row") == "601|600|-390000")
            #expect(try await cluster.scalar("SELECT coalesce(chain_fault, 'none'), confirmed_seq FROM village") == "none|601")
            let check = try await store.verifyChain(village: village.digits, pageSize: 250)
            #expect(check.village == village.digits && check.rows == 601 && check.lastSeq == 601 && check.faults == [])
            let page = try await store.log(region: village, from: nil, to: nil, limit: 2, offset: 599)
            #expect(page.rows.map(\.row.volume) == [-650, nil])
            #expect(page.rows.allSatisfy { $0.row.isIntact })
        }
    }
}

/// The coverage answer says at what level each targeted village played the announcement, from the rows PostgreSQL holds.
@Suite(.enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct CoverageVolumeTests {
    @Test func eachVillagesLevelsComeFromItsPlayedRowsOfThatAnnouncementOnly() async throws {
        try await withCountyStore("coverage-volume") { store, _ in
            let once = region("370703001001"), twice = region("370703001002"), old = region("370703001003"), silent = region("370703001004")
            let elsewhere = region("370703002001"), untargeted = region("370703001009")
            let record = CountyStore.AnnouncementRecord(
                id: "notice-7", title: "秸秆禁烧", kind: .policy, level: nil, isTest: false, tier: .county, source: "county",
                targets: [region("370703")], villages: [once, twice, old, silent, elsewhere], text: nil,
                audioSHA256: String(repeating: "a", count: 64), audioBytes: 1_000, notBefore: nil, expires: nil,
                acceptedAt: Date(timeIntervalSince1970: 1_764_547_100))
            #expect(try await store.accept(record, messageID: "m-7", envelope: Data()))

            /// One village's rows in chain order: (announcement, volume in hundredths of a dB, whether it reached the device).
            func rows(_ plays: [(String, Int64?, Bool)]) -> [LinkRow] {
                var out: [LinkRow] = []
                for (announcement, volume, started) in plays {
                    let previous = out.last?.hash ?? AirtimeChain.genesis
                    var row = chainedRows(from: Int64(out.count + 1), count: 1, after: previous, announcement: announcement, volume: volume)[0]
                    if !started {
                        row.startedAt = nil
                        row.frames = 0
                        row.outcome = "expired"
                        row.hash = row.computedHash()
                    }
                    out.append(row)
                }
                return out
            }
            _ = try await store.ingest(village: once, rows: rows([("notice-7", -600, true)]))
            // Played quieter, then again after the base level was raised; another item at full level and a play that never
            // started do not count.
            _ = try await store.ingest(
                village: twice, rows: rows([("notice-7", -1800, true), ("notice-7", -600, true), ("local-1", 0, true), ("notice-7", -3000, false)]))
            _ = try await store.ingest(village: old, rows: rows([("notice-7", nil, true)]))  // a dalabad from before volumes
            _ = try await store.ingest(village: elsewhere, rows: rows([("notice-7", -900, true)]))
            _ = try await store.ingest(village: untargeted, rows: rows([("notice-7", 5_000, true)]))  // not targeted: not listed

            let county = try #require(try await store.coverage(id: "notice-7", within: region("370703")))
            let volumes = Dictionary(uniqueKeysWithValues: county.villages.map { ($0.code, $0.volume) })
            #expect(
                volumes == [
                    once.digits: .init(lowest: -6, highest: -6, last: -6), twice.digits: .init(lowest: -18, highest: -6, last: -6), old.digits: nil,
                    silent.digits: nil, elsewhere.digits: .init(lowest: -9, highest: -9, last: -9),
                ])
            let township = try #require(try await store.coverage(id: "notice-7", within: region("370703001")))
            #expect(township.villages.map(\.code) == [once, twice, old, silent].map(\.digits))
            #expect(township.villages.first { $0.code == twice.digits }?.volume?.text == "-18.00 to -6.00 dB, last -6.00")
        }
    }
}
