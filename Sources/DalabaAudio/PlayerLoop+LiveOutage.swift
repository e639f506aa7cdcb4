import Foundation
import Logging

/// A live item whose loudspeaker vanishes mid-talk (a USB card unplugged, the device's server gone). A live item has no
/// position to resume from and its speaker does not stop talking, so the item stays on air: its input is still read (and
/// its VOX silence counted), the device is tried again by name once a second, and the talk goes on the moment it is back.
/// The item keeps its one log row, which notes each loss; gone longer than the item's `outputWaitSeconds` (`[live] wait`),
/// the item ends as failed with the frames heard, and is not queued again (a voice cannot be replayed).
extension PlayerLoop {
    /// The device failed under a live item: close it (reopening from scratch is what recovers an unplugged card), show the
    /// fault, and keep the input.
    func loseOutput(_ playback: Playback, _ error: AudioError) {
        logger.error("device failed under a live item; the input is still read", metadata: ["item": "\(playback.item.id)", "error": "\(error)"])
        device = nil
        deviceRunning = false
        let now = Date()
        playback.outputLostAt = now
        playback.nextOutputTry = now.addingTimeInterval(1)
        playback.outages.append(error.description)
        updateHealth {
            $0.isOpen = false
            $0.lastError = error.description
        }
        health.position.withLock { $0?.outputLostSince = now }
    }

    /// One period of the input while the loudspeaker is gone: read and counted for VOX, not played; the device is tried
    /// once a second.
    func listenWithoutOutput(_ playback: Playback, _ capture: CaptureDevice) {
        guard let lostAt = playback.outputLostAt, let live = playback.item.segments[playback.segmentIndex].live else { return }
        let now = Date()
        if now >= playback.nextOutputTry {
            playback.nextOutputTry = now.addingTimeInterval(1)
            if reopenOutput(playback, capture, lostAt: lostAt) { return }
        }
        if let limit = live.outputWaitSeconds, now.timeIntervalSince(lostAt) > limit {
            let reason =
                "the loudspeaker was gone for more than \(Int(limit)) s ([live] wait), so the live item ended: \(playback.outages.last ?? "")"
            logger.error("live item ended without its loudspeaker", metadata: ["item": "\(playback.item.id)", "seconds": "\(Int(limit))"])
            playback.outages = []
            finish(playback, .audioFailed(reason))
            return
        }
        guard let buffer else { return }
        let got: Int
        do {
            if try capture.waitForData(orWake: mailbox.wakeDescriptor) { return }
            got = try capture.read(into: buffer, frames: capture.format.periodFrames)
        } catch {
            fail(playback, .unreadable(path: capture.format.device, reason: "live input: \(error)"))
            return
        }
        guard got > 0 else { return }
        let level = LiveLevel.rms(of: buffer, frames: got, format: capture.format)
        playback.inputLevel = level
        health.position.withLock { $0?.inputLevel = level }
        playback.silentFrames = level < live.silenceThreshold ? playback.silentFrames + Int64(got) : 0
        if let seconds = live.silenceSeconds, Double(playback.silentFrames) >= seconds * Double(capture.format.rate) {
            logger.info("live item ended after silence", metadata: ["item": "\(playback.item.id)", "seconds": "\(seconds)"])
            finish(playback, .completed)
        }
    }

    /// Opens the device again by its name; true when it is back (at the input's format, so periods pass straight through).
    private func reopenOutput(_ playback: Playback, _ capture: CaptureDevice, lostAt: Date) -> Bool {
        do {
            try openDevice()
        } catch {
            updateHealth { $0.lastError = error.description }
            return false
        }
        guard let device else { return false }
        let input = capture.format
        guard device.format.rate == input.rate, device.format.channels == input.channels, device.format.sampleFormat == input.sampleFormat else {
            let formats = "\(device.format.rate) Hz × \(device.format.channels), not the input's \(input.rate) Hz × \(input.channels)"
            finish(playback, .audioFailed("the loudspeaker came back at \(formats)"))
            return true
        }
        let gone = Date().timeIntervalSince(lostAt)
        logger.notice(
            "device back under a live item; the talk goes on", metadata: ["item": "\(playback.item.id)", "gone-seconds": "\(String(format: "%.1f", gone))"])
        if let last = playback.outages.popLast() {
            playback.outages.append("the loudspeaker was gone \(String(format: "%.1f", gone)) s mid-talk (\(last))")
        }
        playback.outputLostAt = nil
        markReady(playback)
        return true
    }
}
