import DalabaCore
import DalabaTestSupport
import Foundation
import Testing

/// A stand-in microphone on a clock of its own, apart from the paced card's jackd: ALSA's file plugin reads its capture
/// data from a FIFO (`infile`) over the `null` PCM, and a small feeder process writes a tone into the FIFO at real time,
/// one period at a time (a write of one period is atomic, so every read of one period gets a whole one). Killing the card's
/// jackd then takes the loudspeaker away and leaves the microphone talking, like an unplugged USB card beside a desk mic.
final class FifoMicrophone: @unchecked Sendable {
    /// The ALSA configuration that defines `fifo_input:FILE=…`; add it to `ALSA_CONFIG_PATH`.
    static let configuration = """
        pcm.fifo_input {
            @args [ FILE ]
            @args.FILE { type string }
            type file
            slave.pcm null
            file "/dev/null"
            infile $FILE
            format "raw"
        }

        """

    /// Writes S16 stereo frames of a tone at `amplitude`, one period every period's time; a period the reader has no room for
    /// is dropped (a microphone does not wait), and a reader that goes away is waited for again.
    static let feeder = """
        import math, os, struct, sys, time
        path, freq, amplitude, period = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
        rate = 48000
        samples = (int(round(math.sin(2 * math.pi * freq * i / rate) * amplitude * 32767)) for i in range(rate))
        second = b"".join(struct.pack("<hh", v, v) for v in samples)
        while True:
            fd = os.open(path, os.O_WRONLY)
            os.set_blocking(fd, False)
            start, n = time.monotonic(), 0
            try:
                while True:
                    offset = (n % rate) * 4
                    chunk = (second + second)[offset:offset + period * 4]
                    try:
                        os.write(fd, chunk)
                    except BlockingIOError:
                        pass
                    n += period
                    delay = start + n / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
            except BrokenPipeError:
                os.close(fd)
        """

    let directory: URL
    let fifo: String
    let configPath: String
    private let process: Child

    /// Starts the feeder of a `frequency` Hz tone at `amplitude` (of full scale) in `period`-frame writes.
    init(directory: URL, frequency: Double = 440, amplitude: Double = 0.5, period: Int = 256) throws {
        self.directory = directory
        fifo = directory.appendingPathComponent("microphone.fifo").path
        configPath = directory.appendingPathComponent("fifo.conf").path
        try Self.configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        guard mkfifo(fifo, 0o600) == 0 else { throw HarnessError.didNotStart("mkfifo \(fifo): \(String(cString: strerror(errno)))") }
        let script = directory.appendingPathComponent("feeder.py").path
        try Self.feeder.write(toFile: script, atomically: true, encoding: .utf8)
        process = Child()
        process.executableURL = URL(fileURLWithPath: Processes.resolve("python3"))
        process.arguments = [script, fifo, "\(frequency)", "\(amplitude)", "\(period)"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try Processes.start(process)
    }

    /// The capture PCM a daemon's `[live] inputs` names.
    var pcm: String { "fifo_input:FILE=\(fifo)" }

    /// The RMS level of the tone in dBFS (a sine's RMS is its amplitude over √2).
    static func level(amplitude: Double) -> Double { 20 * log10(amplitude / 2.0.squareRoot()) }

    func stop() { _ = Processes.terminate(process, grace: 2) }

    deinit { stop() }
}

/// Live items when things fail (issue 12): the loudspeaker vanishing under a live talk and coming back, or staying gone;
/// the capture input vanishing; a full disk. Real `dalabad` processes, the paced card (jackd killed and started again),
/// and the FIFO microphone above, whose clock is its own.
///
/// What is decided and tested: a live item has no position, and its speaker goes on talking, so when its loudspeaker
/// vanishes it stays on air: the input is still read, the device is tried again by name once a second, the fault shows
/// (status `live.outputLostSince`, device down, dead air) and the talk goes on the moment the device is back, with ONE
/// log row for the item (its frames are those heard; its error notes the loss). Gone for longer than `[live] wait`, the
/// item ends `failed` with the frames heard and is not queued again.
@Suite(.serialized) struct LiveFaultEndToEndTests {
    /// A daemon on the paced card, capturing to `out.raw`, with the FIFO microphone as its live input.
    static func daemon(_ name: String, paced: PacedDevice, wait: Int? = nil) throws -> (DaemonHarness, FifoMicrophone, String) {
        let daemon = try DaemonHarness(name: name)
        let microphone = try FifoMicrophone(directory: daemon.directory)
        let capturePath = daemon.directory.appendingPathComponent("out.raw").path
        daemon.device = paced.pcm(capturingTo: capturePath)
        daemon.deviceConfiguration = "period = 256\nbuffer = 1024"
        daemon.environment.merge(paced.environment) { $1 }
        daemon.environment["ALSA_CONFIG_PATH"] = paced.alsaConfigPath + ":" + microphone.configPath
        daemon.extraConfiguration = """
            [live]
            inputs = ["\(microphone.pcm)"]
            silence = 0
            \(wait.map { "wait = \($0)" } ?? "")
            """
        return (daemon, microphone, capturePath)
    }

    static func live(_ status: [String: Any]) -> [String: Any]? { status["live"] as? [String: Any] }

    static func rows(_ daemon: DaemonHarness, id: String) async throws -> [[String: Any]] {
        try await LiveEndToEndTests.logRows(daemon).filter { $0["id"] as? String == id }
    }

    /// The card's jackd again, under the same server name, as when a USB card is plugged back in.
    static func restartJackd(_ paced: PacedDevice) async throws -> Child {
        let jackd = Child()
        jackd.executableURL = URL(fileURLWithPath: Processes.resolve("jackd"))
        jackd.arguments = ["--no-realtime", "-n", paced.serverName, "-d", "dummy", "-r", "48000", "-p", "\(paced.jackPeriod)"]
        jackd.standardOutput = FileHandle.nullDevice
        jackd.standardError = FileHandle.nullDevice
        try Processes.start(jackd)
        _ = try await Processes.run("jack_wait", ["-s", paced.serverName, "-w", "-t", "10"], timeout: 20)
        return jackd
    }

    // The limit includes the wait for the one paced card, which other suites hold in turn.
    @Test(.timeLimit(.minutes(10))) func theLoudspeakerVanishingUnderALiveTalkShowsAndTheTalkGoesOnWhenItIsBackWithOneRow() async throws {
        try await PacedDevice.with { paced in
            let (daemon, microphone, capturePath) = try Self.daemon("live-output-gone", paced: paced)
            defer { microphone.stop() }
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["live", "start", "--kind", "policy", "--id", "talk"]).status == 0)
            try await daemon.waitFor("a second of the talk") { (Self.live($0)?["secondsOnAir"] as? Double ?? 0) >= 1 }
            kill(paced.jackdPID, SIGKILL)
            try await daemon.waitFor("the loss to show", timeout: 10) { status in
                Self.live(status)?["outputLostSince"] != nil && (status["device"] as? [String: Any])?["up"] as? Bool == false
                    && ((status["deadAir"] as? [String: Any])?["reason"] as? String ?? "").contains("loudspeaker is gone")
            }
            let lost = try await daemon.status()
            let before = try #require(Self.live(lost)?["secondsOnAir"] as? Double)
            // Still the item on air, listening: not failed, not queued again, no row yet.
            #expect(DaemonHarness.nowPlayingID(lost) == "talk" && DaemonHarness.queueIDs(lost).isEmpty, "\(lost)")
            let reason = (lost["deadAir"] as? [String: Any])?["reason"] as? String ?? ""
            #expect(reason.contains("its input is still heard") && reason.contains("paced_capture"), "the dead air names the loss: \(reason)")
            let table = try await daemon.dalaba(["status"], role: "admin")
            #expect(table.stdout.contains("LOUDSPEAKER GONE"), "\(table.stdout)")
            let metrics = String(decoding: try await daemon.request("GET", "/metrics", role: "operator").1, as: UTF8.self)
            #expect(metrics.contains("dalaba_live_output_lost 1") && metrics.contains("dalaba_live_on_air 1"), "\(metrics)")
            #expect(table.stdout.contains("DEAD AIR"), "\(table.stdout)")
            try await Task.sleep(for: .seconds(2))
            #expect(try await Self.rows(daemon, id: "talk").isEmpty, "no row per retry while the device is gone")
            #expect(DaemonHarness.nowPlayingID(try await daemon.status()) == "talk")

            let jackd = try await Self.restartJackd(paced)
            defer { _ = Processes.terminate(jackd, grace: 5) }
            try await daemon.waitFor("the talk to go on", timeout: 10) { status in
                Self.live(status)?["outputLostSince"] == nil && (Self.live(status)?["secondsOnAir"] as? Double ?? 0) >= before + 1
                    && status["deadAir"] == nil
            }
            let back = String(decoding: try await daemon.request("GET", "/metrics", role: "operator").1, as: UTF8.self)
            #expect(back.contains("dalaba_live_output_lost 0") && back.contains("dalaba_live_on_air 1"), "\(back)")
            let stopped = try await daemon.dalaba(["live", "stop"])
            #expect(stopped.status == 0, "\(stopped.stderr)")
            try await daemon.waitFor("the talk to end") { DaemonHarness.isIdle($0) }
            try await Task.sleep(for: .milliseconds(300))
            let rows = try await Self.rows(daemon, id: "talk")
            #expect(await daemon.stop() == 0)

            #expect(rows.count == 1, "one row for the talk: \(rows)")
            let row = try #require(rows.first)
            #expect(row["outcome"] as? String == "completed", "\(row)")
            #expect((row["error"] as? String ?? "").contains("the loudspeaker was gone"), "\(row)")
            // The file plugin opened the capture afresh when the card came back: it holds what was heard after the return,
            // which the row counts together with what was heard before the loss.
            let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
            #expect(capture.runs(candidates: [440]).contains { $0.tone == 440 && $0.frames >= 48_000 }, "the talk after the return")
            let frames = LiveEndToEndTests.frames(row)
            #expect(frames >= capture.frames + 48_000, "logged \(frames) frames: before the loss and the \(capture.frames) after")
            #expect(daemon.log.contains("device back under a live item"))
        }
    }

    @Test(.timeLimit(.minutes(10))) func aLoudspeakerGoneLongerThanTheLiveWaitEndsTheTalkFailedOnceAndItIsNotReplayed() async throws {
        try await PacedDevice.with { paced in
            let (daemon, microphone, _) = try Self.daemon("live-output-wait", paced: paced, wait: 2)
            defer { microphone.stop() }
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["live", "start", "--kind", "routine", "--id", "talk"]).status == 0)
            try await daemon.waitFor("a second of the talk") { (Self.live($0)?["secondsOnAir"] as? Double ?? 0) >= 1 }
            let killedAt = Date()
            kill(paced.jackdPID, SIGKILL)
            try await daemon.waitFor("the talk to end", timeout: 15) { DaemonHarness.isIdle($0) }
            // Two seconds of the poll's own timeout to notice the loss, then the two seconds of [live] wait.
            #expect(Date().timeIntervalSince(killedAt) >= 2, "ended only after [live] wait")
            let jackd = try await Self.restartJackd(paced)
            defer { _ = Processes.terminate(jackd, grace: 5) }
            try await daemon.waitFor("the device to be up again", timeout: 10) { ($0["device"] as? [String: Any])?["up"] as? Bool == true }
            try await Task.sleep(for: .milliseconds(500))
            let rows = try await Self.rows(daemon, id: "talk")
            #expect(DaemonHarness.isIdle(try await daemon.status()), "not queued again: a voice cannot be replayed")
            #expect(rows.count == 1, "\(rows)")
            #expect(rows.first?["outcome"] as? String == "failed", "\(rows)")
            #expect((rows.first?["error"] as? String ?? "").contains("[live] wait"), "\(rows)")
            #expect(LiveEndToEndTests.frames(rows.first ?? [:]) >= 48_000, "the frames heard before the loss: \(rows)")
        }
    }

    /// The capture input gone (its jackd killed: the paced input records nothing more) while the loudspeaker works (a
    /// file): the talk ends failed, naming the input, within the capture's poll timeout, and the queue plays on.
    @Test(.timeLimit(.minutes(10))) func theCaptureInputVanishingEndsTheTalkWithItsReasonAndTheQueuePlaysOn() async throws {
        try await PacedDevice.with { paced in
            let (daemon, _, _) = try LiveEndToEndTests.liveDaemon("live-input-gone", paced: paced, inputSeconds: 30, silence: 0)
            let outputPath = daemon.directory.appendingPathComponent("out.raw").path
            daemon.device = "file:FILE=\(outputPath),FORMAT=raw"
            try daemon.tone("notice.wav", frequency: 660, seconds: 1)
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["live", "start", "--kind", "policy", "--id", "talk"]).status == 0)
            try await daemon.waitFor("a second of the talk") { (Self.live($0)?["secondsOnAir"] as? Double ?? 0) >= 1 }
            #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "routine", "--id", "after"]).status == 0)
            let killedAt = Date()
            kill(paced.jackdPID, SIGKILL)
            try await daemon.waitFor("the talk to end", timeout: 10) { DaemonHarness.nowPlayingID($0) != "talk" }
            let ended = Date().timeIntervalSince(killedAt)
            #expect(ended < 4.5, "ended \(ended) s after the input went (the capture poll gives up after 2 s)")
            try await daemon.waitFor("the queue to play on", timeout: 10) { DaemonHarness.isIdle($0) }
            try await Task.sleep(for: .milliseconds(300))
            let rows = try await LiveEndToEndTests.logRows(daemon)
            let talk = rows.filter { $0["id"] as? String == "talk" }
            #expect(talk.count == 1 && talk.first?["outcome"] as? String == "failed", "\(talk)")
            let reason = talk.first?["error"] as? String ?? ""
            #expect(reason.contains("live input") && reason.contains("paced_input"), "the reason names the input: \(reason)")
            #expect(rows.filter { $0["id"] as? String == "after" }.map { $0["outcome"] as? String } == ["completed"], "\(rows)")
        }
    }

    /// The state directory fills during a live talk: the talk's row cannot be written, which status says (store fault); the
    /// talk still ends when asked, nothing queued is lost, and the row is written once there is room again.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"), .timeLimit(.minutes(3)))
    func aFullDiskDuringALiveTalkIsAStoreFaultAndLosesNothingQueued() async throws {
        let daemon = try DaemonHarness(name: "live-full-disk")
        let microphone = try FifoMicrophone(directory: daemon.directory)
        defer { microphone.stop() }
        daemon.deviceConfiguration = "period = 256\nbuffer = 1024"
        daemon.environment["ALSA_CONFIG_PATH"] = "/usr/share/alsa/alsa.conf:" + microphone.configPath
        daemon.extraConfiguration = "[live]\ninputs = [\"\(microphone.pcm)\"]\nsilence = 0\n"
        try FileManager.default.createDirectory(at: daemon.stateDirectory, withIntermediateDirectories: true)
        let mount = try await Processes.run("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", daemon.stateDirectory.path])
        try #require(mount.status == 0, "\(mount.stderr)")
        defer { _ = try? Processes.run("umount", ["-l", daemon.stateDirectory.path]) }
        try daemon.tone("notice.wav", frequency: 440, seconds: 0.2)
        try await daemon.start()
        defer { daemon.stop() }

        let notBefore = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3_600))
        let held = #"{"audio":"notice.wav","kind":"policy","id":"held","notBefore":"\#(notBefore)"}"#
        #expect(try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(held.utf8)).0 == 201)
        #expect(try await daemon.dalaba(["live", "start", "--kind", "policy", "--id", "talk"]).status == 0)
        try await daemon.waitFor("a second of the talk") { (Self.live($0)?["secondsOnAir"] as? Double ?? 0) >= 1 }
        let filler = daemon.stateDirectory.appendingPathComponent("filler")
        StationFaultsEndToEndTests.fill(filler.path)

        // A full disk refuses a new base volume too, and leaves the level as it was.
        let (refused, body) = try await daemon.request("POST", "/v1/volume", role: "admin", body: Data(#"{"base":-20}"#.utf8))
        #expect(refused == 507, "\(String(decoding: body, as: UTF8.self))")
        #expect((try await daemon.status()["volume"] as? [String: Any])?["base"] as? Double == 0)

        #expect(try await daemon.dalaba(["live", "stop"]).status == 0)
        try await daemon.waitFor("the store fault to show", timeout: 10) { status in
            status["storeFault"] is String && DaemonHarness.nowPlayingID(status) == nil
        }
        let faulty = try await daemon.status()
        #expect(DaemonHarness.queueIDs(faulty) == ["held"], "nothing queued is lost: \(faulty)")
        let table = try await daemon.dalaba(["status"], role: "admin")
        #expect(table.stdout.contains("STORE FAULT"), "\(table.stdout)")

        try FileManager.default.removeItem(at: filler)
        try await daemon.waitFor("the store to recover", timeout: 10) { !($0["storeFault"] is String) }
        #expect(await daemon.stop() == 0)
        try await daemon.start()
        let rows = try await LiveEndToEndTests.logRows(daemon)
        #expect(rows.filter { $0["id"] as? String == "talk" }.map { $0["outcome"] as? String } == ["completed"], "\(rows)")
        #expect(DaemonHarness.queueIDs(try await daemon.status()) == ["held"])
        let verify = try await daemon.dalaba(["log", "verify"], role: "official")
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }
}
