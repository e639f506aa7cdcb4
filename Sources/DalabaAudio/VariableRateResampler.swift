import CSoxr

/// A relay's resampler: libsoxr's variable-rate engine (`SOXR_VR`), whose ratio follows the drift corrector, so a stream
/// whose clock runs apart from the card's is stretched by a few ppm instead of over- or under-running the jitter buffer.
/// One Swift object per `soxr_t`, freed in `deinit`. Used even between equal rates, where only the correction resamples.
final class VariableRateResampler: Resampler {
    let channels: Int
    /// Input frames per output frame with no correction.
    let nominalIORatio: Double
    /// The largest correction `correct(to:)` accepts either way (0.01 is 1 %).
    let maximumCorrection: Double
    private let state: OpaquePointer
    private(set) var ratio: Double = 1

    init(from sourceRate: Int, to targetRate: Int, channels: Int, maximumCorrection: Double) throws(AudioError) {
        precondition(maximumCorrection > 0 && maximumCorrection < 0.5)
        nominalIORatio = Double(sourceRate) / Double(targetRate)
        self.maximumCorrection = maximumCorrection
        var io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I)
        // soxr's variable-rate engine takes this recipe (its example 5); its rates give the largest I/O ratio it will run at.
        var quality = soxr_quality_spec(UInt(SOXR_HQ), UInt(SOXR_VR))
        var runtime = soxr_runtime_spec(1)
        var error: soxr_error_t? = nil
        let state = soxr_create(nominalIORatio / (1 - maximumCorrection), 1, UInt32(channels), &error, &io, &quality, &runtime)
        if let error {
            if let state { soxr_delete(state) }
            throw .conversion(reason: "soxr: " + String(cString: error))
        }
        guard let state else { throw .conversion(reason: "soxr: could not create a variable-rate resampler") }
        self.state = state
        self.channels = channels
        try check(soxr_set_io_ratio(state, nominalIORatio, 0))
    }

    deinit { soxr_delete(state) }

    /// Runs at `ratio` output frames per input frame from the next frame on (clamped to the correction allowed).
    func correct(to ratio: Double) throws(AudioError) {
        let clamped = min(1 + maximumCorrection, max(1 - maximumCorrection, ratio))
        guard clamped != self.ratio else { return }
        try check(soxr_set_io_ratio(state, nominalIORatio / clamped, 0))
        self.ratio = clamped
    }

    func process(
        input: UnsafePointer<Float>, inputFrames: Int, output: UnsafeMutablePointer<Float>, outputCapacity: Int, endOfInput: Bool
    ) throws(AudioError) -> (consumed: Int, produced: Int) {
        // A stream never ends: no call flushes the filter (soxr takes a nil input as the end).
        guard inputFrames > 0 else { return (0, 0) }
        var used = 0
        var done = 0
        try check(soxr_process(state, input, inputFrames, &used, output, outputCapacity, &done))
        return (used, done)
    }

    private func check(_ error: soxr_error_t?) throws(AudioError) {
        if let error { throw .conversion(reason: "soxr: " + String(cString: error)) }
    }
}
