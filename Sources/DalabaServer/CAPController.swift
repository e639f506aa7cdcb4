import DalabaAlerts
import DalabaCore
import DalabaStation
import DalabaXMLSignature
import Foundation
import Hummingbird

/// `POST /v1/cap`: a CAP 1.0–1.2 alert becomes an emergency announcement (Alert), replaces the alerts it references even
/// mid-play (Update), or cancels them (Cancel). Drills (Exercise, Test) are marked; Draft and System are not broadcast.
/// The alert's XML signature is checked against the station's policy before anything is done with it.
struct CAPController {
    let station: Station
    let intake: AnnouncementIntake
    let preparation: AudioPreparation?
    let policy: CAPPolicy
    let tier: Tier
    let alertDirectory: String
    let signatures: CAPSignatureCheck
    let parser = CAPParser()

    init(
        station: Station, intake: AnnouncementIntake, preparation: AudioPreparation?, policy: CAPPolicy, tier: Tier, alertDirectory: String,
        signatures: CAPSignatureCheck = .off
    ) {
        self.station = station
        self.intake = intake
        self.preparation = preparation
        self.policy = policy
        self.tier = tier
        self.alertDirectory = alertDirectory
        self.signatures = signatures
    }

    /// What the station did with the alert.
    struct Outcome: Codable {
        var status: String
        var id: String?
        var position: Int?
        var cancelled: [String]?
        var reason: String?
        /// `verified`, `unsigned`, `invalid`, `unchecked` (policy off) or `unsupported`.
        var signature: String?
        /// Who signed, for a verified signature.
        var signer: String?
    }

    func addRoutes(to routes: RouteTable) {
        routes.group(.operatorAPI).post("/v1/cap", use: ingest)
    }

    @Sendable func ingest(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: parser.maximumBytes)
        } catch {
            throw APIError(.contentTooLarge, "the alert is larger than \(parser.maximumBytes) bytes", field: "document")
        }
        let alert: CAPAlert
        let signature: CAPSignatureResult
        do throws(CAPError) {
            // Converted to UTF-8 and screened first: nothing unscreened reaches either XML parser.
            let document = try parser.document(Data(body.readableBytesView))
            alert = try parser.parse(document)
            signature = signatures.check(document)
            do throws(CAPError) {
                try signatures.policy.admit(signature)
            } catch {
                context.logger.warning(
                    "CAP alert refused: signature \(signature)", metadata: ["id": "\(alert.announcementID)", "caller": "\(caller.name)"])
                throw error
            }
        } catch {
            throw APIError(.badRequest, StationAPI.Failure(error: error.reason, field: error.field))
        }
        context.logger.notice(
            "CAP \(alert.msgType.rawValue) \(alert.announcementID) (CAP \(alert.version.rawValue)): signature \(signature)",
            metadata: ["caller": "\(caller.name)"])
        var outcome: Outcome
        var status: HTTPResponse.Status = .ok
        switch policy.decide(alert, now: Date()) {
        case .ignore(let reason):
            outcome = Outcome(status: "ignored", id: alert.announcementID, reason: reason)
        case .cancel(let ids):
            let cancelled = await cancel(ids, by: "\(caller.name) (CAP \(alert.sender))")
            outcome = Outcome(
                status: "cancelled", id: alert.announcementID, cancelled: cancelled,
                reason: Self.cancelReason(referenced: ids, cancelled: cancelled))
        case .expiredUpdate(let ids, let reason):
            let cancelled = await cancel(ids, by: "CAP expired update from \(alert.sender)")
            outcome = Outcome(
                status: "expired", id: alert.announcementID, cancelled: cancelled,
                reason: reason + "; " + Self.cancelReason(referenced: ids, cancelled: cancelled))
        case .broadcast(let broadcast):
            (outcome, status) = try await queue(broadcast, replacing: [], caller: caller, signature: signature)
        case .replace(let ids, let broadcast):
            (outcome, status) = try await queue(broadcast, replacing: ids, caller: caller, signature: signature)
        }
        outcome.signature = signature.status
        if case .verified(let signer) = signature { outcome.signer = signer }
        return try JSONResponse.make(outcome, status: status)
    }

    private func cancel(_ ids: [String], by who: String) async -> [String] {
        var cancelled: [String] = []
        for id in ids where await station.cancel(id: id, by: who) { cancelled.append(id) }
        return cancelled
    }

    /// Which referenced alerts were stopped, and why the others were not: a sender must be able to tell "done" from
    /// "nothing to do".
    static func cancelReason(referenced: [String], cancelled: [String]) -> String {
        let missing = referenced.filter { !cancelled.contains($0) }
        if referenced.isEmpty { return "it references no alerts" }
        if missing.isEmpty { return "stopped \(cancelled.count) of \(referenced.count) referenced alerts" }
        return "stopped \(cancelled.count) of \(referenced.count) referenced alerts; not queued or playing here "
            + "(already finished, cancelled, or never received): \(missing.joined(separator: ", "))"
    }

    private func queue(
        _ broadcast: AlertBroadcast, replacing ids: [String], caller: Caller, signature: CAPSignatureResult
    ) async throws -> (Outcome, HTTPResponse.Status) {
        let audio = try await audioPath(for: broadcast)
        var announcement = broadcast.announcement(audio: audio, tier: tier, queuedAt: Date())
        // The source is what the queue entry and the airtime log row carry, so the signature result goes with it.
        announcement.source = "CAP \(broadcast.sender) via \(caller.name), signature \(signatures.summary(of: signature))"
        do {
            try announcement.validate()
        } catch {
            throw APIError(.badRequest, StationAPI.Failure(error: error.reason, field: error.field))
        }
        if announcement.kind == .emergency { preparation?.measureWithoutWaiting(audio) } else { await preparation?.measure(audio) }
        let cancelled = await cancel(ids, by: "CAP update from \(broadcast.sender)")
        let receipt: StationAPI.QueueReceipt
        do {
            receipt = try await station.enqueue(announcement)
        } catch {
            throw APIError(error)
        }
        let status = ids.isEmpty ? receipt.status.rawValue : (receipt.status == .queued ? "replaced" : receipt.status.rawValue)
        return (
            Outcome(status: status, id: receipt.id, position: receipt.position, cancelled: ids.isEmpty ? nil : cancelled),
            receipt.status == .queued ? .created : .ok
        )
    }

    /// The alert's own audio (embedded, or a file already on the station), else its text spoken in its language.
    private func audioPath(for broadcast: AlertBroadcast) async throws -> String {
        switch broadcast.audio {
        case .embedded(let data, let mimeType, let sha1):
            try FileManager.default.createDirectory(atPath: alertDirectory, withIntermediateDirectories: true)
            let path = "\(alertDirectory)/cap-\(sha1).\(AlertAudio.fileExtension(for: mimeType))"
            if !FileManager.default.fileExists(atPath: path) { try data.write(to: URL(fileURLWithPath: path), options: .atomic) }
            do {
                return try intake.checkAudio(path)
            } catch {
                throw APIError(.badRequest, StationAPI.Failure(error: error.error, field: "resource/derefUri"))
            }
        case .file(let relativePath, _):
            do {
                return try intake.checkAudio(try intake.resolveAudio(relativePath))
            } catch {
                throw APIError(.badRequest, StationAPI.Failure(error: error.error, field: "resource/uri"))
            }
        case nil:
            guard let preparation else { throw APIError(.badRequest, "the alert has no audio and speech is not available", field: "resource") }
            do {
                return try await preparation.speak(broadcast.text, voice: Self.voice(for: broadcast.language))
            } catch {
                throw APIError(.badRequest, StationAPI.Failure(error: error.error, field: "info/headline"))
            }
        }
    }

    /// espeak-ng voices for CAP languages: Chinese in Mandarin, others by their primary subtag.
    static func voice(for language: String) -> String {
        let primary = language.lowercased().split(separator: "-").first.map(String.init) ?? "zh"
        switch primary {
        case "zh", "cmn": return language.lowercased().contains("yue") || language.lowercased().hasSuffix("-hk") ? "yue" : "cmn"
        default: return primary
        }
    }
}

extension CAPPolicy {
    /// The standard table with the station's overrides ("Extreme" = 1, …).
    static func station(overrides: [String: Int]) -> CAPPolicy {
        var policy = CAPPolicy.standard
        for (name, level) in overrides {
            if let severity = CAPSeverity(rawValue: name) { policy.severityLevels[severity] = level }
        }
        return policy
    }
}

/// The station's signature policy and, unless it is `off`, the verifier holding its trusted certificates.
struct CAPSignatureCheck: Sendable {
    let policy: CAPSignaturePolicy
    let verifier: (any CAPSignatureVerifier)?
    /// Why there is no verifier although the policy wants one (a certificate xmlsec cannot load).
    let setupFailure: String?

    static let off = CAPSignatureCheck(policy: .off, verifier: nil, setupFailure: nil)

    /// From `cap.signature` and `cap.trusted-certificates`. A certificate that cannot be loaded leaves every signed
    /// alert `unsupported`, which `require` refuses; the reason is in every such refusal.
    init(configuration: Configuration) {
        let policy = CAPSignaturePolicy(rawValue: configuration.capSignature) ?? .off
        guard policy != .off else {
            self.init(policy: .off, verifier: nil, setupFailure: nil)
            return
        }
        do {
            let verifier = try XMLSignatureVerifier(certificateFiles: configuration.capTrustedCertificates.map(configuration.resolve))
            self.init(policy: policy, verifier: verifier, setupFailure: nil)
        } catch {
            self.init(policy: policy, verifier: nil, setupFailure: error.description)
        }
    }

    init(policy: CAPSignaturePolicy, verifier: (any CAPSignatureVerifier)?, setupFailure: String?) {
        self.policy = policy
        self.verifier = verifier
        self.setupFailure = setupFailure
    }

    func check(_ document: CAPDocument) -> CAPSignatureResult {
        guard policy != .off else { return .unchecked }
        guard let verifier else { return .unsupported(reason: setupFailure ?? "no verifier") }
        return verifier.verify(document)
    }

    /// Short enough for the announcement's source: the status, and the signer's common name when verified.
    func summary(of result: CAPSignatureResult) -> String {
        guard case .verified(let signer) = result else { return result.status }
        let commonName = signer.split(separator: "/").last(where: { $0.hasPrefix("CN=") }).map { String($0.dropFirst(3)) }
        return "verified (\(commonName ?? signer))"
    }
}
