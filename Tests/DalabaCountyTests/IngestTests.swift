@testable import DalabaCounty
import DalabaLink
import DalabaTestSupport
import Foundation
import Synchronization
import Testing

/// The pure parts of the faster ingest: a batch made ready off the database path, and the in-memory chain marks.
struct PreparedRowsTests {
    let village = region("370703001001")

    @Test func rowsAreSortedOneCopyPerSeqAndEditsNamed() {
        var rows = chainedRows(count: 5)
        rows[3].frames += 1  // edited after chaining
        let prepared = PreparedRows(village: village, rows: [rows[4], rows[2], rows[0], rows[3], rows[1], rows[2]])
        #expect(prepared.rows.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(prepared.faults == [.edited(seq: 4)])
    }

    @Test func aSeqSentTwiceWithOtherContentKeepsTheFirstCopyAndIsFlaggedChanged() {
        let rows = chainedRows(count: 3)
        var other = rows[1]
        other.title = "rewritten"
        other.hash = other.computedHash()
        var prepared = PreparedRows(village: village, rows: Array(rows[0..<2]))
        prepared.merge(PreparedRows(village: village, rows: [other, rows[2]]))
        #expect(prepared.rows == rows)
        #expect(prepared.faults == [.changed(seq: 2)])
        // The same change met again is named once.
        prepared.merge(PreparedRows(village: village, rows: [other]))
        #expect(prepared.faults == [.changed(seq: 2)])
    }

    @Test func rowsNoVillageStoreWritesAreLeftOutAndNamed() {
        var rows = chainedRows(count: 4)
        rows[0].seq = 0
        rows[1].frames = -1
        rows[2].error = "\u{0}"
        let prepared = PreparedRows(village: village, rows: rows)
        #expect(prepared.rows.map(\.seq) == [4])
        #expect(prepared.faults.map(\.description) == [
            "row 0 cannot be stored (seq 0 is not positive): the village's log was edited",
            "row 2 cannot be stored (frames -1 is negative): the village's log was edited",
            "row 3 cannot be stored (a text holds a NUL character): the village's log was edited",
        ])
    }

    @Test func aMarkIsUsedOnlyForABatchThatContinuesItWithoutAGap() {
        let links = chainedRows(count: 6).map { ChainWalk.Link(seq: $0.seq, previousHash: $0.previousHash, hash: $0.hash) }
        var marks = ChainMarks()
        #expect(marks.walk(village: "v", over: Array(links[0..<2])) == nil)  // nothing remembered: read back
        var walk = ChainWalk()
        walk.advance(over: Array(links[0..<2]))
        marks.remember(village: "v", walk: walk, clean: true)
        #expect(marks["v"] == .init(seq: 2, hash: links[1].hash))
        #expect(marks.walk(village: "v", over: Array(links[3..<5])) == nil)  // starts after a gap
        #expect(marks.walk(village: "v", over: [links[2], links[4]]) == nil)  // a gap inside
        #expect(marks.walk(village: "v", over: Array(links[1..<4])) == nil)  // a re-send of row 2
        let continued = marks.walk(village: "v", over: Array(links[2..<6]))
        #expect(continued?.confirmedSeq == 6 && continued?.faults == [])
        var broken = Array(links[2..<4])
        broken[1].previousHash = String(repeating: "f", count: 64)
        #expect(marks.walk(village: "v", over: broken)?.faults == [.brokenLink(seq: 4)])
        marks.remember(village: "v", walk: walk, clean: false)
        #expect(marks["v"] == nil)
    }

    @Test func theWriterTakesEverythingThatWaitsInOrderUpToItsLimit() async {
        let pending = PendingRowsProbe(limit: 1_000)
        for n in 1...5 { await pending.add(village: "37070300100\(n)", rows: 200) }
        #expect(await pending.take(maximumRows: 500) == ["370703001001", "370703001002"])
        #expect(await pending.take(maximumRows: 10_000) == ["370703001003", "370703001004", "370703001005"])
        await pending.add(village: "370703001006", rows: 900)  // one batch over the limit is still taken whole
        #expect(await pending.take(maximumRows: 500) == ["370703001006"])
        pending.finish()
        #expect(await pending.take(maximumRows: 500) == nil)
    }

    @Test func aReaderWaitsWhileTheWriterIsTooFarBehind() async {
        let pending = PendingRowsProbe(limit: 400)
        await pending.add(village: "370703001001", rows: 200)
        await pending.add(village: "370703001002", rows: 200)
        let added = Atomicish()
        let reader = Task {
            await pending.add(village: "370703001003", rows: 200)
            added.set()
        }
        while pending.queue.readersWaiting == 0 { await Task.yield() }
        #expect(!added.isSet)
        #expect(await pending.take(maximumRows: 10_000) == ["370703001001", "370703001002"])
        await reader.value
        #expect(added.isSet)
        #expect(await pending.take(maximumRows: 10_000) == ["370703001003"])
    }
}

/// The faster ingest against a real PostgreSQL: several villages per transaction, chains walked in memory from their marks,
/// and every fallback to reading the chain back keeps the guarantees of `ingest(village:rows:)`.
@Suite(.enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct IngestTests {
    let a = region("370703001001")
    let b = region("370703001002")
    let c = region("370703002001")

    @Test func severalVillagesInOneTransactionAreStoredOnceAndThenWalkedInMemory() async throws {
        try await withCountyStore("ingest1") { store, cluster in
            let rowsA = chainedRows(count: 400), rowsB = chainedRows(count: 300, frames: 44_100), rowsC = chainedRows(count: 10)
            var marks = ChainMarks()
            // Two batches of A in one transaction (the second sent before the first was stored), B and C beside them.
            let first = try await store.ingest(
                [.init(village: a, rows: Array(rowsA[0..<200])), .init(village: b, rows: Array(rowsB[0..<200])),
                 .init(village: a, rows: Array(rowsA[200..<300])), .init(village: c, rows: rowsC)], marks: &marks)
            #expect(first.outcomes[a] == .init(inserted: 300, duplicates: 0, confirmedSeq: 300, faults: []))
            #expect(first.outcomes[b] == .init(inserted: 200, duplicates: 0, confirmedSeq: 200, faults: []))
            #expect(first.outcomes[c] == .init(inserted: 10, duplicates: 0, confirmedSeq: 10, faults: []))
            #expect(first.readBack == [a, b, c])  // not seen since start: read back once
            #expect(marks[a.digits] == .init(seq: 300, hash: rowsA[299].hash) && marks[b.digits]?.seq == 200)
            let second = try await store.ingest(
                [.init(village: a, rows: Array(rowsA[300..<400])), .init(village: b, rows: Array(rowsB[200..<300]))], marks: &marks)
            #expect(second.readBack == [])
            #expect(second.outcomes[a] == .init(inserted: 100, duplicates: 0, confirmedSeq: 400, faults: []))
            #expect(second.outcomes[b] == .init(inserted: 100, duplicates: 0, confirmedSeq: 300, faults: []))
            #expect(
                try await cluster.scalar("SELECT count(*), count(DISTINCT (village, seq)), sum(frames) FROM airtime_row")
                    == "710|710|\((rowsA + rowsB + rowsC).map(\.frames).reduce(0, +))")
            #expect(
                try await cluster.scalar("SELECT string_agg(code || ':' || confirmed_seq || ':' || coalesce(chain_fault, 'ok'), ' ' ORDER BY code) FROM village")
                    == "370703001001:400:ok 370703001002:300:ok 370703002001:10:ok")
            #expect(try await cluster.scalar("SELECT confirmed_hash FROM village WHERE code = '370703001001'") == rowsA[399].hash)
        }
    }

    @Test func anEditAndABrokenLinkFoundInMemoryAreFlaggedForGood() async throws {
        try await withCountyStore("ingest2") { store, cluster in
            let rowsA = chainedRows(count: 20), rowsB = chainedRows(count: 20)
            var marks = ChainMarks()
            _ = try await store.ingest([.init(village: a, rows: Array(rowsA[0..<10])), .init(village: b, rows: Array(rowsB[0..<10]))], marks: &marks)
            var editedA = Array(rowsA[10..<20])
            editedA[2].frames += 48_000  // row 13 edited after chaining
            var brokenB = Array(rowsB[10..<20])
            brokenB[4] = chainedRows(from: 15, count: 1, after: String(repeating: "e", count: 64))[0]  // row 15 chained to another row 14
            let outcome = try await store.ingest([.init(village: a, rows: editedA), .init(village: b, rows: brokenB)], marks: &marks)
            #expect(outcome.readBack == [])
            #expect(outcome.outcomes[a] == .init(inserted: 10, duplicates: 0, confirmedSeq: 20, faults: [.edited(seq: 13)]))
            #expect(outcome.outcomes[b]?.faults == [.brokenLink(seq: 15), .brokenLink(seq: 16)])
            #expect(outcome.outcomes[b]?.confirmedSeq == 20)
            // Later clean rows do not clear the flags.
            let more = try await store.ingest(
                [.init(village: a, rows: chainedRows(from: 21, count: 2, after: rowsA[19].hash)),
                 .init(village: b, rows: chainedRows(from: 21, count: 2, after: rowsB[19].hash))], marks: &marks)
            #expect(more.readBack == [] && more.outcomes.values.allSatisfy { $0.faults.isEmpty && $0.confirmedSeq == 22 })
            #expect(try await cluster.scalar("SELECT chain_fault FROM village WHERE code = '370703001001'") == "row 13 was edited: its content no longer matches its hash")
            #expect(
                try await cluster.scalar("SELECT chain_fault FROM village WHERE code = '370703001002'")
                    == "row 15 does not link to row 14: the village's log was edited; row 16 does not link to row 15: the village's log was edited")
        }
    }

    @Test func aGapIsReadBackHoldsTheConfirmAndClosesWhenTheRowsArrive() async throws {
        try await withCountyStore("ingest3") { store, cluster in
            let rows = chainedRows(count: 12)
            var marks = ChainMarks()
            _ = try await store.ingest([.init(village: a, rows: Array(rows[0..<3]))], marks: &marks)
            let gapped = try await store.ingest([.init(village: a, rows: Array(rows[6..<10]))], marks: &marks)
            #expect(gapped.readBack == [a])
            #expect(gapped.outcomes[a] == .init(inserted: 4, duplicates: 0, confirmedSeq: 3, faults: [.gap(from: 4, to: 6)]))
            #expect(marks[a.digits] == nil)  // rows lie beyond the confirmed one: the next batch reads back too
            #expect(try await cluster.scalar("SELECT chain_fault FROM village") == "gap: rows 4–6 are missing")
            let filled = try await store.ingest([.init(village: a, rows: Array(rows[3..<6]))], marks: &marks)
            #expect(filled.readBack == [a])
            #expect(filled.outcomes[a] == .init(inserted: 3, duplicates: 0, confirmedSeq: 10, faults: []))
            #expect(try await cluster.scalar("SELECT coalesce(chain_fault, 'none') FROM village") == "none")
            let next = try await store.ingest([.init(village: a, rows: Array(rows[10..<12]))], marks: &marks)
            #expect(next.readBack == [] && next.outcomes[a]?.confirmedSeq == 12)
        }
    }

    @Test func aResendIsReadBackCountedAsDuplicatesAndAChangedCopyFlagged() async throws {
        try await withCountyStore("ingest4") { store, cluster in
            let rows = chainedRows(count: 10)
            var marks = ChainMarks()
            _ = try await store.ingest([.init(village: a, rows: rows)], marks: &marks)
            // The village re-sends from an older confirmed mark (it missed the confirm): nothing new, nothing changed.
            let again = try await store.ingest([.init(village: a, rows: Array(rows[5..<10]))], marks: &marks)
            #expect(again.readBack == [a] && again.outcomes[a] == .init(inserted: 0, duplicates: 5, confirmedSeq: 10, faults: []))
            var changed = rows[7]
            changed.title = "rewritten"
            changed.hash = changed.computedHash()
            let edited = try await store.ingest(
                [.init(village: a, rows: [changed] + chainedRows(from: 11, count: 2, after: rows[9].hash))], marks: &marks)
            #expect(edited.outcomes[a] == .init(inserted: 2, duplicates: 1, confirmedSeq: 12, faults: [.changed(seq: 8)]))
            #expect(try await cluster.scalar("SELECT title FROM airtime_row WHERE seq = 8") == "通知 8")
            #expect(try await cluster.scalar("SELECT chain_fault FROM village") == "row 8 was sent again with other content: the village's log was edited")
        }
    }

    @Test func aMarkThatPostgresNoLongerHoldsFallsBackToReadingTheChainBack() async throws {
        try await withCountyStore("ingest5") { store, cluster in
            let rows = chainedRows(count: 15)
            var marks = ChainMarks()
            _ = try await store.ingest([.init(village: a, rows: Array(rows[0..<5])), .init(village: b, rows: Array(rows[0..<5]))], marks: &marks)
            // Another head-end (or a hand) moved A's confirmed mark behind this one's back.
            _ = try await cluster.scalar("UPDATE village SET confirmed_seq = 2, confirmed_hash = '\(rows[1].hash)' WHERE code = '370703001001'")
            let outcome = try await store.ingest([.init(village: a, rows: Array(rows[5..<15])), .init(village: b, rows: Array(rows[5..<15]))], marks: &marks)
            #expect(outcome.readBack == [a])
            #expect(outcome.outcomes[a] == .init(inserted: 10, duplicates: 0, confirmedSeq: 15, faults: []))
            #expect(outcome.outcomes[b] == .init(inserted: 10, duplicates: 0, confirmedSeq: 15, faults: []))
            #expect(try await cluster.scalar("SELECT string_agg(confirmed_seq::text, ' ' ORDER BY code) FROM village") == "15 15")
        }
    }

    @Test func rowsPostgresWouldRefuseAreFlaggedAndKeptOutSoTheOtherVillagesAreStored() async throws {
        try await withCountyStore("ingest6") { store, cluster in
            let rowsA = chainedRows(count: 10)
            var rowsC = chainedRows(count: 6)
            rowsC[2].frames = -5  // hashes made after the edit: intact, but no village store writes such rows
            rowsC[2].hash = rowsC[2].computedHash()
            rowsC[4].title = "bad\u{0}title"
            rowsC[4].hash = rowsC[4].computedHash()
            var marks = ChainMarks()
            let result = try await store.ingest([.init(village: a, rows: rowsA), .init(village: c, rows: rowsC)], marks: &marks)
            #expect(result.refusals.isEmpty)
            #expect(result.outcomes[a] == .init(inserted: 10, duplicates: 0, confirmedSeq: 10, faults: []))
            #expect(result.outcomes[c]?.inserted == 4)
            #expect(result.outcomes[c]?.confirmedSeq == 2)  // row 3 is missing for good: the confirm stays at 2
            #expect(result.outcomes[c]?.faults.prefix(2) == [.invalid(seq: 3, reason: "frames -5 is negative"), .invalid(seq: 5, reason: "a text holds a NUL character")])
            #expect(try await cluster.scalar("SELECT string_agg(seq::text, ' ' ORDER BY seq) FROM airtime_row WHERE village = '370703002001'") == "1 2 4 6")
            #expect(try await cluster.scalar("SELECT chain_fault FROM village WHERE code = '370703002001'").hasPrefix("row 3 cannot be stored (frames -5 is negative)"))
        }
    }

    @Test func aVillageWhoseRowsPostgresRefusesIsStoredAloneAndTheOthersGoOn() async throws {
        try await withCountyStore("ingest7") { store, cluster in
            let rows = chainedRows(count: 20)
            var marks = ChainMarks()
            _ = try await store.ingest([.init(village: a, rows: Array(rows[0..<10])), .init(village: b, rows: Array(rows[0..<10]))], marks: &marks)
            #expect(marks.count == 2)
            // A refusal this code cannot foresee (here a constraint added by hand) fails the whole transaction once.
            _ = try await cluster.scalar("ALTER TABLE airtime_row ADD CONSTRAINT refuse_c CHECK (village <> '370703002001')")
            let result = try await store.ingest([.init(village: a, rows: Array(rows[10..<20])), .init(village: c, rows: rows)], marks: &marks)
            #expect(result.outcomes[a] == .init(inserted: 10, duplicates: 0, confirmedSeq: 20, faults: []))
            #expect(result.outcomes[c] == nil)
            #expect(Array(result.refusals.keys) == [c])
            #expect(marks[a.digits]?.seq == 20 && marks[c.digits] == nil && marks[b.digits]?.seq == 10)
            #expect(try await cluster.scalar("SELECT string_agg(village || ':' || n, ' ' ORDER BY village) FROM (SELECT village, count(*) n FROM airtime_row GROUP BY village) x")
                == "370703001001:20 370703001002:10")
            #expect(try await cluster.scalar("SELECT coalesce(max(confirmed_seq), 0) FROM village WHERE code = '370703002001'") == "0")
            // On its own, the refused village's batch is an error, as before.
            await #expect(throws: (any Error).self) { try await store.ingest(village: c, rows: rows) }
        }
    }

    @Test func marksReadAtStartLeaveOutAVillageInAGap() async throws {
        try await withCountyStore("ingest8") { store, _ in
            let rows = chainedRows(count: 10)
            _ = try await store.ingest(village: a, rows: rows)
            _ = try await store.ingest(village: b, rows: Array(rows[0..<3]))
            _ = try await store.ingest(village: b, rows: Array(rows[6..<10]))
            var marks = try await store.chainMarks()
            #expect(marks[a.digits] == .init(seq: 10, hash: rows[9].hash) && marks[b.digits] == nil && marks.count == 1)
            // The next batch of A is walked in memory from the mark read at start; B's chain is read back.
            let next = try await store.ingest(
                [.init(village: a, rows: chainedRows(from: 11, count: 2, after: rows[9].hash)), .init(village: b, rows: Array(rows[3..<6]))],
                marks: &marks)
            #expect(next.readBack == [b])
            #expect(next.outcomes[a]?.confirmedSeq == 12 && next.outcomes[b]?.confirmedSeq == 10)
        }
    }
}

/// Drives the internal `PendingRows` by village names.
struct PendingRowsProbe: Sendable {
    let queue: PendingRows

    init(limit: Int) { queue = PendingRows(limit: limit) }

    func add(village: String, rows: Int) async {
        await queue.add(PreparedRows(village: region(village), rows: chainedRows(count: rows)))
    }

    func take(maximumRows: Int) async -> [String]? { await queue.take(maximumRows: maximumRows)?.map(\.village.digits) }

    func finish() { queue.finish() }
}

final class Atomicish: Sendable {
    private let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}
