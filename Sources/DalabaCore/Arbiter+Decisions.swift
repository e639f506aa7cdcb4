import Foundation

extension Arbiter {
    /// Frames counted at one rate expressed at another, for a resume position taken at a different device rate.
    static func convert(_ frames: Int64, from: Int, to: Int) -> Int64 {
        guard from > 0, to > 0, from != to else { return frames }
        return frames * Int64(to) / Int64(from)
    }

    mutating func takePending() -> [Action] {
        defer { pending = [] }
        return pending
    }

    /// Looks at the queue with the current time: expires what is overdue, stops an emergency past its end, starts or
    /// preempts with the best eligible item, and tells the caller when to look again.
    mutating func settle(now: Date) -> [Action] {
        var actions: [Action] = []
        for id in waiting.expired(at: now) {
            guard let entry = waiting.remove(id: id) else { continue }
            actions.append(.record(AirtimeRecord(unplayed: entry, at: now, outcome: .expired)))
            actions.append(.remove(id: entry.id))
        }
        // Only an emergency is cut off at its end time: an alert past its end misleads, a notice merely runs late.
        if let play = playing, play.entry.announcement.kind == .emergency, let expires = play.entry.announcement.expires, expires <= now {
            actions += stopPlaying(reason: .expired)
        }
        if let until = deviceDownUntil, until <= now { deviceDownUntil = nil }
        if deviceDownUntil == nil, !isShuttingDown, let next = waiting.first(where: { isEligible($0, at: now) }) {
            if let play = playing {
                if next.announcement.rank > play.entry.announcement.rank { actions += start(next) }
            } else {
                actions += start(next)
            }
        }
        let wake = isShuttingDown ? nil : nextWake(after: now)
        if wake != announcedWake {
            announcedWake = wake
            actions.append(.wake(at: wake))
        }
        if isShuttingDown, playing == nil, stopping.isEmpty, !shutdownAnnounced {
            shutdownAnnounced = true
            actions.append(.shutdownComplete)
        }
        return actions
    }

    static func hasExpired(_ entry: QueueEntry, at now: Date) -> Bool {
        guard let expires = entry.announcement.expires else { return false }
        return expires <= now
    }

    func isHeldByQuietHours(_ entry: QueueEntry, at now: Date) -> Bool {
        guard let quietHours = configuration.quietHours else { return false }
        switch entry.announcement.kind {
        case .routine, .policy: return quietHours.contains(now, in: configuration.timeZone)
        case .emergency, .rumorRebuttal: return false
        }
    }

    func isEligible(_ entry: QueueEntry, at now: Date) -> Bool {
        if let notBefore = entry.announcement.notBefore, notBefore > now { return false }
        if let earliestStart = entry.earliestStart, earliestStart > now { return false }
        return !Arbiter.hasExpired(entry, at: now) && !isHeldByQuietHours(entry, at: now)
    }

    /// The earliest future instant at which the arbiter's decision could change without an event from outside.
    func nextWake(after now: Date) -> Date? {
        var times: [Date?] = [deviceDownUntil, waiting.nextMoment(after: now)]
        if waiting.quietHoldable > 0, let quietHours = configuration.quietHours, quietHours.contains(now, in: configuration.timeZone) {
            times.append(quietHours.end(after: now, in: configuration.timeZone))
        }
        if let play = playing, play.entry.announcement.kind == .emergency { times.append(play.entry.announcement.expires) }
        return times.compactMap { $0 }.filter { $0 > now }.min()
    }

    /// Puts an entry on air; whatever played is now stopping, preempted, until its report arrives.
    mutating func start(_ entry: QueueEntry) -> [Action] {
        waiting.remove(id: entry.id)
        if let play = playing { stopping[play.id] = Stopping(play: play, reason: .preempted) }
        var entry = entry
        entry.isPlaying = true
        entry.earliestStart = nil
        // A resumed continuation goes straight on: a signal in the middle of a programme would only confuse.
        let signal = entry.resumeFrame > 0 ? .none : configuration.signal(for: entry.announcement.kind)
        let order = PlayOrder(entry: entry, signal: signal, startFrame: entry.resumeFrame, playNumber: entry.playsDone + 1)
        playing = Play(order: order, entry: entry)
        return [.play(order), .save(entry)]
    }

    mutating func stopPlaying(reason: StopReason) -> [Action] {
        guard let play = playing else { return [] }
        playing = nil
        stopping[play.id] = Stopping(play: play, reason: reason)
        return [.stop(id: play.id)]
    }

    /// Cancels one known item wherever it is; the record for one on air waits for its report.
    mutating func withdraw(id: String, now: Date) -> [Action] {
        if let entry = waiting.remove(id: id) {
            return [.record(AirtimeRecord(unplayed: entry, at: now, outcome: .cancelled)), .remove(id: id)]
        }
        if playing?.id == id { return stopPlaying(reason: .cancelled) }
        // An expiring emergency keeps its reason: it is gone either way, and `expired` says why more precisely.
        if stopping[id]?.reason == .preempted { stopping[id]?.reason = .cancelled }
        return []
    }

    /// Turns a player's report into the airtime record and decides what becomes of the entry.
    mutating func conclude(_ play: Play, reason: StopReason?, report: PlayReport, now: Date) -> [Action] {
        var entry = play.entry
        entry.isPlaying = false
        let announcement = entry.announcement
        let outcome: Outcome
        var error: String?
        switch report.ending {
        case .completed:
            outcome = .completed
        case .stopped:
            switch reason {
            case .cancelled: outcome = .cancelled
            case .expired: outcome = .expired
            // A stop nobody asked for is treated like a preemption, so the item is not lost.
            case .preempted, .shutdown, nil: outcome = .interrupted
            }
        case .deviceFailed(let message), .audioFailed(let message):
            outcome = .failed
            error = message
        }
        if reason == .shutdown, case .stopped = report.ending { error = "station stopped while playing" }
        var actions: [Action] = []
        // A device that stays down fails every retry: the item's first failed attempt is logged, and later ones only if
        // they put audio on air, so the log says what happened without a row every few seconds.
        let repeatedFailure: Bool
        if case .deviceFailed = report.ending, entry.deviceFailureLogged, report.frames == 0, report.signalFrames == 0 {
            repeatedFailure = true
        } else {
            repeatedFailure = false
        }
        if !repeatedFailure {
            actions.append(.record(AirtimeRecord(play: play, report: report, endedAt: now, outcome: outcome, error: error)))
        }
        if case .deviceFailed = report.ending { entry.deviceFailureLogged = true } else { entry.deviceFailureLogged = false }
        let heard = Arbiter.convert(play.order.startFrame, from: play.order.entry.resumeRate, to: report.rate) + report.frames
        let withdrawn = reason == .cancelled || reason == .expired

        switch report.ending {
        case .completed:
            deviceFailures = 0
            entry.playsDone += 1
            // A cancelled or expired item that happened to finish before the stop reached the player plays no more.
            if withdrawn || entry.playsDone >= announcement.repeatCount { return actions + [.remove(id: entry.id)] }
            entry.resumeFrame = 0
            entry.resumeRate = 0
            entry.earliestStart = now.addingTimeInterval(announcement.repeatInterval)
        case .stopped:
            deviceFailures = 0
            if withdrawn { return actions + [.remove(id: entry.id)] }
            switch configuration.policy(for: announcement) {
            case .restart:
                entry.resumeFrame = 0
                entry.resumeRate = 0
            case .resume:
                entry.resumeFrame = heard
                entry.resumeRate = report.rate > 0 ? report.rate : play.order.entry.resumeRate
            case .drop:
                return actions + [.remove(id: entry.id)]
            }
        case .deviceFailed:
            deviceFailures += 1
            deviceDownUntil = now.addingTimeInterval(configuration.deviceRetry.delay(afterFailures: deviceFailures))
            if withdrawn { return actions + [.remove(id: entry.id)] }
            // `drop` answers a preemption by a higher item; a device fault says nothing against this item, so it
            // goes back as it went on air.
            if configuration.policy(for: announcement) == .resume {
                entry.resumeFrame = heard
                entry.resumeRate = report.rate > 0 ? report.rate : play.order.entry.resumeRate
            } else {
                entry.resumeFrame = 0
                entry.resumeRate = 0
            }
        case .audioFailed:
            // The file itself is bad: retrying would fail the same way, forever.
            return actions + [.remove(id: entry.id)]
        }
        // Requeued with its original sequence, so it stays first within its rank and tier.
        waiting.insert(entry)
        actions.append(.save(entry))
        return actions
    }
}

extension AirtimeRecord {
    /// The record of one play that reached the player, with the frames the player reported: the announcement as it went on
    /// air (an amendment made during the play applies from the next one).
    init(play: Arbiter.Play, report: PlayReport, endedAt: Date, outcome: Outcome, error: String?) {
        let a = play.order.entry.announcement
        self.init(
            announcementID: a.id, title: a.title, kind: a.kind, level: a.level, isTest: a.isTest, tier: a.tier, source: a.source,
            audio: a.audio, text: a.text, playNumber: play.order.playNumber, scheduledAt: a.scheduledAt, startedAt: report.startedAt,
            endedAt: endedAt, frames: report.frames, signalFrames: report.signalFrames, rate: report.rate, outcome: outcome, error: error)
    }
}
