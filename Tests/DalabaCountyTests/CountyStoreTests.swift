import DalabaCounty
import DalabaLink
import DalabaTestSupport
import Foundation
import Testing

@Suite(.enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct CountyStoreTests {
    let village = region("370703001001")

    @Test func sameRowsTwiceAreStoredOnceAndConfirmed() async throws {
        try await withCountyStore { store, cluster in
            let rows = chainedRows(count: 50)
            let first = try await store.ingest(village: village, rows: rows)
            #expect(first == .init(inserted: 50, duplicates: 0, confirmedSeq: 50, faults: []))
            let again = try await store.ingest(village: village, rows: Array(rows[10..<30]) + Array(rows[0..<5]))
            #expect(again == .init(inserted: 0, duplicates: 25, confirmedSeq: 50, faults: []))
            #expect(try await cluster.scalar("SELECT count(*), sum(frames) FROM airtime_row WHERE village = '370703001001'") == "50|\(rows.map(\.frames).reduce(0, +))")
            #expect(try await cluster.scalar("SELECT coalesce(chain_fault, 'none') FROM village") == "none")
        }
    }

    @Test func aGapHoldsConfirmationUntilTheMissingRowsArrive() async throws {
        try await withCountyStore { store, cluster in
            let rows = chainedRows(count: 10)
            _ = try await store.ingest(village: village, rows: Array(rows[0..<3]))
            let gapped = try await store.ingest(village: village, rows: Array(rows[6..<10]))
            #expect(gapped.confirmedSeq == 3)
            #expect(gapped.faults == [.gap(from: 4, to: 6)])
            #expect(try await cluster.scalar("SELECT chain_fault FROM village") == "gap: rows 4–6 are missing")
            let filled = try await store.ingest(village: village, rows: Array(rows[3..<6]))
            #expect(filled == .init(inserted: 3, duplicates: 0, confirmedSeq: 10, faults: []))
            #expect(try await cluster.scalar("SELECT coalesce(chain_fault, 'none') FROM village") == "none")
        }
    }

    @Test func anEditedRowIsFlaggedForGood() async throws {
        try await withCountyStore { store, cluster in
            var rows = chainedRows(count: 5)
            rows[2].frames += 48_000  // edited after it was chained: its hash no longer matches
            let outcome = try await store.ingest(village: village, rows: rows)
            #expect(outcome.faults == [.edited(seq: 3)])
            #expect(outcome.confirmedSeq == 5)
            let more = try await store.ingest(village: village, rows: chainedRows(from: 6, count: 2, after: rows[4].hash))
            #expect(more.faults == [])
            #expect(try await cluster.scalar("SELECT chain_fault FROM village") == "row 3 was edited: its content no longer matches its hash")
        }
    }

    @Test func aRewrittenChainIsFlaggedAsBrokenAndAResentRowAsChanged() async throws {
        try await withCountyStore { store, cluster in
            let rows = chainedRows(count: 4)
            _ = try await store.ingest(village: village, rows: rows)
            // The village rewrote its log from row 3 on with fresh hashes (a different row 3), then sent rows 3…6 again.
            var rewritten = chainedRows(from: 3, count: 4, after: rows[1].hash, frames: 1)
            rewritten[0].title = "rewritten"
            rewritten[0].hash = rewritten[0].computedHash()
            let outcome = try await store.ingest(village: village, rows: rewritten)
            #expect(outcome.inserted == 2)
            #expect(outcome.faults.contains(.changed(seq: 3)))
            #expect(outcome.faults.contains(.brokenLink(seq: 5)))
            #expect(try await cluster.scalar("SELECT count(*) FROM airtime_row") == "6")
            #expect(try await cluster.scalar("SELECT title FROM airtime_row WHERE seq = 3") == "通知 3")
        }
    }

    @Test func nothingIsStoredOrConfirmedWhilePostgresIsDown() async throws {
        try await withCountyStore { store, cluster in
            let rows = chainedRows(count: 20)
            _ = try await store.ingest(village: village, rows: Array(rows[0..<10]))
            await cluster.kill()
            await #expect(throws: (any Error).self) { try await store.ingest(village: village, rows: Array(rows[10..<20])) }
            try await cluster.start()
            // The village re-sends from the confirmed seq (10): everything arrives, once.
            // The pool backs off after failed connects, so the first attempts after the restart may still fail.
            var outcome: CountyStore.IngestOutcome?
            let deadline = Date().addingTimeInterval(120)
            while outcome == nil, Date() < deadline {
                outcome = try? await store.ingest(village: village, rows: Array(rows[10..<20]))
                if outcome == nil { try await Task.sleep(for: .milliseconds(250)) }
            }
            #expect(outcome?.confirmedSeq == 20)
            #expect(try await store.ingest(village: village, rows: Array(rows[5..<20])).duplicates == 15)
            #expect(try await cluster.scalar("SELECT count(*), count(DISTINCT seq) FROM airtime_row") == "20|20")
        }
    }
}

@Suite(.enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct CountyReportTests {
    @Test func airtimeAddsUpToTheFramePerVillageTownshipKindLevelAndDay() async throws {
        try await withCountyStore("report") { store, _ in
            let day1: Int64 = 1_764_547_200_000  // 2025-12-01T00:00:00Z = 08:00 in Shanghai
            let a = chainedRows(count: 3, kind: "policy", frames: 48_000, startMs: day1)
            let b = chainedRows(count: 2, kind: "emergency", level: 2, frames: 44_100, rate: 44_100, startMs: day1 + 86_400_000)
            let drill = chainedRows(count: 1, kind: "emergency", level: 1, frames: 96_000, startMs: day1, isTest: true)
            _ = try await store.ingest(village: region("370703001001"), rows: a)
            _ = try await store.ingest(village: region("370703001002"), rows: b)
            _ = try await store.ingest(village: region("370703002001"), rows: drill)
            let zone = TimeZone(identifier: "Asia/Shanghai")!
            let byVillage = try await store.report(by: .village, region: region("370703"), from: nil, to: nil, timeZone: zone)
            // chainedRows adds seq to each row's frames, so every total below is exact to the frame.
            #expect(byVillage.map(\.key) == ["370703001001", "370703001002", "370703002001"])
            let expectedFrames: [Int64] = [144_006, 88_203, 0]
            #expect(byVillage.map(\.frames) == expectedFrames)
            #expect(byVillage.map(\.plays) == [3, 2, 0])
            #expect(byVillage[2].drillFrames == 96_001 && byVillage[2].drillPlays == 1)
            #expect(abs(byVillage[1].seconds - 88_203.0 / 44_100) < 1e-9)
            let byTownship = try await store.report(by: .township, region: region("370703"), from: nil, to: nil, timeZone: zone)
            #expect(byTownship.map(\.key) == ["370703001", "370703002"])
            #expect(byTownship[0].frames == 232_209)
            let byLevel = try await store.report(by: .level, region: region("370703"), from: nil, to: nil, timeZone: zone)
            #expect(byLevel.map(\.key) == ["1", "2", "none"])
            let byDay = try await store.report(by: .day, region: region("370703001"), from: nil, to: nil, timeZone: zone)
            #expect(byDay.map(\.key) == ["2025-12-01", "2025-12-02"])
            #expect(byDay.map(\.frames) == [Int64(144_006), 88_203])
            let township2 = try await store.report(by: .kind, region: region("370703002"), from: nil, to: nil, timeZone: zone)
            #expect(township2.map(\.key) == ["emergency"] && township2[0].frames == 0 && township2[0].drillFrames == 96_001)
            let from = Date(timeIntervalSince1970: Double(day1 + 86_400_000) / 1000)
            let later = try await store.report(by: .village, region: region("370703"), from: from, to: nil, timeZone: zone)
            #expect(later.map(\.key) == ["370703001002"])
        }
    }
}
