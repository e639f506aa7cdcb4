import Foundation

/// Pure tones for test items, and the analysis that reads a capture back: which tone each block holds, and its
/// exact frequency. A captured raw stream is the truth about what the loudspeakers would have said.
public enum Tone {
    /// Interleaved samples of a sine at `frequency`, the same on every channel.
    public static func sine(frequency: Double, seconds: Double, rate: Int, channels: Int = 1, amplitude: Float = 0.5) -> [Float] {
        let frames = Int((seconds * Double(rate)).rounded())
        var out = [Float](repeating: 0, count: frames * channels)
        let step = 2 * Double.pi * frequency / Double(rate)
        for frame in 0..<frames {
            let value = amplitude * Float(sin(step * Double(frame)))
            for channel in 0..<channels { out[frame * channels + channel] = value }
        }
        return out
    }
}

/// A raw capture of interleaved S16 little-endian frames, as ALSA's file plugin writes it.
public struct Capture: Sendable {
    public let samples: [Int16]
    public let channels: Int
    public let rate: Int

    public init(path: String, channels: Int, rate: Int) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        samples = data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        self.channels = channels
        self.rate = rate
    }

    public init(samples: [Int16], channels: Int, rate: Int) {
        self.samples = samples
        self.channels = channels
        self.rate = rate
    }

    public var frames: Int { samples.count / channels }

    /// One channel of frames `range`, scaled to [-1, 1].
    public func channel(_ channel: Int, frames range: Range<Int>) -> [Float] {
        range.map { Float(samples[$0 * channels + channel]) / 32768 }
    }

    /// The tone heard in each block of `blockFrames` (10 ms by default), merged into runs: the sequence of
    /// tones with their frame counts shows order, preemption points, gaps and repeats.
    public func runs(candidates: [Double], blockFrames: Int? = nil) -> [Run] {
        let block = blockFrames ?? rate / 100
        var runs: [Run] = []
        var start = 0
        while start < frames {
            let end = min(start + block, frames)
            let tone = ToneAnalysis.dominant(channel(0, frames: start..<end), rate: rate, candidates: candidates)
            if let last = runs.last, last.tone == tone {
                runs[runs.count - 1].frames += end - start
            } else {
                runs.append(Run(tone: tone, start: start, frames: end - start))
            }
            start = end
        }
        return runs
    }

    /// The first frame at or after `from` where `tone` begins, exact to a frame or two for pure tones: a coarse scan finds
    /// the first 5 ms window the tone dominates, then a fine scan finds the first window made of nothing but the tone.
    public func onset(of tone: Double, candidates: [Double], from: Int = 0, resolution: Int = 48) -> Int? {
        let window = rate / 200
        var start = from
        while start + window <= frames {
            if ToneAnalysis.dominant(channel(0, frames: start..<(start + window)), rate: rate, candidates: candidates) == tone {
                for fine in start..<min(start + window, frames - window) {
                    if ToneAnalysis.share(channel(0, frames: fine..<(fine + window)), rate: rate, frequency: tone) > 0.995 { return fine }
                }
                return start
            }
            start += resolution
        }
        return nil
    }

    public struct Run: Sendable, Equatable, CustomStringConvertible {
        /// nil for silence (or nothing the candidates explain).
        public var tone: Double?
        public var start: Int
        public var frames: Int
        public var description: String { "\(tone.map { "\(Int($0)) Hz" } ?? "silence") × \(frames)" }
    }
}

public enum ToneAnalysis {
    /// Root-mean-square level of a block.
    public static func rms(_ block: [Float]) -> Float {
        guard !block.isEmpty else { return 0 }
        return (block.reduce(0) { $0 + $1 * $1 } / Float(block.count)).squareRoot()
    }

    /// Power of `frequency` in `block` by the Goertzel algorithm.
    public static func goertzel(_ block: [Float], rate: Int, frequency: Double) -> Double {
        let coefficient = 2 * cos(2 * Double.pi * frequency / Double(rate))
        var s1 = 0.0
        var s2 = 0.0
        for sample in block {
            let s0 = Double(sample) + coefficient * s1 - s2
            s2 = s1
            s1 = s0
        }
        return s1 * s1 + s2 * s2 - coefficient * s1 * s2
    }

    /// How much of the block's energy is the pure tone `frequency`: 1 for a block of nothing else.
    public static func share(_ block: [Float], rate: Int, frequency: Double) -> Double {
        let level = Double(rms(block))
        guard level > 0 else { return 0 }
        let expected = level * level * Double(block.count * block.count) / 2
        return goertzel(block, rate: rate, frequency: frequency) / expected
    }

    /// Which candidate tone carries most of the block's energy, or nil for silence or noise.
    public static func dominant(_ block: [Float], rate: Int, candidates: [Double]) -> Double? {
        let level = rms(block)
        guard level > 0.01 else { return nil }
        let powers = candidates.map { goertzel(block, rate: rate, frequency: $0) }
        guard let best = powers.indices.max(by: { powers[$0] < powers[$1] }) else { return nil }
        // A pure sine of RMS r over N samples has Goertzel power ≈ (r·N)²/2; demand a good share of that.
        let expected = Double(level) * Double(block.count) * Double(level) * Double(block.count) / 2
        return powers[best] > expected * 0.3 ? candidates[best] : nil
    }

    /// The frequency of a pure tone from its zero crossings, interpolated between samples: far finer than an FFT bin
    /// of a 10 ms block. nil when the block holds fewer than two crossings.
    public static func frequency(_ block: [Float], rate: Int) -> Double? {
        var crossings: [Double] = []
        for i in 1..<block.count where block[i - 1] < 0 && block[i] >= 0 {
            let fraction = Double(-block[i - 1]) / Double(block[i] - block[i - 1])
            crossings.append(Double(i - 1) + fraction)
        }
        guard crossings.count >= 2, let first = crossings.first, let last = crossings.last, last > first else { return nil }
        return Double(crossings.count - 1) * Double(rate) / (last - first)
    }
}
