import DalabaCore
import Foundation
import Testing

@testable import DalabaStore

@Suite struct QueueTests {
    func entry(_ id: String, sequence: Int64, playsDone: Int = 0) -> QueueEntry {
        let announcement = Announcement(
            id: id, title: "通知 \(id)", kind: .policy, tier: .township, audio: "/srv/audio/\(id).wav", text: "村民请注意",
            source: "operator:wang", repeatCount: 3, repeatInterval: 60.5, expires: Date(timeIntervalSince1970: 1_741_900_000.123_456),
            queuedAt: Date(timeIntervalSince1970: 1_741_800_000.987_654))
        return QueueEntry(
            announcement: announcement, sequence: sequence, playsDone: playsDone, resumeFrame: 12_345, resumeRate: 48000,
            earliestStart: Date(timeIntervalSince1970: 1_741_850_000.5), isPlaying: sequence == 1)
    }

    @Test func entriesRoundTripInSequenceOrder() throws {
        let (store, _) = try makeStore()
        let entries = [entry("c", sequence: 3), entry("a", sequence: 1), entry("b", sequence: 2)]
        for e in entries { try store.save(e) }
        let loaded = try store.loadQueue()
        #expect(loaded.map(\.id) == ["a", "b", "c"])
        #expect(loaded == entries.sorted { $0.sequence < $1.sequence })
    }

    @Test func saveReplacesTheEntryWithTheSameID() throws {
        let (store, _) = try makeStore()
        try store.save(entry("a", sequence: 1))
        try store.save(entry("a", sequence: 1, playsDone: 2))
        let loaded = try store.loadQueue()
        #expect(loaded.count == 1)
        #expect(loaded.first?.playsDone == 2)
    }

    @Test func removeDropsOnlyThatEntry() throws {
        let (store, _) = try makeStore()
        try store.save(entry("a", sequence: 1))
        try store.save(entry("b", sequence: 2))
        try store.remove(id: "a")
        try store.remove(id: "not-there")
        #expect(try store.loadQueue().map(\.id) == ["b"])
    }

    @Test func nextSequenceSurvivesAnEmptyQueueAndARestart() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("state/station.sqlite").path
        do {
            let store = try StationStore.open(path: path)
            #expect(try store.nextSequence() == 1)
            try store.save(entry("a", sequence: 7))
            #expect(try store.nextSequence() == 8)
            try store.remove(id: "a")
            #expect(try store.nextSequence() == 8)
        }
        let reopened = try StationStore.open(path: path)
        #expect(try reopened.nextSequence() == 8)
        #expect(try reopened.loadQueue().isEmpty)
    }
}
