import Foundation

/// Level measurement and gain of recorded periods, in the device's own sample format (S16 or S32 interleaved).
enum LiveLevel {
    /// The RMS level of `frames` frames, in dBFS (a full-scale sine is about -3 dBFS; digital silence is -infinity).
    static func rms(of buffer: UnsafeRawPointer, frames: Int, format: OutputFormat) -> Double {
        let count = frames * format.channels
        guard count > 0 else { return -.infinity }
        var sum = 0.0
        switch format.sampleFormat {
        case .s16:
            let samples = buffer.assumingMemoryBound(to: Int16.self)
            for i in 0..<count {
                let v = Double(samples[i]) / 32_768
                sum += v * v
            }
        case .s32:
            let samples = buffer.assumingMemoryBound(to: Int32.self)
            for i in 0..<count {
                let v = Double(samples[i]) / 2_147_483_648
                sum += v * v
            }
        }
        return 10 * log10(sum / Double(count))
    }

    /// Multiplies every sample by `gain`, clipping at full scale.
    static func apply(gain: Float, to buffer: UnsafeMutableRawPointer, frames: Int, format: OutputFormat) {
        let count = frames * format.channels
        switch format.sampleFormat {
        case .s16:
            let samples = buffer.assumingMemoryBound(to: Int16.self)
            for i in 0..<count { samples[i] = Int16(max(-32_768, min(32_767, (Float(samples[i]) * gain).rounded()))) }
        case .s32:
            let samples = buffer.assumingMemoryBound(to: Int32.self)
            for i in 0..<count {
                samples[i] = Int32(max(-2_147_483_648, min(2_147_483_647, (Double(samples[i]) * Double(gain)).rounded())))
            }
        }
    }
}
