import DalabaAlerts
import DalabaCore
import DalabaStation
import Foundation
import Hummingbird

/// `POST /v1/cap`: a CAP 1.2 alert becomes an emergency announcement (Alert), replaces the alerts it references even
/// mid-play (Update), or cancels them (Cancel). Drills (Exercise, Test) are marked; Draft and System are not broadcast.
struct CAPController {
    let station: Station
    let intake: AnnouncementIntake
    let preparation: AudioPreparation?
    let policy: CAPPolicy
    let tier: Tier
    let alertDirectory: String
    let parser = CAPParser()

    /// What the station did with the alert.
    struct Outcome: Codable {
        var status: String
        var id: String?
        var position: Int?
        var cancelled: [String]?
        var reason: String?
    }

    func addRoutes(to router: Router<StationRequestContext>) {
        router.post("/v1/cap", use: ingest)
    }

    @Sendable func ingest(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.require(.operatorRole)
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: parser.maximumBytes)
        } catch {
            throw APIError(.contentTooLarge, "the alert is larger than \(parser.maximumBytes) bytes", field: "document")
        }
        let alert: CAPAlert
        do {
            alert = try parser.parse(Data(body.readableBytesView))
        } catch {
            throw APIError(.badRequest, StationAPI.Failure(error: error.reason, field: error.field))
        }
        let now = Date()
        switch policy.decide(alert, now: now) {
        case .ignore(let reason):
            return try JSONResponse.make(Outcome(status: "ignored", id: alert.announcementID, reason: reason))
        case .cancel(let ids):
            var cancelled: [String] = []
            for id in ids where await station.cancel(id: id, by: "\(caller.name) (CAP \(alert.sender))") { cancelled.append(id) }
            return try JSONResponse.make(Outcome(status: "cancelled", id: alert.announcementID, cancelled: cancelled))
        case .broadcast(let broadcast):
            return try await queue(broadcast, replacing: [], caller: caller)
        case .replace(let ids, let broadcast):
            return try await queue(broadcast, replacing: ids, caller: caller)
        }
    }

    private func queue(_ broadcast: AlertBroadcast, replacing ids: [String], caller: Configuration.Token) async throws -> Response {
        let audio = try await audioPath(for: broadcast)
        var announcement = broadcast.announcement(audio: audio, tier: tier, queuedAt: Date())
        announcement.source = "CAP \(broadcast.sender) via \(caller.name)"
        do {
            try announcement.validate()
        } catch {
            throw APIError(.badRequest, StationAPI.Failure(error: error.reason, field: error.field))
        }
        if announcement.kind == .emergency { preparation?.measureWithoutWaiting(audio) } else { await preparation?.measure(audio) }
        var cancelled: [String] = []
        for id in ids where await station.cancel(id: id, by: "CAP update from \(broadcast.sender)") { cancelled.append(id) }
        let receipt: StationAPI.QueueReceipt
        do {
            receipt = try await station.enqueue(announcement)
        } catch {
            throw APIError(error)
        }
        let status = ids.isEmpty ? receipt.status.rawValue : (receipt.status == .queued ? "replaced" : receipt.status.rawValue)
        return try JSONResponse.make(
            Outcome(status: status, id: receipt.id, position: receipt.position, cancelled: ids.isEmpty ? nil : cancelled),
            status: receipt.status == .queued ? .created : .ok)
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
