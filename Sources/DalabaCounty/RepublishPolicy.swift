import DalabaLink
import Foundation

/// When the head-end publishes an announcement again to one targeted village that has sent no receipt of it: pure, so each
/// rule is a unit test.
///
/// Where a QoS 1 message can be lost on the way to a village, and what covers it:
/// * The broker keeps an offline village's messages in its persistent session, so a village that is offline needs nothing:
///   re-publishing to it would only pile copies into that session. Nothing is sent while it is offline.
/// * The broker saves its sessions and queued messages only every autosave interval: restarted after a crash, it has lost
///   what arrived since its last save, for every village offline then. A broker restart drops the head-end's connection, so
///   when a village comes back online after the announcement's last publish and the head-end's broker connection is newer
///   than that publish too (a broker or head-end restart since), the announcement goes again at once.
/// * A village online without a receipt after `delay` (its session was lost or never existed, it joined after the publish,
///   or its receipts are lost): again after `delay`, then twice as long each time up to `maximumDelay`.
/// So a village gets at most one copy per back-off step and one per return online after a restart, per announcement.
public struct RepublishPolicy: Sendable {
    /// A targeted, online village without any receipt of a valid announcement (from `CountyStore.republishCandidates`).
    public struct Candidate: Sendable, Equatable {
        public var announcement: String
        /// The announcement's first message, whose body is published again.
        public var message: String
        public var village: RegionCode
        /// The announcement's title and expiry now (an update may have changed them).
        public var title: String
        public var expires: Date?
        public var onlineSince: Date?
        /// The village's dalabad version, from its state.
        public var version: String?
        /// Re-publishes to this village so far.
        public var attempts: Int
        /// When it was last published to the village (the broker's acknowledgement of the first, or the last re-publish).
        public var lastPublished: Date

        public init(
            announcement: String, message: String, village: RegionCode, title: String, expires: Date?, onlineSince: Date?, version: String? = nil,
            attempts: Int, lastPublished: Date
        ) {
            self.version = version
            self.announcement = announcement
            self.message = message
            self.village = village
            self.title = title
            self.expires = expires
            self.onlineSince = onlineSince
            self.attempts = attempts
            self.lastPublished = lastPublished
        }
    }

    /// Seconds an online village may go without a receipt before the first re-publish; 0 turns re-publishing off.
    public var delay: TimeInterval
    public var maximumDelay: TimeInterval = 3_600

    public init(delay: TimeInterval) { self.delay = delay }

    /// The first village version that queues a re-published announcement once, ever: an older one checks only what its
    /// station still holds, so it would play an announcement again once it had left its queue.
    public static let firstVersionTakingRepublishes = [0, 11, 0]

    /// Whether a village of `version` ("0.11.0") treats a re-publish as the announcement it already has.
    public static func takesRepublishes(_ version: String?) -> Bool {
        guard let version else { return false }
        let parts = version.split(separator: ".").map { Int($0) ?? 0 }
        for (index, minimum) in firstVersionTakingRepublishes.enumerated() {
            let part = index < parts.count ? parts[index] : 0
            if part != minimum { return part > minimum }
        }
        return true
    }

    /// Whether to publish again now; `brokerConnectedAt` is when the head-end's broker connection was last made.
    public func isDue(_ c: Candidate, now: Date, brokerConnectedAt: Date) -> Bool {
        guard delay > 0, Self.takesRepublishes(c.version) else { return false }
        if let since = c.onlineSince, since > c.lastPublished, brokerConnectedAt > c.lastPublished { return true }
        let from = max(c.lastPublished, c.onlineSince ?? c.lastPublished)
        return now.timeIntervalSince(from) >= min(delay * pow(2, Double(c.attempts)), maximumDelay)
    }
}
