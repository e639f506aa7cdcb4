import CSndFile
import Foundation

/// The containers and encodings the station writes: synthesized speech, uploads normalised for storage, and
/// test fixtures in every format the station must read.
public enum AudioFileFormat: String, Sendable, CaseIterable {
    case wav16, wav24, wav32, wavFloat, wavULaw, wavALaw, aiff16, caf16, w64, rf64, flac16, flac24, oggVorbis, oggOpus, mp3

    var code: Int32 {
        let value: Int =
            switch self {
            case .wav16: SF_FORMAT_WAV | SF_FORMAT_PCM_16
            case .wav24: SF_FORMAT_WAV | SF_FORMAT_PCM_24
            case .wav32: SF_FORMAT_WAV | SF_FORMAT_PCM_32
            case .wavFloat: SF_FORMAT_WAV | SF_FORMAT_FLOAT
            case .wavULaw: SF_FORMAT_WAV | SF_FORMAT_ULAW
            case .wavALaw: SF_FORMAT_WAV | SF_FORMAT_ALAW
            case .aiff16: SF_FORMAT_AIFF | SF_FORMAT_PCM_16
            case .caf16: SF_FORMAT_CAF | SF_FORMAT_PCM_16
            case .w64: SF_FORMAT_W64 | SF_FORMAT_PCM_16
            case .rf64: SF_FORMAT_RF64 | SF_FORMAT_PCM_16
            case .flac16: SF_FORMAT_FLAC | SF_FORMAT_PCM_16
            case .flac24: SF_FORMAT_FLAC | SF_FORMAT_PCM_24
            case .oggVorbis: SF_FORMAT_OGG | SF_FORMAT_VORBIS
            case .oggOpus: SF_FORMAT_OGG | SF_FORMAT_OPUS
            case .mp3: SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III
            }
        return Int32(value)
    }

    /// The usual file extension.
    public var fileExtension: String {
        switch self {
        case .wav16, .wav24, .wav32, .wavFloat, .wavULaw, .wavALaw: "wav"
        case .aiff16: "aiff"
        case .caf16: "caf"
        case .w64: "w64"
        case .rf64: "rf64"
        case .flac16, .flac24: "flac"
        case .oggVorbis: "ogg"
        case .oggOpus: "opus"
        case .mp3: "mp3"
        }
    }

    /// True for codecs that change samples (and add encoder delay), so tests compare tones, not bits.
    public var isLossy: Bool { [.oggVorbis, .oggOpus, .mp3, .wavULaw, .wavALaw].contains(self) }
}

/// An audio file open for writing through libsndfile; closed (and its header finalised) in `deinit` or `close()`.
public final class SoundFileWriter {
    public let path: String
    public let channels: Int
    private var handle: OpaquePointer?

    public init(path: String, format: AudioFileFormat, rate: Int, channels: Int) throws(AudioError) {
        self.path = path
        self.channels = channels
        var info = SF_INFO()
        info.samplerate = Int32(rate)
        info.channels = Int32(channels)
        info.format = format.code
        guard let handle = sf_open(path, Int32(SFM_WRITE), &info) else {
            throw .unreadable(path: path, reason: "cannot write \(format.rawValue): \(String(cString: sf_strerror(nil)))")
        }
        self.handle = handle
    }

    deinit { close() }

    /// Appends interleaved float frames in [-1, 1].
    public func write(_ samples: [Float]) throws(AudioError) {
        guard let handle else { throw .unreadable(path: path, reason: "already closed") }
        let frames = samples.count / channels
        let written = samples.withUnsafeBufferPointer { sf_writef_float(handle, $0.baseAddress, sf_count_t(frames)) }
        guard written == frames else {
            throw .unreadable(path: path, reason: "write failed: \(String(cString: sf_strerror(handle)))")
        }
    }

    public func close() {
        if let handle { sf_close(handle) }
        handle = nil
    }
}
