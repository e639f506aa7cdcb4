import DalabaTestSupport
import Foundation
import Testing

/// Real `dalabad` and `dalaba` processes on the paced virtual card; what was heard is read back from the capture.
@Suite(.serialized) struct PreemptionEndToEndTests {
    static let attention: Set<Double> = [853, 960]
    static let candidates: [Double] = [440, 853, 960, 1000, 660]

    /// What each 10 ms block holds, merged into runs: a tone, "attention" (its two tones), "silence", or "mixed" for a
    /// block that straddles a switch from one sound to the next.
    static func heard(_ capture: Capture) -> [(String, Int)] {
        var runs: [(String, Int)] = []
        for start in stride(from: 0, to: capture.frames, by: 480) {
            let block = capture.channel(0, frames: start..<min(start + 480, capture.frames))
            let label: String
            if ToneAnalysis.rms(block) < 0.01 {
                label = "silence"
            } else if let tone = ToneAnalysis.dominant(block, rate: 48_000, candidates: candidates) {
                label = attention.contains(tone) ? "attention" : "\(Int(tone))"
            } else {
                label = "mixed"
            }
            if let last = runs.last, last.0 == label { runs[runs.count - 1].1 += block.count } else { runs.append((label, block.count)) }
        }
        return runs
    }

    @Test func anEmergencyCutsInAndTheRoutineProgrammeResumesWithoutGapsOrRepeats() async throws {
        try await PacedDevice.with { paced in
            let daemon = try DaemonHarness(name: "preempt")
            let capturePath = daemon.directory.appendingPathComponent("paced.raw").path
            daemon.device = paced.pcm(capturingTo: capturePath)
            daemon.environment.merge(paced.environment) { $1 }
            // 8 s, so the emergency (a debug CLI process, seconds to start beside stress-ng) still finds it playing.
            try daemon.tone("music.wav", frequency: 440, seconds: 8)
            try daemon.tone("alert.wav", frequency: 1000, seconds: 1)
            try await daemon.start()
            defer { daemon.stop() }

            let routine = try await daemon.dalaba(["queue", "music.wav", "--kind", "routine", "--title", "晨间音乐", "--id", "music"])
            #expect(routine.status == 0, "\(routine.stderr)")
            #expect(routine.stdout == "queued music: on air now or next\n")
            try await daemon.waitFor("a second of the routine item") { DaemonHarness.position($0) >= 1.0 }
            let emergency = try await daemon.dalaba(["queue", "alert.wav", "--kind", "emergency", "--level", "1", "--title", "山洪预警", "--id", "flood"])
            #expect(emergency.status == 0, "\(emergency.stderr)")
            try await daemon.waitFor("everything to play", timeout: 30) { DaemonHarness.isIdle($0) }
            #expect(await daemon.stop() == 0)

            let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
            let period = 480
            let runs = Self.heard(capture)
            // A sound is more than one block: the one block that straddles a switch may read as a third tone (a quiet run once
            // heard the block between the programme and the two-tone signal as 1000 Hz, 480 frames, taken from the signal).
            let labels = runs.filter { $0.1 > period && $0.0 != "mixed" }.map(\.0)
            #expect(labels == ["440", "attention", "1000", "440"], "\(runs)")
            // No gap longer than one period anywhere between the first and the last sound.
            let inner = runs.drop { $0.0 == "silence" }.reversed().drop { $0.0 == "silence" }
            #expect(inner.allSatisfy { $0.0 != "silence" || $0.1 <= period }, "\(runs)")
            #expect(inner.allSatisfy { $0.0 != "mixed" || $0.1 <= period }, "a switch takes one block at most: \(runs)")
            // Nothing played twice: the routine item's two parts add up to the file, the alert and the signal play once.
            // A switch block holds both neighbours, so each sound is counted to within one block per switch.
            let total = { (label: String) in runs.filter { $0.0 == label }.map(\.1).reduce(0, +) }
            #expect(abs(total("440") - 8 * 48_000) <= 2 * period, "routine frames \(total("440"))")
            #expect(abs(total("1000") - 48_000) <= 2 * period)
            #expect(abs(total("attention") - 2 * 48_000) <= 2 * period)
        }
    }

    @Test func afterKillNineTheQueueIsIntactAndTheInterruptedItemPlays() async throws {
        try await PacedDevice.with { paced in
            let daemon = try DaemonHarness(name: "kill9")
            let firstCapture = daemon.directory.appendingPathComponent("first.raw").path
            daemon.device = paced.pcm(capturingTo: firstCapture)
            daemon.environment.merge(paced.environment) { $1 }
            try daemon.tone("long.wav", frequency: 440, seconds: 4)
            try daemon.tone("next.wav", frequency: 660, seconds: 1)
            try await daemon.start()

            #expect(try await daemon.dalaba(["queue", "long.wav", "--kind", "routine", "--id", "long"]).status == 0)
            #expect(try await daemon.dalaba(["queue", "next.wav", "--kind", "routine", "--id", "next"]).status == 0)
            try await daemon.waitFor("two seconds of the first item") { DaemonHarness.position($0) >= 2.0 }
            await daemon.kill()

            let secondCapture = daemon.directory.appendingPathComponent("second.raw").path
            daemon.device = paced.pcm(capturingTo: secondCapture)
            daemon.extraConfiguration = ""
            try await daemon.start()
            defer { daemon.stop() }
            try await daemon.waitFor("everything to play", timeout: 30) { DaemonHarness.isIdle($0) }
            #expect(await daemon.stop() == 0)

            let runs = Self.heard(try Capture(path: secondCapture, channels: 2, rate: 48_000)).filter { $0.1 >= 480 && $0.0 != "mixed" }
            #expect(runs.map(\.0) == ["440", "660"], "the interrupted item resumed, then the one queued behind it: \(runs)")
            // It resumed from its last checkpoint (at most a second before the kill, which came after 2 s), not from the start.
            let resumed = runs.first?.1 ?? 0
            #expect(resumed >= 48_000 && resumed <= 3 * 48_000, "resumed part: \(resumed) frames")
            let log = try String(contentsOfFile: daemon.logPath, encoding: .utf8)
            #expect(log.contains("play cut off by a restart recorded"))
        }
    }

    @Test func sigtermStopsCleanlyRecordsThePartialPlayAndExitsZero() async throws {
        try await PacedDevice.with { paced in
            let daemon = try DaemonHarness(name: "sigterm")
            daemon.device = paced.pcm(capturingTo: daemon.directory.appendingPathComponent("a.raw").path)
            daemon.environment.merge(paced.environment) { $1 }
            try daemon.tone("notice.wav", frequency: 440, seconds: 5)
            try await daemon.start()
            #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "policy", "--id", "notice"]).status == 0)
            try await daemon.waitFor("the notice to be on air") { DaemonHarness.position($0) >= 0.5 }
            #expect(await daemon.stop() == 0)

            try await daemon.start()
            defer { daemon.stop() }
            let status = try await daemon.status()
            let ids = DaemonHarness.queueIDs(status) + [DaemonHarness.nowPlayingID(status)].compactMap { $0 }
            #expect(ids == ["notice"], "the interrupted notice is still there to restart: \(status)")
            // One row for the partial play, with the frames heard, and no second row from a checkpoint at the restart.
            let logged = try await daemon.dalaba(["log", "--format", "json"], role: "official")
            let page = try #require(try JSONSerialization.jsonObject(with: Data(logged.stdout.utf8)) as? [String: Any], "\(logged.stdout)")
            let rows = try #require(page["entries"] as? [[String: Any]], "\(logged.stdout)")
            let notice = rows.filter { $0["id"] as? String == "notice" }
            #expect(notice.count == 1, "\(rows)")
            #expect(notice.first?["outcome"] as? String == "interrupted")
            #expect((notice.first?["frames"] as? Int ?? 0) >= 24_000, "\(notice)")
            #expect(notice.first?["error"] as? String == "station stopped while playing")
        }
    }
}
