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
            #expect(try cluster.scalar("SELECT count(*), sum(frames) FROM airtime_row WHERE village = '370703001001'") == "50|\(rows.map(\.frames).reduce(0, +))")
            #expect(try cluster.scalar("SELECT coalesce(chain_fault, 'none') FROM village") == "none")
        }
    }

    @Test func aGapHoldsConfirmationUntilTheMissingRowsArrive() async throws {
        try await withCountyStore { store, cluster in
            let rows = chainedRows(count: 10)
            _ = try await store.ingest(village: village, rows: Array(rows[0..<3]))
            let gapped = try await store.ingest(village: village, rows: Array(rows[6..<10]))
            #expect(gapped.confirmedSeq == 3)
            #expect(gapped.faults == [.gap(from: 4, to: 6)])
            #expect(try cluster.scalar("SELECT chain_fault FROM village") == "gap: rows 4–6 are missing")
            let filled = try await store.ingest(village: village, rows: Array(rows[3..<6]))
            #expect(filled == .init(inserted: 3, duplicates: 0, confirmedSeq: 10, faults: []))
            #expect(try cluster.scalar("SELECT coalesce(chain_fault, 'none') FROM village") == "none")
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
            #expect(try cluster.scalar("SELECT chain_fault FROM village") == "row 3 was edited: its content no longer matches its hash")
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
            #expect(try cluster.scalar("SELECT count(*) FROM airtime_row") == "6")
            #expect(try cluster.scalar("SELECT title FROM airtime_row WHERE seq = 3") == "通知 3")
        }
    }

    @Test func nothingIsStoredOrConfirmedWhilePostgresIsDown() async throws {
        try await withCountyStore { store, cluster in
            let rows = chainedRows(count: 20)
            _ = try await store.ingest(village: village, rows: Array(rows[0..<10]))
            cluster.kill()
            await #expect(throws: (any Error).self) { try await store.ingest(village: village, rows: Array(rows[10..<20])) }
            try cluster.start()
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
            #expect(try cluster.scalar("SELECT count(*), count(DISTINCT seq) FROM airtime_row") == "20|20")
        }
    }
}
