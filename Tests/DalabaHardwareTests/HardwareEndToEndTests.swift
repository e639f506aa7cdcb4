import DalabaAudio
import DalabaCore
import DalabaTestSupport
import Foundation
import Testing

/// The loudspeaker hardware on real `dalabad` processes playing to the paced virtual card (TESTING.md): the amplifier's
/// `command` backend appending timestamps to files, volumes measured on the capture, the card's server killed and started
/// again mid-play, and the dead-air alarm.
@Suite(.serialized) struct HardwareEndToEndTests {
    /// A daemon on the paced device, capturing to `paced.raw` in its directory, loudness normalisation off so that a
    /// tone's captured level is exactly its volume.
    static func daemon(_ name: String, _ paced: PacedDevice, extra: String) throws -> (DaemonHarness, String) {
        let daemon = try DaemonHarness(name: name)
        let capture = daemon.directory.appendingPathComponent("paced.raw").path
        daemon.device = paced.pcm(capturingTo: capture)
        daemon.environment.merge(paced.environment) { $1 }
        daemon.extraConfiguration = """
            [loudness]
            enabled = false

            \(extra)
            """
        return (daemon, capture)
    }

    static func stamps(_ path: String) -> [Double] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap { Double($0) }
    }

    /// The log once it holds at least `rows` rows (the store writes them off the request path, just after the event), at
    /// most five seconds.
    static func log(_ daemon: DaemonHarness, rows: Int = 1) async throws -> [StationAPI.LogEntry] {
        let deadline = Date().addingTimeInterval(5)
        while true {
            let (_, data) = try await daemon.request("GET", "/v1/log?format=json&limit=100&order=oldest", role: "official")
            let entries = try StationAPI.makeDecoder().decode(StationAPI.LogPage.self, from: data).entries
            if entries.count >= rows || Date() > deadline { return entries }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Each row's id, start and end to the millisecond, read from the database itself (the API's times are to the second).
    static func storedTimes(_ daemon: DaemonHarness) async throws -> [(id: String, startedAt: Double?, endedAt: Double)] {
        let database = daemon.stateDirectory.appendingPathComponent("station.sqlite").path
        let result = try await Processes.run("sqlite3", ["-readonly", database, "SELECT announcementID, startedAt, endedAt FROM airtimeLog ORDER BY seq"])
        return result.stdout.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "|", omittingEmptySubsequences: false)
            guard fields.count == 3, let ended = Double(fields[2]) else { return nil }
            return (String(fields[0]), Double(fields[1]).map { $0 / 1000 }, ended / 1000)
        }
    }

    static func metrics(_ daemon: DaemonHarness) async throws -> String {
        String(decoding: try await daemon.request("GET", "/metrics", role: "operator").1, as: UTF8.self)
    }

    // MARK: Amplifier

    @Test(.timeLimit(.minutes(10))) func theAmplifierIsOnBeforeTheFirstFrameByTheWarmUpAndOffAfterTheIdleTime() async throws {
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.daemon("amp-sequence", paced, extra: "")
            let on = daemon.directory.appendingPathComponent("on").path
            let off = daemon.directory.appendingPathComponent("off").path
            daemon.extraConfiguration += """

                [amplifier]
                backend = "command"
                on-command = "date +%s.%N >> '\(on)'"
                off-command = "date +%s.%N >> '\(off)'"
                warm-up = 1.0
                idle-off = 1
                """
            try daemon.tone("a.wav", frequency: 440, seconds: 1)
            try daemon.tone("b.wav", frequency: 660, seconds: 1)
            try await daemon.start()
            defer { daemon.stop() }

            // Two items back to back: the amplifier goes on once, before the first, and stays on between them.
            let queuedA = try await daemon.dalaba(["queue", "a.wav", "--kind", "routine", "--id", "a"])
            #expect(queuedA.status == 0, "\(queuedA.stderr)")
            #expect(try await daemon.dalaba(["queue", "b.wav", "--kind", "routine", "--id", "b"]).status == 0)
            try await daemon.waitFor("both items to play", timeout: 20) { DaemonHarness.isIdle($0) }
            try await daemon.waitFor("the amplifier to switch off", timeout: 10) { status in
                (status["amplifier"] as? [String: Any])?["state"] as? String == "off"
            }
            let rows = try await Self.log(daemon, rows: 2)
            #expect(rows.map { "\($0.id):\($0.outcome.rawValue)" } == ["a:completed", "b:completed"])
            let onStamps = Self.stamps(on)
            let offStamps = Self.stamps(off)
            #expect(onStamps.count == 1, "switched on once for two back-to-back items: \(onStamps)")
            #expect(offStamps.count == 1, "switched off once, after both: \(offStamps)")
            let times = try await Self.storedTimes(daemon)
            let firstFrame = try #require(times.first?.startedAt)
            let lastEnd = try #require(times.last?.endedAt)
            // The log's times are to the millisecond.
            #expect(firstFrame - onStamps[0] >= 1.0 - 0.001, "first frame \(firstFrame - onStamps[0]) s after the switch")
            #expect(firstFrame - onStamps[0] < 1.0 + 1.0, "and not held much longer")
            #expect(offStamps[0] - lastEnd >= 1.0 - 0.05, "off \(offStamps[0] - lastEnd) s after the last item ended")
            #expect(offStamps[0] - lastEnd < 1.0 + 2.0)
            // Warm-up is not airtime: the capture holds exactly the frames logged, the tones and no leading silence.
            let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
            #expect(rows.map(\.frames) == [48_000, 48_000])
            #expect(capture.frames == 96_000, "\(capture.frames) frames captured")
            #expect(capture.runs(candidates: [440, 660]).first?.tone == 440, "the capture starts with the first tone, not silence")

            let status = try await daemon.status()
            let amplifier = try #require(status["amplifier"] as? [String: Any])
            #expect(amplifier["switchedOn"] as? Int == 1 && amplifier["switchedOff"] as? Int == 1, "\(amplifier)")
            #expect(amplifier["backend"] as? String == "command")
            let metrics = try await Self.metrics(daemon)
            #expect(metrics.contains("dalaba_amplifier_switches 2"), "\(metrics)")
            #expect(metrics.contains("dalaba_amplifier_on 0"))
        }
    }

    @Test(.timeLimit(.minutes(10))) func aFailingOnCommandIsReportedAsDeadAirAndTheItemStillPlays() async throws {
        try await PacedDevice.with { paced in
            let (daemon, _) = try Self.daemon("amp-fails", paced, extra: """
                [amplifier]
                backend = "command"
                on-command = "echo 'usbrelay: no relay board' >&2; exit 3"
                off-command = "true"
                """)
            try daemon.tone("notice.wav", frequency: 440, seconds: 1.5)
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "routine", "--id", "notice"]).status == 0)
            // On air with the amplifier off: dead air, in status and /metrics, while the item plays.
            var seen: [String: Any] = [:]
            try await daemon.waitFor("dead air while the item plays", timeout: 10) { status in
                seen = status
                return DaemonHarness.nowPlayingID(status) == "notice" && status["deadAir"] != nil
            }
            let deadAir = try #require(seen["deadAir"] as? [String: Any])
            #expect((deadAir["reason"] as? String ?? "").contains("amplifier is off"), "\(deadAir)")
            #expect((deadAir["reason"] as? String ?? "").contains("usbrelay: no relay board"), "\(deadAir)")
            #expect(try await Self.metrics(daemon).contains("dalaba_dead_air 1"))
            try await daemon.waitFor("the item to end", timeout: 10) { DaemonHarness.isIdle($0) }
            #expect(try await daemon.status()["deadAir"] == nil, "cleared with the event that ended the item")

            let rows = try await Self.log(daemon)
            #expect(rows.map { "\($0.id):\($0.outcome.rawValue):\($0.frames)" } == ["notice:completed:72000"], "the item played in full")
            let amplifier = try #require(try await daemon.status()["amplifier"] as? [String: Any])
            #expect((amplifier["lastError"] as? String ?? "").contains("amplifier.on-command"), "\(amplifier)")
            #expect((amplifier["lastError"] as? String ?? "").contains("status 3"), "\(amplifier)")
            #expect(amplifier["failures"] as? Int == 1)
            let metrics = try await Self.metrics(daemon)
            #expect(metrics.contains("dalaba_amplifier_failures_total 1"), "\(metrics)")
            #expect(metrics.contains("dalaba_dead_air 0"), "cleared once nothing should be on air")
            #expect(daemon.log.contains("amplifier switch failed; playing anyway"))
            #expect(daemon.log.contains("dead air"))
        }
    }

    // MARK: Volume

    @Test(.timeLimit(.minutes(10))) func eachKindPlaysAtItsConfiguredLevelAndTheLogSaysSo() async throws {
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.daemon("volume", paced, extra: """
                [volume]
                base = -3
                routine = -9
                policy = -3
                emergency-2 = -2
                """)
            // Whole cycles in a 10 ms block, so a block of nothing but the tone is recognised as such (and the signals play at
            // the item's volume too, so a block of theirs that matched would not change the level).
            try daemon.tone("alert.wav", frequency: 1_300, seconds: 1)
            try daemon.tone("notice.wav", frequency: 700, seconds: 1)
            try daemon.tone("music.wav", frequency: 500, seconds: 1)
            try daemon.tone("alarm.wav", frequency: 1_700, seconds: 1)
            try await daemon.start()
            defer { daemon.stop() }

            // In rank order, so none preempts another: emergency 1 (full), emergency 2 (-2), policy (-3 - 3), routine (-3 - 9).
            #expect(try await daemon.dalaba(["queue", "alert.wav", "--kind", "emergency", "--level", "1", "--id", "alert"]).status == 0)
            #expect(try await daemon.dalaba(["queue", "alarm.wav", "--kind", "emergency", "--level", "2", "--id", "alarm"]).status == 0)
            #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "policy", "--id", "notice"]).status == 0)
            #expect(try await daemon.dalaba(["queue", "music.wav", "--kind", "routine", "--id", "music"]).status == 0)
            try await daemon.waitFor("everything to play", timeout: 40) { DaemonHarness.isIdle($0) }

            let expected: [(id: String, frequency: Double, volume: Double)] = [
                ("alert", 1_300, 0), ("alarm", 1_700, -2), ("notice", 700, -6), ("music", 500, -12),
            ]
            let rows = try await Self.log(daemon, rows: 4)
            #expect(rows.map(\.id) == expected.map(\.id))
            for (row, want) in zip(rows, expected) {
                #expect(row.volume == want.volume, "\(row.id) logged at \(row.volume.map { "\($0)" } ?? "nil") dB")
            }
            let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
            let block = 480
            // The source tones are sines of amplitude 0.5: RMS 0.5/√2.
            let reference = Float(0.5) / Float(2).squareRoot()
            for want in expected {
                var levels: [Float] = []
                var start = 0
                while start + block <= capture.frames {
                    let samples = capture.channel(0, frames: start..<(start + block))
                    if ToneAnalysis.share(samples, rate: 48_000, frequency: want.frequency) > 0.99 { levels.append(ToneAnalysis.rms(samples)) }
                    start += block
                }
                #expect(levels.count >= 80, "\(want.id): \(levels.count) blocks of its tone")
                let mean = levels.reduce(0, +) / Float(max(levels.count, 1))
                let measured = 20 * log10(Double(mean / reference))
                #expect(abs(measured - want.volume) < 0.5, "\(want.id): measured \(measured) dB, configured \(want.volume) dB")
            }
            let status = try await daemon.status()
            let volume = try #require(status["volume"] as? [String: Any])
            #expect(volume["path"] as? String == "software" && volume["base"] as? Double == -3, "\(volume)")
            let verify = try await daemon.dalaba(["log", "verify"], role: "official")
            #expect(verify.status == 0, "the volume is inside the chain and verifies: \(verify.stdout)\(verify.stderr)")
        }
    }

    @Test(.enabled(if: Mixer.anyCardPresent, "no sound card on this machine: the ALSA mixer path needs one (the software path is tested)"))
    func theMixerPathSetsTheElementsLevel() async throws {
        // Where a card exists, its first playback element takes a level and reads it back.
        let result = try await Processes.run("amixer", ["-c", "0", "scontrols"])
        let element = try #require(result.stdout.split(separator: "'").dropFirst().first.map(String.init), "no simple control on card 0")
        let mixer = try Mixer(.init(device: "hw:0", element: element))
        let before = try mixer.playbackDecibels()
        defer { try? mixer.setPlayback(decibels: before) }
        try mixer.setPlayback(decibels: -6)
        #expect(abs(try mixer.playbackDecibels() - -6) <= 1.5, "elements step in whole or half dB")
    }

    @Test func aMixerElementThatDoesNotExistIsAClearError() {
        #expect {
            _ = try Mixer(.init(device: "hw:CARD=NoSuchCard", element: "Speaker"))
        } throws: { "\($0)".contains("hw:CARD=NoSuchCard") && "\($0)".contains("mixer") }
    }

    // MARK: A card that comes and goes

    @Test(.timeLimit(.minutes(10))) func aCardThatVanishesMidPlayIsDeadAirThenReopenedAndTheItemResumesWithOneFailedRow() async throws {
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.daemon("card", paced, extra: "")
            try daemon.tone("music.wav", frequency: 440, seconds: 4)
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["queue", "music.wav", "--kind", "routine", "--id", "music"]).status == 0)
            try await daemon.waitFor("a second of music") { DaemonHarness.position($0) >= 1 }
            let killedAt = Date()
            kill(paced.jackdPID, SIGKILL)
            // The device takes no data: dead air at once (within the buffer and half a second, and a poll of status).
            try await daemon.waitFor("dead air", timeout: 5) { $0["deadAir"] != nil }
            #expect(Date().timeIntervalSince(killedAt) < 1.5, "raised \(Date().timeIntervalSince(killedAt)) s after the card went")
            #expect(try await Self.metrics(daemon).contains("dalaba_dead_air 1"))
            try await daemon.waitFor("the device to show as down", timeout: 10) { status in
                (status["device"] as? [String: Any])?["up"] as? Bool == false
            }
            // Down for a few retries (one a second), then the card comes back under the same name.
            try await Task.sleep(for: .seconds(3))
            let down = try await daemon.status()
            #expect(down["deadAir"] != nil, "still dead air while the card is gone: \(down)")
            #expect(DaemonHarness.queueIDs(down) + [DaemonHarness.nowPlayingID(down)].compactMap { $0 } == ["music"], "kept, not lost")
            let jackd = Child()
            jackd.executableURL = URL(fileURLWithPath: Processes.resolve("jackd"))
            jackd.arguments = ["--no-realtime", "-n", paced.serverName, "-d", "dummy", "-r", "48000", "-p", "\(paced.jackPeriod)"]
            jackd.standardOutput = FileHandle.nullDevice
            jackd.standardError = FileHandle.nullDevice
            try Processes.start(jackd)
            defer { Processes.terminate(jackd, grace: 5) }
            _ = try await Processes.run("jack_wait", ["-s", paced.serverName, "-w", "-t", "10"], timeout: 20)

            try await daemon.waitFor("the music to finish after the card came back", timeout: 30) { DaemonHarness.isIdle($0) }
            let rows = try await Self.log(daemon, rows: 2)
            let outcomes = rows.map(\.outcome.rawValue)
            #expect(outcomes.filter { $0 == "failed" }.count == 1, "one failed row for the item, not one per retry: \(outcomes)")
            #expect(outcomes == ["failed", "completed"], "\(outcomes)")
            // Resumed where the device stopped taking it (routine items resume): the two plays add up to the file.
            #expect(rows.map(\.frames).reduce(0, +) == 4 * 48_000, "\(rows.map(\.frames))")
            let up = try await daemon.status()
            #expect((up["device"] as? [String: Any])?["up"] as? Bool == true, "\(up)")
            #expect(up["deadAir"] == nil)
            #expect(try await Self.metrics(daemon).contains("dalaba_dead_air 0"))
            #expect(daemon.log.contains("dead air") && daemon.log.contains("on air again"))
            // What came after the card returned is in the capture (the file plugin reopened it): the resumed tone.
            let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
            #expect(capture.runs(candidates: [440]).contains { $0.tone == 440 && $0.frames >= 48_000 })
        }
    }
}

/// `dalaba volume` and `/v1/volume`: the admin sets the base level, the next item plays and is logged at it, emergencies
/// keep theirs; nobody else may set it, and a bad body is refused naming `base`.
@Suite struct VolumeAPITests {
    @Test(.timeLimit(.minutes(5))) func theAdminSetsTheBaseLevelAndTheNextRowsRecordIt() async throws {
        let daemon = try DaemonHarness(name: "volume-api")
        daemon.extraConfiguration = "[volume]\npolicy = -2\n"
        try daemon.tone("notice.wav", frequency: 440, seconds: 0.2)
        try await daemon.start()
        defer { daemon.stop() }

        let set = try await daemon.dalaba(["volume", "--base", "-10"], role: "admin")
        #expect(set.status == 0 && set.stdout.contains("base -10 dB (software gain)"), "\(set.stdout)\(set.stderr)")
        let refused = try await daemon.dalaba(["volume", "--base", "0"], role: "operator")
        #expect(refused.status != 0, "an operator may not set the volume")
        #expect(try await daemon.dalaba(["volume"], role: "official").status != 0, "nor read it: admin only")
        for body in [#"{"base":"loud"}"#, #"{"base":-6,"mixer":"x"}"#, #"{"base":6}"#, #"{"base":true}"#, "[]", "{"] {
            let (status, answer) = try await daemon.request("POST", "/v1/volume", role: "admin", body: Data(body.utf8))
            #expect(status == 400, "\(body): \(status)")
            #expect(String(decoding: answer, as: UTF8.self).contains("\"field\":\"base\""), "\(body): \(String(decoding: answer, as: UTF8.self))")
        }
        #expect((try await daemon.status()["volume"] as? [String: Any])?["base"] as? Double == -10, "the refused requests changed nothing")

        #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "policy", "--id", "notice"]).status == 0)
        #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "emergency", "--level", "3", "--id", "alert"]).status == 0)
        try await daemon.waitFor("both items to play") { DaemonHarness.isIdle($0) }
        let rows = try await HardwareEndToEndTests.log(daemon, rows: 2)
        #expect(Dictionary(uniqueKeysWithValues: rows.map { ($0.id, $0.volume) }) == ["notice": -12, "alert": 0], "\(rows.map { ($0.id, $0.volume) })")
    }
}
