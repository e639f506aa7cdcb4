import DalabaCore
import Foundation
import GRDB

@testable import DalabaStore

let shanghai = TimeZone(identifier: "Asia/Shanghai")!

/// An instant written as ISO 8601 with its offset, so every test states the wall clock it means: "2025-03-14T23:30:00+08:00".
func instant(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text)!
}

func makeRecord(
    id: String = "a1", title: String = "Notice", kind: Kind = .policy, level: Int? = nil, isTest: Bool = false, tier: Tier = .village,
    source: String = "village-office", startedAt: Date?, frames: Int64, rate: Int = 48000, outcome: Outcome = .completed,
    error: String? = nil, playNumber: Int = 1
) -> AirtimeRecord {
    let seconds = rate > 0 ? Double(frames) / Double(rate) : 0
    let start = startedAt ?? Date(timeIntervalSince1970: 1_741_900_000)
    return AirtimeRecord(
        announcementID: id, title: title, kind: kind, level: level, isTest: isTest, tier: tier, source: source, audio: "/srv/audio/\(id).wav",
        text: nil, playNumber: playNumber, scheduledAt: nil, startedAt: startedAt, endedAt: start.addingTimeInterval(seconds), frames: frames,
        signalFrames: 0, rate: rate, outcome: outcome, error: error)
}

/// A fresh directory under the system temporary directory, removed by the caller.
func makeTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-store-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A store in memory over a queue the test also holds, for tampering with the file behind the store's back.
func makeStore(clock: Date = instant("2025-06-01T12:00:00+08:00")) throws -> (StationStore, DatabaseQueue) {
    let queue = try DatabaseQueue(configuration: StationStore.makeConfiguration())
    return (try StationStore(queue, timeZone: shanghai, clock: { clock }), queue)
}

enum SyntheticLog {
    static let sources = ["county-emergency-bureau", "township-office", "village-office", "weather-relay", "schedule:morning-news"]

    /// The i-th synthetic play: kinds, levels, sources, drills, rates and outcomes vary deterministically with i.
    static func record(_ i: Int, start: Date, spacing: TimeInterval) -> AirtimeRecord {
        let kind = Kind.allCases[i % Kind.allCases.count]
        let rate = i % 7 == 0 ? 44100 : 48000
        let missed = i % 50 == 49
        let startedAt = start.addingTimeInterval(Double(i) * spacing)
        let frames: Int64 = missed ? 0 : Int64(30 + (i * 37) % 240) * Int64(rate) + Int64(i % 1000)
        return AirtimeRecord(
            announcementID: "syn-\(i)", title: "Synthetic announcement \(i)", kind: kind, level: kind == .emergency ? 1 + (i / 4) % 4 : nil,
            isTest: i % 10 == 3, tier: Tier.allCases[i % 3], source: sources[(i / 3) % sources.count], audio: "/srv/audio/syn-\(i % 100).wav",
            text: nil, playNumber: 1, scheduledAt: nil, startedAt: missed ? nil : startedAt,
            endedAt: startedAt.addingTimeInterval(missed ? 0 : Double(frames) / Double(rate)), frames: frames, signalFrames: 0, rate: rate,
            outcome: missed ? .missed : .completed, error: nil)
    }

    static func records(count: Int, start: Date = instant("2023-01-01T00:00:00+08:00"), spacing: TimeInterval = 90) -> [AirtimeRecord] {
        (0..<count).map { record($0, start: start, spacing: spacing) }
    }
}

extension StationStore {
    /// Appends `count` synthetic rows through the ordinary chained append, in transactions of `batch` rows, so benchmarks can
    /// build a million-row log in seconds.
    func generateSyntheticLog(count: Int, start: Date = instant("2023-01-01T00:00:00+08:00"), spacing: TimeInterval = 90, batch: Int = 20_000)
        throws
    {
        var i = 0
        while i < count {
            let n = min(batch, count - i)
            try append(contentsOf: (i..<(i + n)).map { SyntheticLog.record($0, start: start, spacing: spacing) })
            i += n
        }
    }
}
