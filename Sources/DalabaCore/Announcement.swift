import Foundation

/// What an announcement is, as operators and the API name it; the kind sets its rank.
public enum Kind: String, Codable, Sendable, CaseIterable, Hashable {
    case emergency
    case rumorRebuttal = "rumor-rebuttal"
    case policy
    case routine
}

/// Where an announcement comes from; a higher tier goes first within a rank (上级优先).
public enum Tier: Int, Codable, Sendable, CaseIterable, Comparable {
    case village = 1
    case township = 2
    case county = 3

    public static func < (lhs: Tier, rhs: Tier) -> Bool { lhs.rawValue < rhs.rawValue }

    public var name: String {
        switch self {
        case .village: "village"
        case .township: "township"
        case .county: "county"
        }
    }

    public init?(name: String) {
        guard let tier = Tier.allCases.first(where: { $0.name == name }) else { return nil }
        self = tier
    }
}

/// What happens to an item when a higher rank cuts in.
public enum InterruptPolicy: String, Codable, Sendable, CaseIterable {
    /// Plays again from the start after the higher item: a half-heard notice is useless.
    case restart
    /// Continues where it stopped, if still inside its window.
    case resume
    /// Is abandoned.
    case drop
}

/// The sound played before an item: a short chime for notices, the two-tone attention signal for emergencies.
public enum Signal: String, Codable, Sendable, CaseIterable {
    case none
    case chime
    case attention
}

/// How a play attempt ended; one airtime-log row carries exactly one.
public enum Outcome: String, Codable, Sendable, CaseIterable {
    case completed
    case interrupted
    case cancelled
    case expired
    case missed
    case failed
}

/// One announcement as queued by an operator, a schedule or an alert.
public struct Announcement: Codable, Sendable, Hashable, Identifiable {
    /// The external id when one was given (a second copy with it is not queued twice), else one made on arrival.
    public var id: String
    public var title: String
    public var kind: Kind
    /// Emergency level 1 (I 特别重大, red) … 4 (IV 一般, blue); nil for other kinds.
    public var level: Int?
    public var tier: Tier
    /// A drill or test: marked, logged and counted apart, and never preempts a real emergency.
    public var isTest: Bool
    /// The audio file to play (absolute path on the station).
    public var audio: String
    /// The text when the audio was synthesized from text.
    public var text: String?
    /// Who queued it: an operator's name, a schedule's name, a CAP sender.
    public var source: String
    /// How many times it plays in all (at least 1).
    public var repeatCount: Int
    /// Seconds between the end of one play and the start of the next.
    public var repeatInterval: Double
    public var notBefore: Date?
    public var expires: Date?
    /// The slot time for scheduled programmes.
    public var scheduledAt: Date?
    public var queuedAt: Date
    /// Set for a live item (实时喊话): its audio is what this input records, played as it arrives.
    public var live: LiveSource?

    public init(
        id: String, title: String, kind: Kind, level: Int? = nil, tier: Tier = .village, isTest: Bool = false,
        audio: String, text: String? = nil, source: String, repeatCount: Int = 1, repeatInterval: Double = 0,
        notBefore: Date? = nil, expires: Date? = nil, scheduledAt: Date? = nil, queuedAt: Date, live: LiveSource? = nil
    ) {
        self.live = live
        self.id = id
        self.title = title
        self.kind = kind
        self.level = level
        self.tier = tier
        self.isTest = isTest
        self.audio = audio
        self.text = text
        self.source = source
        self.repeatCount = repeatCount
        self.repeatInterval = repeatInterval
        self.notBefore = notBefore
        self.expires = expires
        self.scheduledAt = scheduledAt
        self.queuedAt = queuedAt
    }

    /// Why an announcement cannot be queued, naming the field.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var field: String
        public var reason: String
        public init(field: String, reason: String) {
            self.field = field
            self.reason = reason
        }
        public var description: String { "\(field): \(reason)" }
    }

    /// Checks the fields that have rules of their own, so bad input is refused before it reaches the queue.
    public func validate() throws(Invalid) {
        if id.isEmpty || id.count > 200 { throw Invalid(field: "id", reason: "must be 1 to 200 characters") }
        switch kind {
        case .emergency:
            guard let level else { throw Invalid(field: "level", reason: "an emergency needs a level from 1 to 4") }
            guard (1...4).contains(level) else { throw Invalid(field: "level", reason: "\(level) is out of range 1–4") }
        default:
            if level != nil { throw Invalid(field: "level", reason: "only an emergency has a level") }
        }
        guard (1...1000).contains(repeatCount) else { throw Invalid(field: "repeat", reason: "\(repeatCount) is out of range 1–1000") }
        guard repeatInterval >= 0, repeatInterval.isFinite else { throw Invalid(field: "repeat-interval", reason: "must be zero or more seconds") }
        if let notBefore, let expires, expires <= notBefore {
            throw Invalid(field: "expires", reason: "is not after not-before")
        }
        if audio.isEmpty { throw Invalid(field: "audio", reason: "is empty") }
        if let live {
            if let url = live.url {
                if !live.input.isEmpty { throw Invalid(field: "url", reason: "give an input or a url, not both") }
                try LiveSource.checkRelay(url)
            } else if live.input.isEmpty {
                throw Invalid(field: "input", reason: "is empty")
            }
            if repeatCount != 1 { throw Invalid(field: "repeat", reason: "a live item plays once") }
            if let s = live.silenceSeconds, !(s > 0 && s.isFinite) { throw Invalid(field: "silence", reason: "must be more than zero seconds") }
            if let s = live.maximumSeconds, !(s > 0 && s.isFinite) { throw Invalid(field: "maximum", reason: "must be more than zero seconds") }
        }
    }
}

/// A live programme's input: an ALSA capture PCM (a microphone or line-in) or a relayed stream, and what ends it besides
/// an operator.
public struct LiveSource: Codable, Sendable, Hashable {
    /// The capture PCM; empty for a relay.
    public var input: String
    /// A relay (转播): the http or https address of an MP3 or Ogg stream (Icecast), in place of `input`.
    public var url: String?
    /// Ends the item after this much continuous silence (VOX); nil: only a stop or the maximum ends it.
    public var silenceSeconds: Double?
    public var maximumSeconds: Double?
    public init(input: String, url: String? = nil, silenceSeconds: Double? = nil, maximumSeconds: Double? = nil) {
        self.input = input
        self.url = url
        self.silenceSeconds = silenceSeconds
        self.maximumSeconds = maximumSeconds
    }

    /// The longest relay address taken.
    public static let maximumURLLength = 2_000

    /// A relay address must be an absolute http or https URL with a host, printable, and without credentials: the address
    /// is shown in status and kept in the airtime log, so a password in it would be published.
    public static func checkRelay(_ url: String) throws(Announcement.Invalid) {
        guard !url.isEmpty, url.utf8.count <= maximumURLLength else {
            throw Announcement.Invalid(field: "url", reason: "must be 1 to \(maximumURLLength) bytes")
        }
        guard url.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && $0.isASCII }) else {
            throw Announcement.Invalid(field: "url", reason: "must be printable ASCII without spaces (percent-encode the rest)")
        }
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased() else {
            throw Announcement.Invalid(field: "url", reason: "is not a URL")
        }
        guard scheme == "http" || scheme == "https" else { throw Announcement.Invalid(field: "url", reason: "must be http or https, not \(scheme)") }
        guard let host = parts.host, !host.isEmpty else { throw Announcement.Invalid(field: "url", reason: "has no host") }
        if parts.user != nil || parts.password != nil {
            throw Announcement.Invalid(field: "url", reason: "must not carry credentials: the address is shown in status and kept in the log")
        }
    }
}
