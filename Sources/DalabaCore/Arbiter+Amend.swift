import Foundation

/// What an update (`PATCH /v1/announcements/{id}`, `dalaba update`, a county update) may change in a queued item: the
/// things an operator corrects after queuing (a title, an end time) without the audio, rank or place in line changing.
public struct Amendment: Sendable, Equatable, Codable {
    public var title: String?
    public var expires: Date?

    public init(title: String? = nil, expires: Date? = nil) {
        self.title = title
        self.expires = expires
    }

    /// `announcement` with the change applied (fields left nil stay as they are).
    public func applied(to announcement: Announcement) -> Announcement {
        var changed = announcement
        if let title { changed.title = title }
        if let expires { changed.expires = expires }
        return changed
    }
}

extension Arbiter {
    /// What became of an amendment.
    public enum AmendResult: Sendable, Equatable {
        /// The waiting item is now the new version, in the same place in line (`position` as `enqueue` gives it).
        case amended(position: Int)
        /// The item is on air (or being preempted): this play goes on as it started (its log row says what aired), and the new version is what
        /// the store keeps and what plays next (a repeat, a restart after preemption or a crash). An emergency whose new
        /// end time has passed stops at once, as any emergency past its end.
        case nextPlay
        /// The new end time has passed: the waiting item is logged as expired and removed, as it would have been at that time.
        case expired
        /// The item is being stopped for good (cancelled, or an emergency past its end; its report not in yet): nothing changed.
        case stopping
    }

    /// The announcement with this id as it stands now (waiting, on air or being stopped), to check an amendment against.
    public func announcement(id: String) -> Announcement? {
        waiting[id]?.announcement ?? (playing?.id == id ? playing?.entry.announcement : nil) ?? stopping[id]?.play.entry.announcement
    }

    /// Changes a queued or playing item in one event, so at every instant (and in the store, whose commit of this event's
    /// `.save` is one transaction) the item is either the old version or the new one, never missing. Nil when the id is
    /// unknown. The caller validates `change.applied(to:)` first; the arbiter does not refuse values.
    public mutating func amend(id: String, _ change: Amendment, now: Date) -> (AmendResult, [Action])? {
        var actions = takePending()
        if var entry = waiting[id] {
            entry.announcement = change.applied(to: entry.announcement)
            if Arbiter.hasExpired(entry, at: now) {
                waiting.remove(id: id)
                actions += [.record(AirtimeRecord(unplayed: entry, at: now, outcome: .expired)), .remove(id: id)]
                actions += settle(now: now)
                return (.expired, actions)
            }
            // Rank, tier and sequence are unchanged, so the entry keeps its place; only its times are re-indexed.
            waiting.insert(entry)
            actions.append(.save(entry))
            actions += settle(now: now)
            return (.amended(position: playing?.id == id ? 0 : waiting.position(of: id) ?? 0), actions)
        }
        if var play = playing, play.id == id {
            play.entry.announcement = change.applied(to: play.entry.announcement)
            playing = play
            actions.append(.save(play.entry))
            actions += settle(now: now)
            return (.nextPlay, actions)
        }
        if let stopped = stopping[id] {
            // Preempted: it goes back in line when its report comes, and then as the new version.
            if stopped.reason == .preempted || stopped.reason == .shutdown {
                stopping[id]?.play.entry.announcement = change.applied(to: stopped.play.entry.announcement)
                actions.append(.save(stopping[id]!.play.entry))
                actions += settle(now: now)
                return (.nextPlay, actions)
            }
            actions += settle(now: now)
            return (.stopping, actions)
        }
        pending = actions
        return nil
    }
}
