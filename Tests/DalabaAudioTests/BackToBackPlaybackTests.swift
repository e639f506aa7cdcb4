import DalabaAudio
import DalabaTestSupport
import Foundation
import Logging
import Testing

/// The player never abandons decoded audio except on a real command: items played back to back, each ordered the moment
/// the one before reports its end (as the Station does), reach the device sample for sample. No tolerance: a skipped
/// period once hid behind a "±2 periods" check in a third of all plays.
@Suite(.serialized) struct BackToBackPlaybackTests {
    @Test(.timeLimit(.minutes(10))) func fiftyItemsBackToBackReachTheDeviceExactly() async throws {
        try await PacedDevice.with { paced in
            let environment = paced.environment
            let dir = try Processes.temporaryDirectory("back-to-back").path
            // The player runs in a child process of its own, whose environment may point alsa-lib at the device.
            await #expect(processExitsWith: .success) { [environment = environment as [String: String], dir = dir as String] in
                PacedDevice.useInExitTest(environment)
                try await Self.backToBack(in: URL(fileURLWithPath: dir))
            }
        }
    }

    static func backToBack(in dir: URL) async throws {
        var paths: [String] = []
        var expected: [Int16] = []
        var lengths: [Int] = []
        for index in 0..<50 {
            let path = dir.appendingPathComponent("item-\(index).wav").path
            // Lengths that are no multiple of a period, so items end and begin mid-period.
            let frames = 4_800 + 97 * index + (index % 3) * 31
            try writeTone(path, frequency: 300 + 20 * Double(index), seconds: Double(frames) / 48_000, rate: 48_000, channels: 2)
            let samples = try Self.pcm16(path)
            lengths.append(samples.count / 2)
            expected += samples
            paths.append(path)
        }
        let capturePath = dir.appendingPathComponent("paced.raw").path
        let player = Player(format: OutputFormat(device: PacedDevice.pcm(capturingTo: capturePath)), logger: Logger(label: "test"))
        var events = player.events.makeAsyncIterator()
        var reports: [Player.Report] = []
        player.play(.init(id: "item-0", segments: [.init(path: paths[0])]))
        while reports.count < paths.count, let event = await events.next() {
            guard case .finished(let id, let report) = event else { continue }
            #expect(id == "item-\(reports.count)")
            reports.append(report)
            if reports.count < paths.count {
                player.play(.init(id: "item-\(reports.count)", segments: [.init(path: paths[reports.count])]))
            }
        }
        player.shutdown()
        while await events.next() != nil {}

        #expect(reports.map(\.ending) == Array(repeating: .completed, count: paths.count))
        #expect(reports.map { Int($0.frames) } == lengths, "every item's report is its file's length")
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        #expect(capture.samples.count == expected.count, "captured \(capture.frames) frames, the files hold \(expected.count / 2)")
        if let first = zip(capture.samples, expected).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            let frame = first / 2
            var start = 0
            let item =
                lengths.firstIndex { length in
                    defer { start += length }
                    return frame < start + length
                } ?? -1
            Issue.record("the capture differs from the files at frame \(frame) (item \(item))")
        }
    }

    /// The 16-bit samples of a WAV file's data chunk, as written.
    static func pcm16(_ path: String) throws -> [Int16] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var offset = 12
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let size = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
            if id == "data" {
                let data = bytes[(offset + 8)..<min(bytes.count, offset + 8 + size)]
                return stride(from: data.startIndex, to: data.endIndex - 1, by: 2).map {
                    Int16(bitPattern: UInt16(data[$0]) | UInt16(data[$0 + 1]) << 8)
                }
            }
            offset += 8 + size + (size & 1)
        }
        throw CocoaError(.fileReadCorruptFile)
    }
}
