import DalabaAudio
import Foundation
import Testing

@Suite("EBU R128 loudness measurement and levelling")
struct LoudnessTests {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-loudness-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Interleaved sine frames, the same signal on every channel.
    static func sine(frequency: Double, seconds: Double, rate: Int, channels: Int, amplitude: Float) -> [Float] {
        let frames = Int(seconds * Double(rate))
        var samples = [Float](repeating: 0, count: frames * channels)
        for frame in 0..<frames {
            let value = amplitude * Float(sin(2 * Double.pi * frequency * Double(frame) / Double(rate)))
            for channel in 0..<channels { samples[frame * channels + channel] = value }
        }
        return samples
    }

    func save(_ samples: [Float], _ name: String, rate: Int = 48_000, channels: Int = 2, format: AudioFileFormat = .wavFloat) throws -> String {
        let path = directory.appendingPathComponent(name).path
        let writer = try SoundFileWriter(path: path, format: format, rate: rate, channels: channels)
        try writer.write(samples)
        writer.close()
        return path
    }

    /// Reads a whole file back as floats, multiplies by `gain` and writes it as float WAV: what the player does.
    func applyGain(_ gain: Float, to path: String, as name: String) throws -> String {
        let file = try SoundFile(path: path)
        var samples = [Float](repeating: 0, count: Int(file.frames) * file.channels)
        let read = try samples.withUnsafeMutableBufferPointer { try file.read(into: $0.baseAddress!, frames: Int(file.frames)) }
        #expect(read == Int(file.frames))
        return try save(samples.map { $0 * gain }, name, rate: file.rate, channels: file.channels)
    }

    @Test("a stereo 1 kHz sine at -23 dBFS measures -23 LUFS (EBU Tech 3341 case 1)")
    func calibration() throws {
        let amplitude = Float(pow(10, -23.0 / 20))
        let path = try save(Self.sine(frequency: 1_000, seconds: 20, rate: 48_000, channels: 2, amplitude: amplitude), "reference.wav")
        let measurement = try Loudness.measure(path: path)
        #expect(abs(measurement.integrated - -23) < 0.1)
        #expect(abs(measurement.truePeak - -23) < 0.1)
        #expect(measurement.loudnessRange < 0.5)
    }

    @Test("two tones 12 dB apart come out within 0.5 LU of each other and of the target after levelling")
    func levelling() throws {
        let loud = try save(Self.sine(frequency: 1_000, seconds: 6, rate: 48_000, channels: 2, amplitude: 0.25), "loud.wav", format: .wav16)
        let quiet = try save(Self.sine(frequency: 500, seconds: 6, rate: 48_000, channels: 2, amplitude: 0.0625), "quiet.wav", format: .wav16)
        let loudBefore = try Loudness.measure(path: loud)
        let quietBefore = try Loudness.measure(path: quiet)
        // 12 dB apart in amplitude; K-weighting weighs 1 kHz a little above 500 Hz, so the loudness gap is a bit over 12 LU.
        #expect((11.5...13.5).contains(loudBefore.integrated - quietBefore.integrated))

        let loudGain = Loudness.gain(for: loudBefore)
        let quietGain = Loudness.gain(for: quietBefore)
        #expect(loudGain < 1)
        #expect(quietGain > 1)
        let loudAfter = try Loudness.measure(path: applyGain(loudGain, to: loud, as: "loud-levelled.wav"))
        let quietAfter = try Loudness.measure(path: applyGain(quietGain, to: quiet, as: "quiet-levelled.wav"))
        #expect(abs(loudAfter.integrated - -16) <= 0.5)
        #expect(abs(quietAfter.integrated - -16) <= 0.5)
        #expect(abs(loudAfter.integrated - quietAfter.integrated) <= 0.5)
        #expect(loudAfter.truePeak <= -1)
        #expect(quietAfter.truePeak <= -1)
    }

    @Test("a quiet recording with full-scale clicks is raised only as far as the true-peak ceiling allows")
    func peakLimited() throws {
        let rate = 48_000
        var samples = Self.sine(frequency: 440, seconds: 8, rate: rate, channels: 2, amplitude: 0.03)
        for click in stride(from: rate / 4, to: samples.count / 2, by: rate / 2) {
            samples[click * 2] = 0.99
            samples[click * 2 + 1] = -0.99
        }
        let path = try save(samples, "clicks.wav")
        let before = try Loudness.measure(path: path)
        #expect(before.truePeak > -0.5)
        #expect(before.integrated < -26)
        let gain = Loudness.gain(for: before)
        // Reaching -16 LUFS would need a boost of 10 dB or more; the ceiling allows well under 1 dB of cut.
        #expect(gain < 1)
        #expect(abs(20 * log10(Double(gain)) - (-1 - before.truePeak)) < 1e-6)
        let after = try Loudness.measure(path: applyGain(gain, to: path, as: "clicks-levelled.wav"))
        #expect(after.truePeak <= -1 + 0.05)
    }

    @Test("a near-full-scale sine is cut so its true peak stays under the ceiling even with a loud target")
    func nearFullScale() throws {
        let path = try save(Self.sine(frequency: 997, seconds: 5, rate: 44_100, channels: 2, amplitude: 0.99), "hot.wav", rate: 44_100)
        let before = try Loudness.measure(path: path)
        let gain = Loudness.gain(for: before, target: 0, truePeakCeiling: -1)
        #expect(before.truePeak + 20 * log10(Double(gain)) <= -1 + 1e-9)
        let after = try Loudness.measure(path: applyGain(gain, to: path, as: "hot-levelled.wav"))
        #expect(after.truePeak <= -1 + 0.05)
        #expect(after.integrated < 0)
    }

    @Test("silence measures -inf, gets unity gain, and survives JSON")
    func silence() throws {
        let path = try save([Float](repeating: 0, count: 48_000 * 2 * 2), "silence.wav")
        let measurement = try Loudness.measure(path: path)
        #expect(measurement.isSilent)
        #expect(measurement.integrated == -.infinity)
        #expect(measurement.truePeak == -.infinity)
        #expect(Loudness.gain(for: measurement) == 1)
        let json = try JSONEncoder().encode(measurement)
        #expect(String(decoding: json, as: UTF8.self).contains("null"))
        #expect(try JSONDecoder().decode(LoudnessMeasurement.self, from: json) == measurement)
    }

    @Test("a mono file measures as it sounds on both loudspeaker channels")
    func monoAsDualMono() throws {
        let mono = try save(Self.sine(frequency: 1_000, seconds: 5, rate: 22_050, channels: 1, amplitude: 0.2), "mono.wav", rate: 22_050, channels: 1)
        let stereo = try save(Self.sine(frequency: 1_000, seconds: 5, rate: 22_050, channels: 2, amplitude: 0.2), "stereo.wav", rate: 22_050)
        let monoLoudness = try Loudness.measure(path: mono).integrated
        let stereoLoudness = try Loudness.measure(path: stereo).integrated
        #expect(abs(monoLoudness - stereoLoudness) < 0.1)
    }

    @Test("a missing file is the player's usual unreadable error")
    func missingFile() {
        #expect(throws: AudioError.self) { try Loudness.measure(path: directory.appendingPathComponent("absent.wav").path) }
    }
}
