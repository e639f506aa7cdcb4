import DalabaAudio
import DalabaTestSupport
import Foundation
import Testing

/// Decoding and conversion checked on what reached the ALSA `file:` device.
@Suite struct ConversionTests {
    @Test func samplesPassBitExactWhenNothingNeedsConverting() async throws {
        let dir = try Processes.temporaryDirectory("exact")
        let source = dir.appendingPathComponent("in.wav").path
        // A tone plus a deterministic ramp of odd values, so any rounding or reordering would show.
        var samples = Tone.sine(frequency: 440, seconds: 1.5, rate: 48_000, channels: 2)
        for i in samples.indices { samples[i] += Float((i * 7919) % 201 - 100) / 32768 }
        let writer = try SoundFileWriter(path: source, format: .wav16, rate: 48_000, channels: 2)
        try writer.write(samples)
        writer.close()
        let capture = dir.appendingPathComponent("out.raw").path
        let reports = await playAll([.init(id: "a", segments: [.init(path: source)])], format: OutputFormat(device: fileDevice(capture)))
        #expect(reports.first?.ending == .completed)
        #expect(reports.first?.frames == 72_000)

        // The reference is what libsndfile itself reads from the file, sample for sample.
        let file = try SoundFile(path: source)
        var reference = [Int16](repeating: 0, count: 72_000 * 2)
        _ = try reference.withUnsafeMutableBufferPointer { try file.read(into: $0.baseAddress!, frames: 72_000) }
        let played = try Capture(path: capture, channels: 2, rate: 48_000).samples
        #expect(played.count == reference.count)
        let firstDifference = zip(played, reference).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(firstDifference == nil, "first differing sample: \(String(describing: firstDifference))")
    }

    @Test func twentyFourBitFilePlaysBitExactOnAnS32Device() async throws {
        let dir = try Processes.temporaryDirectory("exact32")
        let source = dir.appendingPathComponent("in.wav").path
        try writeTone(source, format: .wav24, frequency: 1000, seconds: 0.5, rate: 48_000, channels: 2)
        let file = try SoundFile(path: source)
        var reference = [Int32](repeating: 0, count: 24_000 * 2)
        _ = try reference.withUnsafeMutableBufferPointer { try file.read(into: $0.baseAddress!, frames: 24_000) }
        let capture = dir.appendingPathComponent("out.raw").path
        let format = OutputFormat(device: fileDevice(capture), sampleFormat: .s32)
        let reports = await playAll([.init(id: "a", segments: [.init(path: source)])], format: format)
        #expect(reports.first?.frames == 24_000)
        let played = try Data(contentsOf: URL(fileURLWithPath: capture))
        let matches = played == reference.withUnsafeBufferPointer { Data(buffer: $0) }
        #expect(matches, "the 32-bit samples that reached the device are the file's, bit for bit")
        #expect(reference.contains { $0 & 0xFF == 0 && $0 != 0 }, "24-bit samples arrive left-justified in 32 bits")
    }

    @Test(arguments: [44_100, 22_050, 16_000, 8_000])
    func monoIsResampledTo48kStereoWithTheRightLengthAndPitch(sourceRate: Int) async throws {
        let dir = try Processes.temporaryDirectory("resample")
        let source = dir.appendingPathComponent("in.wav").path
        let seconds = 2.0
        try writeTone(source, frequency: 440, seconds: seconds, rate: sourceRate, channels: 1)
        let capturePath = dir.appendingPathComponent("out.raw").path
        let format = OutputFormat(device: fileDevice(capturePath))
        let reports = await playAll([.init(id: "a", segments: [.init(path: source)])], format: format)
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)

        let expectedFrames = Int(seconds * 48_000)
        #expect(abs(capture.frames - expectedFrames) <= format.periodFrames, "\(capture.frames) frames")
        #expect(reports.first?.frames == Int64(capture.frames), "the report counts exactly what reached the device")
        // Every full 10 ms block, on both channels, holds 440 Hz to within 1 Hz.
        let block = 480
        var worst = 0.0
        for start in stride(from: 0, to: capture.frames - block, by: block) {
            for channel in 0..<2 {
                let f = try #require(ToneAnalysis.frequency(capture.channel(channel, frames: start..<(start + block)), rate: 48_000))
                worst = max(worst, abs(f - 440))
            }
        }
        #expect(worst <= 1.0, "worst block is \(worst) Hz off")
    }

    /// Every back end and quality, libsoxr's and libsamplerate's, so a setting a station still uses cannot rot: the
    /// length is exact to a frame (an odd one, so the rate ratio leaves a fraction) and the pitch holds in every block.
    @Test(arguments: ResamplerQuality.allCases, [44_100, 22_050])
    func everyResamplerGivesTheExactLengthAndPitch(quality: ResamplerQuality, sourceRate: Int) async throws {
        let dir = try Processes.temporaryDirectory("resample-\(quality.rawValue)")
        let source = dir.appendingPathComponent("in.wav").path
        let writer = try SoundFileWriter(path: source, format: .wav16, rate: sourceRate, channels: 1)
        try writer.write(Array(Tone.sine(frequency: 440, seconds: 1.5, rate: sourceRate, channels: 1).dropLast(7)))
        writer.close()
        let sourceFrames = try SoundFile(path: source).frames
        let capturePath = dir.appendingPathComponent("out.raw").path
        let format = OutputFormat(device: fileDevice(capturePath), resamplerQuality: quality)
        let reports = await playAll([.init(id: "a", segments: [.init(path: source)])], format: format)
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)

        let expectedFrames = Int(sourceFrames * 48_000 / Int64(sourceRate))
        #expect(abs(capture.frames - expectedFrames) <= 1, "\(capture.frames) frames for \(expectedFrames)")
        #expect(reports.first?.frames == Int64(capture.frames))
        let block = 480
        var worst = 0.0
        for start in stride(from: 0, to: capture.frames - block, by: block) {
            for channel in 0..<2 {
                let f = try #require(ToneAnalysis.frequency(capture.channel(channel, frames: start..<(start + block)), rate: 48_000))
                worst = max(worst, abs(f - 440))
            }
        }
        #expect(worst <= 1.0, "worst block is \(worst) Hz off")
    }

    @Test func stereoIsMixedDownForAMonoDevice() async throws {
        let dir = try Processes.temporaryDirectory("mixdown")
        let source = dir.appendingPathComponent("in.wav").path
        try writeTone(source, frequency: 500, seconds: 0.5, rate: 48_000, channels: 2)
        let capturePath = dir.appendingPathComponent("out.raw").path
        let reports = await playAll([.init(id: "a", segments: [.init(path: source)])], format: OutputFormat(device: fileDevice(capturePath), channels: 1))
        #expect(reports.first?.frames == 24_000)
        let capture = try Capture(path: capturePath, channels: 1, rate: 48_000)
        let level = ToneAnalysis.rms(capture.channel(0, frames: 0..<capture.frames))
        #expect(abs(level - Float(0.5 / 2.0.squareRoot())) < 0.01, "the mean of two equal channels keeps their level")
    }

    @Test func gainScalesTheSamples() async throws {
        let dir = try Processes.temporaryDirectory("gain")
        let source = dir.appendingPathComponent("in.wav").path
        try writeTone(source, frequency: 500, seconds: 0.5, rate: 48_000, channels: 2, amplitude: 0.8)
        let capturePath = dir.appendingPathComponent("out.raw").path
        _ = await playAll([.init(id: "a", segments: [.init(path: source, gain: 0.25)])], format: OutputFormat(device: fileDevice(capturePath)))
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        let level = ToneAnalysis.rms(capture.channel(0, frames: 0..<capture.frames))
        #expect(abs(level - Float(0.2 / 2.0.squareRoot())) < 0.005)
    }

    @Test func itemsOfDifferentRatesPlayBackToBackOnOneOpenDevice() async throws {
        let dir = try Processes.temporaryDirectory("b2b")
        let a = dir.appendingPathComponent("a.wav").path
        let b = dir.appendingPathComponent("b.flac").path
        let c = dir.appendingPathComponent("c.wav").path
        try writeTone(a, frequency: 440, seconds: 0.5, rate: 44_100, channels: 1)
        try writeTone(b, format: .flac16, frequency: 880, seconds: 0.5, rate: 22_050, channels: 2)
        try writeTone(c, frequency: 1320, seconds: 0.5, rate: 48_000, channels: 2)
        let capturePath = dir.appendingPathComponent("out.raw").path
        let reports = await playAll(
            [a, b, c].enumerated().map { .init(id: "\($0.offset)", segments: [.init(path: $0.element)]) },
            format: OutputFormat(device: fileDevice(capturePath)))
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        #expect(reports.map(\.frames).reduce(0, +) == Int64(capture.frames))
        let runs = capture.runs(candidates: [440, 880, 1320]).filter { $0.frames > 480 }
        #expect(runs.map(\.tone) == [440, 880, 1320], "\(runs)")
        #expect(capture.runs(candidates: [440, 880, 1320]).allSatisfy { $0.tone != nil }, "no silent block between items")
    }

    @Test func resumeSkipsWhatWasAlreadyHeard() async throws {
        let dir = try Processes.temporaryDirectory("resume")
        let source = dir.appendingPathComponent("in.wav").path
        try writeTone(source, frequency: 440, seconds: 2, rate: 44_100, channels: 1)
        let capturePath = dir.appendingPathComponent("out.raw").path
        let reports = await playAll(
            [.init(id: "a", segments: [.init(path: source, startFrame: 48_000)])], format: OutputFormat(device: fileDevice(capturePath)))
        let frames = try #require(reports.first?.frames)
        #expect(abs(frames - 48_000) <= 480)
    }

    @Test func signalFramesAreCountedApartFromTheProgramme() async throws {
        let dir = try Processes.temporaryDirectory("signal")
        let chime = dir.appendingPathComponent("chime.wav").path
        let programme = dir.appendingPathComponent("p.wav").path
        try writeTone(chime, frequency: 880, seconds: 0.3, rate: 48_000, channels: 1)
        try writeTone(programme, frequency: 440, seconds: 1, rate: 48_000, channels: 2)
        let capturePath = dir.appendingPathComponent("out.raw").path
        let reports = await playAll(
            [.init(id: "a", segments: [.init(path: chime, role: .signal), .init(path: programme)])],
            format: OutputFormat(device: fileDevice(capturePath)))
        #expect(reports.first?.signalFrames == 14_400)
        #expect(reports.first?.frames == 48_000)
        let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
        #expect(capture.runs(candidates: [440, 880]).map(\.tone) == [880, 440])
    }

    @Test func aMissingSignalIsSkippedAndTheProgrammeStillPlays() async throws {
        let dir = try Processes.temporaryDirectory("nosignal")
        let programme = dir.appendingPathComponent("p.wav").path
        try writeTone(programme, frequency: 440, seconds: 0.5, rate: 48_000, channels: 2)
        let reports = await playAll(
            [.init(id: "a", segments: [.init(path: "/nonexistent/chime.wav", role: .signal), .init(path: programme)])],
            format: OutputFormat(device: "null"))
        #expect(reports.first?.ending == .completed)
        #expect(reports.first?.frames == 24_000)
    }
}
