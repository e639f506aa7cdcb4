import CSampleRate

/// A libsamplerate converter for one item's stream: one Swift object per `SRC_STATE*`, freed in `deinit`.
final class Resampler {
    let ratio: Double
    let channels: Int
    private let state: OpaquePointer

    init(from sourceRate: Int, to targetRate: Int, channels: Int, quality: ResamplerQuality) throws(AudioError) {
        let type: Int32 =
            switch quality {
            case .best: Int32(SRC_SINC_BEST_QUALITY)
            case .medium: Int32(SRC_SINC_MEDIUM_QUALITY)
            case .fastest: Int32(SRC_SINC_FASTEST)
            case .linear: Int32(SRC_LINEAR)
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

    /// Converts `inputFrames` frames; returns (frames consumed, frames produced). `endOfInput` flushes the filter's tail.
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

/// Float to integer conversion with rounding and clipping, in libsamplerate's optimised loops.
enum SampleConversion {
    static func toInt16(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Int16>, count: Int) {
        src_float_to_short_array(input, output, Int32(count))
    }

    static func toInt32(_ input: UnsafePointer<Float>, _ output: UnsafeMutablePointer<Int32>, count: Int) {
        src_float_to_int_array(input, output, Int32(count))
    }
}
