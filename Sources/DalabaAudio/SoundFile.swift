import CSndFile
import Foundation

/// An audio file open for reading through libsndfile: one Swift object per `SNDFILE*`, closed in `deinit`.
/// Reads are streamed in caller-sized chunks, so memory does not grow with the file's length.
public final class SoundFile {
    public let path: String
    public let rate: Int
    public let channels: Int
    /// Frames in the file as libsndfile reports them (a truncated file reports what is really there).
    public let frames: Int64
    /// libsndfile's format code (container | encoding).
    public let format: Int32
    private let handle: OpaquePointer

    /// Opens `path`, refusing what cannot be played with a reason an operator understands.
    public init(path: String) throws(AudioError) {
        self.path = path
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw .unreadable(path: path, reason: String(cString: strerror(errno)).lowercased())
        }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw .unreadable(path: path, reason: "is a directory, not an audio file") }
        if status.st_size == 0 { throw .unreadable(path: path, reason: "file is empty (0 bytes)") }
        var info = SF_INFO()
        guard let handle = sf_open(path, Int32(SFM_READ), &info) else {
            throw .unreadable(path: path, reason: SoundFile.explain(String(cString: sf_strerror(nil))))
        }
        guard info.channels > 0 else {
            sf_close(handle)
            throw .unsupported(path: path, reason: "has \(info.channels) channels")
        }
        guard info.channels <= 64 else {
            sf_close(handle)
            throw .unsupported(path: path, reason: "has \(info.channels) channels (at most 64 are supported)")
        }
        guard (1_000...768_000).contains(Int(info.samplerate)) else {
            sf_close(handle)
            throw .unsupported(path: path, reason: "sample rate \(info.samplerate) Hz is outside 1000–768000 Hz")
        }
        guard info.frames > 0 else {
            sf_close(handle)
            throw .unreadable(path: path, reason: "contains no audio frames (truncated or empty)")
        }
        if let truncation = SoundFile.truncation(handle, frames: Int64(info.frames), rate: Int(info.samplerate)) {
            sf_close(handle)
            throw .unreadable(path: path, reason: truncation)
        }
        self.handle = handle
        self.rate = Int(info.samplerate)
        self.channels = Int(info.channels)
        self.frames = Int64(info.frames)
        self.format = info.format
        // Float files read as integers must be scaled and clipped, not wrapped. Only float files: for any other, libsndfile
        // answers this by decoding the whole file for its peak (seconds for a long one, on the way to the loudspeaker).
        let subtype = Int(info.format) & Int(SF_FORMAT_SUBMASK)
        if subtype == Int(SF_FORMAT_FLOAT) || subtype == Int(SF_FORMAT_DOUBLE) {
            sf_command(handle, Int32(SFC_SET_SCALE_FLOAT_INT_READ), nil, Int32(SF_TRUE))
        }
        sf_command(handle, Int32(SFC_SET_CLIPPING), nil, Int32(SF_TRUE))
    }

    deinit { sf_close(handle) }

    /// The encoding part of `format` (PCM_16, FLOAT, VORBIS, …).
    public var encoding: Int32 { format & Int32(SF_FORMAT_SUBMASK) }

    /// True when the samples are 16-bit (or narrower) integers, so reading them as `Int16` loses nothing.
    public var isAtMost16BitInteger: Bool {
        [SF_FORMAT_PCM_16, SF_FORMAT_PCM_S8, SF_FORMAT_PCM_U8].map { Int32($0) }.contains(encoding)
    }

    /// True when the samples are integers of at most 32 bits, so reading them as left-justified `Int32` loses nothing.
    public var isAtMost32BitInteger: Bool {
        isAtMost16BitInteger || [SF_FORMAT_PCM_24, SF_FORMAT_PCM_32].map { Int32($0) }.contains(encoding)
    }

    /// Reads up to `count` interleaved frames as floats in [-1, 1]; returns 0 at the end.
    public func read(into buffer: UnsafeMutablePointer<Float>, frames count: Int) throws(AudioError) -> Int {
        let n = Int(sf_readf_float(handle, buffer, sf_count_t(count)))
        if n == 0 { try checkError() }
        return n
    }

    /// Reads up to `count` interleaved frames as 16-bit integers; returns 0 at the end.
    public func read(into buffer: UnsafeMutablePointer<Int16>, frames count: Int) throws(AudioError) -> Int {
        let n = Int(sf_readf_short(handle, buffer, sf_count_t(count)))
        if n == 0 { try checkError() }
        return n
    }

    /// Reads up to `count` interleaved frames as left-justified 32-bit integers; returns 0 at the end.
    public func read(into buffer: UnsafeMutablePointer<Int32>, frames count: Int) throws(AudioError) -> Int {
        let n = Int(sf_readf_int(handle, buffer, sf_count_t(count)))
        if n == 0 { try checkError() }
        return n
    }

    /// Moves to `frame` (from the start), for resuming an interrupted programme.
    public func seek(to frame: Int64) throws(AudioError) {
        guard sf_seek(handle, sf_count_t(min(frame, frames)), SEEK_SET) >= 0 else {
            throw .unreadable(path: path, reason: "cannot seek to frame \(frame): \(String(cString: sf_strerror(handle)))")
        }
    }

    /// A short human name of the container and encoding, e.g. "WAV PCM 16-bit".
    public var formatName: String {
        "\(SoundFile.name(of: format & Int32(SF_FORMAT_TYPEMASK))) \(SoundFile.name(of: encoding))"
    }

    private func checkError() throws(AudioError) {
        let code = sf_error(handle)
        if code != 0 { throw .unreadable(path: path, reason: "decoding failed: \(String(cString: sf_strerror(handle)))") }
    }

    private static func name(of code: Int32) -> String {
        var info = SF_FORMAT_INFO()
        info.format = code
        guard sf_command(nil, Int32(SFC_GET_FORMAT_INFO), &info, Int32(MemoryLayout<SF_FORMAT_INFO>.size)) == 0,
            let name = info.name
        else { return String(format: "0x%X", code) }
        return String(cString: name)
    }

    /// libsndfile plays the part of a truncated WAV that is there and only notes the shortfall in its log
    /// ("data : 1920000 (should be 192000)"); a half-heard announcement is useless, so this is an error.
    private static func truncation(_ handle: OpaquePointer, frames: Int64, rate: Int) -> String? {
        var log = [CChar](repeating: 0, count: 8_192)
        sf_command(handle, Int32(SFC_GET_LOG_INFO), &log, Int32(log.count))
        let text = String(cString: log)
        for line in text.split(separator: "\n") where line.hasPrefix("data") && line.contains("(should be") {
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Double($0) }
            guard numbers.count >= 2, numbers[1] > 0, numbers[0] > numbers[1] else { continue }
            let held = Double(frames) / Double(rate)
            let promised = held * numbers[0] / numbers[1]
            return String(format: "is truncated: its header promises %.1f s of audio but the file holds %.1f s", promised, held)
        }
        return nil
    }

    /// libsndfile's messages are terse ("Format not recognised."); say what that means for the operator.
    private static func explain(_ message: String) -> String {
        let trimmed = message.trimmingCharacters(in: CharacterSet(charactersIn: ". \n"))
        if trimmed.localizedCaseInsensitiveContains("unknown format") || trimmed.localizedCaseInsensitiveContains("not recognised") {
            return "not an audio file libsndfile can read (\(trimmed))"
        }
        if trimmed.contains("SF_INFO struct incomplete") {
            return "the header is invalid: impossible sample rate, channel count or block size"
        }
        if trimmed.localizedCaseInsensitiveContains("channel count is zero") { return "has 0 channels" }
        return trimmed
    }
}
