import CMpg123

/// An MPEG audio stream (MP3, as Icecast serves it) decoded as its bytes arrive, through libmpg123's feed reader: one
/// Swift object per `mpg123_handle`, deleted in `deinit`. libsndfile needs a file it can seek in; a stream is not one.
final class MPEGStreamDecoder {
    /// The decoded samples' rate and channels, known once the decoder has synced on the first frame.
    typealias Format = StreamFormat

    /// Bytes without an MPEG frame after which the stream is declared not audio (an HTML page, a text error, noise).
    static let syncLimit = 64 << 10

    /// What the stream is called in errors (its address, without credentials).
    let source: String
    private(set) var format: Format?
    /// Bytes fed so far; while no format is known, all of them failed to sync.
    private(set) var bytesFed = 0
    private let handle: OpaquePointer
    private var output: [Float] = .init(repeating: 0, count: 16_384)

    init(source: String) throws(AudioError) {
        self.source = source
        var error: Int32 = 0
        guard let handle = mpg123_new(nil, &error) else { throw .unreadable(path: source, reason: "mpg123: \(Self.reason(error))") }
        self.handle = handle
        // Float output at whatever rate and channels the stream has: the station's own resampler converts it. Quiet,
        // since libmpg123 otherwise prints its complaints about junk to stderr; and no resync limit, since ours is
        // `syncLimit` bytes.
        try check(mpg123_param2(handle, Int32(MPG123_ADD_FLAGS.rawValue), Int(MPG123_QUIET.rawValue), 0), "set quiet")
        try check(mpg123_param2(handle, Int32(MPG123_RESYNC_LIMIT.rawValue), -1, 0), "set the resync limit")
        try check(mpg123_format_none(handle), "clear the output formats")
        try check(
            mpg123_format2(handle, 0, Int32(MPG123_MONO.rawValue | MPG123_STEREO.rawValue), Int32(MPG123_ENC_FLOAT_32.rawValue)),
            "ask for float output")
        try check(mpg123_open_feed(handle), "open the feed")
    }

    deinit { mpg123_delete(handle) }

    /// Feeds `bytes` and hands every decoded block to `body` as interleaved float samples in `format`. Throws when the
    /// stream is not MPEG audio (no frame within `syncLimit` bytes) or the decoder fails.
    func decode(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeBufferPointer<Float>, Format) throws(AudioError) -> Void) throws(AudioError) {
        if !bytes.isEmpty {
            try check(mpg123_feed(handle, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count), "feed")
            bytesFed += bytes.count
        }
        while true {
            var done = 0
            let status = output.withUnsafeMutableBytes { mpg123_read(handle, $0.baseAddress, $0.count, &done) }
            if status == MPG123_NEW_FORMAT.rawValue {
                var rate = 0
                var channels: Int32 = 0
                var encoding: Int32 = 0
                try check(mpg123_getformat(handle, &rate, &channels, &encoding), "read the format")
                guard rate > 0, rate <= 384_000, channels == 1 || channels == 2 else {
                    throw .unsupported(path: source, reason: "MPEG stream of \(rate) Hz, \(channels) channels")
                }
                format = Format(rate: rate, channels: Int(channels))
                continue
            }
            if done > 0, let format {
                try output.withUnsafeBufferPointer { all throws(AudioError) in
                    try body(UnsafeBufferPointer(rebasing: all[0..<(done / MemoryLayout<Float>.size)]), format)
                }
            }
            if status == MPG123_NEED_MORE.rawValue || status == MPG123_DONE.rawValue { break }
            try check(status, "decode")
        }
        if format == nil, bytesFed > Self.syncLimit {
            throw .unreadable(path: source, reason: "not MPEG audio: no MP3 frame in the first \(Self.syncLimit >> 10) KiB")
        }
    }

    private func check(_ status: Int32, _ what: String) throws(AudioError) {
        guard status == MPG123_OK.rawValue else {
            throw .unreadable(path: source, reason: "mpg123 cannot \(what): \(Self.reason(status))")
        }
    }

    static func reason(_ code: Int32) -> String { String(cString: mpg123_plain_strerror(code)) }
}
