import Foundation

/// One OASIS CAP `<alert>` message (1.0, 1.1 or 1.2, read into 1.2's terms), as parsed and validated by `CAPParser`: every required field is present and
/// every enumeration is one CAP defines, so the station's policy never meets a half-formed alert.
public struct CAPAlert: Sendable, Hashable, Codable {
    /// Unique per sender (CAP forbids spaces, commas, `<` and `&` in it).
    public var identifier: String
    /// The originator, e.g. `cenc@example.gov.cn`; with `identifier` it names the message.
    public var sender: String
    public var sent: Date
    /// `sent` exactly as written, because `references` quote it verbatim.
    public var sentText: String
    public var status: CAPStatus
    public var msgType: CAPMessageType
    public var scope: CAPScope
    /// The earlier messages an Update, Cancel, Ack or Error refers to.
    public var references: [CAPReference]
    public var info: [CAPInfo]
    /// The CAP version its namespace declared.
    public var version: CAPVersion
    /// How many XML-DSig `<Signature>` elements are children of `<alert>` (CAP allows one); checking them is a
    /// `CAPSignatureVerifier`'s job, on the document's bytes.
    public var signatureCount: Int

    public init(
        identifier: String, sender: String, sent: Date, sentText: String, status: CAPStatus, msgType: CAPMessageType,
        scope: CAPScope, references: [CAPReference] = [], info: [CAPInfo] = [], version: CAPVersion = .v1_2, signatureCount: Int = 0
    ) {
        self.version = version
        self.signatureCount = signatureCount
        self.identifier = identifier
        self.sender = sender
        self.sent = sent
        self.sentText = sentText
        self.status = status
        self.msgType = msgType
        self.scope = scope
        self.references = references
        self.info = info
    }

    /// The station's id for this message: see `CAPAlert.announcementID(sender:identifier:)`.
    public var announcementID: String { CAPAlert.announcementID(sender: sender, identifier: identifier) }

    /// The station id of a CAP message: `cap:<sender>:<identifier>`.
    ///
    /// CAP makes `identifier` unique per `sender`, so the pair names a message; `sent` is left out on purpose because
    /// the same instant can be written several ways (`+08:00` or `-00:00`), and a reference or a re-delivered duplicate
    /// must map to the very same id (the station does not queue a second copy of an id).
    public static func announcementID(sender: String, identifier: String) -> String {
        "cap:\(sender):\(identifier)"
    }
}

/// One `sender,identifier,sent` triple from `<references>`.
public struct CAPReference: Sendable, Hashable, Codable {
    public var sender: String
    public var identifier: String
    public var sent: String

    public init(sender: String, identifier: String, sent: String) {
        self.sender = sender
        self.identifier = identifier
        self.sent = sent
    }

    /// The station id of the referenced message (same rule as `CAPAlert.announcementID`).
    public var announcementID: String { CAPAlert.announcementID(sender: sender, identifier: identifier) }
}

/// One `<info>` block: a CAP alert may carry several, typically one per language.
public struct CAPInfo: Sendable, Hashable, Codable {
    /// RFC 3066 language, `en-US` when the element is absent (CAP's default).
    public var language: String
    public var categories: [CAPCategory]
    public var event: String
    public var urgency: CAPUrgency
    public var severity: CAPSeverity
    public var certainty: CAPCertainty
    public var senderName: String?
    public var headline: String?
    public var description: String?
    public var instruction: String?
    public var onset: Date?
    public var expires: Date?
    public var resources: [CAPResource]
    public var areas: [CAPArea]

    public init(
        language: String = "en-US", categories: [CAPCategory], event: String, urgency: CAPUrgency, severity: CAPSeverity,
        certainty: CAPCertainty, senderName: String? = nil, headline: String? = nil, description: String? = nil,
        instruction: String? = nil, onset: Date? = nil, expires: Date? = nil, resources: [CAPResource] = [], areas: [CAPArea] = []
    ) {
        self.language = language
        self.categories = categories
        self.event = event
        self.urgency = urgency
        self.severity = severity
        self.certainty = certainty
        self.senderName = senderName
        self.headline = headline
        self.description = description
        self.instruction = instruction
        self.onset = onset
        self.expires = expires
        self.resources = resources
        self.areas = areas
    }
}

/// One `<resource>`: a file that belongs to the alert (a recorded announcement, a map).
public struct CAPResource: Sendable, Hashable, Codable {
    public var resourceDesc: String
    public var mimeType: String
    /// Bytes, as CAP 1.2 defines it (CAP 1.1 said kilobytes).
    public var size: Int?
    public var uri: String?
    /// The decoded `<derefUri>` payload, already checked against `size` and `digest`.
    public var payload: Data?
    /// SHA-1 of the resource in lowercase hex, as written in `<digest>`.
    public var digest: String?
    /// Where the station gets this resource's sound, for `audio/*` resources that name one; nil otherwise.
    public var audio: AlertAudio?

    public init(
        resourceDesc: String, mimeType: String, size: Int? = nil, uri: String? = nil, payload: Data? = nil, digest: String? = nil,
        audio: AlertAudio? = nil
    ) {
        self.resourceDesc = resourceDesc
        self.mimeType = mimeType
        self.size = size
        self.uri = uri
        self.payload = payload
        self.digest = digest
        self.audio = audio
    }

    /// True for `audio/…` MIME types, the only resources a loudspeaker can use.
    public var isAudio: Bool { mimeType.lowercased().hasPrefix("audio/") }
}

/// One `<area>`; only the human description is kept, because a village station is inside its own area by construction.
public struct CAPArea: Sendable, Hashable, Codable {
    public var areaDesc: String

    public init(areaDesc: String) { self.areaDesc = areaDesc }
}

/// The CAP version, from the alert's namespace.
///
/// 1.0 and 1.1 are read into 1.2's terms: certainty "Very Likely" (1.0, deprecated in 1.1) is read as "Likely", and a
/// resource's `size` is not held against an embedded payload because before 1.2 it was only approximate.
public enum CAPVersion: String, Sendable, Hashable, Codable, CaseIterable {
    case v1_0 = "1.0"
    case v1_1 = "1.1"
    case v1_2 = "1.2"

    /// The namespace the version's schema defines; CAP 1.0 predates the OASIS URN.
    public var namespace: String {
        switch self {
        case .v1_0: "http://www.incident.com/cap/1.0"
        case .v1_1: "urn:oasis:names:tc:emergency:cap:1.1"
        case .v1_2: "urn:oasis:names:tc:emergency:cap:1.2"
        }
    }

    /// The version whose namespace this is. The URN form of 1.0, which some 1.0 senders wrote, is accepted too.
    public init?(namespace: String) {
        if namespace == "urn:oasis:names:tc:emergency:cap:1.0" {
            self = .v1_0
            return
        }
        guard let version = CAPVersion.allCases.first(where: { $0.namespace == namespace }) else { return nil }
        self = version
    }
}

/// CAP `<status>`.
public enum CAPStatus: String, Sendable, Hashable, Codable, CaseIterable, CodingKeyRepresentable {
    case actual = "Actual"
    case exercise = "Exercise"
    case system = "System"
    case test = "Test"
    case draft = "Draft"
}

/// CAP `<msgType>`.
public enum CAPMessageType: String, Sendable, Hashable, Codable, CaseIterable, CodingKeyRepresentable {
    case alert = "Alert"
    case update = "Update"
    case cancel = "Cancel"
    case ack = "Ack"
    case error = "Error"
}

/// CAP `<scope>`.
public enum CAPScope: String, Sendable, Hashable, Codable, CaseIterable, CodingKeyRepresentable {
    case `public` = "Public"
    case restricted = "Restricted"
    case `private` = "Private"
}

/// CAP `<category>`.
public enum CAPCategory: String, Sendable, Hashable, Codable, CaseIterable, CodingKeyRepresentable {
    case geo = "Geo"
    case met = "Met"
    case safety = "Safety"
    case security = "Security"
    case rescue = "Rescue"
    case fire = "Fire"
    case health = "Health"
    case env = "Env"
    case transport = "Transport"
    case infra = "Infra"
    case cbrne = "CBRNE"
    case other = "Other"
}

/// CAP `<urgency>`.
public enum CAPUrgency: String, Sendable, Hashable, Codable, CaseIterable, CodingKeyRepresentable {
    case immediate = "Immediate"
    case expected = "Expected"
    case future = "Future"
    case past = "Past"
    case unknown = "Unknown"
}

/// CAP `<severity>`.
public enum CAPSeverity: String, Sendable, Hashable, Codable, CaseIterable, CodingKeyRepresentable {
    case extreme = "Extreme"
    case severe = "Severe"
    case moderate = "Moderate"
    case minor = "Minor"
    case unknown = "Unknown"
}

/// CAP `<certainty>` (CAP 1.2 values; 1.0's "Very Likely" is refused as unknown).
public enum CAPCertainty: String, Sendable, Hashable, Codable, CaseIterable, CodingKeyRepresentable {
    case observed = "Observed"
    case likely = "Likely"
    case possible = "Possible"
    case unlikely = "Unlikely"
    case unknown = "Unknown"
}
