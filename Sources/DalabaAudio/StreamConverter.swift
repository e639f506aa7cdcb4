/// Decoded float blocks of a stream (at the stream's rate and channels) as frames in the device's format: channels
/// folded or widened as `ConvertingReader` does, resampled by the station's own resampler, converted by its sample
/// conversion. Unlike a file, a stream never ends, so the resampler's tail is never flushed. A relay's converter is made
/// with a `maximumCorrection`: it then always resamples, on soxr's variable-rate engine, at the ratio the drift corrector
/// asks for (`correct(to:)`).
final class StreamConverter {
    let sourceRate: Int
    let sourceChannels: Int
    let output: OutputFormat
    private let innerChannels: Int
    private let resampler: (any Resampler)?
    private let variable: VariableRateResampler?
    /// Output frames per input frame beyond the rates' own ratio: 1 unless corrected.
    var correction: Double { variable?.ratio ?? 1 }
    private var inner: [Float] = []
    private var resampled: [Float] = []
    private var widened: [Float] = []
    private var converted: [UInt8] = []

    init(rate: Int, channels: Int, output: OutputFormat, maximumCorrection: Double? = nil) throws(AudioError) {
        sourceRate = rate
        sourceChannels = channels
        self.output = output
        innerChannels = min(channels, output.channels)
        if let maximumCorrection {
            let variable = try VariableRateResampler(from: rate, to: output.rate, channels: innerChannels, maximumCorrection: maximumCorrection)
            self.variable = variable
            resampler = variable
        } else {
            variable = nil
            resampler =
                rate == output.rate ? nil : try makeResampler(from: rate, to: output.rate, channels: innerChannels, quality: output.resamplerQuality)
        }
    }

    /// From the next frame on, makes `ratio` output frames per input frame beyond the rates' ratio (a variable converter
    /// only; clamped to its maximum correction).
    func correct(to ratio: Double) throws(AudioError) { try variable?.correct(to: ratio) }

    /// Converts `samples` (interleaved, `sourceChannels`) and hands the device frames to `body` as raw bytes.
    func convert(_ samples: UnsafeBufferPointer<Float>, _ body: (UnsafeRawBufferPointer) -> Void) throws(AudioError) {
        let frames = samples.count / sourceChannels
        guard frames > 0 else { return }
        fold(samples, frames: frames)
        var produced = frames
        if let resampler {
            let stretch = 1 + (variable?.maximumCorrection ?? 0)
            let capacity = Int((Double(frames) * Double(output.rate) / Double(sourceRate) * stretch).rounded(.up)) + 64
            if resampled.count < capacity * innerChannels { resampled = .init(repeating: 0, count: capacity * innerChannels) }
            produced = 0
            var consumed = 0
            try inner.withUnsafeBufferPointer { input throws(AudioError) in
                try resampled.withUnsafeMutableBufferPointer { out throws(AudioError) in
                    while consumed < frames {
                        let (used, made) = try resampler.process(
                            input: input.baseAddress! + consumed * innerChannels, inputFrames: frames - consumed,
                            output: out.baseAddress! + produced * innerChannels, outputCapacity: capacity - produced, endOfInput: false)
                        consumed += used
                        produced += made
                        if used == 0 && made == 0 { break }
                        if produced == capacity { break }
                    }
                }
            }
        }
        guard produced > 0 else { return }
        let source = resampler == nil ? inner : resampled
        let count = produced * output.channels
        if widened.count < count { widened = .init(repeating: 0, count: count) }
        for frame in 0..<produced {
            for channel in 0..<output.channels {
                widened[frame * output.channels + channel] = source[frame * innerChannels + channel % innerChannels]
            }
        }
        let bytes = count * output.sampleFormat.bytesPerSample
        if converted.count < bytes { converted = .init(repeating: 0, count: bytes) }
        widened.withUnsafeBufferPointer { floats in
            converted.withUnsafeMutableBytes { raw in
                switch output.sampleFormat {
                case .s16: SampleConversion.toInt16(floats.baseAddress!, raw.baseAddress!.assumingMemoryBound(to: Int16.self), count: count)
                case .s32: SampleConversion.toInt32(floats.baseAddress!, raw.baseAddress!.assumingMemoryBound(to: Int32.self), count: count)
                }
                body(UnsafeRawBufferPointer(rebasing: raw[0..<bytes]))
            }
        }
    }

    /// Folds the stream's channels into `innerChannels` (each the mean of the channels mapped to it).
    private func fold(_ samples: UnsafeBufferPointer<Float>, frames: Int) {
        if inner.count < frames * innerChannels { inner = .init(repeating: 0, count: frames * innerChannels) }
        if innerChannels == sourceChannels {
            for i in 0..<(frames * innerChannels) { inner[i] = samples[i] }
            return
        }
        let scale = Float(innerChannels) / Float(sourceChannels)
        for frame in 0..<frames {
            for channel in 0..<innerChannels { inner[frame * innerChannels + channel] = 0 }
            for channel in 0..<sourceChannels { inner[frame * innerChannels + channel % innerChannels] += samples[frame * sourceChannels + channel] }
            for channel in 0..<innerChannels { inner[frame * innerChannels + channel] *= scale }
        }
    }
}
