import CEBUR128
import Foundation

/// The EBU R128 loudness of one audio file, stored with the file so playback can level it without measuring again.
public struct LoudnessMeasurement: Codable, Sendable, Hashable {
    /// Integrated (programme) loudness in LUFS; `-infinity` for silence (nothing above the −70 LUFS absolute gate).
    public var integrated: Double
    /// The highest true peak over all channels in dBTP (4× oversampled below 96 kHz); `-infinity` for digital silence.
    public var truePeak: Double
    /// Loudness range in LU (EBU Tech 3342); 0 when the file is too short or too quiet to have one.
    public var loudnessRange: Double

    public init(integrated: Double, truePeak: Double, loudnessRange: Double) {
        self.integrated = integrated
        self.truePeak = truePeak
        self.loudnessRange = loudnessRange
    }

    /// True when the file has nothing above the absolute gate, so no gain can bring it to a target.
    public var isSilent: Bool { !integrated.isFinite }

    /// JSON cannot hold infinities, so silence is stored as `null` and read back as `-infinity`.
    private enum CodingKeys: String, CodingKey { case integrated, truePeak, loudnessRange }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        integrated = try container.decodeIfPresent(Double.self, forKey: .integrated) ?? -.infinity
        truePeak = try container.decodeIfPresent(Double.self, forKey: .truePeak) ?? -.infinity
        loudnessRange = try container.decodeIfPresent(Double.self, forKey: .loudnessRange) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(integrated.isFinite ? integrated : nil, forKey: .integrated)
        try container.encode(truePeak.isFinite ? truePeak : nil, forKey: .truePeak)
        try container.encode(loudnessRange, forKey: .loudnessRange)
    }
}

/// Loudness measurement and levelling, so a quiet recording from a township office and a loud one from the county
/// come out of the loudspeakers at the same loudness, without clipping.
public enum Loudness {
    /// Frames decoded per read: bounded, so a two-hour programme is measured in the memory of a short one.
    static let blockFrames = 8_192

    /// Measures a file's integrated loudness, true peak and loudness range, streaming it through libsndfile.
    /// Mono is measured as dual mono, i.e. as it sounds when the player sends it to both channels of the amplifier,
    /// so mono and stereo files are levelled alike.
    public static func measure(path: String) throws(AudioError) -> LoudnessMeasurement {
        let file = try SoundFile(path: path)
        let meter = try LoudnessMeter(channels: file.channels, rate: file.rate, path: path)
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: blockFrames * file.channels)
        defer { buffer.deallocate() }
        while true {
            let frames = try file.read(into: buffer, frames: blockFrames)
            if frames == 0 { break }
            try meter.add(buffer, frames: frames)
        }
        return try meter.measurement()
    }

    /// The linear gain for the player that brings `measurement` to `target` LUFS, reduced where needed so the true
    /// peak after gain stays at or below `truePeakCeiling` dBTP. Silence gets 1: there is nothing to level, and
    /// boosting noise floor to a speech loudness would only make hiss.
    public static func gain(for measurement: LoudnessMeasurement, target: Double = -16, truePeakCeiling: Double = -1) -> Float {
        guard measurement.integrated.isFinite else { return 1 }
        var decibels = target - measurement.integrated
        if measurement.truePeak.isFinite {
            decibels = min(decibels, truePeakCeiling - measurement.truePeak)
        }
        return Float(pow(10, decibels / 20))
    }
}

/// One libebur128 meter: one Swift object per `ebur128_state*`, destroyed in `deinit`.
final class LoudnessMeter {
    let channels: Int
    private let path: String
    private var state: UnsafeMutablePointer<ebur128_state>?

    init(channels: Int, rate: Int, path: String) throws(AudioError) {
        self.channels = channels
        self.path = path
        let mode = Int32(EBUR128_MODE_I.rawValue | EBUR128_MODE_TRUE_PEAK.rawValue | EBUR128_MODE_LRA.rawValue)
        guard let state = ebur128_init(UInt32(channels), UInt(rate), mode) else {
            throw .unsupported(path: path, reason: "the loudness meter cannot measure \(channels) channels at \(rate) Hz")
        }
        self.state = state
        if channels == 1 {
            try check(ebur128_set_channel(state, 0, Int32(EBUR128_DUAL_MONO.rawValue)), "set the mono channel")
        }
    }

    deinit { ebur128_destroy(&state) }

    /// Feeds `frames` interleaved frames.
    func add(_ samples: UnsafePointer<Float>, frames: Int) throws(AudioError) {
        try check(ebur128_add_frames_float(state, samples, frames), "add frames")
    }

    func measurement() throws(AudioError) -> LoudnessMeasurement {
        var integrated = 0.0
        try check(ebur128_loudness_global(state, &integrated), "compute integrated loudness")
        var range = 0.0
        try check(ebur128_loudness_range(state, &range), "compute loudness range")
        var peak = 0.0
        for channel in 0..<channels {
            var channelPeak = 0.0
            try check(ebur128_true_peak(state, UInt32(channel), &channelPeak), "compute true peak")
            peak = max(peak, channelPeak)
        }
        return LoudnessMeasurement(
            integrated: integrated, truePeak: peak > 0 ? 20 * log10(peak) : -.infinity, loudnessRange: range.isFinite ? range : 0)
    }

    private func check(_ code: Int32, _ what: String) throws(AudioError) {
        guard code != Int32(EBUR128_SUCCESS.rawValue) else { return }
        let reason =
            switch UInt32(code) {
            case EBUR128_ERROR_NOMEM.rawValue: "out of memory"
            case EBUR128_ERROR_INVALID_MODE.rawValue: "meter mode does not allow it"
            case EBUR128_ERROR_INVALID_CHANNEL_INDEX.rawValue: "invalid channel index"
            default: "error \(code)"
            }
        throw .unsupported(path: path, reason: "loudness meter could not \(what): \(reason)")
    }
}
