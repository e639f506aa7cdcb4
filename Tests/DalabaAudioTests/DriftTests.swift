import DalabaTestSupport
import Foundation
import Logging
import Testing

@testable import DalabaAudio

/// The drift corrector on given fill levels: no drift leaves the ratio at 1; a simulated input whose clock runs fast or
/// slow is held at the target fill with no xrun and the ratio settles at the clocks' true ratio; the period-sized jumps
/// of a real capture fill do not wobble the ratio; a drift beyond the clamp ends in a skip instead of an xrun.
@Suite struct DriftTests {
    static let settings = DriftCorrector.Settings(rate: 48_000, bufferFrames: 4_096, periodFrames: 256)

    /// A capture buffer filled by an input `drift` (relative, + is fast) from the output's clock and emptied at the
    /// corrector's ratio, one output period at a time; the fill is read after each period as the player would. Returns
    /// the fills, the ratios and the skips asked for.
    static func simulate(drift: Double, seconds: Double, settings: DriftCorrector.Settings = settings, jitter: Bool = true)
        -> (fills: [Double], ratios: [Double], skips: [Int])
    {
        var corrector = DriftCorrector(settings: settings)
        var ratio = 1.0
        var fills: [Double] = []
        var ratios: [Double] = []
        var skips: [Int] = []
        let period = Double(settings.periodFrames)
        var produced = 0.0
        var consumed = 0.0
        for _ in 0..<Int(seconds * Double(settings.rate) / period) {
            // The input records at its own clock; with `jitter` its frames become readable in whole periods, as ALSA's do.
            produced += period * (1 + drift)
            let arrived = jitter ? (produced / period).rounded(.down) * period : produced
            // The output takes a period at its clock, which at `ratio` is this much input.
            consumed += period / ratio
            let fill = settings.targetFill + arrived - consumed
            fills.append(fill)
            switch corrector.observe(fill: Int(fill.rounded()), elapsedFrames: settings.periodFrames) {
            case .resample(let next):
                ratio = next
            case .skip(let frames, let next):
                skips.append(frames)
                consumed += Double(frames)
                ratio = next
            }
            ratios.append(ratio)
        }
        return (fills, ratios, skips)
    }

    @Test func withoutDriftTheRatioStaysOneAndTheFillAtItsTarget() {
        var corrector = DriftCorrector(settings: Self.settings)
        for _ in 0..<10_000 {
            #expect(corrector.observe(fill: 2_048, elapsedFrames: 256) == .resample(ratio: 1))
        }
        #expect(corrector.estimatedDriftPPM == 0)
    }

    @Test(arguments: [200e-6, -300e-6, 1_000e-6])
    func aDriftingInputIsHeldAtItsTargetWithoutAnXrunAndTheRatioSettlesAtTheClocksRatio(drift: Double) {
        let (fills, ratios, skips) = Self.simulate(drift: drift, seconds: 180)
        #expect(skips.isEmpty, "no xrun was near: \(skips)")
        let low = fills.min() ?? 0
        let high = fills.max() ?? 0
        #expect(low > 256 && high < 4_096 - 256, "fill stayed within the buffer: \(low)…\(high)")
        // After the loop has settled (the last minute): the fill within a period of its target, the ratio the true one.
        let lastMinute = fills.count * 2 / 3
        let settledFills = fills[lastMinute...]
        let meanFill = settledFills.reduce(0, +) / Double(settledFills.count)
        #expect(abs(meanFill - 2_048) < 256, "mean fill \(meanFill)")
        let settledRatios = ratios[lastMinute...]
        let meanRatio = settledRatios.reduce(0, +) / Double(settledRatios.count)
        let truth = 1 / (1 + drift)
        // The fill is readable in whole periods, and the two clocks' phase slips a period every 1/drift periods: the
        // controller sees that slow sawtooth and follows it a little, a few tens of ppm (a twentieth of a cent).
        #expect(abs(meanRatio - truth) * 1e6 < 30, "ratio \(meanRatio) against \(truth): \((meanRatio - truth) * 1e6) ppm")
        let wobble = zip(settledRatios.dropFirst(), settledRatios).map { abs($0 - $1) }.max() ?? 0
        #expect(wobble * 1e6 < 20, "largest step of the ratio from one read to the next: \(wobble * 1e6) ppm")
    }

    @Test func withAFillReadExactlyTheRatioConvergesOnTheClocksRatio() {
        let drift = 250e-6
        let (fills, ratios, _) = Self.simulate(drift: drift, seconds: 240, jitter: false)
        #expect(abs((ratios.last ?? 0) - 1 / (1 + drift)) * 1e6 < 1, "\(ratios.last ?? 0)")
        #expect(abs((fills.last ?? 0) - 2_048) < 1, "\(fills.last ?? 0)")
        // Critically damped: the fill's excursion is one-sided, it does not swing back past the target.
        let peak = fills.max() ?? 0
        #expect(peak > 2_048 && (fills.min() ?? 0) > 2_048 - 2, "excursion \(fills.min() ?? 0)…\(peak)")
    }

    @Test func theCorrectionIsClampedAndADriftBeyondItEndsInASkipNotAnXrun() {
        var settings = Self.settings
        settings.maximumCorrection = 0.001
        // 0.3 % fast: three times what the clamp allows.
        let (fills, ratios, skips) = Self.simulate(drift: 0.003, seconds: 60, settings: settings)
        #expect(ratios.allSatisfy { $0 >= 1 - 0.001 - 1e-12 && $0 <= 1 + 0.001 + 1e-12 }, "clamped at 0.1 %")
        #expect(!skips.isEmpty && skips.allSatisfy { $0 > 0 }, "frames dropped to avoid the overrun: \(skips.prefix(5))")
        #expect((fills.max() ?? 0) <= 4_096, "never beyond the buffer: \(fills.max() ?? 0)")
    }

    @Test func aFillNearAnXrunAsksForASkipBackToTheTargetAndKeepsTheDriftLearnt() {
        var corrector = DriftCorrector(settings: Self.settings)
        // A slow rise teaches the integrator that the input runs fast.
        for fill in stride(from: 2_048, through: 3_000, by: 1) { _ = corrector.observe(fill: fill, elapsedFrames: 256) }
        let learnt = corrector.estimatedDriftPPM
        #expect(learnt > 0, "\(learnt)")
        #expect(corrector.observe(fill: 3_900, elapsedFrames: 256) == .skip(frames: 3_900 - 2_048, ratio: corrector.ratio))
        #expect(corrector.estimatedDriftPPM == learnt)
        #expect(corrector.smoothedFill == 2_048)
        #expect(corrector.ratio < 1, "still correcting for the fast input")
        guard case .skip(let frames, _) = corrector.observe(fill: 100, elapsedFrames: 256) else {
            Issue.record("a fill below one period is an underrun coming")
            return
        }
        #expect(frames == 100 - 2_048, "negative: repeat frames")
    }
}

/// The drift corrector wired into a relay: RelayStream and its converter (soxr's variable-rate engine) for a simulated
/// hour, with the source's blocks arriving on a clock 0.5 % fast or slow against the card's and the player reading
/// periods on the card's clock. No real time passes: the two clocks are the loop's own arithmetic.
@Suite struct RelayDriftTests {
    /// 8 kHz mono keeps an hour's conversion to a second or two; the corrector's constants are in seconds, not frames.
    static let format = OutputFormat(device: "null", rate: 8_000, channels: 1, periodFrames: 80, bufferFrames: 240)

    struct Hour {
        var fills: [Int] = []
        var ratios: [Double] = []
        var delivered = 0
        var audioRead = 0
        var target = 0.0
        var underruns = 0
        var overflow = 0
        var finalFill = 0
    }

    static func relayHour(drift: Double, seconds: Int = 3_600) throws -> Hour {
        let health = HealthState(Player.Health(isOpen: true, underruns: 0, lastError: nil, format: format))
        let stream = RelayStream(relay: .init(url: "http://county/live.mp3"), format: format, health: health, logger: Logger(label: "test"))
        let rate = Double(format.rate)
        // One MP3 frame of a 440 Hz tone, as the decoder hands it over; what it sounds like does not matter here.
        let block = Tone.sine(frequency: 440, seconds: 1_152 / rate, rate: format.rate)
        let decoded = StreamFormat(rate: format.rate, channels: 1)
        var converter: StreamConverter?
        var hour = Hour()
        var period = [Int16](repeating: 0, count: format.periodFrames)
        var arrivals = 0
        var reads = 0
        let readsPerSecond = format.rate / format.periodFrames
        while reads < seconds * readsPerSecond {
            // The source sends a block every 1,152 of its own frames, which the card's clock sees as 1,152 / (1 + drift).
            let arrival = Double(arrivals) * 1_152 / (rate * (1 + drift))
            let read = Double(reads) * Double(format.periodFrames) / rate
            if arrival <= read {
                try block.withUnsafeBufferPointer { try stream.deliver($0, decoded, converter: &converter) }
                hour.delivered += block.count
                arrivals += 1
            } else {
                let audio = stream.hasAudio
                _ = try period.withUnsafeMutableBytes { try stream.read(into: $0.baseAddress!, frames: format.periodFrames) }
                if audio { hour.audioRead += format.periodFrames }
                reads += 1
                if reads % readsPerSecond == 0 {
                    hour.fills.append(stream.bufferedFrames)
                    hour.ratios.append(stream.driftRatio)
                }
            }
        }
        hour.target = stream.driftTarget
        hour.underruns = stream.underruns
        hour.overflow = stream.overflowFrames
        hour.finalFill = stream.bufferedFrames
        return hour
    }

    @Test(arguments: [0.005, -0.005])
    func aSourceHalfAPercentFastOrSlowIsHeldAtItsFillForAnHourChangingOnlyTheFramesItMust(drift: Double) throws {
        let hour = try Self.relayHour(drift: drift)
        let rate = Double(Self.format.rate)
        #expect(hour.underruns == 0 && hour.overflow == 0, "never dry, nothing dropped: \(hour.underruns) underruns, \(hour.overflow) frames dropped")
        // The prebuffer's second, moved by what the drift did while the fill settled (30 s), is the fill held from then on.
        let settlingDrift = RelayStream.driftSettlingSeconds * drift * rate
        #expect(abs(hour.target - rate - settlingDrift / 2) < abs(settlingDrift) / 2 + rate / 10, "target \(hour.target)")
        let low = hour.fills.dropFirst(5).min() ?? 0
        let high = hour.fills.dropFirst(5).max() ?? 0
        #expect(Double(low) > hour.target - 0.4 * rate && Double(high) < hour.target + 0.4 * rate, "fill \(low)…\(high) around \(hour.target)")
        // The last quarter hour: within a block (the fill's own sawtooth, as blocks arrive) and 20 ms of the target.
        let lastQuarter = hour.fills.suffix(900)
        #expect(
            lastQuarter.allSatisfy { abs(Double($0) - hour.target) < 1_152 + 0.02 * rate },
            "settled: \(lastQuarter.min() ?? 0)…\(lastQuarter.max() ?? 0)")
        // Uncorrected, the fill would have moved by the drift: 18 s in the hour. The frames the conversion added or took
        // away are that many, less what the fill itself moved, and no more: a skip or a repeat would show here.
        let changed = hour.delivered - hour.audioRead - hour.finalFill
        let needed = Double(hour.delivered) * drift / (1 + drift)
        #expect(abs(Double(changed) - needed) < Double(abs(hour.finalFill - Int(hour.target))) + 500, "changed \(changed) frames, needed \(needed)")
        // The ratio ends at the clocks' true ratio, and never went much beyond the correction the drift needs.
        let truth = 1 / (1 + drift)
        #expect(abs((hour.ratios.last ?? 0) - truth) * 1e6 < 100, "ratio \(hour.ratios.last ?? 0) against \(truth)")
        #expect(hour.ratios.allSatisfy { abs($0 - 1) <= abs(drift) * 1.5 }, "largest correction \(hour.ratios.map { abs($0 - 1) }.max() ?? 0)")
    }

    @Test func aSourceOnTheCardsClockIsNeverCorrected() throws {
        let hour = try Self.relayHour(drift: 0, seconds: 600)
        // The blocks' sawtooth beats against the periods: the ratio follows it by tens of ppm (a tenth of a cent), no more.
        #expect(hour.ratios.allSatisfy { abs($0 - 1) < 100e-6 }, "largest correction \(hour.ratios.map { abs($0 - 1) }.max() ?? 0)")
        #expect(hour.underruns == 0 && hour.overflow == 0)
    }
}
