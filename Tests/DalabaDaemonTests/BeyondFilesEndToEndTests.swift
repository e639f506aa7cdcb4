import DalabaAudio
import DalabaTestSupport
import Foundation
import Testing

/// Text to speech, CAP 1.2 alerts and equal loudness, through real `dalabad` and `dalaba` processes.
@Suite(.serialized) struct BeyondFilesEndToEndTests {
    static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "Asia/Shanghai")
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date).replacingOccurrences(of: "Z", with: "+00:00")
    }

    /// A CAP alert written for the test, expiring an hour from now.
    static func alert(
        identifier: String, status: String = "Actual", msgType: String = "Alert", severity: String = "Extreme", references: String? = nil,
        headline: String = "山洪预警", sent: Date = Date()
    ) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>\(identifier)</identifier>
          <sender>weather@county.example.cn</sender>
          <sent>\(iso(sent))</sent>
          <status>\(status)</status>
          <msgType>\(msgType)</msgType>
          <scope>Public</scope>
          \(references.map { "<references>\($0)</references>" } ?? "")
          <info>
            <language>zh-CN</language>
            <category>Met</category>
            <event>山洪</event>
            <urgency>Immediate</urgency>
            <severity>\(severity)</severity>
            <certainty>Likely</certainty>
            <expires>\(iso(Date().addingTimeInterval(3600)))</expires>
            <headline>\(headline)</headline>
            <description>上游水库泄洪，河道水位快速上涨。</description>
            <instruction>请沿河群众立即转移到高处。</instruction>
            <area><areaDesc>青山村</areaDesc></area>
          </info>
        </alert>
        """
    }

    @Test func textIsSpokenQueuedAndLoggedWithItsText() async throws {
        let daemon = try DaemonHarness(name: "tts")
        try await daemon.start()
        defer { daemon.stop() }
        let text = "各位村民请注意，明天上午九点在村委会发放防汛物资。"
        let queued = try await daemon.dalaba(["queue", "--text", text, "--kind", "policy", "--id", "tts-notice"])
        #expect(queued.stdout == "queued tts-notice: on air now or next\n", "\(queued.stderr)")
        try await daemon.waitFor("the spoken notice to play") { DaemonHarness.isIdle($0) }
        let (_, data) = try await daemon.request("GET", "/v1/log?format=json", role: "official")
        let page = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        let entry = try #require((page?["entries"] as? [[String: Any]])?.first { $0["id"] as? String == "tts-notice" })
        #expect(entry["text"] as? String == text)
        #expect(entry["outcome"] as? String == "completed")
        #expect((entry["seconds"] as? Double ?? 0) > 2, "a whole sentence was spoken: \(entry)")

        let empty = try await daemon.dalaba(["queue", "--text", "   ", "--kind", "policy"])
        #expect(empty.status == 1)
        #expect(empty.stderr.hasPrefix("dalaba: text: "), "\(empty.stderr)")
        let emoji = try await daemon.dalaba(["queue", "--text", "🔔🔔🔔", "--kind", "policy"])
        #expect(emoji.status == 1)
        #expect(emoji.stderr.hasPrefix("dalaba: text: "), "\(emoji.stderr)")
    }

    @Test func capAlertsAreBroadcastReplacedCancelledAndDrillsMarked() async throws {
        try await PacedDevice.with { paced in try await capChain(paced) }
    }

    func capChain(_ paced: PacedDevice) async throws {
        let daemon = try DaemonHarness(name: "cap")
        daemon.device = paced.pcm(capturingTo: daemon.directory.appendingPathComponent("cap.raw").path)
        daemon.environment.merge(paced.environment) { $1 }
        try daemon.tone("hold.wav", frequency: 440, seconds: 30)
        try await daemon.start()
        defer { daemon.stop() }
        // Keep the station busy with an emergency of the same level, so the alerts wait in the queue where we can see them.
        #expect(try await daemon.dalaba(["queue", "hold.wav", "--kind", "emergency", "--level", "1", "--id", "hold"]).status == 0)
        let dir = daemon.directory
        let sent = Date()
        let first = dir.appendingPathComponent("flood.xml")
        try Self.alert(identifier: "FLOOD-1", sent: sent).write(to: first, atomically: true, encoding: .utf8)
        let queued = try await daemon.dalaba(["cap", first.path])
        #expect(queued.stdout == "queued cap:weather@county.example.cn:FLOOD-1: on air now or next\n", "\(queued.stderr)")
        #expect(DaemonHarness.nowPlayingID(try await daemon.status()) == "hold", "the same rank does not cut in")
        #expect(try await daemon.dalaba(["cap", first.path]).stdout == "not queued: cap:weather@county.example.cn:FLOOD-1 is already queued or playing\n")

        let update = dir.appendingPathComponent("update.xml")
        try Self.alert(
            identifier: "FLOOD-2", msgType: "Update", references: "weather@county.example.cn,FLOOD-1,\(Self.iso(sent))", headline: "山洪预警（更新）"
        ).write(to: update, atomically: true, encoding: .utf8)
        let replaced = try await daemon.dalaba(["cap", update.path])
        #expect(replaced.stdout == "queued cap:weather@county.example.cn:FLOOD-2, replacing cap:weather@county.example.cn:FLOOD-1\n", "\(replaced.stderr)")
        var status = try await daemon.status()
        #expect(DaemonHarness.queueIDs(status) == ["cap:weather@county.example.cn:FLOOD-2"])

        let drill = dir.appendingPathComponent("drill.xml")
        try Self.alert(identifier: "DRILL-1", status: "Exercise").write(to: drill, atomically: true, encoding: .utf8)
        #expect(try await daemon.dalaba(["cap", drill.path]).status == 0)
        status = try await daemon.status()
        let drillItem = (status["queue"] as? [[String: Any]])?.first { $0["id"] as? String == "cap:weather@county.example.cn:DRILL-1" }
        #expect(drillItem?["test"] as? Bool == true)
        #expect(drillItem?["kind"] as? String == "emergency")

        let draft = dir.appendingPathComponent("draft.xml")
        try Self.alert(identifier: "DRAFT-1", status: "Draft").write(to: draft, atomically: true, encoding: .utf8)
        #expect(try await daemon.dalaba(["cap", draft.path]).stdout.hasPrefix("not broadcast: "))

        let cancel = dir.appendingPathComponent("cancel.xml")
        try Self.alert(identifier: "FLOOD-3", msgType: "Cancel", references: "weather@county.example.cn,FLOOD-2,\(Self.iso(sent))")
            .write(to: cancel, atomically: true, encoding: .utf8)
        #expect(try await daemon.dalaba(["cap", cancel.path]).stdout == "cancelled cap:weather@county.example.cn:FLOOD-2\n")
        status = try await daemon.status()
        #expect(DaemonHarness.queueIDs(status) == ["cap:weather@county.example.cn:DRILL-1"])

        let hostile = dir.appendingPathComponent("xxe.xml")
        try """
            <?xml version="1.0"?>
            <!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
            <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&xxe;</identifier></alert>
            """.write(to: hostile, atomically: true, encoding: .utf8)
        let refused = try await daemon.dalaba(["cap", hostile.path])
        #expect(refused.status == 1)
        #expect(refused.stderr.hasPrefix("dalaba: document: "), "\(refused.stderr)")
        #expect(DaemonHarness.queueIDs(try await daemon.status()) == ["cap:weather@county.example.cn:DRILL-1"], "nothing queued was disturbed")
    }

    @Test func itemsComeOutOfTheLoudspeakersEquallyLoudAndBelowTheCeiling() async throws {
        let daemon = try DaemonHarness(name: "loudness")
        let capturePath = daemon.directory.appendingPathComponent("out.raw").path
        daemon.device = "file:FILE=\(capturePath),FORMAT=raw"
        // Quiet phone recording, loud music bed (12 dB apart), and a near-full-scale file.
        for (name, frequency, amplitude) in [("quiet.wav", 440.0, Float(0.1)), ("loud.wav", 660.0, Float(0.398)), ("hot.wav", 1000.0, Float(0.99))] {
            let writer = try SoundFileWriter(path: daemon.audioDirectory.appendingPathComponent(name).path, format: .wav16, rate: 48_000, channels: 2)
            try writer.write(Tone.sine(frequency: frequency, seconds: 3, rate: 48_000, channels: 2, amplitude: amplitude))
            writer.close()
        }
        try await daemon.start()
        defer { daemon.stop() }
        for name in ["quiet", "loud", "hot"] {
            #expect(try await daemon.dalaba(["queue", "\(name).wav", "--kind", "routine", "--id", name]).status == 0)
        }
        try await daemon.waitFor("the three items to play") { DaemonHarness.isIdle($0) }
        await daemon.stop()

        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        var loudness: [Double: LoudnessMeasurement] = [:]
        for run in capture.runs(candidates: [440, 660, 1000]) where run.frames > 48_000 {
            guard let tone = run.tone else { continue }
            let part = daemon.directory.appendingPathComponent("part-\(Int(tone)).wav").path
            let writer = try SoundFileWriter(path: part, format: .wavFloat, rate: 48_000, channels: 2)
            let samples = capture.samples[(run.start * 2)..<((run.start + run.frames) * 2)].map { Float($0) / 32768 }
            try writer.write(samples)
            writer.close()
            loudness[tone] = try Loudness.measure(path: part)
        }
        let quiet = try #require(loudness[440])
        let loud = try #require(loudness[660])
        let hot = try #require(loudness[1000])
        #expect(abs(quiet.integrated - loud.integrated) <= 0.5, "\(quiet.integrated) vs \(loud.integrated) LUFS")
        #expect(abs(quiet.integrated - -16) <= 0.5 && abs(loud.integrated - -16) <= 0.5)
        #expect(hot.truePeak <= -1 + 0.1, "the near-full-scale file is limited below the ceiling: \(hot.truePeak) dBTP")
    }
}
