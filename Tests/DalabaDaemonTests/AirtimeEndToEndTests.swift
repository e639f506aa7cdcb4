import DalabaCore
import DalabaTestSupport
import Foundation
import Testing

/// The airtime in the officials' report equals, to the frame, the audio that reached the device: a scenario with a
/// preemption, a repeat and a cancel plays on the capture device, and the log and report are compared with the capture.
@Suite(.serialized) struct AirtimeEndToEndTests {
    @Test func theReportEqualsTheFramesInTheCapture() async throws {
        try await PacedDevice.with { paced in try await scenario(paced) }
    }

    func scenario(_ paced: PacedDevice) async throws {
        let daemon = try DaemonHarness(name: "airtime")
        let capturePath = daemon.directory.appendingPathComponent("paced.raw").path
        daemon.device = paced.pcm(capturingTo: capturePath)
        daemon.environment.merge(paced.environment) { $1 }
        // Long enough that a test task starved for a few seconds beside a CPU hog still sees it on air before it ends.
        try daemon.tone("music.wav", frequency: 440, seconds: 8)
        try daemon.tone("alert.wav", frequency: 1000, seconds: 1)
        try daemon.tone("notice.wav", frequency: 660, seconds: 0.5)
        try daemon.tone("spare.wav", frequency: 1500, seconds: 3)
        try await daemon.start()
        defer { daemon.stop() }

        #expect(try await daemon.dalaba(["queue", "music.wav", "--kind", "routine", "--id", "music", "--title", "晨间音乐"]).status == 0)
        try await daemon.waitFor("a second of music") { DaemonHarness.position($0) >= 1 }
        #expect(try await daemon.dalaba(["queue", "alert.wav", "--kind", "emergency", "--level", "2", "--id", "alert", "--title", "暴雨预警"]).status == 0)
        #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "policy", "--repeat", "2", "--id", "notice", "--title", "通知"]).status == 0)
        #expect(try await daemon.dalaba(["queue", "spare.wav", "--kind", "routine", "--id", "spare", "--test"]).status == 0)
        try await daemon.waitFor("the spare item on air", timeout: 30) { DaemonHarness.nowPlayingID($0) == "spare" && DaemonHarness.position($0) >= 0.5 }
        #expect(try await daemon.dalaba(["cancel", "spare"]).status == 0)
        try await daemon.waitFor("everything to finish") { DaemonHarness.isIdle($0) }
        #expect(await daemon.stop() == 0)

        // The log and the report are read from the store after the daemon stopped, through a second daemon on `null`.
        daemon.device = "null"
        try await daemon.start()
        let (_, logData) = try await daemon.request("GET", "/v1/log?format=json&limit=1000&order=oldest", role: "official")
        let page = try StationAPI.makeDecoder().decode(StationAPI.LogPage.self, from: logData)
        let (_, reportData) = try await daemon.request("GET", "/v1/report?by=kind&format=json", role: "official")
        let report = try StationAPI.makeDecoder().decode(StationAPI.AirtimeReport.self, from: reportData)

        let outcomes = page.entries.map { "\($0.id):\($0.outcome.rawValue)" }
        #expect(
            outcomes == [
                "music:interrupted", "alert:completed", "notice:completed", "notice:completed", "music:completed", "spare:cancelled",
            ], "\(outcomes)")
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        let programme = page.entries.map(\.frames).reduce(0, +)
        let signals = page.entries.map(\.signalFrames).reduce(0, +)
        #expect(Int(programme + signals) == capture.frames, "every frame in the capture is in the log, and no other")
        let reported = (report.total.realSeconds + report.total.drillSeconds) * 48_000
        #expect(abs(reported - Double(programme)) < 0.5, "report \(reported) frames, log \(programme) frames")
        #expect(abs(report.total.drillSeconds * 48_000 - Double(page.entries.last?.frames ?? 0)) < 0.5, "the cancelled drill counts apart")
        // Resumed, not restarted: the music's two plays add up to the file.
        let music = page.entries.filter { $0.id == "music" }.map(\.frames).reduce(0, +)
        #expect(music == 8 * 48_000)
    }
}
