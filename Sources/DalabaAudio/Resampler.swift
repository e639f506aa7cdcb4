import CSampleRate
import CSoxr

/// One item's sample-rate converter: float32 interleaved in and out, at `innerChannels`. ConvertingReader only sees
/// this, so a back end is one class per C handle and adding one touches nothing else.
protocol Resampler: AnyObject {
    /// Converts up to `inputFrames` frames into at most `outputCapacity`; returns (frames consumed, frames produced).
    /// `endOfInput` means no frame follows those given: the filter's tail is flushed, and a call that produces nothing
    /// with nothing left to consume means the stream is fully drained.
    func process(
        input: UnsafePointer<Float>, inputFrames: Int, output: UnsafeMutablePointer<Float>, outputCapacity: Int, endOfInput: Bool
    ) throws(AudioError) -> (consumed: Int, produced: Int)
}

/// The converter `quality` names: soxr for the `soxr-*` settings, libsamplerate for the others.
func makeResampler(from sourceRate: Int, to targetRate: Int, channels: Int, quality: ResamplerQuality) throws(AudioError) -> any Resampler {
    switch quality {
    case .soxrVeryHigh, .soxrHigh, .soxrMedium, .soxrQuick:
        try SoxrResampler(from: sourceRate, to: targetRate, channels: channels, quality: quality)
    case .best, .medium, .fastest, .linear:
        try SampleRateResampler(from: sourceRate, to: targetRate, channels: channels, quality: quality)
    }
}

/// A libsamplerate converter: one Swift object per `SRC_STATE*`, freed in `deinit`.
final class SampleRateResampler: Resampler {
    let ratio: Double
    let channels: Int
    private let state: OpaquePointer

    init(from sourceRate: Int, to targetRate: Int, channels: Int, quality: ResamplerQuality) throws(AudioError) {
        let type: Int32 =
            switch quality {
            case .best: Int32(SRC_SINC_BEST_QUALITY)
            case .medium: Int32(SRC_SINC_MEDIUM_QUALITY)
            case .linear: Int32(SRC_LINEAR)
            default: Int32(SRC_SINC_FASTEST)
            }
        var error: Int32 = 0
        guard let state = src_new(type, Int32(channels), &error) else {
            throw .conversion(reason: String(cString: src_strerror(error)))
        }
        self.state = state
        self.ratio = Double(targetRate) / Double(sourceRate)
        self.channels = channels
    }

    deinit { src_delete(state) }

    func process(
        input: UnsafePointer<Float>, inputFrames: Int, output: UnsafeMutablePointer<Float>, outputCapacity: Int, endOfInput: Bool
    ) throws(AudioError) -> (consumed: Int, produced: Int) {
        var data = SRC_DATA()
        data.data_in = input
        data.data_out = output
        data.input_frames = inputFrames
        data.output_frames = outputCapacity
        data.src_ratio = ratio
        data.end_of_input = endOfInput ? 1 : 0
        let status = src_process(state, &data)
        guard status == 0 else { throw .conversion(reason: String(cString: src_strerror(status))) }
        return (Int(data.input_frames_used), Int(data.output_frames_gen))
    }
}

/// A libsoxr converter (what sox itself uses): one Swift object per `soxr_t`, freed in `deinit`. Its polyphase FFT
/// filters cost a fraction of libsamplerate's sinc at better quality. Always single-threaded: the player thread must
/// not spawn more, and one stream of speech gains nothing from them.
final class SoxrResampler: Resampler {
    let channels: Int
    private let state: OpaquePointer

    init(from sourceRate: Int, to targetRate: Int, channels: Int, quality: ResamplerQuality) throws(AudioError) {
        let recipe: UInt =
            switch quality {
            case .soxrVeryHigh: UInt(SOXR_VHQ)
            case .soxrMedium: UInt(SOXR_MQ)
            case .soxrQuick: UInt(SOXR_QQ)
            default: UInt(SOXR_HQ)
            }
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        var qualitySpec = soxr_quality_spec(recipe, 0)
        var runtime = soxr_runtime_spec(1)
        var error: soxr_error_t? = nil
        let state = soxr_create(Double(sourceRate), Double(targetRate), UInt32(channels), &error, &io, &qualitySpec, &runtime)
        if let error {
            if let state { soxr_delete(state) }
            throw .conversion(reason: "soxr: " + String(cString: error))
        }
        guard let state else { throw .conversion(reason: "soxr: could not create a resampler") }
        self.state = state
        self.channels = channels
    }

    deinit { soxr_delete(state) }

    /// soxr has no end-of-input flag beside the data: it is told by a call with no input buffer. So once the last
    /// frames are all taken, the same call drains the tail into whatever room is left; a stream is never declared over
    /// by a call that consumed its last frames but produced nothing while the filter still held some.
    func process(
        input: UnsafePointer<Float>, inputFrames: Int, output: UnsafeMutablePointer<Float>, outputCapacity: Int, endOfInput: Bool
    ) throws(AudioError) -> (consumed: Int, produced: Int) {
        var consumed = 0
        var produced = 0
        if inputFrames > 0 {
            try run(input: input, inputFrames: inputFrames, output: output, outputCapacity: outputCapacity, consumed: &consumed, produced: &produced)
        }
        if endOfInput, consumed == inputFrames, produced < outputCapacity {
            var drained = 0
            var unused = 0
            try run(
                input: nil, inputFrames: 0, output: output + produced * channels, outputCapacity: outputCapacity - produced,
                consumed: &unused, produced: &drained)
            produced += drained
        }
        return (consumed, produced)
    }

    private func run(
        input: UnsafePointer<Float>?, inputFrames: Int, output: UnsafeMutablePointer<Float>, outputCapacity: Int,
        consumed: inout Int, produced: inout Int
    ) throws(AudioError) {
        var used = 0
        var done = 0
        if let error = soxr_process(state, input, inputFrames, &used, output, outputCapacity, &done) {
            throw .conversion(reason: "soxr: " + String(cString: error))
        }
        consumed = used
        produced = done
    }
}

/// Float to integer conversion with rounding and clipping, in libsamplerate's optimised loops.
enum SampleConversion {
    static func toInt16(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Int16>, count: Int) {
        src_float_to_short_array(input, output, Int32(count))
    }

    static func toInt32(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Int32>, count: Int) {
        src_float_to_int_array(input, output, Int32(count))
    }
}
