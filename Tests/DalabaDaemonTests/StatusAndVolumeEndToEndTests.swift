import DalabaCore
import DalabaTestSupport
import Foundation
import Testing

/// `dalaba status` through a real daemon: the amplifier line (the `command` backend, its switch failing), the dead-air
/// line, the live line (input, airtime, the input's level) and the volume line, in the table and as JSON; and the base
/// volume an admin sets outlasting a restart.
@Suite struct StatusAndVolumeEndToEndTests {
    @Test(.timeLimit(.minutes(5))) func statusPrintsTheAmplifierDeadAirLiveAndVolumeLinesAndTheSameAsJSON() async throws {
        let daemon = try DaemonHarness(name: "status-lines")
        let microphone = try FifoMicrophone(directory: daemon.directory, amplitude: 0.5)
        defer { microphone.stop() }
        daemon.deviceConfiguration = "period = 256\nbuffer = 1024"
        daemon.environment["ALSA_CONFIG_PATH"] = "/usr/share/alsa/alsa.conf:" + microphone.configPath
        daemon.extraConfiguration = """
            [live]
            inputs = ["\(microphone.pcm)"]
            silence = 0

            [amplifier]
            backend = "command"
            on-command = "echo 'usbrelay: no relay board' >&2; exit 3"
            off-command = "true"
            warm-up = 0.2
            """
        try await daemon.start()
        defer { daemon.stop() }

        let idle = try await daemon.dalaba(["status"], role: "operator")
        #expect(idle.status == 0, "\(idle.stderr)")
        #expect(idle.stdout.contains("\ndead air  none\n"), "\(idle.stdout)")
        #expect(idle.stdout.contains("amplifier  command: off, switched on 0 / off 0, failures 0\n"), "\(idle.stdout)")
        #expect(idle.stdout.contains("volume  base 0 dB (software gain), as configured"), "\(idle.stdout)")
        #expect(!idle.stdout.contains("\nlive "), "no live line with nothing live: \(idle.stdout)")

        #expect(try await daemon.dalaba(["live", "start", "--kind", "policy", "--id", "talk"]).status == 0)
        try await daemon.waitFor("two seconds of the talk") { (($0["live"] as? [String: Any])?["secondsOnAir"] as? Double ?? 0) >= 2 }

        let json = try await daemon.dalaba(["status", "--json"], role: "operator")
        #expect(json.status == 0, "\(json.stderr)")
        let status = try StationAPI.makeDecoder().decode(StationAPI.Status.self, from: Data(json.stdout.utf8))
        let live = try #require(status.live, "\(json.stdout)")
        #expect(live.id == "talk" && live.input == microphone.pcm, "\(live)")
        #expect(live.secondsOnAir >= 2 && live.secondsOnAir < 30, "\(live)")
        #expect(live.volume == 0)
        // A sine at half of full scale: its RMS is 6 dB + 3 dB below full scale.
        let expected = FifoMicrophone.level(amplitude: 0.5)
        let level = try #require(live.inputLevel, "\(live)")
        #expect(abs(level - expected) < 0.5, "input level \(level) dBFS, expected \(expected)")
        #expect(live.outputLostSince == nil)
        let amplifier = try #require(status.amplifier)
        #expect(amplifier.backend == "command" && amplifier.failures == 1, "\(amplifier)")
        #expect(amplifier.lastError?.contains("no relay board") == true, "\(amplifier)")
        let deadAir = try #require(status.deadAir, "on air with the amplifier off is dead air: \(json.stdout)")
        #expect(deadAir.reason.contains("amplifier is off"), "\(deadAir)")
        #expect(status.volume?.base == 0 && status.volume?.setBy == nil)
        // `--format json` says the same.
        let formatJSON = try await daemon.dalaba(["status", "--format", "json"], role: "operator")
        #expect((try? StationAPI.makeDecoder().decode(StationAPI.Status.self, from: Data(formatJSON.stdout.utf8)))?.live?.id == "talk")

        let table = try await daemon.dalaba(["status"], role: "operator")
        let lines = table.stdout.split(separator: "\n").map(String.init)
        let amplifierLine = try #require(lines.first { $0.hasPrefix("amplifier  ") }, "\(table.stdout)")
        #expect(amplifierLine.hasPrefix("amplifier  command: "), "\(amplifierLine)")
        #expect(amplifierLine.contains("failures 1 (last: ") && amplifierLine.contains("no relay board"), "\(amplifierLine)")
        let deadAirLine = try #require(lines.first { $0.hasPrefix("DEAD AIR  since ") }, "\(table.stdout)")
        #expect(deadAirLine.contains("the amplifier is off while on air"), "\(deadAirLine)")
        let liveLine = try #require(lines.first { $0.hasPrefix("live    talk  input \(microphone.pcm)  on air 0:00:0") }, "\(table.stdout)")
        // One period's RMS: 256 frames are not a whole number of the tone's cycles, so it varies a little around the tone's.
        let shown = liveLine.components(separatedBy: "  level ").last?.components(separatedBy: " dBFS").first.flatMap(Double.init)
        #expect(shown.map { abs($0 - expected) < 0.5 } == true && liveLine.hasSuffix(" dBFS  volume 0 dB"), "\(liveLine)")
        #expect(!lines.contains { $0.contains("LOUDSPEAKER GONE") })

        #expect(try await daemon.dalaba(["live", "stop"]).status == 0)
        try await daemon.waitFor("the talk to end") { DaemonHarness.isIdle($0) }
        #expect(!(try await daemon.dalaba(["status"], role: "operator").stdout.contains("\nlive ")))
    }

    /// VOX listens to the input, not to what the loudspeaker gets: at a base of -40 dB a talk at -9 dBFS plays at -49 dBFS,
    /// below the -45 dBFS silence threshold, and must not be ended as silent.
    @Test(.timeLimit(.minutes(5))) func aQuietBaseVolumeDoesNotMakeVOXHearSilence() async throws {
        let daemon = try DaemonHarness(name: "vox-quiet-base")
        let microphone = try FifoMicrophone(directory: daemon.directory, amplitude: 0.5)
        defer { microphone.stop() }
        daemon.deviceConfiguration = "period = 256\nbuffer = 1024"
        daemon.environment["ALSA_CONFIG_PATH"] = "/usr/share/alsa/alsa.conf:" + microphone.configPath
        daemon.extraConfiguration = "[live]\ninputs = [\"\(microphone.pcm)\"]\nsilence = 1\n\n[volume]\nbase = -40\n"
        try await daemon.start()
        defer { daemon.stop() }

        #expect(try await daemon.dalaba(["live", "start", "--kind", "policy", "--id", "talk"]).status == 0)
        try await daemon.waitFor("three seconds of the talk", timeout: 15) { status in
            DaemonHarness.nowPlayingID(status) != "talk" || ((status["live"] as? [String: Any])?["secondsOnAir"] as? Double ?? 0) >= 3
        }
        let status = try await daemon.status()
        #expect(DaemonHarness.nowPlayingID(status) == "talk", "still on air after three seconds, VOX at one: \(status)")
        let live = status["live"] as? [String: Any]
        #expect(live?["volume"] as? Double == -40, "\(String(describing: live))")
        let level = live?["inputLevel"] as? Double ?? -200
        #expect(abs(level - FifoMicrophone.level(amplitude: 0.5)) < 0.5, "the input's level, before the volume: \(level)")
        #expect(try await daemon.dalaba(["live", "stop"]).status == 0)
    }

    @Test(.timeLimit(.minutes(5))) func theBaseVolumeAnAdminSetsOutlastsARestartAndTheNextRowRecordsIt() async throws {
        let daemon = try DaemonHarness(name: "volume-restart")
        daemon.extraConfiguration = "[volume]\nbase = -3\n"
        try daemon.tone("notice.wav", frequency: 440, seconds: 0.2)
        try await daemon.start()
        defer { daemon.stop() }

        let configured = try await daemon.dalaba(["status"], role: "admin")
        #expect(configured.stdout.contains("volume  base -3 dB (software gain), as configured"), "\(configured.stdout)")
        let set = try await daemon.dalaba(["volume", "--base", "-14"], role: "admin")
        #expect(set.status == 0, "\(set.stderr)")
        #expect(set.stdout.contains("base -14 dB (software gain), set by admin-zhao at "), "\(set.stdout)")
        // The daemon's log says who changed it, from what, to what.
        let logLine = try #require(daemon.log.split(separator: "\n").last { $0.contains("base volume set") }, "\(daemon.log)")
        #expect(logLine.contains("by=admin-zhao") && logLine.contains("from-dB=-3.0") && logLine.contains("to-dB=-14.0"), "\(logLine)")

        #expect(await daemon.stop() == 0)
        try await daemon.start()
        let status = try await daemon.dalaba(["status"], role: "admin")
        #expect(status.stdout.contains("volume  base -14 dB (software gain), set by admin-zhao at "), "\(status.stdout)")
        let json = try await daemon.dalaba(["volume", "--format", "json"], role: "admin")
        let volume = try StationAPI.makeDecoder().decode(StationAPI.Volume.self, from: Data(json.stdout.utf8))
        #expect(volume.base == -14 && volume.setBy == "admin-zhao" && volume.setAt != nil, "\(volume)")

        #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "policy", "--id", "after-restart"]).status == 0)
        try await daemon.waitFor("the item to play") { DaemonHarness.isIdle($0) }
        try await Task.sleep(for: .milliseconds(300))
        let rows = try await LiveEndToEndTests.logRows(daemon)
        #expect(rows.count == 1 && rows.first?["id"] as? String == "after-restart", "\(rows)")
        #expect(rows.first?["volume"] as? Double == -14, "the row records the stored base: \(rows)")

        // A level in the database that the API would refuse (an edited file) is not taken: the configuration's stands.
        #expect(await daemon.stop() == 0)
        let database = daemon.stateDirectory.appendingPathComponent("station.sqlite").path
        let edit = try await Processes.run("sqlite3", [database, "UPDATE storeSetting SET value = 12.0 WHERE key = 'volume.base'"])
        #expect(edit.status == 0, "\(edit.stderr)")
        try await daemon.start()
        let edited = try await daemon.dalaba(["status"], role: "admin")
        #expect(edited.stdout.contains("volume  base -3 dB (software gain), as configured"), "\(edited.stdout)")
        #expect(daemon.log.contains("stored base volume out of range"))
    }
}
