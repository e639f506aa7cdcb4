import DalabaTestSupport
import Foundation
import Testing

/// Live items (实时喊话) on real processes: a paced capture input stands in for the microphone (ALSA's file plugin reads
/// its frames from a raw file at the virtual card's clock, then silence), and what reached the loudspeaker is read back
/// from the paced capture.
@Suite(.serialized) struct LiveEndToEndTests {
    static let rate = 48_000

    /// Raw S16 stereo frames of a 440 Hz tone, as the input device delivers them (the device's own format).
    static func writeInput(_ path: String, seconds: Double, frequency: Double = 440) throws -> [Int16] {
        let samples = Tone.sine(frequency: frequency, seconds: seconds, rate: rate, channels: 2).map { Int16(($0 * 32_767).rounded()) }
        try samples.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path))
        return samples
    }

    static func logRows(_ daemon: DaemonHarness) async throws -> [[String: Any]] {
        let logged = try await daemon.dalaba(["log", "--format", "json"], role: "official")
        let page = try #require(
            try? JSONSerialization.jsonObject(with: Data(logged.stdout.utf8)) as? [String: Any], "\(logged.stdout) \(logged.stderr)")
        return try #require(page["entries"] as? [[String: Any]], "\(logged.stdout)")
    }

    static func frames(_ row: [String: Any]) -> Int { (row["frames"] as? Int) ?? -1 }

    /// A daemon on the paced device whose one live input plays `inputSeconds` of 440 Hz, then silence; returns it, the
    /// capture of what reached its loudspeaker, and the samples the input gives. `silence` nil keeps the station's VOX.
    static func liveDaemon(_ name: String, paced: PacedDevice, inputSeconds: Double, silence: Int? = nil) throws
        -> (DaemonHarness, String, [Int16])
    {
        let daemon = try DaemonHarness(name: name)
        let capturePath = daemon.directory.appendingPathComponent("out.raw").path
        let inputPath = daemon.directory.appendingPathComponent("microphone.raw").path
        let spoken = try writeInput(inputPath, seconds: inputSeconds)
        daemon.device = paced.pcm(capturingTo: capturePath)
        daemon.environment.merge(paced.environment) { $1 }
        daemon.extraConfiguration = """
            [live]
            inputs = ["\(PacedDevice.pcm(inputFrom: inputPath))"]
            \(silence.map { "silence = \($0)" } ?? "")
            """
        return (daemon, capturePath, spoken)
    }

    @Test func aLiveTalkReachesTheLoudspeakerSampleForSampleAndEndsAfterSilence() async throws {
        try await PacedDevice.with { paced in
            let (daemon, capturePath, spoken) = try Self.liveDaemon("live-vox", paced: paced, inputSeconds: 2, silence: 1)
            try await daemon.start()
            defer { daemon.stop() }

            let started = try await daemon.dalaba(["live", "start", "--kind", "routine", "--title", "村主任喊话", "--id", "talk"])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(started.stdout == "queued talk: on air now or next\n")
            try await daemon.waitFor("the talk to end on silence", timeout: 20) { DaemonHarness.isIdle($0) }
            let rows = try await Self.logRows(daemon).filter { $0["id"] as? String == "talk" }
            #expect(await daemon.stop() == 0)

            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            // The loudspeaker got exactly what was said, from its first sample, untouched.
            #expect(capture.samples.count >= spoken.count)
            // Compared outside #expect: a failing comparison of 192,000 samples would be diffed element by element.
            let exact = Array(capture.samples.prefix(spoken.count)) == spoken
            #expect(exact, "the live input reached the device sample for sample")
            // Then one second of silence (VOX), within one period, and nothing more.
            let silence = capture.frames - spoken.count / 2
            let period = try await daemon.deviceSettingsFromLog().period
            #expect(silence >= Self.rate && silence <= Self.rate + 2 * period, "silence before the end: \(silence) frames, period \(period)")
            #expect(capture.samples.dropFirst(spoken.count).allSatisfy { $0 == 0 })

            #expect(rows.count == 1, "\(rows)")
            #expect(rows.first?["outcome"] as? String == "completed", "\(rows)")
            #expect(Self.frames(rows.first ?? [:]) == capture.frames, "the log counts the frames that reached the device: \(rows)")
        }
    }

    @Test func anEmergencyCutsALiveTalkWhoseFramesAreLoggedAndWhichIsNotReplayed() async throws {
        try await PacedDevice.with { paced in
            let (daemon, capturePath, spoken) = try Self.liveDaemon("live-cut", paced: paced, inputSeconds: 20, silence: 0)
            try daemon.tone("alert.wav", frequency: 1000, seconds: 1)
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["live", "start", "--kind", "policy", "--id", "talk"]).status == 0)
            try await daemon.waitFor("a second of the talk") { DaemonHarness.position($0) >= 1.0 }
            let emergency = try await daemon.dalaba(["queue", "alert.wav", "--kind", "emergency", "--level", "2", "--id", "flood"])
            #expect(emergency.status == 0, "\(emergency.stderr)")
            try await daemon.waitFor("the emergency to play and nothing after it", timeout: 30) { DaemonHarness.isIdle($0) }
            let rows = try await Self.logRows(daemon)
            #expect(await daemon.stop() == 0)

            let talk = try #require(rows.first { $0["id"] as? String == "talk" }, "\(rows)")
            #expect(talk["outcome"] as? String == "interrupted", "\(talk)")
            #expect(rows.filter { $0["id"] as? String == "talk" }.count == 1, "a cut live talk is not replayed: \(rows)")
            #expect(rows.first { $0["id"] as? String == "flood" }?["outcome"] as? String == "completed")
            let heard = Self.frames(talk)
            #expect(heard >= Self.rate, "\(talk)")
            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            // What the log counts is exactly what went out after the chime: the talk's opening frames, sample for sample.
            let onset = try #require(talk["signalFrames"] as? Int, "\(talk)")
            let exact = Array(capture.samples[(onset * 2)..<min(capture.samples.count, (onset + heard) * 2)]) == Array(spoken.prefix(heard * 2))
            #expect(exact, "the \(heard) frames logged are the talk's first \(heard) frames, after the chime's \(onset) frames")
            // After the chime: the talk, the attention signal (853 + 960 Hz together), the alert, and no talk again.
            var heardAfterChime: [String] = []
            for run in capture.runs(candidates: [440, 853, 960, 1000]) where run.start >= onset && run.frames >= 480 {
                let label = run.tone.map { $0 == 853 || $0 == 960 ? "attention" : "\(Int($0))" } ?? "silence"
                if heardAfterChime.last != label { heardAfterChime.append(label) }
            }
            #expect(heardAfterChime.filter { $0 != "silence" } == ["440", "attention", "1000"], "\(heardAfterChime)")
        }
    }

    @Test func liveStopEndsTheTalkAsCompletedAndOnlyConfiguredInputsAreAccepted() async throws {
        try await PacedDevice.with { paced in
            let (daemon, capturePath, _) = try Self.liveDaemon("live-stop", paced: paced, inputSeconds: 20)
            try await daemon.start()
            defer { daemon.stop() }

            // An ALSA PCM string can name a file plugin: only the configured inputs are taken, and nothing is queued.
            let hostile = #"{"kind":"routine","input":"file:FILE=/etc/shadow"}"#
            let (code, body) = try await daemon.request("POST", "/v1/live", role: "operator", body: Data(hostile.utf8))
            #expect(code == 400, "\(String(decoding: body, as: UTF8.self))")
            #expect(String(decoding: body, as: UTF8.self).contains("not one of this station's live inputs"))
            let (unknown, _) = try await daemon.request("POST", "/v1/live", role: "operator", body: Data(#"{"kind":"routine","volume":3}"#.utf8))
            #expect(unknown == 400)
            let (official, _) = try await daemon.request("POST", "/v1/live", role: "official", body: Data(#"{"kind":"routine"}"#.utf8))
            #expect(official == 403)
            let nothing = try await daemon.dalaba(["live", "stop"])
            #expect(nothing.status != 0 && nothing.stderr.contains("no live item"), "\(nothing.stderr)")

            #expect(try await daemon.dalaba(["live", "start", "--kind", "routine", "--id", "talk"]).status == 0)
            try await daemon.waitFor("a second of the talk") { DaemonHarness.position($0) >= 1.0 }
            let stopped = try await daemon.dalaba(["live", "stop"])
            #expect(stopped.stdout == "ended talk\n", "\(stopped.stderr)")
            try await daemon.waitFor("the talk to end") { DaemonHarness.isIdle($0) }
            let rows = try await Self.logRows(daemon).filter { $0["id"] as? String == "talk" }
            #expect(await daemon.stop() == 0)

            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            #expect(rows.count == 1 && rows.first?["outcome"] as? String == "completed", "\(rows)")
            #expect(Self.frames(rows.first ?? [:]) == capture.frames, "\(rows), capture \(capture.frames) frames")
        }
    }

    /// The whole path, measured from outside: jack_iodelay sends a signal into the capture side and hears it come back
    /// from the loudspeaker side through the daemon. The bound is the issue's: two periods plus the device buffer.
    @Test func captureToLoudspeakerLatencyIsWithinTwoPeriodsPlusTheBuffer() async throws {
        try await PacedDevice.with { paced in
            let daemon = try DaemonHarness(name: "live-latency")
            let loopConfig = daemon.directory.appendingPathComponent("loop.conf").path
            try """
                pcm.loop_in { type plug; slave.pcm { type jack; capture_ports { 0 "jack_delay:out" } } }
                pcm.loop_out { type plug; slave.pcm { type jack; playback_ports { 0 "jack_delay:in" } } }
                """.write(toFile: loopConfig, atomically: true, encoding: .utf8)
            var environment = paced.environment
            environment["ALSA_CONFIG_PATH"] = paced.alsaConfigPath + ":" + loopConfig
            // The jack PCMs connect to jack_iodelay's ports when they open, so it runs first.
            let iodelayLog = daemon.directory.appendingPathComponent("iodelay.log")
            FileManager.default.createFile(atPath: iodelayLog.path, contents: nil)
            let iodelay = Child()
            iodelay.executableURL = URL(fileURLWithPath: Processes.resolve("stdbuf"))
            iodelay.arguments = ["-o0", Processes.resolve("jack_iodelay")]
            iodelay.environment = Processes.childEnvironment(environment)
            iodelay.standardOutput = try FileHandle(forWritingTo: iodelayLog)
            iodelay.standardError = FileHandle.nullDevice
            try Processes.start(iodelay)
            defer { _ = Processes.terminate(iodelay, grace: 2) }

            daemon.device = "loop_out"
            daemon.deviceConfiguration = "period = 256\nbuffer = 1024"
            daemon.environment.merge(environment) { $1 }
            daemon.extraConfiguration = """
                [live]
                inputs = ["loop_in"]
                silence = 0
                """
            try await daemon.start()
            defer { daemon.stop() }
            let started = try await daemon.dalaba(["live", "start", "--kind", "routine", "--id", "talk"])
            #expect(started.status == 0, "\(started.stderr)")

            // jack_iodelay reports a round trip several times a second once it hears its signal back.
            var readings: [Int] = []
            let deadline = Date().addingTimeInterval(20)
            while readings.count < 20, Date() < deadline {
                try await Task.sleep(for: .milliseconds(200))
                let text = (try? String(contentsOf: iodelayLog, encoding: .utf8)) ?? ""
                readings = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).compactMap { line in
                    line.contains("total roundtrip latency") ? line.split(separator: " ").first.flatMap { Double($0) }.map { Int($0) } : nil
                }
            }
            _ = try await daemon.dalaba(["live", "stop"])
            #expect(readings.count >= 20, "jack_iodelay heard its signal come back through the daemon: \(readings)")
            let sorted = readings.sorted()
            let median = sorted.isEmpty ? Int.max : sorted[sorted.count / 2]
            #expect(median <= 2 * 256 + 1024, "capture → loudspeaker: median \(median) frames of \(sorted)")
        }
    }
}
