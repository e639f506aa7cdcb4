import DalabaCore
import Foundation

/// What the station should do with one CAP message; the station performs it (the policy itself touches nothing).
public enum CAPDecision: Sendable, Hashable {
    /// Queue a new emergency announcement.
    case broadcast(AlertBroadcast)
    /// Stop and unqueue the referenced alerts (even mid-play), then queue the update in their place.
    case replace(ids: [String], with: AlertBroadcast)
    /// Stop and unqueue the referenced alerts, even mid-play.
    case cancel(ids: [String])
    /// An Update that expired before it arrived: nothing is broadcast, but the alerts it replaces are stopped and
    /// unqueued as for a cancel; `reason` says so to the sender and the log.
    case expiredUpdate(ids: [String], reason: String)
    /// Nothing to broadcast; `reason` goes to the log so an operator sees why an alert stayed silent.
    case ignore(reason: String)
}

/// An emergency announcement made from a CAP alert, ready for the station to turn into an `Announcement`.
public struct AlertBroadcast: Sendable, Hashable, Codable {
    /// `cap:<sender>:<identifier>` (see `CAPAlert.announcementID`): a re-delivered duplicate has the same id.
    public var id: String
    /// The info's headline, or its event when there is no headline.
    public var title: String
    /// Emergency level 1 (I 特别重大) … 4 (IV 一般), from the policy's severity × urgency table.
    public var level: Int
    /// True for CAP Exercise and Test: a drill, logged apart and never preempting a real emergency.
    public var isTest: Bool
    public var expires: Date?
    /// The chosen info's language (RFC 3066, e.g. `zh-CN`), to pick the synthesis voice.
    public var language: String
    /// Headline, description and instruction, each once, separated by blank lines: what speech synthesis reads.
    public var text: String
    /// The recorded announcement, when the alert carries an `audio/*` resource; otherwise the station speaks `text`.
    public var audio: AlertAudio?
    /// The CAP sender, for the airtime log's source.
    public var sender: String
    /// The CAP event (地震, Flood Warning), for logs and reports.
    public var event: String

    public init(
        id: String, title: String, level: Int, isTest: Bool, expires: Date?, language: String, text: String, audio: AlertAudio?,
        sender: String, event: String
    ) {
        self.id = id
        self.title = title
        self.level = level
        self.isTest = isTest
        self.expires = expires
        self.language = language
        self.text = text
        self.audio = audio
        self.sender = sender
        self.event = event
    }

    /// The queueable announcement, once the station has a file for it (the written payload, the resolved reference,
    /// or synthesized `text`) and knows the sender's tier from its configuration. The announcement keeps `text` only when
    /// there is no recording, because `Announcement.text` means "the audio was synthesized from this".
    public func announcement(audio path: String, tier: Tier, queuedAt: Date, repeatCount: Int = 1, repeatInterval: Double = 0) -> Announcement {
        Announcement(
            id: id, title: title, kind: .emergency, level: level, tier: tier, isTest: isTest, audio: path, text: audio == nil ? text : nil,
            source: sender,
            repeatCount: repeatCount, repeatInterval: repeatInterval, expires: expires, queuedAt: queuedAt
        )
    }
}
