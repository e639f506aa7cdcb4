import DalabaAudio
import DalabaTestSupport
import Foundation
import Logging
import Testing

/// Stop and switch on the clocked virtual card (jackd's dummy driver), checked on the capture.
///
/// The player runs in this process and alsa-lib and libjack find the device through the environment, so each test plays in
/// an exit test: a child process running that test alone, whose environment it may set. The parent holds the device.
@Suite(.serialized) struct PacedPlaybackTests {
    @Test(.timeLimit(.minutes(10))) func switchingCutsOverWithinOnePeriodOfTheRequest() async throws {
        try await PacedDevice.with { paced in
            let environment = paced.environment
            let dir = try Processes.temporaryDirectory("switch").path
            await #expect(processExitsWith: .success) { [environment = environment as [String: String], dir = dir as String] in
                PacedDevice.useInExitTest(environment)
                try await Self.switching(in: URL(fileURLWithPath: dir))
            }
        }
    }

    static func switching(in dir: URL) async throws {
        let capturePath = dir.appendingPathComponent("paced.raw").path
        let pcm = PacedDevice.pcm(capturingTo: capturePath)
        let first = dir.appendingPathComponent("first.wav").path
        let second = dir.appendingPathComponent("second.wav").path
        try writeTone(first, frequency: 440, seconds: 10, rate: 48_000, channels: 2)
        try writeTone(second, frequency: 1000, seconds: 1, rate: 48_000, channels: 2)
        let format = OutputFormat(device: pcm)
        let player = Player(format: format, logger: Logger(label: "test"))
        defer { player.shutdown() }
        var events = player.events.makeAsyncIterator()

        player.play(.init(id: "first", segments: [.init(path: first)]))
        // Wait for about a second of real playback, told by the player's own progress reports.
        while let event = await events.next() {
            if case .progress("first", let frames, _) = event, frames >= 48_000 { break }
        }
        // Frames handed to the device when the request is made; the capture holds every frame handed.
        let handedAtRequest = Int(try #require(player.position).frames)
        player.play(.init(id: "second", segments: [.init(path: second)]))
        var reports: [String: Player.Report] = [:]
        while reports.count < 2, let event = await events.next() {
            if case .finished(let id, let report) = event { reports[id] = report }
        }
        player.shutdown()
        while await events.next() != nil {}

        let firstReport = try #require(reports["first"])
        let secondReport = try #require(reports["second"])
        #expect(firstReport.ending == .stopped)
        #expect(secondReport.ending == .completed)
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        // A single 10 ms block that straddles the switch holds both tones and reads as neither; longer silence still shows.
        let runs = capture.runs(candidates: [440, 1000]).filter { $0.frames >= 480 && ($0.tone != nil || $0.frames > 480) }
        #expect(runs.map(\.tone) == [440, 1000], "\(runs)")
        let onset = try #require(capture.onset(of: 1000, candidates: [440, 1000], resolution: 24))
        let period = player.health.format.periodFrames
        // The second tone begins within one period of the request, measured on the capture.
        #expect(onset - handedAtRequest <= period, "onset \(onset), handed at request \(handedAtRequest)")
        #expect(abs(onset - Int(firstReport.frames)) <= 8, "the first tone ends where the report says")
        #expect(abs(capture.frames - onset - 48_000) <= 8, "the second plays whole")
        #expect(firstReport.frames >= 48_000, "at least the second of the first tone the test waited for: \(firstReport.frames)")
    }

    @Test(.timeLimit(.minutes(10))) func stopSilencesWithinOnePeriodAndTheDeviceStaysUsable() async throws {
        try await PacedDevice.with { paced in
            let environment = paced.environment
            let dir = try Processes.temporaryDirectory("stop").path
            await #expect(processExitsWith: .success) { [environment = environment as [String: String], dir = dir as String] in
                PacedDevice.useInExitTest(environment)
                try await Self.stopping(in: URL(fileURLWithPath: dir))
            }
        }
    }

    static func stopping(in dir: URL) async throws {
        let capturePath = dir.appendingPathComponent("paced.raw").path
        let pcm = PacedDevice.pcm(capturingTo: capturePath)
        let tone = dir.appendingPathComponent("tone.wav").path
        try writeTone(tone, frequency: 440, seconds: 10, rate: 48_000, channels: 2)
        let player = Player(format: OutputFormat(device: pcm), logger: Logger(label: "test"))
        defer { player.shutdown() }
        var events = player.events.makeAsyncIterator()
        player.play(.init(id: "a", segments: [.init(path: tone)]))
        while let event = await events.next() {
            if case .progress = event { break }
        }
        let handedAtRequest = Int(try #require(player.position).frames)
        player.stop()
        var report: Player.Report?
        while let event = await events.next() {
            if case .finished("a", let r) = event {
                report = r
                break
            }
        }
        #expect(report?.ending == .stopped)
        player.play(.init(id: "b", segments: [.init(path: tone, startFrame: 470_000)]))
        while let event = await events.next() {
            if case .finished("b", let r) = event {
                #expect(r.ending == .completed)
                break
            }
        }
        player.shutdown()
        while await events.next() != nil {}
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        let stoppedAt = Int(try #require(report).frames)
        #expect(stoppedAt - handedAtRequest <= 512, "stopped \(stoppedAt - handedAtRequest) frames after the request")
        #expect(capture.frames - stoppedAt <= 10_500, "only the resumed tail followed")
    }
}
