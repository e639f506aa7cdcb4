import Foundation

/// Keeps a live input's capture buffer at its target fill when the input's clock and the output's differ (a USB microphone
/// on one card, the amplifier on another): a few hundred ppm apart, the input slowly over- or under-runs. From the fill
/// seen at each read (`snd_pcm_avail` of the capture PCM), a PI controller gives the ratio, output frames per input
/// frame, at which a variable-rate resampler (soxr's `SOXR_VR`) should run, so the fill stays put and the ratio settles
/// at the clocks' true ratio.
///
/// Pure: fills in, steps out. The fill is smoothed first (it jumps by a period at every read); the loop is slow (about ten
/// seconds) and critically damped, so the pitch never wobbles audibly; the correction is clamped (`maximumCorrection`),
/// and a fill so far off that nudging cannot mend it before an xrun asks the caller to skip or repeat frames at once.
public struct DriftCorrector: Sendable, Equatable {
    public struct Settings: Sendable, Equatable {
        /// The input's sample rate, for the controller's time base.
        public var rate: Int
        /// The capture buffer's size in frames; the fill is kept between one period and the buffer less one period.
        public var bufferFrames: Int
        public var periodFrames: Int
        /// The fill the controller holds, in frames: half the buffer by default, as far as can be from both xruns.
        public var targetFill: Double
        /// The largest correction of the ratio (0.005 is 0.5 %, about 9 cents: inaudible in speech), far beyond two real
        /// cards' drift (under 0.03 %).
        public var maximumCorrection: Double = 0.005
        /// Seconds over which the fill is smoothed before it is controlled.
        public var smoothingSeconds: Double = 0.5
        /// The loop's natural frequency in rad/s: 0.1 settles a step in drift in about 30 s without overshoot.
        public var loopFrequency: Double = 0.1

        public init(rate: Int, bufferFrames: Int, periodFrames: Int, targetFill: Double? = nil) {
            self.rate = rate
            self.bufferFrames = bufferFrames
            self.periodFrames = periodFrames
            self.targetFill = targetFill ?? Double(bufferFrames) / 2
        }
    }

    /// What the caller does with the input it reads next.
    public enum Step: Sendable, Equatable {
        /// Resample at this ratio: output frames per input frame.
        case resample(ratio: Double)
        /// The fill is too far off for a nudge: drop this many input frames (negative: repeat that many), then resample at
        /// `ratio`.
        case skip(frames: Int, ratio: Double)
    }

    public private(set) var settings: Settings
    /// The smoothed fill in frames.
    public private(set) var smoothedFill: Double
    /// The integral term: at rest, the clocks' drift (the ratio's correction that holds the fill steady).
    public private(set) var integral = 0.0
    /// The correction in force (ratio − 1).
    public private(set) var correction = 0.0

    public init(settings: Settings) {
        precondition(settings.rate > 0 && settings.periodFrames > 0 && settings.bufferFrames >= 2 * settings.periodFrames, "\(settings)")
        self.settings = settings
        smoothedFill = settings.targetFill
    }

    /// The input clock's drift relative to the output's, in parts per million, as the controller estimates it (positive:
    /// the input runs fast).
    public var estimatedDriftPPM: Double { -integral * 1e6 }

    /// The ratio in force.
    public var ratio: Double { 1 + correction }

    /// Starts watching a buffer whose fill the network sets, not the caller (a relay's prebuffer, the server's burst, the
    /// size of its pages): `settle` smooths the fill without correcting, and `hold` then makes the smoothed fill the target,
    /// so only drift is corrected, never where the fill happened to start. The drift learnt so far stays in force.
    public mutating func restart(fill: Int) {
        smoothedFill = Double(fill)
        correction = clamp(integral)
    }

    /// Smooths the fill seen `elapsedFrames` after the previous one, without correcting (after `restart`).
    public mutating func settle(fill: Int, elapsedFrames: Int) {
        let dt = Double(max(elapsedFrames, 0)) / Double(settings.rate)
        smoothedFill += (Double(fill) - smoothedFill) * (settings.smoothingSeconds > 0 ? min(1, dt / settings.smoothingSeconds) : 1)
    }

    /// Makes the smoothed fill the target from now on, kept a period inside the buffer.
    public mutating func hold() {
        let low = Double(settings.periodFrames)
        let high = Double(settings.bufferFrames - settings.periodFrames)
        settings.targetFill = min(high, max(low, smoothedFill))
        smoothedFill = settings.targetFill
    }

    /// Takes the capture fill seen at a read, `elapsedFrames` input frames after the previous one, and says how to
    /// resample what is read.
    public mutating func observe(fill: Int, elapsedFrames: Int) -> Step {
        let rate = Double(settings.rate)
        let dt = Double(max(elapsedFrames, 0)) / rate
        let weight = settings.smoothingSeconds > 0 ? min(1, dt / settings.smoothingSeconds) : 1
        smoothedFill += (Double(fill) - smoothedFill) * weight
        let low = Double(settings.periodFrames)
        let high = Double(settings.bufferFrames - settings.periodFrames)
        if Double(fill) < low || Double(fill) > high {
            // About to under- or overrun: back to the target at once, keeping what was learnt of the drift.
            let skip = Int((Double(fill) - settings.targetFill).rounded())
            smoothedFill = settings.targetFill
            correction = clamp(integral)
            return .skip(frames: skip, ratio: ratio)
        }
        // Critically damped PI on the fill, which integrates the rate difference: fill' = rate × (drift + correction).
        let omega = settings.loopFrequency
        let proportional = 2 * omega / rate
        let integralGain = omega * omega / rate
        let error = smoothedFill - settings.targetFill
        let candidate = integral - integralGain * error * dt
        let unclamped = candidate - proportional * error
        // No wind-up: while the correction is at its limit the integral does not push it further.
        if abs(unclamped) <= settings.maximumCorrection || abs(candidate) < abs(integral) { integral = candidate }
        correction = clamp(integral - proportional * error)
        return .resample(ratio: ratio)
    }

    private func clamp(_ value: Double) -> Double { min(settings.maximumCorrection, max(-settings.maximumCorrection, value)) }
}
