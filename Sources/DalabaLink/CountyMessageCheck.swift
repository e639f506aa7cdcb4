import DalabaCore
import Foundation

/// The village's gate for head-end messages: a message is acted on only if its signature verifies with the county's key,
/// it is well formed, its id was not seen before, it has not expired, and it targets the village or one of its prefixes.
/// Pure: the caller gives the time and what was seen.
public enum CountyMessageCheck {
    /// A message the village will act on; `late` when it is validly signed but past its `expires` (an `announce` is then
    /// recorded as expired rather than refused).
    public struct Accepted: Sendable, Hashable {
        public var message: CountyMessage
        public var late: Bool
    }

    /// A refusal, with whatever could be read of the message for the receipt (never trusted: only echoed).
    public struct Refused: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: RefusalReason
        public var messageID: String?
        public var announcementID: String?
        public var detail: String

        public var description: String { "\(reason.rawValue): \(detail)" }
    }

    /// How long after its expiry a message still counts as late rather than refused outright; seen ids are kept this long
    /// after expiry too, so a replay is always caught one way or the other.
    public static let lateWindow: TimeInterval = 30 * 86_400

    /// Checks raw bytes from the broker.
    public static func check(
        _ bytes: Data, key: CountyKey, village: RegionCode, now: Date, seen: (String) -> Bool
    ) -> Result<Accepted, Refused> {
        guard bytes.count <= 16 << 20 else { return .failure(Refused(reason: .malformed, detail: "message of \(bytes.count) bytes is too large")) }
        let decoder = LinkJSON.decoder()
        guard let envelope = try? decoder.decode(SignedEnvelope.self, from: bytes) else {
            // A bare payload without an envelope is an unsigned message; anything else is malformed.
            if let bare = try? decoder.decode(CountyMessage.self, from: bytes) {
                return .failure(Refused(reason: .unsigned, messageID: echo(bare.id), announcementID: bare.body.announcementID.flatMap(echo), detail: "not in a signed envelope"))
            }
            return .failure(Refused(reason: .malformed, detail: "not a signed envelope"))
        }
        let payload: Data
        switch envelope.verifiedPayload(with: key) {
        case .success(let data): payload = data
        case .failure(let reason):
            let unverified = Data(base64Encoded: envelope.payload).flatMap { try? decoder.decode(CountyMessage.self, from: $0) }
            let detail =
                switch reason {
                case .unsigned: "the envelope has no signature"
                case .forged: envelope.key == key.id ? "the signature does not verify with the county key" : "signed by key \(echo(envelope.key) ?? "?"), not the county's \(key.id)"
                default: "the envelope is not version \(SignedEnvelope.version) or its payload is not base64"
                }
            return .failure(Refused(reason: reason, messageID: unverified.flatMap { echo($0.id) }, announcementID: unverified?.body.announcementID.flatMap(echo), detail: detail))
        }
        let message: CountyMessage
        do {
            message = try decoder.decode(CountyMessage.self, from: payload)
        } catch {
            return .failure(Refused(reason: .malformed, detail: "the signed payload is not a county message: \(String(describing: error).prefix(200))"))
        }
        if let problem = message.problem() {
            return .failure(Refused(reason: .malformed, messageID: echo(message.id), announcementID: message.body.announcementID.flatMap(echo), detail: problem))
        }
        let refused = { (reason: RefusalReason, detail: String) in
            Refused(reason: reason, messageID: message.id, announcementID: message.body.announcementID, detail: detail)
        }
        guard message.targets.contains(where: { $0.covers(village) }) else {
            return .failure(refused(.notTargeted, "targets \(message.targets.prefix(5).map(\.digits).joined(separator: ",")) do not include \(village)"))
        }
        if seen(message.id) { return .failure(refused(.replayed, "message \(message.id) was acted on before")) }
        if now >= message.expires {
            guard case .announce = message.body, now.timeIntervalSince(message.expires) < lateWindow else {
                return .failure(refused(.expired, "expired at \(LinkJSON.format(message.expires))"))
            }
            return .success(Accepted(message: message, late: true))
        }
        return .success(Accepted(message: message, late: false))
    }

    /// An id read from an unverified message, if it is printable and short enough to echo.
    static func echo(_ text: String) -> String? { AnnouncementID.problem(with: text) == nil ? text : nil }
}
