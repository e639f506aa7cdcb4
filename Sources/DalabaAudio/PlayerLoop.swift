import DalabaCore
import Foundation
import Logging
import Synchronization

/// The player thread's state and loop. Everything here runs on that one thread.
final class PlayerLoop: @unchecked Sendable {
    private let requested: OutputFormat
    let mailbox: Mailbox
    private let events: AsyncStream<Player.Event>.Continuation
    let health: HealthState
    let logger: Logger
    var device: PCMDevice?
    /// Audio handed to the device and not yet drained: when the queue runs dry the loop drains once.
    var deviceRunning = false
    private var current: Playback?
    var buffer: UnsafeMutableRawPointer?
    /// The card's playback element for item volumes, opened at the first item that needs it; nil for software gain.
    private let mixerTarget: Mixer.Target?
    private var mixer: Mixer?

    init(
        format: OutputFormat, mailbox: Mailbox, events: AsyncStream<Player.Event>.Continuation, health: HealthState,
        logger: Logger, mixer: Mixer.Target? = nil
    ) {
        self.requested = format
        self.mailbox = mailbox
        self.events = events
        self.health = health
        self.logger = logger
        self.mixerTarget = mixer
    }

    /// One item on air: its segments, the reader of the segment playing, and the frame counts so far.
    final class Playback {
        let item: Player.Item
        var segmentIndex = 0
        var reader: ConvertingReader?
        /// The input of a live segment, open while it is on air.
        var capture: CaptureDevice?
        /// The relayed stream of a relay segment, connected while it is on air.
        var relay: RelayInput?
        /// How a relay that fell back to its fallback file ends once that has played.
        var deadAirEnding: Player.Report.Ending?
        var liveFeed: (any LiveFeed)? { capture ?? relay }
        /// Continuous silence at the end of what the live input gave, for VOX.
        var silentFrames: Int64 = 0
        var frames: Int64 = 0
        var signalFrames: Int64 = 0
        var startedAt: Date?
        var totalFrames: Int64 = 0
        var rate = 0
        var framesAtLastProgress: Int64 = 0
        /// A decoded period not yet wholly handed to the device (a command woke the player mid-period): the frames from
        /// `heldOffset` to `heldEnd` go first next time, so decoded audio is never thrown away except on a real command.
        var heldOffset = 0
        var heldEnd = 0
        /// Frames at the start of the held period that belong to the signal.
        var heldSignal = 0
        /// The first frame waits until then (the amplifier warming up).
        var holdUntil: Date?
        /// The item's volume as a gain on its segments: 1 when the mixer set it.
        var volumeGain: Float = 1
        /// A live item's input level (dBFS RMS of its last period), for status.
        var inputLevel: Double?
        /// Since when a live item's loudspeaker is gone while its input is still read (PlayerLoop+LiveOutage.swift).
        var outputLostAt: Date?
        var nextOutputTry = Date.distantPast
        /// What the loudspeaker's losses mid-talk were, for the item's log row.
        var outages: [String] = []
        init(item: Player.Item) {
            self.item = item
            holdUntil = item.holdUntil
        }
    }

    func run() {
        raisePriority()
        probe()
        defer {
            buffer?.deallocate()
            events.finish()
        }
        while true {
            let command: PlayerCommand?
            if current == nil {
                // Idle: wait for work; if the device still holds audio, let it play out after half a buffer of silence.
                let halfBuffer = Double((device?.format.bufferFrames ?? 0) / 2) / Double(device?.format.rate ?? 48_000)
                // A device that failed is tried again every second meanwhile, so its health shows when it comes back.
                let retry = device == nil ? Date(timeIntervalSinceNow: 1) : nil
                command = mailbox.wait(until: deviceRunning ? Date(timeIntervalSinceNow: halfBuffer) : retry)
                if command == nil {
                    if device == nil {
                        probe()
                        continue
                    }
                    playOut()
                    continue
                }
            } else if let playback = current, let hold = playback.holdUntil {
                // Warming up: nothing goes to the device yet, but a stop or a switch is taken at once. What an earlier
                // item left in the buffer plays out first, so the hold does not end in an underrun.
                if deviceRunning { playOut() }
                // Held until released: no deadline (NSCondition cannot wait until `distantFuture`).
                command = hold > Date() ? mailbox.wait(until: hold > Date(timeIntervalSinceNow: 86_400) ? nil : hold) : nil
                if command == nil {
                    playback.holdUntil = nil
                    markReady(playback)
                    continue
                }
            } else {
                command = mailbox.take()
            }
            if let command {
                if !handle(command) { return }
                continue
            }
            if let playback = current { writePeriod(of: playback) }
        }
    }

    /// Real-time scheduling keeps a 15 ms buffer fed on a busy machine. Allowed for root or with LimitRTPRIO
    /// (dalabad.service sets it); otherwise the thread runs at normal priority and says so.
    private func raisePriority() {
        var parameters = sched_param()
        parameters.sched_priority = 20
        let status = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &parameters)
        if status == 0 {
            logger.debug("player thread at real-time priority", metadata: ["priority": "20"])
        } else {
            logger.notice("player thread at normal priority; raise LimitRTPRIO or use a larger buffer if the device underruns")
        }
    }

    /// Returns false when the thread should end.
    private func handle(_ command: PlayerCommand) -> Bool {
        switch command {
        case .play(let item):
            cutOff()
            start(item)
            return true
        case .stop:
            cutOff()
            return true
        case .release(let id, let at):
            if let playback = current, playback.item.id == id { playback.holdUntil = at }
            return true
        case .endLive:
            if let playback = current, playback.liveFeed != nil || playback.deadAirEnding != nil { finish(playback, .completed) }
            return true
        case .shutdown:
            cutOff()
            device = nil
            updateHealth { $0.isOpen = false }
            return false
        }
    }

    /// Stops what plays at once: the device's buffer is discarded, so the next item is heard within a period.
    private func cutOff() {
        guard let playback = current else { return }
        do {
            try device?.drop()
        } catch {
            loseDevice(error)
        }
        deviceRunning = false
        finish(playback, .stopped)
    }

    /// Lets what the device holds play out, unless a command comes first (then the tail plays on under it).
    private func playOut() {
        guard let device else { return }
        do {
            if try !device.drain(orWake: mailbox.wakeDescriptor) { deviceRunning = false }
        } catch {
            loseDevice(error)
        }
    }

    /// The device failed with no item to blame: it is closed, shows as down, and is tried again every second.
    private func loseDevice(_ error: AudioError) {
        logger.error("device failed", metadata: ["error": "\(error)"])
        device = nil
        deviceRunning = false
        updateHealth {
            $0.isOpen = false
            $0.lastError = error.description
        }
    }

    private func start(_ item: Player.Item) {
        let playback = Playback(item: item)
        current = playback
        logger.debug("player: item taken", metadata: ["id": "\(item.id)", "segments": "\(item.segments.count)", "held": "\(item.holdUntil != nil)"])
        do {
            if device == nil { try openDevice() }
            playback.volumeGain = applyVolume(item)
            try openNextSegment(playback)
            if playback.holdUntil == nil { markReady(playback) }
        } catch {
            fail(playback, error)
        }
    }

    func openDevice() throws(AudioError) {
        let opened = try PCMDevice(format: requested)
        device = opened
        buffer?.deallocate()
        buffer = .allocate(byteCount: opened.format.periodFrames * opened.format.bytesPerFrame, alignment: 16)
        logger.info(
            "device open",
            metadata: [
                "device": "\(opened.format.device)", "rate": "\(opened.format.rate)", "period": "\(opened.format.periodFrames)",
                "buffer": "\(opened.format.bufferFrames)",
            ])
        updateHealth {
            $0.isOpen = true
            $0.lastError = nil
            $0.format = opened.format
        }
    }

    /// The item may play from now: its position says so, so a device that then takes nothing shows as dead air.
    func markReady(_ playback: Playback) {
        health.position.withLock {
            $0 = Player.Position(
                id: playback.item.id, frames: playback.frames, signalFrames: playback.signalFrames, totalFrames: playback.totalFrames,
                rate: device?.format.rate ?? requested.rate, handedAt: Date())
        }
    }

    /// Sets the item's volume on the mixer and returns 1, or returns it as a software gain when there is no mixer or the
    /// mixer fails (logged: the item plays at its level either way).
    private func applyVolume(_ item: Player.Item) -> Float {
        guard let mixerTarget else { return VolumeLevels.gain(decibels: item.volume) }
        do {
            if mixer == nil { mixer = try Mixer(mixerTarget) }
            try mixer?.setPlayback(decibels: item.volume)
            return 1
        } catch {
            mixer = nil
            logger.error("mixer failed; volume applied in software", metadata: ["item": "\(item.id)", "error": "\(error)"])
            return VolumeLevels.gain(decibels: item.volume)
        }
    }

    /// Opens the device once at start, so a name that does not exist shows as down (with alsa-lib's reason) before
    /// anything is queued, not after the first item fails; while it stays down the same reason is not logged again.
    private func probe() {
        do {
            try openDevice()
        } catch {
            let repeated = health.value.withLock { $0.lastError == error.description }
            if !repeated { logger.error("device cannot be opened", metadata: ["device": "\(requested.device)", "error": "\(error)"]) }
            updateHealth {
                $0.isOpen = false
                $0.lastError = error.description
            }
        }
    }

    /// Opens the reader of the next segment that can be opened; a bad signal is skipped with a warning.
    private func openNextSegment(_ playback: Playback) throws(AudioError) {
        guard let device else { return }
        while playback.segmentIndex < playback.item.segments.count {
            let segment = playback.item.segments[playback.segmentIndex]
            if let live = segment.live, let relay = live.relay {
                playback.relay = RelayInput(relay: relay, format: device.format, health: health, logger: logger)
                playback.rate = device.format.rate
                playback.reader = nil
                return
            }
            if let live = segment.live {
                do {
                    playback.capture = try CaptureDevice(device: live.device, format: device.format)
                } catch {
                    // The input's fault, not the loudspeaker's: the item fails and the device is not marked down.
                    throw .unreadable(path: live.device, reason: "live input: \(error)")
                }
                playback.rate = device.format.rate
                playback.reader = nil
                return
            }
            do {
                let reader = try ConvertingReader(
                    path: segment.path, output: device.format, gain: segment.gain * playback.volumeGain, startFrame: segment.startFrame)
                if segment.role == .programme { playback.totalFrames = reader.totalFrames }
                playback.rate = device.format.rate
                playback.reader = reader
                return
            } catch {
                guard segment.role == .signal else { throw error }
                logger.warning("signal skipped", metadata: ["item": "\(playback.item.id)", "error": "\(error)"])
                playback.segmentIndex += 1
            }
        }
        playback.reader = nil
    }

    /// Decodes and hands one period to the device (the unit in which stop and switch requests are honoured).
    private func writePeriod(of playback: Playback) {
        if device == nil, playback.outputLostAt != nil, let capture = playback.capture {
            listenWithoutOutput(playback, capture)
            return
        }
        guard let device, let buffer else {
            // No device under an item that is not a live talk waiting for its loudspeaker: returning would spin this
            // loop without a sound or a word, so the item fails as a device fault and is resumed by its policy.
            return fail(playback, .deviceFailed(device: requested.device, reason: "the device is closed"))
        }
        let period = device.format.periodFrames
        let bytesPerFrame = device.format.bytesPerFrame
        do {
            if playback.heldEnd == 0, let feed = playback.liveFeed {
                try writeLive(playback, from: feed, to: device, buffer: buffer)
                return
            }
            if playback.heldEnd == 0 {
                var filled = 0
                var filledSignal = 0
                while filled < period, let reader = playback.reader {
                    let n = try reader.read(into: buffer + filled * bytesPerFrame, frames: period - filled)
                    if n == 0 {
                        playback.segmentIndex += 1
                        try openNextSegment(playback)
                        continue
                    }
                    if playback.item.segments[playback.segmentIndex].role == .signal { filledSignal += n }
                    filled += n
                }
                playback.heldOffset = 0
                playback.heldEnd = filled
                playback.heldSignal = filledSignal
            }
            let offset = playback.heldOffset
            let end = playback.heldEnd
            if end > offset {
                let written = try hand(buffer + offset * bytesPerFrame, frames: end - offset, to: device, playback: playback)
                deviceRunning = true
                // Signal frames lead the period, so those of them not yet handed are the first to go.
                let signal = min(written, max(0, playback.heldSignal - offset))
                playback.heldOffset = offset + written
                account(playback, programme: written - signal, signal: signal, device: device)
                // Woken mid-period: the loop looks at the mailbox, and the rest of this period goes next unless a command
                // stops or switches the item.
                if playback.heldOffset < end { return }
            }
            playback.heldOffset = 0
            playback.heldEnd = 0
            playback.heldSignal = 0
            if playback.reader == nil && playback.liveFeed == nil { finish(playback, playback.deadAirEnding ?? .completed) }
        } catch {
            fail(playback, error)
        }
    }

    /// Counts frames handed to the device, publishes the position, and reports progress once a second.
    private func account(_ playback: Playback, programme: Int, signal: Int, device: PCMDevice) {
        playback.signalFrames += Int64(signal)
        playback.frames += Int64(programme)
        health.position.withLock {
            $0 = Player.Position(
                id: playback.item.id, frames: playback.frames, signalFrames: playback.signalFrames,
                totalFrames: playback.totalFrames, rate: device.format.rate, handedAt: Date(), inputLevel: playback.inputLevel)
        }
        let underruns = device.underruns
        if health.value.withLock({ $0.underruns }) != underruns { updateHealth { $0.underruns = underruns } }
        let total = playback.frames + playback.signalFrames
        // Once a second: the checkpoint written from it is never more than a second behind what was heard, at
        // one store commit a second.
        if total - playback.framesAtLastProgress >= Int64(device.format.rate) {
            playback.framesAtLastProgress = total
            events.yield(.progress(id: playback.item.id, frames: playback.frames, signalFrames: playback.signalFrames))
        }
    }

    /// Hands what the live input recorded to the device as soon as it arrives (at most a period at a time, so the
    /// added latency is one capture period), and ends the item on VOX silence or its maximum duration.
    private func writeLive(_ playback: Playback, from feed: any LiveFeed, to device: PCMDevice, buffer: UnsafeMutableRawPointer) throws(AudioError) {
        let got: Int
        do {
            if try feed.waitForData(orWake: mailbox.wakeDescriptor) { return }
            got = try feed.read(into: buffer, frames: device.format.periodFrames)
        } catch {
            throw feed.inputFailure(error)
        }
        guard got > 0 else { return }
        let gain = playback.item.segments[playback.segmentIndex].gain * playback.volumeGain
        // The input's own level, before the item's volume: a village turned down must not make VOX hear silence.
        let level = LiveLevel.rms(of: buffer, frames: got, format: device.format)
        if gain != 1 { LiveLevel.apply(gain: gain, to: buffer, frames: got, format: device.format) }
        let written: Int
        do {
            written = try hand(buffer, frames: got, to: device, playback: playback)
        } catch where error.isDeviceFault && playback.capture != nil {
            loseOutput(playback, error)
            return
        }
        deviceRunning = true
        account(playback, programme: written, signal: 0, device: device)
        guard let live = playback.item.segments[playback.segmentIndex].live else { return }
        let rate = Double(device.format.rate)
        playback.inputLevel = level
        playback.silentFrames = level < live.silenceThreshold ? playback.silentFrames + Int64(got) : 0
        if let relay = live.relay, let input = playback.relay, Double(playback.silentFrames) >= relay.deadAirSeconds * rate {
            relayDeadAir(playback, relay, reason: input.deadAir(), device: device)
        } else if let seconds = live.silenceSeconds, Double(playback.silentFrames) >= seconds * rate {
            logger.info("live item ended after silence", metadata: ["item": "\(playback.item.id)", "seconds": "\(seconds)"])
            finish(playback, .completed)
        } else if let seconds = live.maximumSeconds, Double(playback.frames) >= seconds * rate {
            logger.info("live item reached its maximum duration", metadata: ["item": "\(playback.item.id)", "seconds": "\(seconds)"])
            finish(playback, .completed)
        }
    }

    /// Dead air on a relay: its fallback file plays in its place, and the item then ends failed with the reason; with no
    /// fallback it ends failed at once. The status keeps saying dead air while the fallback plays.
    private func relayDeadAir(_ playback: Playback, _ relay: Player.Relay, reason: String, device: PCMDevice) {
        logger.error("relay dead air", metadata: ["item": "\(playback.item.id)", "reason": "\(reason)"])
        playback.relay?.close()
        playback.relay = nil
        guard let fallback = relay.fallback else { return finish(playback, .audioFailed(reason)) }
        do {
            playback.reader = try ConvertingReader(path: fallback, output: device.format, gain: relay.fallbackGain * playback.volumeGain)
            playback.deadAirEnding = .audioFailed("\(reason); played the fallback \(fallback)")
        } catch {
            finish(playback, .audioFailed("\(reason); the fallback cannot be played: \(error)"))
        }
    }

    /// Hands a period to the device as it makes room, waking at once if a command arrives; returns the frames handed.
    private func hand(_ buffer: UnsafeMutableRawPointer, frames: Int, to device: PCMDevice, playback: Playback) throws(AudioError) -> Int {
        let bytesPerFrame = device.format.bytesPerFrame
        var written = 0
        while written < frames {
            let n = try device.write(buffer + written * bytesPerFrame, frames: frames - written)
            if n > 0, playback.startedAt == nil {
                playback.startedAt = Date()
                events.yield(.started(id: playback.item.id, at: playback.startedAt!, totalFrames: playback.totalFrames))
            }
            written += n
            if written < frames, try device.waitForSpace(orWake: mailbox.wakeDescriptor) { break }
        }
        return written
    }

    func fail(_ playback: Playback, _ error: AudioError) {
        if error.isDeviceFault {
            logger.error("device failed", metadata: ["item": "\(playback.item.id)", "error": "\(error)"])
            // Closing lets the next attempt reopen it from scratch, which is what recovers an unplugged USB card.
            device = nil
            deviceRunning = false
            updateHealth {
                $0.isOpen = false
                $0.lastError = error.description
            }
            finish(playback, .deviceFailed(error.description))
        } else {
            logger.error("audio failed", metadata: ["item": "\(playback.item.id)", "error": "\(error)"])
            finish(playback, .audioFailed(error.description))
        }
    }

    func finish(_ playback: Playback, _ ending: Player.Report.Ending) {
        current = nil
        playback.capture = nil
        playback.relay?.close()
        playback.relay = nil
        health.relay.withLock { $0 = nil }
        health.position.withLock { $0 = nil }
        let report = Player.Report(
            frames: playback.frames, signalFrames: playback.signalFrames, rate: playback.rate > 0 ? playback.rate : (device?.format.rate ?? requested.rate),
            startedAt: playback.startedAt, ending: ending, note: playback.outages.isEmpty ? nil : playback.outages.joined(separator: "; "))
        logger.debug("player: item ended", metadata: ["id": "\(playback.item.id)", "ending": "\(ending)", "frames": "\(playback.frames)"])
        events.yield(.finished(id: playback.item.id, report: report))
    }

    func updateHealth(_ change: (inout Player.Health) -> Void) {
        health.value.withLock { change(&$0) }
    }
}
