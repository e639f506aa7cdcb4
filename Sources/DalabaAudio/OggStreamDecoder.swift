import COpusFile
import CVorbisFile

/// The rate and channels of a stream's decoded samples; a chained Ogg stream may change them at each new track.
struct StreamFormat: Equatable, Sendable {
    var rate: Int
    var channels: Int
}

/// An Ogg stream (Vorbis or Opus, as Icecast serves them) decoded as it arrives: the decoding libraries pull bytes
/// through a read callback with no seek, which both support for unseekable streams, chained ones included (Icecast starts a
/// new logical stream per track). libsndfile reads an Ogg pipe too, but stops at the first track's end.
protocol OggStreamDecoder: AnyObject {
    /// Decodes the next block and hands it to `body` as interleaved float samples in its format. False at the end of the
    /// stream (the connection ended); throws when the stream stopped being Ogg audio or the decoder failed.
    func decode(_ body: (UnsafeBufferPointer<Float>, StreamFormat) throws(AudioError) -> Void) throws(AudioError) -> Bool
}

/// What an Ogg decoder reads from: the connection's pipe, counting the bytes since it last gave audio. Both libraries
/// scan on through bytes that are not Ogg pages, for ever on an endless stream of garbage; past `limit` bytes without
/// audio the read reports the end instead, and the decoder says why.
final class OggInput {
    /// Generous beside a page (at most 64 KiB) and a header with a picture in its comments; on loopback, a moment.
    static let defaultLimit = 256 << 10

    let pipe: BytePipe
    let limit: Int
    private var sinceAudio = 0
    private(set) var gaveUp = false

    init(pipe: BytePipe, limit: Int = OggInput.defaultLimit) {
        self.pipe = pipe
        self.limit = limit
    }

    func read(into target: UnsafeMutableRawPointer, count: Int) -> Int {
        guard sinceAudio < limit else {
            gaveUp = true
            return 0
        }
        let got = pipe.read(into: target, count: min(count, limit - sinceAudio))
        sinceAudio += got
        return got
    }

    func heardAudio() { sinceAudio = 0 }

    /// The context pointer the C callbacks get back; the decoder holding the input keeps it alive.
    var context: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }
    static func from(_ context: UnsafeMutableRawPointer?) -> OggInput { Unmanaged<OggInput>.fromOpaque(context!).takeUnretainedValue() }
}

/// Ogg Vorbis through libvorbisfile: one Swift object per `OggVorbis_File`, cleared and freed in `deinit`.
final class VorbisStreamDecoder: OggStreamDecoder {
    let source: String
    private let input: OggInput
    private let file: UnsafeMutablePointer<OggVorbis_File>
    private var interleaved: [Float] = []

    /// Reads the stream's three header packets (blocking on the pipe until they are there).
    init(source: String, input: OggInput) throws(AudioError) {
        self.source = source
        self.input = input
        let file = UnsafeMutablePointer<OggVorbis_File>.allocate(capacity: 1)
        file.initialize(to: OggVorbis_File())
        let callbacks = ov_callbacks(
            read_func: { target, size, count, context in
                guard let target, size > 0 else { return 0 }
                return OggInput.from(context).read(into: target, count: size * count) / size
            }, seek_func: nil, close_func: nil, tell_func: nil)
        let status = ov_open_callbacks(input.context, file, nil, 0, callbacks)
        guard status == 0 else {
            // A failed open has cleared the structure itself; `self.file` is not set yet, so no deinit clears it again.
            file.deallocate()
            throw Self.failure(source, input, status, "read the Vorbis headers")
        }
        self.file = file
    }

    deinit {
        ov_clear(file)
        file.deallocate()
    }

    func decode(_ body: (UnsafeBufferPointer<Float>, StreamFormat) throws(AudioError) -> Void) throws(AudioError) -> Bool {
        while true {
            var channels: UnsafeMutablePointer<UnsafeMutablePointer<Float>?>? = nil
            var link: Int32 = 0
            let frames = ov_read_float(file, &channels, 4_096, &link)
            if frames == 0 {
                if input.gaveUp { throw Self.failure(source, input, Int32(OV_EREAD), "decode") }
                return false
            }
            // A hole is lost or corrupt pages: the decoder resyncs on the next page, within the input's limit.
            if frames == Int(OV_HOLE) { continue }
            guard frames > 0 else { throw Self.failure(source, input, Int32(frames), "decode") }
            guard let info = ov_info(file, -1), let channels else { throw Self.failure(source, input, Int32(OV_EFAULT), "read the format") }
            let format = StreamFormat(rate: info.pointee.rate, channels: Int(info.pointee.channels))
            guard format.rate > 0, format.rate <= 384_000, format.channels > 0 else {
                throw .unsupported(path: source, reason: "Ogg Vorbis stream of \(format.rate) Hz, \(format.channels) channels")
            }
            input.heardAudio()
            let count = Int(frames) * format.channels
            if interleaved.count < count { interleaved = .init(repeating: 0, count: count) }
            for channel in 0..<format.channels {
                let samples = channels[channel]!
                for frame in 0..<Int(frames) { interleaved[frame * format.channels + channel] = samples[frame] }
            }
            try interleaved.withUnsafeBufferPointer { all throws(AudioError) in
                try body(UnsafeBufferPointer(rebasing: all[0..<count]), format)
            }
            return true
        }
    }

    /// libvorbisfile has no message function: these are its header's own descriptions of each code.
    static func reason(_ code: Int32) -> String {
        switch code {
        case Int32(OV_EREAD): "a read from the stream failed"
        case Int32(OV_EFAULT): "internal logic fault (a bug or heap corruption)"
        case Int32(OV_EIMPL): "a feature the library does not implement"
        case Int32(OV_EINVAL): "invalid argument, or the stream is not open"
        case Int32(OV_ENOTVORBIS): "not Vorbis data"
        case Int32(OV_EBADHEADER): "invalid Vorbis header"
        case Int32(OV_EVERSION): "Vorbis version mismatch"
        case Int32(OV_ENOTAUDIO): "a packet that is not audio"
        case Int32(OV_EBADPACKET): "an invalid packet"
        case Int32(OV_EBADLINK): "a corrupt link in the chained stream"
        default: "error \(code)"
        }
    }

    private static func failure(_ source: String, _ input: OggInput, _ code: Int32, _ what: String) -> AudioError {
        if input.gaveUp { return .unreadable(path: source, reason: "not Ogg Vorbis audio: no audio in \(input.limit >> 10) KiB of the stream") }
        return .unreadable(path: source, reason: "libvorbisfile cannot \(what): \(reason(code))")
    }
}

/// Ogg Opus through libopusfile: one Swift object per `OggOpusFile`, freed in `deinit`. Opus decodes at 48 kHz whatever
/// rate the encoder was given; the station's converter takes it from there.
final class OpusStreamDecoder: OggStreamDecoder {
    let source: String
    private let input: OggInput
    private let file: OpaquePointer
    /// 120 ms at 48 kHz in 8 channels: the most one Opus packet decodes to, so a read is never cut short by room.
    private var output: [Float] = .init(repeating: 0, count: 5_760 * 8)

    /// Reads the stream's OpusHead and OpusTags (blocking on the pipe until they are there).
    init(source: String, input: OggInput) throws(AudioError) {
        self.source = source
        self.input = input
        var callbacks = OpusFileCallbacks(
            read: { context, target, count in
                guard let target, count > 0 else { return 0 }
                return Int32(OggInput.from(context).read(into: target, count: Int(count)))
            }, seek: nil, tell: nil, close: nil)
        var status: Int32 = 0
        guard let file = op_open_callbacks(input.context, &callbacks, nil, 0, &status) else {
            throw Self.failure(source, input, status, "read the Opus headers")
        }
        self.file = file
    }

    deinit { op_free(file) }

    func decode(_ body: (UnsafeBufferPointer<Float>, StreamFormat) throws(AudioError) -> Void) throws(AudioError) -> Bool {
        while true {
            var link: Int32 = 0
            let frames = output.withUnsafeMutableBufferPointer { op_read_float(file, $0.baseAddress, Int32($0.count), &link) }
            if frames == 0 {
                if input.gaveUp { throw Self.failure(source, input, OP_EREAD, "decode") }
                return false
            }
            if frames == OP_HOLE { continue }
            guard frames > 0 else { throw Self.failure(source, input, frames, "decode") }
            let channels = Int(op_channel_count(file, link))
            guard channels > 0 else { throw Self.failure(source, input, OP_EFAULT, "read the channel count") }
            input.heardAudio()
            let count = Int(frames) * channels
            try output.withUnsafeBufferPointer { all throws(AudioError) in
                try body(UnsafeBufferPointer(rebasing: all[0..<count]), StreamFormat(rate: 48_000, channels: channels))
            }
            return true
        }
    }

    /// libopusfile has no message function: these are its header's own descriptions of each code.
    static func reason(_ code: Int32) -> String {
        switch code {
        case OP_FALSE: "a request did not succeed"
        case OP_HOLE: "a hole in the page sequence (a page corrupt or missing)"
        case OP_EREAD: "a read from the stream failed"
        case OP_EFAULT: "an internal library error or failed allocation"
        case OP_EIMPL: "a feature that is not implemented, such as an unsupported channel family"
        case OP_EINVAL: "an invalid parameter"
        case OP_ENOTFORMAT: "not an Ogg Opus stream (no OpusHead or OpusTags packet)"
        case OP_EBADHEADER: "a header packet badly formatted, illegal or missing"
        case OP_EVERSION: "an unrecognised OpusHead version"
        case OP_EBADPACKET: "an audio packet that failed to decode"
        case OP_EBADLINK: "a malformed stream structure"
        case OP_EBADTIMESTAMP: "a link's first or last granule position is invalid"
        default: "error \(code)"
        }
    }

    private static func failure(_ source: String, _ input: OggInput, _ code: Int32, _ what: String) -> AudioError {
        if input.gaveUp { return .unreadable(path: source, reason: "not Ogg Opus audio: no audio in \(input.limit >> 10) KiB of the stream") }
        return .unreadable(path: source, reason: "libopusfile cannot \(what): \(reason(code))")
    }
}
