/// The sample format the device runs at; everything is converted to it.
public enum SampleFormat: String, Sendable, Codable, CaseIterable {
    case s16 = "S16"
    case s32 = "S32"

    public var bytesPerSample: Int {
        switch self {
        case .s16: 2
        case .s32: 4
        }
    }
}

/// Which converter resamples, and how well. The `soxr-*` settings use libsoxr, as sox does; `soxr-hq` is sox's own
/// default and the default here, since it beats libsamplerate's fastest sinc on quality at about a third of its CPU.
/// The `sinc-*` and `linear` settings keep libsamplerate for stations configured with them.
public enum ResamplerQuality: String, Sendable, Codable, CaseIterable {
    case soxrVeryHigh = "soxr-vhq"
    case soxrHigh = "soxr-hq"
    case soxrMedium = "soxr-mq"
    case soxrQuick = "soxr-qq"
    case best = "sinc-best"
    case medium = "sinc-medium"
    case fastest = "sinc-fastest"
    case linear
}

/// The one format the device is opened with, and how it is driven. The device is opened once and stays open,
/// so items of any rate and channel count are converted to this.
public struct OutputFormat: Sendable, Equatable {
    /// Any ALSA PCM string: `hw:0`, `plughw:1,0`, `null`, `file:FILE=/tmp/out.raw,FORMAT=raw`, a name from asound.conf.
    public var device: String
    public var rate: Int
    public var channels: Int
    public var sampleFormat: SampleFormat
    /// Frames per period: the player checks for a stop or a switch once per period, so this bounds preemption latency.
    public var periodFrames: Int
    /// Frames in the device buffer (a few periods): enough to ride out scheduling hiccups without an underrun.
    public var bufferFrames: Int
    public var resamplerQuality: ResamplerQuality
    /// Hand frames no faster than `rate` by the clock, as a card would take them: for a device that takes them as fast as
    /// they come (ALSA's `null`, a `file:`), so a demo county or a load run on such devices plays in real time instead of
    /// decoding a whole item in one burst (`[device] pace`). A card paces itself; this never slows one down.
    public var paced = false

    /// 48 kHz stereo S16 with 5 ms periods and a 15 ms buffer (three periods): USB and onboard cards play this without
    /// underruns when the player thread runs at real-time priority, and an emergency is heard about 20 ms after it is accepted.
    public init(
        device: String, rate: Int = 48_000, channels: Int = 2, sampleFormat: SampleFormat = .s16, periodFrames: Int = 240,
        bufferFrames: Int = 720, resamplerQuality: ResamplerQuality = .soxrHigh
    ) {
        self.device = device
        self.rate = rate
        self.channels = channels
        self.sampleFormat = sampleFormat
        self.periodFrames = periodFrames
        self.bufferFrames = bufferFrames
        self.resamplerQuality = resamplerQuality
    }

    public var bytesPerFrame: Int { channels * sampleFormat.bytesPerSample }
}
