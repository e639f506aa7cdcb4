import DalabaTestSupport
import Foundation
import Logging
import Testing

@testable import DalabaAudio

/// The relay's parts without a network: libmpg123's feed decoder on bytes as they would arrive, the conversion to the
/// device format, and the jitter buffer's prebuffer, underrun and refill.
@Suite struct RelayTests {
    static func mp3(frequency: Double, seconds: Double, rate: Int = 44_100) throws -> Data {
        let path = try Processes.temporaryDirectory("relay-unit").appendingPathComponent("tone.mp3").path
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        try writeTone(path, format: .mp3, frequency: frequency, seconds: seconds, rate: rate, channels: 2)
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    @Test func anMP3FedInOddPiecesDecodesToItsToneAtItsRate() throws {
        let bytes = try Self.mp3(frequency: 440, seconds: 2)
        let decoder = try MPEGStreamDecoder(source: "http://county/live.mp3")
        var samples: [Float] = []
        var formats: [MPEGStreamDecoder.Format] = []
        // 517 bytes at a time: frames split across pieces, as TCP delivers them.
        for start in stride(from: 0, to: bytes.count, by: 517) {
            try bytes[start..<min(bytes.count, start + 517)].withUnsafeBytes { piece in
                try decoder.decode(piece) { block, format throws(AudioError) in
                    if formats.last != format { formats.append(format) }
                    samples += block
                }
            }
        }
        #expect(formats == [.init(rate: 44_100, channels: 2)])
        let frames = samples.count / 2
        // LAME adds its delay and pads the last frame: a little over two seconds, never less than most of them.
        #expect(frames > 2 * 44_100 - 2_304 && frames < 2 * 44_100 + 4_608, "\(frames) frames")
        let left = stride(from: 0, to: samples.count, by: 2).map { samples[$0] }
        let middle = Array(left[22_050..<66_150])
        #expect(abs((ToneAnalysis.frequency(middle, rate: 44_100) ?? 0) - 440) < 2)
        #expect(abs(20 * log10(Double(ToneAnalysis.rms(middle))) - -9.03) < 1)
    }

    @Test func bytesWithNoMPEGFrameAreRefusedAt64KiBNamingTheStream() throws {
        let page = Data("<!DOCTYPE html><html><body><p>村村响 status</p></body></html>\n".utf8)
        let decoder = try MPEGStreamDecoder(source: "http://county/status.html")
        var fed = 0
        var failure: AudioError?
        while fed < 128 << 10, failure == nil {
            do {
                try page.withUnsafeBytes { piece in try decoder.decode(piece) { _, _ throws(AudioError) in Issue.record("decoded audio from HTML") } }
                fed += page.count
            } catch let error as AudioError {
                failure = error
            }
        }
        #expect(fed > MPEGStreamDecoder.syncLimit - page.count && fed <= MPEGStreamDecoder.syncLimit, "refused after \(fed) bytes")
        #expect(failure?.description == "http://county/status.html: not MPEG audio: no MP3 frame in the first 64 KiB")
    }

    @Test func aStreamIsConvertedToTheDeviceRateAndChannels() throws {
        let output = OutputFormat(device: "null", rate: 48_000, channels: 2)
        let mono = try StreamConverter(rate: 44_100, channels: 1, output: output)
        let tone = Tone.sine(frequency: 1_000, seconds: 1, rate: 44_100, channels: 1)
        var bytes: [UInt8] = []
        for start in stride(from: 0, to: tone.count, by: 1_152) {
            try tone[start..<min(tone.count, start + 1_152)].withUnsafeBufferPointer { block in
                try mono.convert(block) { bytes += $0 }
            }
        }
        let samples = bytes.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        let frames = samples.count / 2
        // The resampler holds back its filter's delay (a stream is never flushed): a few hundred frames, no more.
        #expect(frames <= 48_000 && frames > 47_000, "\(frames) frames")
        let capture = Capture(samples: samples, channels: 2, rate: 48_000)
        let left = capture.channel(0, frames: 12_000..<36_000)
        #expect(left == capture.channel(1, frames: 12_000..<36_000), "mono is heard on both channels")
        #expect(abs((ToneAnalysis.frequency(left, rate: 48_000) ?? 0) - 1_000) < 2)
    }

    @Test func theJitterBufferGivesSilenceUntilItsPrebufferThenTheStreamThenRefillsAfterRunningDry() throws {
        let format = OutputFormat(device: "null", rate: 1_000, channels: 1)
        let health = HealthState(Player.Health(isOpen: true, underruns: 0, lastError: nil, format: format))
        let stream = RelayStream(
            relay: .init(url: "http://county/live.mp3", prebufferSeconds: 0.5), format: format, health: health, logger: Logger(label: "test"))
        func append(_ values: ClosedRange<Int16>) { values.map { $0 }.withUnsafeBytes { stream.append($0) } }
        func read(_ frames: Int) throws -> [Int16] {
            var out = [Int16](repeating: -1, count: frames)
            let got = try out.withUnsafeMutableBytes { try stream.read(into: $0.baseAddress!, frames: frames) }
            #expect(got == frames, "a relay always fills the period")
            return out
        }
        append(1...300)
        #expect(try read(100) == [Int16](repeating: 0, count: 100), "below the 500-frame prebuffer: silence, nothing taken")
        append(301...600)
        #expect(try read(100) == Array(1...100))
        #expect(try read(450) == Array(101...550))
        // 50 frames left: they play, the rest of the period is silence, and the buffer refills before playing again.
        #expect(try read(100) == Array(551...600) + [Int16](repeating: 0, count: 50))
        append(601...700)
        #expect(try read(50) == [Int16](repeating: 0, count: 50))
        #expect(health.relay.withLock { $0 }?.url == "http://county/live.mp3")
    }
}
