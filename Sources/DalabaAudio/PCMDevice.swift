import CALSA
import CALSAShim
import Foundation

/// An ALSA playback PCM, opened once with the configured format and kept open between items:
/// one Swift object per `snd_pcm_t*`, closed in `deinit`. Every call that can fail throws `AudioError`
/// carrying alsa-lib's own reason and the device name.
public final class PCMDevice {
    /// The format as negotiated: the rate, period and buffer the device really gave.
    public let format: OutputFormat
    /// Underruns recovered with `snd_pcm_recover` since the device was opened.
    public private(set) var underruns = 0
    private let pcm: OpaquePointer
    /// When frames may be handed, for a device that takes them faster than it plays them (`OutputFormat.paced`).
    private var clock: ClockPace?

    public init(format requested: OutputFormat) throws(AudioError) {
        let (pcm, negotiated) = try PCMDevice.open(requested, stream: SND_PCM_STREAM_PLAYBACK)
        self.pcm = pcm
        self.format = negotiated
        if negotiated.paced { clock = ClockPace(rate: negotiated.rate, allowance: negotiated.bufferFrames) }
    }

    /// Opens `requested.device` for `stream` with the requested format, period and buffer, non-blocking; returns the
    /// handle (the caller owns it) and the format the device really gave. Playback and capture share this, so a live
    /// input runs at exactly the output's format and its samples pass straight through.
    static func open(_ requested: OutputFormat, stream: snd_pcm_stream_t) throws(AudioError) -> (OpaquePointer, OutputFormat) {
        PCMDevice.silenceLibraryMessages
        let name = requested.device
        var handle: OpaquePointer?
        var status = snd_pcm_open(&handle, name, stream, 0)
        guard status >= 0, let pcm = handle else { throw .deviceUnavailable(device: name, reason: PCMDevice.reason(status)) }
        func fail(_ step: String, _ code: Int32) -> AudioError {
            snd_pcm_close(pcm)
            return .deviceUnavailable(device: name, reason: "\(step): \(PCMDevice.reason(code))")
        }
        var hw: OpaquePointer?
        snd_pcm_hw_params_malloc(&hw)
        defer { snd_pcm_hw_params_free(hw) }
        status = snd_pcm_hw_params_any(pcm, hw)
        guard status >= 0 else { throw fail("no configuration available", status) }
        status = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)
        guard status >= 0 else { throw fail("interleaved access not supported", status) }
        let alsaFormat = requested.sampleFormat == .s16 ? SND_PCM_FORMAT_S16_LE : SND_PCM_FORMAT_S32_LE
        status = snd_pcm_hw_params_set_format(pcm, hw, alsaFormat)
        guard status >= 0 else { throw fail("sample format \(requested.sampleFormat.rawValue) not supported (try plughw:)", status) }
        status = snd_pcm_hw_params_set_channels(pcm, hw, UInt32(requested.channels))
        guard status >= 0 else { throw fail("\(requested.channels) channels not supported (try plughw:)", status) }
        var rate = UInt32(requested.rate)
        status = snd_pcm_hw_params_set_rate_near(pcm, hw, &rate, nil)
        guard status >= 0 else { throw fail("rate \(requested.rate) Hz not supported", status) }
        var period = snd_pcm_uframes_t(requested.periodFrames)
        status = snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, nil)
        guard status >= 0 else { throw fail("period of \(requested.periodFrames) frames not supported", status) }
        var buffer = snd_pcm_uframes_t(max(requested.bufferFrames, Int(period) * 2))
        status = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer)
        guard status >= 0 else { throw fail("buffer of \(requested.bufferFrames) frames not supported", status) }
        status = snd_pcm_hw_params(pcm, hw)
        guard status >= 0 else { throw fail("cannot apply hardware parameters", status) }
        snd_pcm_hw_params_get_period_size(hw, &period, nil)
        snd_pcm_hw_params_get_buffer_size(hw, &buffer)

        var sw: OpaquePointer?
        snd_pcm_sw_params_malloc(&sw)
        defer { snd_pcm_sw_params_free(sw) }
        snd_pcm_sw_params_current(pcm, sw)
        // Playback starts as soon as one period is queued, so a switched-in item is heard without waiting for a full
        // buffer; capture hands over every period as soon as it is recorded.
        if stream == SND_PCM_STREAM_PLAYBACK { snd_pcm_sw_params_set_start_threshold(pcm, sw, period) }
        snd_pcm_sw_params_set_avail_min(pcm, sw, period)
        status = snd_pcm_sw_params(pcm, sw)
        guard status >= 0 else { throw fail("cannot apply software parameters", status) }

        // Non-blocking: the player waits in poll() on the device and its mailbox together, so a switch is taken the
        // moment it is asked for instead of after the write in progress.
        snd_pcm_nonblock(pcm, 1)
        var negotiated = requested
        negotiated.rate = Int(rate)
        negotiated.periodFrames = Int(period)
        negotiated.bufferFrames = Int(buffer)
        return (pcm, negotiated)
    }

    deinit { snd_pcm_close(pcm) }

    /// Hands up to `frames` interleaved frames to the device without blocking; returns how many it took (0 when its
    /// buffer is full). Underruns are recovered and counted.
    public func write(_ data: UnsafeRawPointer, frames: Int) throws(AudioError) -> Int {
        var frames = frames
        if let room = clock?.room(at: .now) {
            guard room > 0 else { return 0 }
            frames = min(frames, room)
        }
        while true {
            let written = snd_pcm_writei(pcm, data, snd_pcm_uframes_t(frames))
            if written >= 0 {
                clock?.handed(Int(written))
                return Int(written)
            }
            let code = Int32(truncatingIfNeeded: written)
            if code == -EAGAIN { return 0 }
            if code == -EPIPE { underruns += 1 }
            // An unplugged card: snd_pcm_recover cannot help, the player closes it and reopens it by name.
            if code == -ENODEV { throw .deviceFailed(device: format.device, reason: "the device is gone (unplugged?): \(PCMDevice.reason(code))") }
            let recovered = snd_pcm_recover(pcm, code, 1)
            guard recovered >= 0 else { throw .deviceFailed(device: format.device, reason: PCMDevice.reason(code)) }
        }
    }

    /// Waits until the device can take more frames or `wakeDescriptor` becomes readable; true when woken by the latter.
    public func waitForSpace(orWake wakeDescriptor: Int32) throws(AudioError) -> Bool {
        if let wait = clock?.wait(at: .now, for: format.periodFrames) {
            var wake = pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32((Double(wait.components.attoseconds) / 1e15).rounded(.up)) + Int32(wait.components.seconds * 1000)
            return poll(&wake, 1, max(milliseconds, 1)) > 0 && wake.revents & Int16(POLLIN) != 0
        }
        return try PCMDevice.wait(pcm, device: format.device, for: UInt16(POLLOUT), orWake: wakeDescriptor, idle: "the device took no data for 2 seconds")
    }

    /// Polls `pcm` for `ready` (POLLOUT or POLLIN) and `wakeDescriptor` together; true when woken by the latter. An error
    /// condition (xrun, suspend) returns false so the next read or write recovers it.
    static func wait(_ pcm: OpaquePointer, device: String, for ready: UInt16, orWake wakeDescriptor: Int32, idle: String) throws(AudioError) -> Bool {
        let count = Int(snd_pcm_poll_descriptors_count(pcm))
        var descriptors = [pollfd](repeating: pollfd(), count: count + 1)
        let filled = descriptors.withUnsafeMutableBufferPointer { snd_pcm_poll_descriptors(pcm, $0.baseAddress, UInt32(count)) }
        guard filled >= 0 else { throw .deviceFailed(device: device, reason: PCMDevice.reason(filled)) }
        descriptors[count] = pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)
        while true {
            // A bounded wait: a device that stops asking for (or giving) data is noticed instead of hanging the player.
            let polled = poll(&descriptors, nfds_t(descriptors.count), 2_000)
            if polled < 0 && errno == EINTR { continue }
            if descriptors[count].revents & Int16(POLLIN) != 0 { return true }
            if polled == 0 { throw .deviceFailed(device: device, reason: idle) }
            var events: UInt16 = 0
            let status = descriptors.withUnsafeMutableBufferPointer { snd_pcm_poll_descriptors_revents(pcm, $0.baseAddress, UInt32(count), &events) }
            guard status >= 0 else { throw .deviceFailed(device: device, reason: PCMDevice.reason(status)) }
            if events & UInt16(POLLERR) != 0 { return false }
            if events & ready != 0 { return false }
        }
    }

    /// Discards what is buffered, at once, and makes the device ready for the next item.
    public func drop() throws(AudioError) {
        let dropped = snd_pcm_drop(pcm)
        if dropped == -ENODEV { throw .deviceFailed(device: format.device, reason: "the device is gone (unplugged?): \(PCMDevice.reason(dropped))") }
        let prepared = snd_pcm_prepare(pcm)
        guard prepared >= 0 else { throw .deviceFailed(device: format.device, reason: "cannot prepare it again: \(PCMDevice.reason(prepared))") }
    }

    /// Lets what is buffered play out (a natural end), then makes the device ready again; true when `wakeDescriptor`
    /// became readable first (a command: the tail plays on under whatever comes next).
    ///
    /// Not alsa-lib's blocking `snd_pcm_drain`: that waits without end on a device that stops consuming (a JACK client
    /// the server dropped, a card gone mid-drain), and the player thread must never wait without end. This waits out
    /// the device's own delay, at most its buffer and a second, then resets it.
    public func drain(orWake wakeDescriptor: Int32) throws(AudioError) -> Bool {
        let rate = max(format.rate, 1)
        let deadline = Date().addingTimeInterval(Double(format.bufferFrames) / Double(rate) + 1)
        while true {
            var frames: snd_pcm_sframes_t = 0
            let state = snd_pcm_state(pcm)
            guard state == SND_PCM_STATE_RUNNING || state == SND_PCM_STATE_PREPARED, snd_pcm_delay(pcm, &frames) >= 0, frames > 0 else { break }
            // Less than the start threshold written: it would never start on its own.
            if state == SND_PCM_STATE_PREPARED {
                let started = snd_pcm_start(pcm)
                guard started >= 0 else { break }
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { break }
            var wake = pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(left, Double(frames) / Double(rate)) * 1000) + 1
            if poll(&wake, 1, milliseconds) > 0, wake.revents & Int16(POLLIN) != 0 { return true }
        }
        try drop()
        return false
    }

    /// Frames written but not yet played.
    public var delay: Int {
        var frames: snd_pcm_sframes_t = 0
        return snd_pcm_delay(pcm, &frames) >= 0 ? Int(frames) : 0
    }

    static func reason(_ code: Int32) -> String { String(cString: snd_strerror(code)) }

    /// The clock a paced device is held to: frames handed since an anchor may run at most `allowance` frames (its buffer)
    /// ahead of the time since. After a pause (an idle queue, a warm-up) the anchor moves up, so the next item starts at
    /// once instead of rushing to catch up.
    struct ClockPace {
        let rate: Int
        let allowance: Int
        private var anchor: ContinuousClock.Instant?
        private var frames = 0

        init(rate: Int, allowance: Int) {
            self.rate = max(rate, 1)
            self.allowance = allowance
        }

        private func played(at now: ContinuousClock.Instant) -> Int {
            guard let anchor else { return 0 }
            let elapsed = now - anchor
            return Int((Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * Double(rate))
        }

        /// Frames that may be handed now.
        mutating func room(at now: ContinuousClock.Instant) -> Int {
            if anchor == nil || played(at: now) > frames {
                anchor = now
                frames = 0
            }
            return played(at: now) + allowance - frames
        }

        mutating func handed(_ count: Int) { frames += count }

        /// How long until `period` frames may be handed; nil when they may be now.
        mutating func wait(at now: ContinuousClock.Instant, for period: Int) -> Duration? {
            let short = period - room(at: now)
            return short > 0 ? .seconds(Double(short) / Double(rate)) : nil
        }
    }

    /// alsa-lib's own stderr messages would duplicate (and garble) the errors we report with the device name.
    static let silenceLibraryMessages: Void = { dalaba_alsa_silence_errors() }()
}
