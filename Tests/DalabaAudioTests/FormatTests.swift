import DalabaAudio
import DalabaTestSupport
import Foundation
import Testing

/// Every format the installed libsndfile reads, written by libsndfile in the test and played to the `file:` device.
@Suite struct FormatTests {
    @Test(arguments: AudioFileFormat.allCases)
    func everyFormatPlaysAtTheRightLengthAndPitch(format: AudioFileFormat) async throws {
        let dir = try Processes.temporaryDirectory("format")
        let source = dir.appendingPathComponent("tone.\(format.fileExtension)").path
        let rate = format == .oggOpus ? 48_000 : 44_100
        try writeTone(source, format: format, frequency: 440, seconds: 1, rate: rate, channels: 2)
        let capturePath = dir.appendingPathComponent("out.raw").path
        let reports = await playAll([.init(id: "a", segments: [.init(path: source)])], format: OutputFormat(device: fileDevice(capturePath)))
        let report = try #require(reports.first)
        #expect(report.ending == .completed, "\(report.ending)")
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        #expect(report.frames == Int64(capture.frames))
        // Lossy codecs add encoder delay and padding; lossless ones must be exact to a period.
        let tolerance = format.isLossy && format != .wavULaw && format != .wavALaw ? 4_800 : 480
        #expect(abs(capture.frames - 48_000) <= tolerance, "\(capture.frames) frames")
        let middle = capture.channel(0, frames: 19_200..<(19_200 + 4_800))
        let f = try #require(ToneAnalysis.frequency(middle, rate: 48_000))
        #expect(abs(f - 440) <= 1, "\(f) Hz")
    }
}
