import Foundation

/// Reads one audio file as frames in the device's format: channel mixing, resampling (libsoxr or libsamplerate) and gain.
/// Buffers are allocated once and sized by the block, never by the file, so a two-hour file plays in the memory
/// of a one-minute one. When nothing needs converting the samples go straight from libsndfile to the device buffer,
/// which keeps plain WAV playback as cheap as aplay and bit-exact.
public final class ConvertingReader {
    public let file: SoundFile
    public let output: OutputFormat
    /// Length of the whole file at the device rate.
    public let totalFrames: Int64
    /// True when samples pass through untouched.
    public let isDirect: Bool

    private let gain: Float
    /// Channels carried through the resampler: the smaller of file and device, so mono→stereo resamples once.
    private let innerChannels: Int
    private let resampler: (any Resampler)?
    private let block = 2_048
    private let fileBuffer: UnsafeMutablePointer<Float>
    private let innerBuffer: UnsafeMutablePointer<Float>
    private let pending: UnsafeMutablePointer<Float>
    private let pendingCapacity: Int
    private let scratch: UnsafeMutablePointer<Float>
    private var inputOffset = 0
    private var inputCount = 0
    private var pendingStart = 0
    private var pendingCount = 0
    private var fileEnded = false
    private var finished = false

    /// - Parameters:
    ///   - gain: linear factor applied before conversion to integers (clipped there).
    ///   - startFrame: frames to skip at the device rate, to resume an interrupted programme.
    public init(path: String, output: OutputFormat, gain: Float = 1, startFrame: Int64 = 0) throws(AudioError) {
        let file = try SoundFile(path: path)
        self.file = file
        self.output = output
        self.gain = gain
        self.totalFrames = file.frames * Int64(output.rate) / Int64(file.rate)
        let sameShape = file.rate == output.rate && file.channels == output.channels && gain == 1
        self.isDirect =
            sameShape && (output.sampleFormat == .s16 ? file.isAtMost16BitInteger : file.isAtMost32BitInteger)
        self.innerChannels = min(file.channels, output.channels)
        self.resampler =
            file.rate == output.rate
            ? nil : try makeResampler(from: file.rate, to: output.rate, channels: innerChannels, quality: output.resamplerQuality)
        let ratio = Double(output.rate) / Double(file.rate)
        self.pendingCapacity = Int((Double(block) * ratio).rounded(.up)) + output.periodFrames + 256
        self.fileBuffer = .allocate(capacity: file.channels == innerChannels ? 1 : block * file.channels)
        self.innerBuffer = .allocate(capacity: block * innerChannels)
        self.pending = .allocate(capacity: pendingCapacity * innerChannels)
        self.scratch = .allocate(capacity: (output.periodFrames + block) * output.channels)
        if startFrame > 0 {
            try file.seek(to: startFrame * Int64(file.rate) / Int64(output.rate))
        }
    }

    deinit {
        fileBuffer.deallocate()
        innerBuffer.deallocate()
        pending.deallocate()
        scratch.deallocate()
    }

    /// Fills `out` with up to `frames` device frames; fewer only at the end of the file, 0 once it is over.
    public func read(into out: UnsafeMutableRawPointer, frames: Int) throws(AudioError) -> Int {
        if isDirect {
            var done = 0
            while done < frames {
                let n: Int
                switch output.sampleFormat {
                case .s16:
                    n = try file.read(into: out.assumingMemoryBound(to: Int16.self) + done * output.channels, frames: frames - done)
                case .s32:
                    n = try file.read(into: out.assumingMemoryBound(to: Int32.self) + done * output.channels, frames: frames - done)
                }
                if n == 0 { break }
                done += n
            }
            return done
        }
        while pendingCount < frames, !finished { try refill() }
        let count = min(frames, pendingCount)
        guard count > 0 else { return 0 }
        emit(from: pending + pendingStart * innerChannels, frames: count, into: out)
        pendingStart += count
        pendingCount -= count
        return count
    }

    /// Widens to the device's channels, applies gain, converts to integers.
    private func emit(from source: UnsafeMutablePointer<Float>, frames: Int, into out: UnsafeMutableRawPointer) {
        let deviceChannels = output.channels
        var floats = source
        if deviceChannels != innerChannels || gain != 1 {
            for frame in 0..<frames {
                let inBase = frame * innerChannels
                let outBase = frame * deviceChannels
                for channel in 0..<deviceChannels {
                    scratch[outBase + channel] = source[inBase + channel % innerChannels] * gain
                }
            }
            floats = scratch
        }
        let samples = frames * deviceChannels
        switch output.sampleFormat {
        case .s16: SampleConversion.toInt16(floats, out.assumingMemoryBound(to: Int16.self), count: samples)
        case .s32: SampleConversion.toInt32(floats, out.assumingMemoryBound(to: Int32.self), count: samples)
        }
    }

    /// Decodes one more block (or flushes the resampler) into `pending`.
    private func refill() throws(AudioError) {
        if pendingStart > 0 {
            if pendingCount > 0 {
                (pending).update(from: pending + pendingStart * innerChannels, count: pendingCount * innerChannels)
            }
            pendingStart = 0
        }
        if inputCount == 0, !fileEnded {
            let direct = file.channels == innerChannels
            let n = try file.read(into: direct ? innerBuffer : fileBuffer, frames: block)
            if n == 0 {
                fileEnded = true
            } else {
                if !direct { mixDown(frames: n) }
                inputOffset = 0
                inputCount = n
            }
        }
        let free = pendingCapacity - pendingCount
        let tail = pending + pendingCount * innerChannels
        if let resampler {
            let (used, produced) = try resampler.process(
                input: innerBuffer + inputOffset * innerChannels, inputFrames: inputCount, output: tail, outputCapacity: free,
                endOfInput: fileEnded)
            inputOffset += used
            inputCount -= used
            pendingCount += produced
            if fileEnded, inputCount == 0, produced == 0 { finished = true }
        } else {
            let count = min(free, inputCount)
            tail.update(from: innerBuffer + inputOffset * innerChannels, count: count * innerChannels)
            inputOffset += count
            inputCount -= count
            pendingCount += count
            if fileEnded, inputCount == 0 { finished = true }
        }
    }

    /// Folds the file's channels into `innerChannels`: each inner channel is the mean of the file channels that map to it.
    private func mixDown(frames: Int) {
        let fileChannels = file.channels
        let scale = Float(innerChannels) / Float(fileChannels)
        for frame in 0..<frames {
            let inBase = frame * fileChannels
            let outBase = frame * innerChannels
            for channel in 0..<innerChannels { innerBuffer[outBase + channel] = 0 }
            for channel in 0..<fileChannels { innerBuffer[outBase + channel % innerChannels] += fileBuffer[inBase + channel] }
            for channel in 0..<innerChannels { innerBuffer[outBase + channel] *= scale }
        }
    }
}
