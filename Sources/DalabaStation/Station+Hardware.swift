import DalabaAudio
import DalabaCore
import DalabaStore
import Foundation
import Logging

/// The loudspeaker hardware as the station sees it: the volume each item plays at, and the dead-air alarm.
extension Station {
    /// Silence on air beyond the device's buffer and this much more is dead air.
    static let deadAirMargin = 0.5
    /// The player takes an item put on air, and the station its end, within milliseconds; this long without is dead air.
    static let startLimit = 3.0

    func isEmergency(_ id: String) -> Bool {
        arbiter.nowPlaying.map { $0.entry.id == id && $0.entry.announcement.kind == .emergency } ?? false
    }

    var volumeStatus: StationAPI.Volume {
        .init(
            base: volumeLevels.base, path: configuration.volume.mixer == nil ? "software" : "mixer", mixer: configuration.volume.mixer?.element,
            setBy: baseVolumeSet?.setBy, setAt: baseVolumeSet?.setAt)
    }

    /// Sets the station's base level (dB below full, within `VolumeLevels.range`) for items that start from now on; what
    /// plays keeps its level, and emergencies keep theirs. It is stored before it takes effect, so it outlasts a restart
    /// (the configuration's `[volume] base` is only the level before an admin sets one); a store that cannot keep it
    /// refuses it and leaves the level as it was.
    public func setBaseVolume(_ decibels: Double, by who: String) async throws(Refusal) -> StationAPI.Volume {
        await enterGate()
        defer { leaveGate() }
        let stored = StationStore.BaseVolume(decibels: decibels, setBy: who, setAt: clock())
        let store = self.store
        // The synced write runs off the cooperative pool, like every other commit.
        let written: Result<Void, any Error> = await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: Result { try store.setBaseVolume(stored) }) }
        }
        if case .failure(let error) = written {
            logger.error("base volume not set: the store refused it", metadata: ["by": "\(who)", "dB": "\(decibels)", "error": "\(error)"])
            throw .notStored("\(error)")
        }
        let from = volumeLevels.base
        volumeLevels.base = decibels
        baseVolumeSet = stored
        logger.notice("base volume set", metadata: ["by": "\(who)", "from-dB": "\(from)", "to-dB": "\(decibels)"])
        return volumeStatus
    }

    /// The live item on air, for status: its input, airtime so far, volume, and the input's level as the player last heard it.
    var liveStatus: StationAPI.Live? {
        guard let order = arbiter.nowPlaying, let live = order.entry.announcement.live else { return nil }
        let position = player.position.flatMap { $0.id == order.entry.id ? $0 : nil }
        let rate = Double(max(position?.rate ?? player.health.format.rate, 1))
        return .init(
            id: order.entry.id, input: live.input, secondsOnAir: Double(position?.frames ?? 0) / rate, volume: playedVolume[order.entry.id],
            // Digital silence is -infinity dBFS, which JSON cannot carry: the floor stands for it.
            inputLevel: position?.inputLevel.map { max($0, StationAPI.Live.silenceFloor) }, outputLostSince: position?.outputLostSince)
    }

    /// Raises or clears the dead-air alarm (status, `/metrics`, the log), checked on the station's timer every 100 ms.
    func checkAir() {
        let reason = deadAirReason()
        let live = liveStatus
        metrics.liveOnAir.set(to: live == nil ? 0 : 1)
        metrics.liveOutputLost.set(to: live?.outputLostSince == nil ? 0 : 1)
        switch (deadAir, reason) {
        case (nil, let reason?):
            deadAir = StationAPI.DeadAir(since: clock(), reason: reason)
            metrics.deadAir.set(to: 1)
            logger.critical("dead air", metadata: ["reason": "\(reason)"])
        case (let raised?, let reason?) where raised.reason.prefix(12) != reason.prefix(12):
            deadAir?.reason = reason
            logger.critical("dead air", metadata: ["reason": "\(reason)"])
        case (let raised?, nil):
            logger.notice("on air again", metadata: ["dead-air-seconds": "\(Int(clock().timeIntervalSince(raised.since).rounded()))"])
            deadAir = nil
            metrics.deadAir.set(to: 0)
        case (.some, .some), (nil, nil):
            deadAir?.reason = reason ?? ""
        }
    }

    /// Why the station is silent when it should be heard, or nil. Measured on the real clock, as the player's are.
    private func deadAirReason() -> String? {
        let health = player.health
        if let order = arbiter.nowPlaying {
            if amplifier?.isWarmingUp == true {
                unheardSince = nil
                return nil
            }
            if amplifier?.isOffWhenItShouldBeOn == true {
                unheardSince = nil
                return "the amplifier is off while on air: \(amplifier?.status?.lastError ?? "its switch failed")"
            }
            guard let position = player.position, position.id == order.entry.id else {
                // A retry of the item on a device that is down: still dead air (between retries the item waits in the
                // queue, below), so the alarm does not flicker off at each attempt.
                if let error = health.lastError {
                    unheardSince = nil
                    return "the device is down while \(order.entry.id) should be on air: \(error)"
                }
                // The player holds nothing of the item on air: it has not taken it, or it has ended it and its report
                // has not been taken. Either lasts milliseconds; longer, the station has stopped moving, which is as
                // silent as a device that takes nothing and must not hide behind an empty position.
                let since = unheardSince ?? Date()
                unheardSince = since
                let waited = Date().timeIntervalSince(since)
                return waited > Station.startLimit ? "the player has not been playing \(order.entry.id) for \(String(format: "%.1f", waited)) s" : nil
            }
            unheardSince = nil
            if position.outputLostSince != nil {
                return "the loudspeaker is gone under a live item (its input is still heard): \(health.lastError ?? "retrying")"
            }
            let limit = Station.deadAirMargin + Double(health.format.bufferFrames) / Double(max(health.format.rate, 1))
            let silent = Date().timeIntervalSince(position.handedAt)
            return silent > limit ? "the device has taken no data for \(String(format: "%.1f", silent)) s" : nil
        }
        unheardSince = nil
        let now = clock()
        let down = (arbiter.deviceDownUntil.map { $0 > now } ?? false) || health.lastError != nil
        guard down else { return nil }
        let waiting = arbiter.queue.filter { entry in
            (entry.announcement.notBefore.map { $0 <= now } ?? true) && (entry.earliestStart.map { $0 <= now } ?? true)
        }
        guard !waiting.isEmpty else { return nil }
        return "the device is down with \(waiting.count) item\(waiting.count == 1 ? "" : "s") waiting: \(health.lastError ?? "retrying")"
    }
}
