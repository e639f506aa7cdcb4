import DalabaStation
import Foundation
import Testing

/// The audio caches stay bounded, and nothing a queued item needs is ever removed.
@Suite struct CacheSweeperTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let policy = CacheSweeper.Policy(name: "uploads", directory: "/state/uploads", maxAge: 86_400, maxBytes: 1_000, grace: 600)

    func file(_ name: String, bytes: Int64 = 100, age: Double) -> CacheSweeper.File {
        .init(path: "/state/uploads/\(name)", bytes: bytes, modified: now.addingTimeInterval(-age))
    }

    @Test func oldUnreferencedFilesGoAndReferencedOnesStay() {
        let files = [file("old", age: 90_000), file("queued", age: 90_000), file("fresh", age: 60)]
        let removed = CacheSweeper.plan(files, referenced: ["/state/uploads/queued"], policy: policy, now: now)
        #expect(removed.map(\.path) == ["/state/uploads/old"])
    }

    @Test func overTheCapTheOldestUnreferencedGoFirstButNeverInsideTheGrace() {
        let files = [
            file("a", bytes: 400, age: 5_000), file("b", bytes: 400, age: 4_000), file("c", bytes: 400, age: 3_000), file("new", bytes: 400, age: 10),
        ]
        // 1,600 bytes against a cap of 1,000: the oldest go until it fits, the referenced one and the new one stay.
        let removed = CacheSweeper.plan(files, referenced: ["/state/uploads/a"], policy: policy, now: now)
        #expect(removed.map(\.path) == ["/state/uploads/b", "/state/uploads/c"])
    }

    @Test func aSweepRemovesRealFilesAndKeepsReferencedOnes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-sweep-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let old = dir.appendingPathComponent("old.wav").path
        let kept = dir.appendingPathComponent("kept.wav").path
        for path in [old, kept] {
            FileManager.default.createFile(atPath: path, contents: Data(count: 10))
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-100_000)], ofItemAtPath: path)
        }
        let sweeper = CacheSweeper(
            policies: [.init(name: "uploads", directory: dir.path, maxAge: 86_400, maxBytes: 1 << 20)], metrics: StationMetrics(),
            logger: .init(label: "test"))
        sweeper.sweep(referenced: [kept], now: Date())
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: kept))
    }
}
