import DalabaTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import DalabaAudio

/// The Ogg half of the relay without a network: Vorbis and Opus streams, chained with a change of rate and channels, fed
/// in odd pieces through the bounded pipe to libvorbisfile and libopusfile as a connection would; garbage after the first
/// page refused within the input's limit; the codec told from the Content-Type and the first bytes.
@Suite struct OggRelayTests {
    /// Ogg files of tones written by libsndfile, one per (frequency, rate, channels), concatenated: a chained stream, as
    /// Icecast serves one track after another.
    static func chained(_ format: AudioFileFormat, _ tracks: [(frequency: Double, rate: Int, channels: Int)], seconds: Double = 1) throws -> [UInt8] {
        let directory = try Processes.temporaryDirectory("ogg-unit")
        defer { try? FileManager.default.removeItem(at: directory) }
        var bytes: [UInt8] = []
        for (index, track) in tracks.enumerated() {
            let path = directory.appendingPathComponent("\(index).\(format.fileExtension)").path
            try writeTone(path, format: format, frequency: track.frequency, seconds: seconds, rate: track.rate, channels: track.channels)
            bytes += try Data(contentsOf: URL(fileURLWithPath: path))
        }
        return bytes
    }

    /// Writes `bytes` into a pipe of `capacity` in 517-byte pieces from a thread of its own, each after the previous write's
    /// future (the backpressure a connection sees), then closes it; decodes on this thread. Returns each format's samples.
    static func decode(_ bytes: [UInt8], codec: StreamCodec, capacity: Int = 4_096, limit: Int = OggInput.defaultLimit) throws
        -> [(format: StreamFormat, samples: [Float])]
    {
        let pipe = BytePipe(capacity: capacity)
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let writer = Thread {
            for start in stride(from: 0, to: bytes.count, by: 517) {
                try? pipe.write(ByteBuffer(bytes: bytes[start..<min(bytes.count, start + 517)]), on: loop).wait()
            }
            pipe.close()
        }
        writer.start()
        defer { pipe.discard() }
        let input = OggInput(pipe: pipe, limit: limit)
        let decoder: any OggStreamDecoder =
            codec == .vorbis
            ? try VorbisStreamDecoder(source: "http://county/live.ogg", input: input)
            : try OpusStreamDecoder(source: "http://county/live.opus", input: input)
        var segments: [(format: StreamFormat, samples: [Float])] = []
        while try decoder.decode({ block, format throws(AudioError) in
            if segments.last?.format != format { segments.append((format, [])) }
            segments[segments.count - 1].samples += block
        }) {}
        return segments
    }

    static func left(_ samples: [Float], channels: Int) -> [Float] { stride(from: 0, to: samples.count, by: channels).map { samples[$0] } }

    @Test func aChainedVorbisStreamKeepsDecodingThroughItsChangeOfRateAndChannels() throws {
        let bytes = try Self.chained(.oggVorbis, [(440, 44_100, 2), (660, 22_050, 1)])
        let segments = try Self.decode(bytes, codec: .vorbis)
        #expect(segments.map(\.format) == [.init(rate: 44_100, channels: 2), .init(rate: 22_050, channels: 1)])
        for ((frequency, rate), segment) in zip([(440.0, 44_100), (660.0, 22_050)], segments) {
            let left = Self.left(segment.samples, channels: segment.format.channels)
            #expect(abs(left.count - rate) <= 64, "a second at \(rate) Hz: \(left.count) frames")
            let middle = Array(left[(rate / 4)..<(3 * rate / 4)])
            #expect(abs((ToneAnalysis.frequency(middle, rate: rate) ?? 0) - frequency) < 2)
            #expect(abs(20 * log10(Double(ToneAnalysis.rms(middle))) - -9.03) < 1, "amplitude 0.5")
        }
    }

    @Test func aChainedOpusStreamDecodesAt48kHzAndFollowsTheChannelsOfEachTrack() throws {
        let bytes = try Self.chained(.oggOpus, [(440, 48_000, 2), (660, 16_000, 1)])
        let segments = try Self.decode(bytes, codec: .opus)
        #expect(segments.map(\.format) == [.init(rate: 48_000, channels: 2), .init(rate: 48_000, channels: 1)])
        for (frequency, segment) in zip([440.0, 660.0], segments) {
            let left = Self.left(segment.samples, channels: segment.format.channels)
            // The pre-skip is taken off: a second, within an Opus frame.
            #expect(abs(left.count - 48_000) <= 960, "\(left.count) frames")
            let middle = Array(left[12_000..<36_000])
            #expect(abs((ToneAnalysis.frequency(middle, rate: 48_000) ?? 0) - frequency) < 2)
            #expect(abs(20 * log10(Double(ToneAnalysis.rms(middle))) - -9.03) < 1)
        }
    }

    /// The first page of a real stream (the Vorbis identification header) and then bytes that are no Ogg at all.
    static func firstPageThenGarbage(_ format: AudioFileFormat, garbage: Int) throws -> [UInt8] {
        let bytes = try chained(format, [(440, 48_000, 2)])
        let pageLength = 27 + Int(bytes[26]) + bytes[27..<(27 + Int(bytes[26]))].reduce(0) { $0 + Int($1) }
        var generator = SystemRandomNumberGenerator()
        return Array(bytes[0..<pageLength]) + (0..<garbage).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    @Test(arguments: [StreamCodec.vorbis, .opus])
    func garbageAfterTheFirstPageIsRefusedWithinTheLimitNamingTheStream(codec: StreamCodec) throws {
        let bytes = try Self.firstPageThenGarbage(codec == .vorbis ? .oggVorbis : .oggOpus, garbage: 96 << 10)
        #expect(StreamCodec.identify(contentType: "audio/ogg", prefix: bytes) == .codec(codec), "the first page passes")
        let source = codec == .vorbis ? "http://county/live.ogg" : "http://county/live.opus"
        let name = codec == .vorbis ? "Vorbis" : "Opus"
        // With the input's limit below the library's own (64 KiB), the limit speaks; above it, the library.
        #expect(throws: AudioError.unreadable(path: source, reason: "not Ogg \(name) audio: no audio in 32 KiB of the stream")) {
            _ = try Self.decode(bytes, codec: codec, limit: 32 << 10)
        }
        let library =
            codec == .vorbis
            ? "libvorbisfile cannot read the Vorbis headers: not Vorbis data"
            : "libopusfile cannot read the Opus headers: a header packet badly formatted, illegal or missing"
        #expect(throws: AudioError.unreadable(path: source, reason: library)) { _ = try Self.decode(bytes, codec: codec) }
        // Garbage after audio has played: the libraries scan for a page without end, so the input's limit ends it.
        let good = try Self.chained(codec == .vorbis ? .oggVorbis : .oggOpus, [(440, 48_000, 2)], seconds: 4)
        var generator = SystemRandomNumberGenerator()
        let spoilt = Array(good[0..<(good.count / 2)]) + (0..<(300 << 10)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(throws: AudioError.unreadable(path: source, reason: "not Ogg \(name) audio: no audio in 256 KiB of the stream")) {
            _ = try Self.decode(spoilt, codec: codec)
        }
    }

    @Test func theEndOfTheConnectionIsTheEndOfTheStreamNotAnError() throws {
        let bytes = try Self.chained(.oggVorbis, [(440, 48_000, 2)], seconds: 6)
        // Cut mid-page two thirds in, as a dropped connection leaves it: the whole pages before the cut play.
        let segments = try Self.decode(Array(bytes[0..<(bytes.count * 2 / 3)]), codec: .vorbis)
        let frames = (segments.first?.samples.count ?? 0) / 2
        #expect(segments.count == 1 && frames > 2 * 48_000 && frames < 4 * 48_000, "\(frames) frames")
    }

    @Test func thePipeHoldsItsWriterAtCapacityUntilTheReaderMakesRoomAndCloseReleasesBoth() throws {
        let pipe = BytePipe(capacity: 1_000)
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let first = pipe.write(ByteBuffer(repeating: 1, count: 600), on: loop)
        #expect(try first.wait() == (), "below capacity: the writer goes on at once")
        let second = pipe.write(ByteBuffer(repeating: 2, count: 600), on: loop)
        let released = NSCondition()
        nonisolated(unsafe) var done = false
        second.whenComplete { _ in released.withLock { done = true } }
        // 1,200 bytes wait: the connection must not read on until the decoder has taken some.
        #expect(!released.withLock { released.wait(until: Date(timeIntervalSinceNow: 0.1)) || done }, "held at capacity")
        var bytes = [UInt8](repeating: 0, count: 700)
        #expect(bytes.withUnsafeMutableBytes { pipe.read(into: $0.baseAddress!, count: 700) } == 700)
        try second.wait()
        #expect(bytes[599] == 1 && bytes[600] == 2, "in order")
        _ = pipe.write(ByteBuffer(repeating: 3, count: 2_000), on: loop)
        pipe.close()
        // Closed: what waits is drained, then the end.
        var total = 0
        while case let got = bytes.withUnsafeMutableBytes({ pipe.read(into: $0.baseAddress!, count: 700) }), got > 0 { total += got }
        #expect(total == 500 + 2_000)
        #expect(try pipe.write(ByteBuffer(repeating: 4, count: 5_000), on: loop).wait() == (), "a write after close is dropped, not held")
    }

    static let vorbisPage = Array("OggS".utf8) + [0, 2] + [UInt8](repeating: 0, count: 20) + [1, 30] + [1] + Array("vorbis".utf8) + [0, 0]
    static let opusPage = Array("OggS".utf8) + [0, 2] + [UInt8](repeating: 0, count: 20) + [1, 19] + Array("OpusHead".utf8) + [1, 2]
    static let flacPage = Array("OggS".utf8) + [0, 2] + [UInt8](repeating: 0, count: 20) + [1, 51] + [0x7F] + Array("FLAC\u{1}\u{0}\u{0}".utf8)

    @Test(
        arguments: [
            ("audio/mpeg", [], StreamCodec.Identification.codec(.mp3)),
            ("audio/ogg", vorbisPage, .codec(.vorbis)),
            ("application/ogg; charset=binary", opusPage, .codec(.opus)),
            ("audio/opus", opusPage, .codec(.opus)),
            ("audio/vorbis", vorbisPage, .codec(.vorbis)),
            ("application/octet-stream", vorbisPage, .codec(.vorbis)),
            (nil, opusPage, .codec(.opus)),
            ("application/octet-stream", Array("ID3\u{4}".utf8), .codec(.mp3)),
            (nil, [0xFF, 0xFB, 0x90, 0x64], .codec(.mp3)),
            ("audio/ogg", Array(vorbisPage[0..<30]), .needMore),
            (nil, Array("Ogg".utf8), .needMore),
            ("audio/ogg", Array("ID3\u{4}".utf8), .refused("not Ogg: the server sent audio/ogg but the stream does not begin with an Ogg page")),
            (
                "audio/ogg", flacPage,
                .refused("an Ogg stream of a codec the station does not relay (first packet \".FLAC...\"): it relays MP3, Ogg Vorbis and Ogg Opus")
            ),
        ] as [(String?, [UInt8], StreamCodec.Identification)])
    func theCodecIsToldByTheContentTypeAndWhereThatIsGenericByTheFirstBytes(type: String?, prefix: [UInt8], expected: StreamCodec.Identification) {
        #expect(StreamCodec.identify(contentType: type, prefix: prefix) == expected)
    }

    @Test func responsesThatAreNotAStreamTheStationRelaysAreRefusedByTheirHead() {
        #expect(RelayStream.refusal(status: .ok, contentType: "audio/ogg") == nil)
        #expect(RelayStream.refusal(status: .ok, contentType: "audio/opus") == nil)
        #expect(
            RelayStream.refusal(status: .ok, contentType: "audio/aac")
                == "audio/aac is not relayed: the station relays MP3, Ogg Vorbis and Ogg Opus streams")
        #expect(RelayStream.refusal(status: .ok, contentType: "text/html; charset=utf-8") == "not audio: the server sent text/html")
        #expect(RelayStream.refusal(status: .notFound, contentType: "text/html") == "not audio: HTTP 404 Not Found (text/html)")
    }
}
