import DalabaCore
import DalabaStore
import DalabaTestSupport
import Foundation
import Testing

/// `dalaba log verify` against a real `dalabad` whose retention removed old rows: the anchor is printed (text and JSON), and a
/// head published before the retention is told so.
@Suite struct LogVerifyEndToEndTests {
    static func play(_ id: String, at start: Date) -> AirtimeRecord {
        AirtimeRecord(
            announcementID: id, title: "通知 \(id)", kind: .policy, level: nil, isTest: false, tier: .village, source: "村委会",
            audio: "/srv/audio/\(id).wav", text: nil, playNumber: 1, scheduledAt: nil, startedAt: start, endedAt: start.addingTimeInterval(10),
            frames: 480_000, signalFrames: 0, rate: 48_000, outcome: .completed, error: nil)
    }

    @Test(.timeLimit(.minutes(5))) func verifyPrintsTheAnchorAndSaysWhenRetentionCameAfterThePublishedHead() async throws {
        let daemon = try DaemonHarness(name: "verify-retention")
        daemon.extraConfiguration = "[log]\nretention-days = 30"
        // Five plays from 2020 and one from an hour ago, logged before this daemon starts.
        let store = try StationStore.open(path: daemon.stateDirectory.appendingPathComponent("station.sqlite").path)
        let old = (1...5).map { Self.play("old-\($0)", at: Date(timeIntervalSince1970: 1_577_836_800 + Double($0) * 3600)) }
        try store.append(contentsOf: old + [Self.play("recent", at: Date().addingTimeInterval(-3600))])
        let rows = try store.log(LogQuery(order: .oldestFirst))
        let published = try #require(try store.latestHash())
        #expect(published.seq == 6)

        try await daemon.start()
        defer { daemon.stop() }
        // Retention runs once at start.
        var verified: StationAPI.LogVerification?
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let json = try await daemon.dalaba(["log", "verify", "--format", "json"], role: "official")
            verified = try? StationAPI.makeDecoder().decode(StationAPI.LogVerification.self, from: Data(json.stdout.utf8))
            if verified?.anchor != nil { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        let result = try #require(verified)
        #expect(result.intact && result.rows == 2 && result.head?.hasPrefix("7:") == true, "\(result)")
        let anchor = try #require(result.anchor)
        #expect(anchor.firstKeptSeq == 6 && anchor.retentionSeq == 7 && anchor.anchorHash == rows[4].hash)
        #expect(anchor.madeBy == "keep 30 days" && anchor.removedRows == 5)

        let text = try await daemon.dalaba(["log", "verify"], role: "official")
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("intact: 2 rows checked"), "\(text.stdout)")
        #expect(
            text.stdout.contains("anchor: rows 1–5 removed by retention record 7 at ")
                && text.stdout.contains(" (keep 30 days); the chain starts at row 6 from \(rows[4].hash)"), "\(text.stdout)")

        let before = try await daemon.dalaba(["log", "verify", "--expect", published.description], role: "official")
        #expect(before.status == 0, "\(before.stderr)")
        #expect(before.stdout.contains("notice: rows 1–5 removed by retention after the published head 6 (retention record 7, "), "\(before.stdout)")
        let gone = try await daemon.dalaba(["log", "verify", "--expect", "3:\(rows[2].hash)"], role: "official")
        #expect(gone.status == 0 && gone.stdout.contains("cannot vouch for the anchor: publish the new head"), "\(gone.stdout)")
        let forged = try await daemon.dalaba(["log", "verify", "--expect", "5:" + String(repeating: "e", count: 64)], role: "official")
        #expect(forged.status == 3 && forged.stderr.contains("the anchor was rewritten"), "\(forged.stdout)\(forged.stderr)")

        let after = try #require(result.head)
        let now = try await daemon.dalaba(["log", "verify", "--expect", after], role: "official")
        #expect(now.status == 0 && !now.stdout.contains("notice:"), "\(now.stdout)")
        let csv = try await daemon.dalaba(["log", "verify", "--format", "csv"], role: "official")
        #expect(csv.stdout.contains(",6,\(rows[4].hash),7,") && csv.stdout.contains("keep 30 days"), "\(csv.stdout)")
    }
}
