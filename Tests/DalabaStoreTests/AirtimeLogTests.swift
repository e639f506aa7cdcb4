import DalabaCore
import Foundation
import GRDB
import Testing

@testable import DalabaStore

@Suite struct AirtimeLogTests {
    /// Five plays, seq 1 … 5.
    func storeWithFiveRows() throws -> (StationStore, DatabaseQueue) {
        let (store, queue) = try makeStore()
        for i in 1...5 {
            try store.append(
                makeRecord(id: "a\(i)", title: "Notice \(i)", startedAt: instant("2025-03-14T0\(i):00:00+08:00"), frames: Int64(i) * 48000))
        }
        return (store, queue)
    }

    func dropTriggers(_ queue: DatabaseQueue) throws {
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER airtimeLog_noUpdate; DROP TRIGGER airtimeLog_noDelete")
        }
    }

    @Test func appendChainsRowsFromGenesis() throws {
        let (store, _) = try storeWithFiveRows()
        let rows = try store.log(LogQuery(order: .oldestFirst))
        #expect(rows.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(rows[0].previousHash == AirtimeLogChain.genesis)
        for (earlier, later) in zip(rows, rows.dropFirst()) { #expect(later.previousHash == earlier.hash) }
        #expect(rows.allSatisfy { $0.hash.count == 64 })
        #expect(rows[0].recordedAt == instant("2025-06-01T12:00:00+08:00"))
        let verification = try store.verify()
        #expect(verification.isIntact)
        #expect(verification.rowCount == 5)
        #expect(verification.head == ChainHead(seq: 5, hash: rows[4].hash))
        #expect(try store.latestHash() == verification.head)
    }

    @Test func appendReturnsTheRowAsStored() throws {
        let (store, _) = try makeStore()
        var record = makeRecord(startedAt: Date(timeIntervalSince1970: 1_741_900_000.123_4), frames: 96000)
        record.text = "请注意：明天停水"
        record.error = nil
        let row = try store.append(record)
        #expect(row.seq == 1)
        #expect(row.record.title == record.title)
        #expect(row.record.startedAt == Date(timeIntervalSince1970: 1_741_900_000.123))
        #expect(try store.log(LogQuery()) == [row])
    }

    @Test func anEmptyLogIsIntact() throws {
        let (store, _) = try makeStore()
        let verification = try store.verify()
        #expect(verification.isIntact)
        #expect(verification.rowCount == 0)
        #expect(try store.latestHash() == nil)
    }

    @Test func triggersRefuseUpdatesAndDeletes() throws {
        let (store, queue) = try storeWithFiveRows()
        #expect {
            try queue.write { db in try db.execute(sql: "UPDATE airtimeLog SET title = 'changed' WHERE seq = 3") }
        } throws: { error in
            (error as? DatabaseError)?.message?.contains("airtime log is append-only") == true
        }
        #expect(throws: DatabaseError.self) {
            try queue.write { db in try db.execute(sql: "DELETE FROM airtimeLog WHERE seq = 3") }
        }
        #expect(try store.verify().isIntact)
    }

    @Test func verifyNamesAnEditedRow() throws {
        let (store, queue) = try storeWithFiveRows()
        try dropTriggers(queue)
        try queue.write { db in try db.execute(sql: "UPDATE airtimeLog SET title = 'Something else' WHERE seq = 3") }
        let verification = try store.verify()
        #expect(!verification.isIntact)
        #expect(verification.firstBadSeq == 3)
        #expect(verification.problem == "row 3 was edited or forged (its content no longer matches its hash)")
    }

    @Test func verifyNamesAnEditedFrameCountAndFilingTime() throws {
        let (store, queue) = try storeWithFiveRows()
        try dropTriggers(queue)
        try queue.write { db in try db.execute(sql: "UPDATE airtimeLog SET at = at + 1 WHERE seq = 2") }
        #expect(try store.verify().firstBadSeq == 2)
        try queue.write { db in
            try db.execute(sql: "UPDATE airtimeLog SET at = at - 1 WHERE seq = 2; UPDATE airtimeLog SET frames = 1 WHERE seq = 4")
        }
        #expect(try store.verify().firstBadSeq == 4)
    }

    @Test func verifyNamesADeletedRow() throws {
        let (store, queue) = try storeWithFiveRows()
        try dropTriggers(queue)
        try queue.write { db in try db.execute(sql: "DELETE FROM airtimeLog WHERE seq = 3") }
        let verification = try store.verify()
        #expect(verification.firstBadSeq == 3)
        #expect(verification.problem == "row 3 is missing (deleted)")

        try queue.write { db in try db.execute(sql: "DELETE FROM airtimeLog WHERE seq = 1") }
        #expect(try store.verify().problem == "row 1 is missing (deleted)")
    }

    @Test func verifyNamesAForgedRowInsertedInPlaceOfADeletedOne() throws {
        let (store, queue) = try storeWithFiveRows()
        try dropTriggers(queue)
        // A forger who knows the algorithm deletes row 3 and inserts a self-consistent row linked to row 2.
        try queue.write { db in
            let previous = try String.fetchOne(db, sql: "SELECT hash FROM airtimeLog WHERE seq = 2")!
            try db.execute(sql: "DELETE FROM airtimeLog WHERE seq = 3")
            let forged = ChainedContent(
                seq: 3, recordedAt: instant("2025-06-01T12:00:00+08:00"),
                record: makeRecord(id: "forged", startedAt: instant("2025-03-14T03:00:00+08:00"), frames: 480_000))
            var buffer = [UInt8]()
            var arguments = forged.arguments
            arguments += [forged.at, previous, forged.hash(previousHash: previous, buffer: &buffer)]
            let placeholders = Array(repeating: "?", count: 23).joined(separator: ",")
            try db.execute(sql: "INSERT INTO airtimeLog (\(ChainedContent.columnList)) VALUES (\(placeholders))", arguments: arguments)
        }
        let verification = try store.verify()
        #expect(verification.firstBadSeq == 3)
        #expect(verification.problem == "row 3 was replaced, or a row was inserted after row 3 (row 4 does not link to it)")
    }

    @Test func verifyNamesForgedRowsAtEitherEnd() throws {
        let (store, queue) = try storeWithFiveRows()
        // A copy of row 5 under another seq, with made-up links.
        let copied = ChainedContent.columns.dropFirst().joined(separator: ", ")
        let insert = "INSERT INTO airtimeLog (\(ChainedContent.columnList)) SELECT ?, \(copied), at, ?, ? FROM airtimeLog WHERE seq = 5"
        try queue.write { db in try db.execute(sql: insert, arguments: [6, "made-up", "also-made-up"]) }
        var verification = try store.verify()
        #expect(verification.firstBadSeq == 6)
        #expect(verification.problem == "row 6 was edited or forged (its content no longer matches its hash)")

        let (other, otherQueue) = try storeWithFiveRows()
        try otherQueue.write { db in try db.execute(sql: insert, arguments: [0, AirtimeLogChain.genesis, "made-up"]) }
        verification = try other.verify()
        #expect(verification.firstBadSeq == 0)
        #expect(verification.problem == "row 0 was inserted before row 1 (the log starts at 1)")
    }

    @Test func truncationIsCaughtOnlyAgainstAPublishedHead() throws {
        let (store, queue) = try storeWithFiveRows()
        let published = try #require(try store.latestHash())
        try dropTriggers(queue)
        try queue.write { db in try db.execute(sql: "DELETE FROM airtimeLog WHERE seq >= 4") }
        // The shorter chain is valid; only the derived report totals still remember the removed rows, until rebuilt as well.
        #expect(try store.verify().problem?.contains("report totals") == true)
        try store.rebuildReportTotals()
        #expect(try store.verify().isIntact)
        let verification = try store.verify(expecting: published)
        #expect(verification.firstBadSeq == 4)
        #expect(verification.problem?.hasPrefix("rows 4–5 were removed") == true)
        #expect(try store.verify(expecting: ChainHead(seq: 2, hash: String(repeating: "f", count: 64))).firstBadSeq == 2)
    }

    @Test func verifyChecksTheReportTotals() throws {
        let (store, queue) = try storeWithFiveRows()
        try queue.write { db in try db.execute(sql: "UPDATE airtimeDailyTotal SET frames = frames * 2") }
        let verification = try store.verify()
        #expect(!verification.isIntact)
        #expect(verification.firstBadSeq == nil)
        try store.rebuildReportTotals()
        #expect(try store.verify().isIntact)
    }

    @Test func appendClearsTheCheckpointInTheSameTransaction() throws {
        let (store, _) = try makeStore()
        let record = makeRecord(id: "e1", kind: .emergency, level: 1, startedAt: instant("2025-03-14T10:00:00+08:00"), frames: 48000)
        try store.checkpoint(PlayCheckpoint(record: record, updatedAt: instant("2025-03-14T10:00:01+08:00")))
        try store.checkpoint(PlayCheckpoint(record: record, updatedAt: instant("2025-03-14T10:00:02+08:00")))
        #expect(try store.loadCheckpoints().count == 1)
        try store.append(record)
        #expect(try store.loadCheckpoints().isEmpty)

        try store.checkpoint(PlayCheckpoint(record: record, updatedAt: instant("2025-03-14T11:00:00+08:00")))
        try store.append(record, clearingCheckpoint: false)
        #expect(try store.loadCheckpoints().count == 1)
        try store.clearCheckpoint(announcementID: "e1")
        #expect(try store.loadCheckpoints().isEmpty)
    }

    @Test func checkpointsLeftByACrashBecomeInterruptedRows() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("station.sqlite").path
        let started = instant("2025-03-14T10:00:00+08:00")
        do {
            let store = try StationStore.open(path: path)
            try store.append(makeRecord(id: "before", startedAt: started.addingTimeInterval(-600), frames: 48000 * 5))
            var playing = makeRecord(id: "e1", kind: .emergency, level: 2, startedAt: started, frames: 0)
            for second in 1...7 {
                playing.frames = Int64(second) * 48000
                playing.endedAt = started.addingTimeInterval(Double(second))
                try store.checkpoint(PlayCheckpoint(record: playing, updatedAt: playing.endedAt))
            }
            // Killed here: no final row, no clearing.
        }
        let now = instant("2025-03-14T10:05:00+08:00")
        let reopened = try StationStore.open(path: path)
        let recovered = try reopened.recoverCheckpoints(now: now)
        #expect(recovered.count == 1)
        let row = try #require(recovered.first)
        #expect(row.seq == 2)
        #expect(row.record.announcementID == "e1")
        #expect(row.record.outcome == .interrupted)
        #expect(row.record.frames == 7 * 48000)
        #expect(row.record.endedAt == started.addingTimeInterval(7))
        #expect(row.record.error == "daemon stopped while playing")
        #expect(row.recordedAt == now)
        #expect(try reopened.loadCheckpoints().isEmpty)
        #expect(try reopened.recoverCheckpoints(now: now).isEmpty)
        #expect(try reopened.verify().isIntact)
        #expect(try reopened.report(ReportQuery(by: .kind)).groups.first { $0.key == "emergency" }?.realSeconds == 7)
    }
}
