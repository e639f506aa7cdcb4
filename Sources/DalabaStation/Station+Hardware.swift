import DalabaAudio
import DalabaCore
import Foundation
import Logging

/// The loudspeaker hardware as the station sees it: the volume each item plays at, and the dead-air alarm.
extension Station {
    /// Silence on air beyond the device's buffer and this much more is dead air.
    static let deadAirMargin = 0.5

    func isEmergency(_ id: String) -> Bool {
        arbiter.nowPlaying.map { $0.entry.id == id && $0.entry.announcement.kind == .emergency } ?? false
    }

    var volumeStatus: StationAPI.Volume {
        .init(base: volumeLevels.base, path: configuration.volume.mixer == nil ? "software" : "mixer", mixer: configuration.volume.mixer?.element)
    }

    /// Sets the station's base level (dB below full, within `VolumeLevels.range`) for items that start from now on; what
    /// plays keeps its level, and emergencies keep theirs. Lasts until the daemon restarts (`[volume] base` is the lasting one).
    public func setBaseVolume(_ decibels: Double, by who: String) -> StationAPI.Volume {
        volumeLevels.base = decibels
        logger.notice("base volume set", metadata: ["dB": "\(decibels)", "by": "\(who)"])
        return volumeStatus
    }

    /// Raises or clears the dead-air alarm (status, `/metrics`, the log), checked on the station's timer every 100 ms.
    func checkAir() {
        let reason = deadAirReason()
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
            if amplifier?.isWarmingUp == true { return nil }
            if amplifier?.isOffWhenItShouldBeOn == true {
                return "the amplifier is off while on air: \(amplifier?.status?.lastError ?? "its switch failed")"
            }
            guard let position = player.position, position.id == order.entry.id else { return nil }
            let limit = Station.deadAirMargin + Double(health.format.bufferFrames) / Double(max(health.format.rate, 1))
            let silent = Date().timeIntervalSince(position.handedAt)
            return silent > limit ? "the device has taken no data for \(String(format: "%.1f", silent)) s" : nil
        }
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
