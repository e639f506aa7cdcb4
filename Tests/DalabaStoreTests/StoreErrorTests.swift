import DalabaCore
import Foundation
import GRDB
import Testing

@testable import DalabaStore

@Suite struct StoreErrorTests {
    @Test func aReadOnlyDatabaseGivesAClearError() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("station.sqlite").path
        do {
            let store = try StationStore.open(path: path)
            try store.append(makeRecord(startedAt: instant("2025-03-14T10:00:00+08:00"), frames: 48000))
        }
        var config = StationStore.makeConfiguration()
        config.readonly = true
        let store = try StationStore(try DatabasePool(path: path, configuration: config))
        #expect(try store.log(LogQuery()).count == 1)
        #expect(try store.verify().isIntact)
        let error = try #require(throws: StoreError.self) {
            try store.append(makeRecord(startedAt: instant("2025-03-14T11:00:00+08:00"), frames: 48000))
        }
        #expect(error.reason == .readOnly)
        #expect(error.description.hasPrefix("cannot append to the airtime log (database \(path)): the database is read-only"))
        #expect(throws: StoreError.self) { try store.save(QueueEntry(announcement: announcement(), sequence: 1)) }
    }

    @Test func aReadOnlyDatabaseNeverSetUpIsRefused() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("empty.sqlite").path
        _ = try DatabaseQueue(path: path)
        var config = Configuration()
        config.readonly = true
        let error = try #require(throws: StoreError.self) { try StationStore(try DatabaseQueue(path: path, configuration: config)) }
        #expect(error.reason == .readOnly)
    }

    @Test func aFullDiskGivesAClearErrorAndLosesNothing() throws {
        let (store, queue) = try makeStore()
        let record = makeRecord(id: "e1", startedAt: instant("2025-03-14T10:00:00+08:00"), frames: 48000)
        try store.append(record)
        try store.checkpoint(PlayCheckpoint(record: record, updatedAt: record.endedAt))
        // SQLite reports SQLITE_FULL when the page limit is reached, exactly as on a full disk.
        try queue.writeWithoutTransaction { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count")!
            try db.execute(sql: "PRAGMA max_page_count = \(pages)")
        }
        var big = record
        big.title = String(repeating: "长", count: 200_000)
        let error = try #require(throws: StoreError.self) { try store.append(big) }
        #expect(error.reason == .diskFull)
        #expect(error.description.contains("the disk is full"))
        #expect(try store.loadCheckpoints().count == 1)
        #expect(try store.verify().rowCount == 1)
        #expect(try store.verify().isIntact)
    }

    @Test func anUncreatableDirectoryIsNamed() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let blocker = directory.appendingPathComponent("not-a-directory")
        try Data("x".utf8).write(to: blocker)
        let path = blocker.appendingPathComponent("state/station.sqlite").path
        let error = try #require(throws: StoreError.self) { try StationStore.open(path: path) }
        #expect(error.reason == .cannotOpen)
        #expect(error.description.contains(path))
    }

    @Test func aFileThatIsNotADatabaseIsNamed() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("station.sqlite").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: StoreError.self) { try StationStore.open(path: path) }
        #expect(error.reason == .notADatabase)
        #expect(error.description.contains(path))
    }

    func announcement() -> Announcement {
        Announcement(id: "x", title: "x", kind: .policy, audio: "/x.wav", source: "op", queuedAt: Date(timeIntervalSince1970: 0))
    }
}

/// A power cut must not lose an acknowledged commit: the daemon's WAL pool syncs every commit (GRDB would leave it NORMAL).
@Suite struct StoreDurabilityTests {
    @Test func theStationDatabaseSyncsEveryCommit() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-sync-\(UUID().uuidString.prefix(8))")
        let store = try StationStore.open(path: dir.appendingPathComponent("station.sqlite").path)
        let mode = try store.synchronousMode()
        #expect(mode == 2, "PRAGMA synchronous is \(mode), not FULL (2)")
    }
}
