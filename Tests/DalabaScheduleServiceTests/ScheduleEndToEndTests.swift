import DalabaCore
import DalabaStore
import DalabaTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real `dalabad` on the paced virtual card plays a scheduled slot at its time, measured on the capture.
///
/// How capture frames are tied to the wall clock: the capture holds only frames handed to the device, so an idle device leaves
/// no trace of time passing. A routine item (440 Hz) is therefore queued three seconds before the slot and keeps the device
/// busy; the slot's policy item (its chime at 1000 Hz, then 1500 Hz) preempts it. From the routine item's first frame on, the
/// player hands frames at the device's pace, one buffer ahead of what the card has consumed, so the chime's onset frame `f`
/// in the capture happened at `startedAt(routine) + (f − buffer) / rate` on the wall clock, with `startedAt` from the airtime
/// log. That instant, and the log's own `startedAt` of the slot's play, must both lie within one period of the slot time.
@Suite(.serialized) struct ScheduleEndToEndTests {
    static let candidates: [Double] = [440, 1000, 1500]

    @Test func aSlotAFewSecondsAheadPlaysOnTheCaptureAtItsTime() async throws {
        try await PacedDevice.with { paced in try await slotPlaysAtItsTime(on: paced) }
    }

    func slotPlaysAtItsTime(on paced: PacedDevice) async throws {
        let dir = try Processes.temporaryDirectory("schedule-e2e")
        let audio = dir.appendingPathComponent("Audio")
        let schedules = dir.appendingPathComponent("Schedules")
        let state = dir.appendingPathComponent("state")
        for folder in [audio, schedules, state] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        try writeTone(audio.appendingPathComponent("keep.wav").path, frequency: 440, seconds: 20)
        try writeTone(audio.appendingPathComponent("chime.wav").path, frequency: 1000, seconds: 0.3)
        try writeTone(audio.appendingPathComponent("slot.wav").path, frequency: 1500, seconds: 1)
        let capturePath = dir.appendingPathComponent("paced.raw").path
        let port = Int.random(in: 20_000..<40_000)
        let token = "schedule-e2e-token-\(UUID().uuidString.prefix(8))"
        let config = dir.appendingPathComponent("dalaba.toml")
        try """
        [device]
        name = "\(paced.pcm(capturingTo: capturePath))"
        # 20 ms periods: the test runs beside every other suite, and ±1 period must hold on a loaded machine too.
        period = 960
        buffer = 2880
        [station]
        state-directory = "\(state.path)"
        audio-directory = "\(audio.path)"
        schedules-directory = "\(schedules.path)"
        [http]
        listen = "127.0.0.1:\(port)"
        [[tokens]]
        name = "test"
        token = "\(token)"
        role = "admin"
        """.write(to: config, atomically: true, encoding: .utf8)

        // Schedules have minute resolution: the slot is the next whole minute at least eight seconds away.
        let now = Date().timeIntervalSince1970
        var slotSeconds = (now / 60).rounded(.up) * 60
        if slotSeconds - now < 8 { slotSeconds += 60 }
        let slot = Date(timeIntervalSince1970: slotSeconds)
        let local = Self.shanghai(slot)
        try """
        programmes:
          - name: e2e-notice
            title: 端到端测试通知
            kind: policy
            audio: slot.wav
            times: ['\(local)']
            days: daily
        """.write(to: schedules.appendingPathComponent("e2e.yaml"), atomically: true, encoding: .utf8)

        let logPath = dir.appendingPathComponent("dalabad.log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: Processes.resolve("dalabad"))
        daemon.arguments = ["--config", config.path]
        daemon.environment = ProcessInfo.processInfo.environment.merging(paced.environment) { $1 }
        daemon.standardError = FileHandle(forWritingAtPath: logPath)
        daemon.standardOutput = FileHandle.nullDevice
        try daemon.run()
        defer { if daemon.isRunning { daemon.terminate() } }

        let server = ["--server", "http://127.0.0.1:\(port)", "--token", token]
        try await waitFor(timeout: 15) { try Processes.run("dalaba", ["status"] + server).status == 0 }
        let schedule = try Processes.run("dalaba", ["status", "--format", "json"] + server)
        #expect(
            schedule.stdout.contains("\"scheduleProblems\" : [\n\n  ]") || schedule.stdout.contains("\"scheduleProblems\":[]"), "\(schedule.stdout)")

        try await Self.sleep(until: slot.addingTimeInterval(-3))
        let keep = try Processes.run("dalaba", ["queue", "keep.wav", "--kind", "routine", "--id", "keep"] + server)
        #expect(keep.status == 0, "\(keep.stderr)")
        try await Self.sleep(until: slot.addingTimeInterval(2.5))
        daemon.terminate()
        try await waitFor(timeout: 10) { !daemon.isRunning }
        #expect(daemon.terminationStatus == 0)
        let daemonLog = try String(contentsOfFile: logPath, encoding: .utf8)

        let store = try StationStore.open(path: state.appendingPathComponent("station.sqlite").path)
        let rows = try store.log(LogQuery(order: .oldestFirst)).map(\.record)
        let routine = try #require(rows.first { $0.announcementID == "keep" }, "\(rows)")
        let played = try #require(rows.first { $0.announcementID.hasPrefix("sched:e2e-notice:") }, "\(rows)\n\(daemonLog)")
        #expect(played.outcome == .completed && played.scheduledAt == slot)
        let routineStart = try #require(routine.startedAt)
        let slotStart = try #require(played.startedAt)

        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        // A single 10 ms block that straddles a switch holds both neighbours and reads as no tone; longer silence still shows.
        let runs = capture.runs(candidates: Self.candidates).filter { $0.frames >= 480 && ($0.tone != nil || $0.frames > 480) }
        #expect(runs.map(\.tone) == [440, 1000, 1500, 440], "\(runs)")
        let routineOnset = try #require(capture.onset(of: 440, candidates: Self.candidates, resolution: 24))
        let chimeOnset = try #require(capture.onset(of: 1000, candidates: Self.candidates, from: routineOnset, resolution: 24))
        // To a millisecond: the onset finder needs a few frames of pure tone, and a switch block mixes both neighbours.
        #expect(abs(chimeOnset - routineOnset - Int(routine.frames)) <= 48, "the capture and the log agree on where the routine item stopped")

        let rate = 48_000.0
        let period = Double(Self.deviceSetting("period", daemonLog) ?? 960) / rate
        let buffer = Self.deviceSetting("buffer", daemonLog) ?? 2_880
        let heardAt = routineStart.addingTimeInterval((Double(chimeOnset - routineOnset) - Double(buffer)) / rate)
        let captureLateness = heardAt.timeIntervalSince(slot)
        let logLateness = slotStart.timeIntervalSince(slot)
        print(
            String(
                format: "schedule e2e: slot %@, on the capture %+.1f ms, in the log %+.1f ms (period %.1f ms, buffer %d frames)",
                "\(slot)", captureLateness * 1000, logLateness * 1000, period * 1000, buffer))
        #expect(abs(captureLateness) <= period, "capture: \(captureLateness * 1000) ms after the slot")
        #expect(logLateness >= 0 && logLateness <= period, "log: \(logLateness * 1000) ms after the slot")
        #expect(daemonLog.contains("schedule slot queued"))
    }

    @Test func sighupReloadsWithoutStoppingAndTheAPIListsTheNextSlots() async throws {
        let dir = try Processes.temporaryDirectory("schedule-sighup")
        let audio = dir.appendingPathComponent("Audio")
        let schedules = dir.appendingPathComponent("Schedules")
        for folder in [audio, schedules] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        // The file names audio that is not there yet. Adding it later changes nothing the file watch looks at, so only a
        // SIGHUP can make the daemon read the schedule again.
        try """
        programmes:
          - name: night-music
            title: 夜间音乐
            kind: routine
            audio: music.wav
            times: ['03:00', '03:30']
            days: daily
        """.write(to: schedules.appendingPathComponent("night.yaml"), atomically: true, encoding: .utf8)
        let port = Int.random(in: 20_000..<40_000)
        let token = "schedule-hup-token-\(UUID().uuidString.prefix(8))"
        let config = dir.appendingPathComponent("dalaba.toml")
        try """
        [device]
        name = "null"
        [station]
        state-directory = "\(dir.appendingPathComponent("state").path)"
        audio-directory = "\(audio.path)"
        schedules-directory = "\(schedules.path)"
        [http]
        listen = "127.0.0.1:\(port)"
        [[tokens]]
        name = "test"
        token = "\(token)"
        role = "admin"
        """.write(to: config, atomically: true, encoding: .utf8)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: Processes.resolve("dalabad"))
        daemon.arguments = ["--config", config.path]
        daemon.standardError = FileHandle.nullDevice
        daemon.standardOutput = FileHandle.nullDevice
        try daemon.run()
        defer { if daemon.isRunning { daemon.terminate() } }

        let server = ["--server", "http://127.0.0.1:\(port)", "--token", token, "--format", "json"]
        func problems() throws -> [String] {
            let result = try Processes.run("dalaba", ["status"] + server)
            guard result.status == 0 else { return ["status failed: \(result.stderr)"] }
            struct Status: Decodable { var scheduleProblems: [String] }
            return try JSONDecoder().decode(Status.self, from: Data(result.stdout.utf8)).scheduleProblems
        }
        try await waitFor(timeout: 15) { try Processes.run("dalaba", ["status"] + server).status == 0 }
        let before = try problems()
        #expect(
            before.count == 1 && before.first?.hasSuffix("night.yaml:5: audio: 'music.wav' (\(audio.path)/music.wav) does not exist") == true,
            "\(before)")

        try writeTone(audio.appendingPathComponent("music.wav").path, frequency: 440, seconds: 0.1)
        try await Task.sleep(for: .seconds(1.5))
        #expect(try problems().count == 1, "the file watch alone does not see new audio")
        kill(daemon.processIdentifier, SIGHUP)
        try await waitFor(timeout: 5) { try problems().isEmpty }
        #expect(daemon.isRunning, "SIGHUP reloads; it does not end the daemon")

        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/v1/schedule/next?count=3")!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (data, response) = try await URLSession.shared.data(for: request)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        struct Listed: Decodable {
            var programme: String
            var localTime: String
            var rule: String
        }
        let listed = try JSONDecoder().decode([Listed].self, from: data)
        #expect(listed.count == 3 && listed.allSatisfy { $0.programme == "night-music" }, "\(String(decoding: data, as: UTF8.self))")
        #expect(Set(listed.map(\.rule)) == ["daily at 03:00", "daily at 03:30"])
        #expect(listed.allSatisfy { $0.localTime.contains(" 03:00 ") || $0.localTime.contains(" 03:30 ") })
        var bad = request
        bad.url = URL(string: "http://127.0.0.1:\(port)/v1/schedule/next?count=0")!
        #expect((try await URLSession.shared.data(for: bad).1 as? HTTPURLResponse)?.statusCode == 400)

        daemon.terminate()
        try await waitFor(timeout: 10) { !daemon.isRunning }
        #expect(daemon.terminationStatus == 0)
    }

    /// `HH:MM` of an instant in China Standard Time, the schedule's default zone.
    static func shanghai(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Shanghai")
        formatter.dateFormat = "HH:mm"
        return formatter.string(from: date)
    }

    static func sleep(until instant: Date) async throws {
        let delay = instant.timeIntervalSinceNow
        if delay > 0 { try await Task.sleep(for: .milliseconds(Int(delay * 1000))) }
    }

    /// The period or buffer the device was really opened with, from the player's "device open" log line.
    static func deviceSetting(_ key: String, _ log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("device open") }),
            let range = line.range(of: " \(key)=") ?? line.range(of: "\(key)=")
        else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }
}
