import DalabaCore
import Foundation

/// The payload of every head-end message (signed inside a `SignedEnvelope`):
/// `{"id", "issued", "expires", "targets": [codes], "body": {"type": …}}`.
///
/// `id` is unique per message (a village acts on an id once, ever); `expires` is how long the message itself is valid
/// (a village refuses it after that, except an `announce`, which is then recorded as `expired`).
public struct CountyMessage: Codable, Sendable, Hashable {
    public var id: String
    public var issued: Date
    public var expires: Date
    /// County, township or village codes; the message reaches a village when one of them is the village or its prefix.
    public var targets: [RegionCode]
    public var body: Body

    public init(id: String, issued: Date, expires: Date, targets: [RegionCode], body: Body) {
        self.id = id
        self.issued = issued
        self.expires = expires
        self.targets = targets
        self.body = body
    }

    /// Most targets in one message: a head-end with more villages targets their township or county instead.
    public static let maximumTargets = 1_000

    /// What the message asks, discriminated by `type`: `announce`, `cancel`, `stop-all`, `update`, `confirm`.
    public enum Body: Sendable, Hashable, Codable {
        case announce(Announce)
        /// Cancels the county announcement with this id (even mid-play); after it finished, nothing changes.
        case cancel(announcement: String)
        /// Stops everything queued and playing at the targeted villages.
        case stopAll
        case update(Update)
        /// The county has stored `village`'s rows through `seq` (the village resends only after it), and these receipts.
        case confirm(Confirm)

        public var type: String {
            switch self {
            case .announce: "announce"
            case .cancel: "cancel"
            case .stopAll: "stop-all"
            case .update: "update"
            case .confirm: "confirm"
            }
        }

        /// The county announcement the body is about, if any.
        public var announcementID: String? {
            switch self {
            case .announce(let a): a.announcement
            case .cancel(let id): id
            case .update(let u): u.announcement
            case .stopAll, .confirm: nil
            }
        }

        enum CodingKeys: String, CodingKey { case type, announcement }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            switch try c.decode(String.self, forKey: .type) {
            case "announce": self = .announce(try Announce(from: decoder))
            case "cancel": self = .cancel(announcement: try c.decode(String.self, forKey: .announcement))
            case "stop-all": self = .stopAll
            case "update": self = .update(try Update(from: decoder))
            case "confirm": self = .confirm(try Confirm(from: decoder))
            case let other:
                throw DecodingError.dataCorruptedError(forKey: .type, in: c, debugDescription: "unknown body type '\(other.prefix(40))'")
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(type, forKey: .type)
            switch self {
            case .announce(let a): try a.encode(to: encoder)
            case .cancel(let id): try c.encode(id, forKey: .announcement)
            case .stopAll: break
            case .update(let u): try u.encode(to: encoder)
            case .confirm(let confirm): try confirm.encode(to: encoder)
            }
        }
    }

    /// An announcement to queue at tier `county` (or `township`), under the county's id.
    public struct Announce: Codable, Sendable, Hashable {
        /// The announcement id (the same at every village, so a duplicate is queued once).
        public var announcement: String
        public var title: String
        public var kind: Kind
        public var level: Int?
        public var isTest: Bool
        public var notBefore: Date?
        public var expires: Date?
        public var repeatCount: Int
        public var repeatInterval: Double
        public var audio: Audio
        /// The spoken text when the audio was synthesized at the head-end (for the village's log).
        public var text: String?
        /// `county` (the default) or `township`: the tier from the operator's token at the head-end.
        public var tier: String?

        public init(
            announcement: String, title: String, kind: Kind, level: Int? = nil, isTest: Bool = false, notBefore: Date? = nil,
            expires: Date? = nil, repeatCount: Int = 1, repeatInterval: Double = 0, audio: Audio, text: String? = nil, tier: String? = nil
        ) {
            self.announcement = announcement
            self.title = title
            self.kind = kind
            self.level = level
            self.isTest = isTest
            self.notBefore = notBefore
            self.expires = expires
            self.repeatCount = repeatCount
            self.repeatInterval = repeatInterval
            self.audio = audio
            self.text = text
            self.tier = tier
        }

        /// The tier it is queued at in the village.
        public var queueTier: Tier { tier.flatMap(Tier.init(name:)) ?? .county }
    }

    /// Ogg Opus audio, either in the message (`{"embedded": base64, "sha256": hex}`) or to fetch from the head-end
    /// (`{"url": …, "sha256": hex, "bytes": n}`) with the village's fetch token.
    public struct Audio: Codable, Sendable, Hashable {
        public var embedded: String?
        public var url: String?
        /// Lowercase hex SHA-256 of the audio bytes.
        public var sha256: String
        public var bytes: Int?

        public static func embedded(_ data: Data) -> Audio {
            Audio(embedded: data.base64EncodedString(), url: nil, sha256: linkSHA256(data), bytes: nil)
        }

        public static func url(_ url: String, sha256: String, bytes: Int) -> Audio {
            Audio(embedded: nil, url: url, sha256: sha256, bytes: bytes)
        }

        public init(embedded: String?, url: String?, sha256: String, bytes: Int?) {
            self.embedded = embedded
            self.url = url
            self.sha256 = sha256
            self.bytes = bytes
        }
    }

    /// Changes to a county announcement still queued or playing: a new title, a new expiry.
    public struct Update: Codable, Sendable, Hashable {
        public var announcement: String
        public var title: String?
        public var expires: Date?

        public init(announcement: String, title: String? = nil, expires: Date? = nil) {
            self.announcement = announcement
            self.title = title
            self.expires = expires
        }
    }

    /// What the county has stored of one village: its rows through `seq`, and the receipts whose `seq` is in `receipts`.
    /// A head-end that confirms receipts always sends `receipts` (empty when it has none to confirm); a village that sees a
    /// confirm without it is talking to an older head-end, which confirms rows only.
    public struct Confirm: Codable, Sendable, Hashable {
        public var village: RegionCode
        /// The last row sequence of `village` the county has stored; nil in a confirm of receipts only.
        public var seq: Int64?
        /// The receipt sequences (the village's outbox ids) now stored in PostgreSQL.
        public var receipts: [Int64]?

        public init(village: RegionCode, seq: Int64?, receipts: [Int64]? = nil) {
            self.village = village
            self.seq = seq
            self.receipts = receipts
        }

        /// Most receipt sequences in one confirm.
        public static let maximumReceipts = 1_000
    }

    /// The first rule the message breaks, naming the field; nil when it is well formed. (Signature, expiry, replay and
    /// targeting are checked by `CountyMessageCheck`.)
    public func problem() -> String? {
        if let p = AnnouncementID.problem(with: id) { return "id \(p)" }
        if targets.isEmpty { return "targets is empty" }
        if targets.count > Self.maximumTargets { return "targets has more than \(Self.maximumTargets) codes" }
        if expires <= issued { return "expires is not after issued" }
        func text(_ name: String, _ value: String, limit: Int = 200) -> String? {
            if value.isEmpty || value.count > limit { return "\(name) must be 1 to \(limit) characters" }
            if let bad = DisplayText.firstForbidden(in: value) { return "\(name) may not contain \(DisplayText.name(of: bad))" }
            return nil
        }
        switch body {
        case .announce(let a):
            if let p = AnnouncementID.problem(with: a.announcement) { return "body.announcement \(p)" }
            if let p = text("body.title", a.title) { return p }
            switch a.kind {
            case .emergency:
                guard let level = a.level, (1...4).contains(level) else { return "body.level must be 1 to 4 for an emergency" }
            default:
                if a.level != nil { return "body.level: only an emergency has a level" }
            }
            if !(1...1000).contains(a.repeatCount) { return "body.repeatCount must be 1 to 1000" }
            if !(a.repeatInterval >= 0 && a.repeatInterval <= 86_400) { return "body.repeatInterval must be 0 to 86400 seconds" }
            if let nb = a.notBefore, let ex = a.expires, ex <= nb { return "body.expires is not after body.notBefore" }
            if let tier = a.tier, tier != "county", tier != "township" { return "body.tier must be county or township" }
            if let t = a.text, t.count > 100_000 || DisplayText.firstForbidden(in: t, allowingLineBreaks: true) != nil {
                return "body.text is too long or holds control characters"
            }
            let digest = a.audio.sha256
            if digest.utf8.count != 64 || !digest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) {
                return "body.audio.sha256 must be 64 lowercase hex digits"
            }
            switch (a.audio.embedded, a.audio.url) {
            case (.some, nil): break
            case (nil, .some(let url)):
                guard let u = URL(string: url), u.scheme == "http" || u.scheme == "https", u.host != nil else {
                    return "body.audio.url must be an http or https URL"
                }
                guard let bytes = a.audio.bytes, bytes > 0 else { return "body.audio.bytes must be a positive size" }
            default: return "body.audio must have exactly one of embedded and url"
            }
        case .cancel(let id):
            if let p = AnnouncementID.problem(with: id) { return "body.announcement \(p)" }
        case .update(let u):
            if let p = AnnouncementID.problem(with: u.announcement) { return "body.announcement \(p)" }
            if let title = u.title, let p = text("body.title", title) { return p }
        case .stopAll: break
        case .confirm(let c):
            if c.village.level != .village { return "body.village must be a 12-digit village code" }
            if let seq = c.seq, seq < 0 { return "body.seq must not be negative" }
            if let receipts = c.receipts, receipts.count > Confirm.maximumReceipts {
                return "body.receipts has more than \(Confirm.maximumReceipts) sequences"
            }
            if c.seq == nil, c.receipts == nil { return "body.seq or body.receipts is required" }
        }
        return nil
    }
}
