import Crypto
import DalabaAudio
import DalabaCore
import DalabaIntake
import DalabaLink
import Foundation
import Logging
import Synchronization

/// A refusal the API answers with its status: 400 for a bad request, 403 for a target outside the token's region, 404, 409.
public struct CountyRefusal: Error, Sendable, CustomStringConvertible {
    public var status: Int
    public var failure: StationAPI.Failure
    public init(_ status: Int, _ error: String, field: String? = nil) {
        self.status = status
        failure = .init(error: error, field: field)
    }
    public var description: String { "\(status) \(failure.description)" }
}

/// The head-end's desk: checks who may reach which villages, turns an operator's request into a signed county message, and
/// records it with its outbox entries in PostgreSQL before anyone is told it was accepted.
public struct AnnouncementDesk: Sendable {
    let configuration: CountyConfiguration
    /// The private key's raw seed (the key type itself is not `Sendable`).
    let seed: Data
    var key: Curve25519.Signing.PrivateKey { try! Curve25519.Signing.PrivateKey(rawRepresentation: seed) }
    let store: CountyStore
    let transcoder: OpusTranscoder
    let speech: SpeechSynthesizer
    /// Wakes the publisher when there is something new in the outbox.
    let outboxChanged: @Sendable () -> Void
    let logger: Logger
    let clock: @Sendable () -> Date
    /// The port the API was bound to (with `listen = "…:0"` known only after start), for the audio URL villages fetch.
    public let boundPort = SharedPort()

    public init(
        configuration: CountyConfiguration, key: Curve25519.Signing.PrivateKey, store: CountyStore, outboxChanged: @escaping @Sendable () -> Void,
        logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.configuration = configuration
        self.seed = key.rawRepresentation
        self.store = store
        self.transcoder = OpusTranscoder(directory: configuration.stateURL.appendingPathComponent("audio"))
        self.speech = SpeechSynthesizer(
            cacheDirectory: configuration.stateURL.appendingPathComponent("speech").path, defaultVoice: configuration.voice,
            maxCharacters: configuration.maxSpeechCharacters)
        self.outboxChanged = outboxChanged
        self.logger = logger
        self.clock = clock
    }

    /// The regions a request may reach: what it asked for (default: the token's whole scope), each a valid code inside the
    /// token's scope, with codes inside another requested code dropped. The scope is the token's, never the request's.
    public static func targets(requested: [String]?, scope: RegionCode, token: String) throws(CountyRefusal) -> [RegionCode] {
        guard let requested, !requested.isEmpty else { return [scope] }
        guard requested.count <= CountyMessage.maximumTargets else {
            throw CountyRefusal(400, "more than \(CountyMessage.maximumTargets) targets: target their township or the county", field: "to")
        }
        var codes: [RegionCode] = []
        for (index, text) in requested.enumerated() {
            let code: RegionCode
            do {
                code = try RegionCode(text)
            } catch {
                throw CountyRefusal(400, error.description, field: "to[\(index)]")
            }
            guard scope.covers(code) else {
                throw CountyRefusal(
                    403, "token \(DisplayText.echo(token)) may target only region \(scope) and what lies in it, not \(code)", field: "to[\(index)]")
            }
            codes.append(code)
        }
        let unique = Set(codes)
        return unique.filter { code in !unique.contains { $0 != code && $0.covers(code) } }.sorted()
    }

    /// Accepts an announcement: audio from `audioFile` (an upload) or spoken from `request.text`, transcoded to Ogg Opus,
    /// signed into one `announce` message for all targets, and recorded with one outbox entry per target region.
    public func announce(_ request: StationAPI.QueueRequest, to: [String]?, audioFile: String?, caller: CountyConfiguration.Token) async throws
        -> CountyAPI.Accepted
    {
        let now = clock()
        do {
            try QueueRequestDecoder.checkTimes(request, now: now)
        } catch {
            throw CountyRefusal(400, error.error, field: error.field)
        }
        let tier: Tier
        do {
            tier = try QueueRequestDecoder.tier(requested: request.tier, allowed: caller.tier, token: caller.name)
        } catch {
            throw CountyRefusal(403, error.error, field: error.field)
        }
        guard tier != .village else {
            throw CountyRefusal(403, "token \(DisplayText.echo(caller.name)) is a village's: the county queues at county or township tier", field: "tier")
        }
        let targets = try Self.targets(requested: to, scope: caller.scope, token: caller.name)
        let villages = configuration.villages(reachedBy: targets)
        guard !villages.isEmpty else { throw CountyRefusal(400, "no configured village lies in \(targets.map(\.digits).joined(separator: ", "))", field: "to") }
        if request.audio != nil, audioFile == nil {
            throw CountyRefusal(400, "the head-end has no audio directory: upload the file (multipart) or give text", field: "audio")
        }
        let id = request.id ?? "county-\(UUID().uuidString.lowercased().prefix(12))"
        if let problem = AnnouncementID.problem(with: id) { throw CountyRefusal(400, problem, field: "id") }
        let filed = try await prepareAudio(text: request.text, voice: request.voice, upload: audioFile)
        let title = request.title ?? (request.text.map { String($0.prefix(40)) } ?? "county announcement")
        let audio: CountyMessage.Audio
        let embedded = filed.bytes <= configuration.embedMaxBytes
        if embedded {
            guard let data = FileManager.default.contents(atPath: filed.path) else { throw CountyRefusal(500, "the transcoded audio cannot be read back") }
            audio = .embedded(data)
        } else {
            let port = boundPort.value
            let base = configuration.publicURL ?? "http://\(configuration.listenHost):\(port == 0 ? configuration.listenPort : port)"
            audio = .url("\(base)/v1/audio/\(filed.sha256)", sha256: filed.sha256, bytes: filed.bytes)
        }
        let body = CountyMessage.Announce(
            announcement: id, title: title, kind: request.kind, level: request.level, isTest: request.test ?? false, notBefore: request.notBefore,
            expires: request.expires, repeatCount: request.repeat ?? 1, repeatInterval: request.repeatInterval ?? 0, audio: audio, text: request.text,
            tier: tier.name)
        let messageID = Self.messageID(now: now)
        let message = CountyMessage(
            id: messageID, issued: now, expires: messageExpiry(now: now, announcementExpires: request.expires), targets: targets, body: .announce(body))
        if let problem = message.problem() { throw CountyRefusal(400, problem) }
        let envelope = try SignedEnvelope.sign(message, with: key).encoded()
        let record = CountyStore.AnnouncementRecord(
            id: id, title: title, kind: request.kind, level: request.level, isTest: request.test ?? false, tier: tier, source: caller.name,
            targets: targets, villages: villages.map(\.code), text: request.text, audioSHA256: filed.sha256, audioBytes: filed.bytes,
            notBefore: request.notBefore, expires: request.expires, acceptedAt: now)
        let fresh = try await store.accept(record, messageID: messageID, envelope: envelope)
        if fresh { outboxChanged() }
        logger.info(
            "county announcement \(fresh ? "accepted" : "duplicate")",
            metadata: ["id": "\(id)", "message": "\(messageID)", "targets": "\(targets.map(\.digits).joined(separator: ","))", "villages": "\(villages.count)"])
        return CountyAPI.Accepted(
            id: id, message: messageID, status: fresh ? "accepted" : "duplicate", targets: targets.map(\.digits), villages: villages.map(\.code.digits),
            tier: tier.name, audio: .init(sha256: filed.sha256, bytes: filed.bytes, seconds: Double(filed.frames) / 48_000, embedded: embedded))
    }

    /// Cancels a county announcement everywhere it went (within the caller's scope).
    public func cancel(id: String, caller: CountyConfiguration.Token) async throws -> CountyAPI.Sent {
        guard let a = try await store.announcement(id: id) else { throw CountyRefusal(404, "no county announcement has id \(DisplayText.echo(id))") }
        let targets = try Self.reachable(a.targets, by: caller, doing: "cancel")
        return try await send(.cancel(announcement: id), to: targets, announcement: id)
    }

    /// Sends a new title or expiry for a county announcement to the villages it went to (within the caller's scope), where
    /// it changes the item still waiting; an expiry already past also stops it on air. Refused for a cancelled announcement.
    public func update(id: String, _ change: CountyAPI.UpdateRequest, caller: CountyConfiguration.Token) async throws -> CountyAPI.Sent {
        guard let a = try await store.announcement(id: id) else { throw CountyRefusal(404, "no county announcement has id \(DisplayText.echo(id))") }
        let targets = try Self.reachable(a.targets, by: caller, doing: "update")
        if a.cancelledAt != nil { throw CountyRefusal(409, "county announcement \(DisplayText.echo(id)) was cancelled: there is nothing to update") }
        if let expires = change.expires {
            if expires > clock().addingTimeInterval(QueueRequestDecoder.maximumLeadTime) { throw CountyRefusal(400, "is more than 366 days ahead", field: "expires") }
            if let notBefore = a.notBefore, expires <= notBefore { throw CountyRefusal(400, "is not after the announcement's notBefore", field: "expires") }
        }
        // Only an update reaching every target changes the county's record; a township's update changes its villages only.
        let whole = Set(targets) == Set(a.targets)
        return try await send(
            .update(.init(announcement: id, title: change.title, expires: change.expires)), to: targets, announcement: id, changed: whole ? change : nil)
    }

    /// The announcement's targets a caller may reach: a township operator acts in its township only, so the targets are
    /// narrowed to its scope; none at all is 403.
    static func reachable(_ targets: [RegionCode], by caller: CountyConfiguration.Token, doing what: String) throws(CountyRefusal) -> [RegionCode] {
        let reachable = targets.compactMap { target -> RegionCode? in
            if caller.scope.covers(target) { return target }
            if target.covers(caller.scope) { return caller.scope }
            return nil
        }
        guard !reachable.isEmpty else {
            throw CountyRefusal(403, "token \(DisplayText.echo(caller.name)) may not \(what) in \(targets.map(\.digits).joined(separator: ", "))")
        }
        return Array(Set(reachable)).sorted()
    }

    /// Stops everything queued and playing at the villages of `to` (default: the caller's scope).
    public func stopAll(to: [String]?, caller: CountyConfiguration.Token) async throws -> CountyAPI.Sent {
        try await send(.stopAll, to: try Self.targets(requested: to, scope: caller.scope, token: caller.name), announcement: nil)
    }

    private func send(
        _ body: CountyMessage.Body, to targets: [RegionCode], announcement: String?, changed: CountyAPI.UpdateRequest? = nil
    ) async throws -> CountyAPI.Sent {
        let now = clock()
        let id = Self.messageID(now: now)
        let message = CountyMessage(id: id, issued: now, expires: now.addingTimeInterval(configuration.messageLifetime), targets: targets, body: body)
        if let problem = message.problem() { throw CountyRefusal(400, problem) }
        let envelope = try SignedEnvelope.sign(message, with: key).encoded()
        try await store.enqueue(messageID: id, type: body.type, announcement: announcement, envelope: envelope, regions: targets, changed: changed)
        outboxChanged()
        logger.info("county \(body.type) recorded", metadata: ["message": "\(id)", "targets": "\(targets.map(\.digits).joined(separator: ","))"])
        return .init(message: id, targets: targets.map(\.digits), villages: configuration.villages(reachedBy: targets).map(\.code.digits))
    }

    /// A confirm for `village` of its rows through `seq` (nil: receipts only) and of the receipts in `receipts`: sent straight
    /// to the village's topic, not through the outbox (a lost one is made good by the next, or by the village publishing
    /// again what stays unconfirmed). `receipts` is always present, if empty: it tells the village this head-end confirms them.
    public func confirm(village: RegionCode, seq: Int64?, receipts: [Int64] = []) throws -> Data {
        let now = clock()
        let message = CountyMessage(
            id: Self.messageID(now: now), issued: now, expires: now.addingTimeInterval(3_600), targets: [village],
            body: .confirm(.init(village: village, seq: seq, receipts: receipts)))
        return try SignedEnvelope.sign(message, with: key).encoded()
    }

    /// Publishes the announcement again to one village (`RepublishPolicy` says when): the first message's body, with the
    /// announcement's title and expiry as they are now, in a freshly signed message of its own id and time, targeted at the
    /// village only, valid as long as the first. A village refuses a replay of a signed message, but takes this one, queues
    /// nothing twice (the announcement id is the same) and answers with its receipt, which ends the re-publishing.
    /// Returns the new message id, or nil when there is nothing to publish (the first message is gone or no longer valid).
    @discardableResult
    public func republish(_ candidate: RepublishPolicy.Candidate) async throws -> String? {
        guard let stored = try await store.envelope(messageID: candidate.message),
            let envelope = try? LinkJSON.decode(SignedEnvelope.self, from: stored), let payload = Data(base64Encoded: envelope.payload),
            let first = try? LinkJSON.decode(CountyMessage.self, from: payload), case .announce(var body) = first.body
        else { return nil }
        let now = clock()
        guard first.expires > now else { return nil }
        body.title = candidate.title
        body.expires = candidate.expires
        let id = Self.messageID(now: now)
        let message = CountyMessage(id: id, issued: now, expires: first.expires, targets: [candidate.village], body: .announce(body))
        if let problem = message.problem() {
            logger.warning("announcement not published again", metadata: ["id": "\(candidate.announcement)", "problem": "\(problem)"])
            return nil
        }
        let signed = try SignedEnvelope.sign(message, with: key).encoded()
        try await store.recordRepublish(announcement: candidate.announcement, village: candidate.village, messageID: id, envelope: signed, at: now)
        outboxChanged()
        logger.notice(
            "county announcement published again: no receipt from the village",
            metadata: [
                "id": "\(candidate.announcement)", "village": "\(candidate.village)", "message": "\(id)", "attempt": "\(candidate.attempts + 1)",
            ])
        return id
    }

    /// The message stays valid as long as the announcement may still start (so a village back after a day still gets it), and
    /// at least the configured lifetime.
    private func messageExpiry(now: Date, announcementExpires: Date?) -> Date {
        let floor = now.addingTimeInterval(configuration.messageLifetime)
        guard let announcementExpires else { return floor }
        return max(floor, announcementExpires)
    }

    /// Unique, and sortable by time: "m-<ms since 1970>-<random>".
    static func messageID(now: Date) -> String {
        "m-\(Int64(now.timeIntervalSince1970 * 1000))-\(UUID().uuidString.lowercased().prefix(8))"
    }

    /// The Opus file for the announcement, off the cooperative pool (espeak-ng and libsndfile block).
    private func prepareAudio(text: String?, voice: String?, upload: String?) async throws -> OpusTranscoder.Filed {
        let transcoder = self.transcoder
        let speech = self.speech
        return try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread {
                do {
                    let source: String
                    if let upload {
                        source = upload
                    } else if let text {
                        source = try speech.synthesize(text: text, voice: voice).path
                    } else {
                        throw CountyRefusal(400, "give text or upload the audio", field: "audio")
                    }
                    continuation.resume(returning: try transcoder.transcode(source))
                } catch let error as CountyRefusal {
                    continuation.resume(throwing: error)
                } catch let error as SpeechError {
                    continuation.resume(throwing: CountyRefusal(400, error.description, field: "text"))
                } catch let error as AudioError {
                    continuation.resume(throwing: CountyRefusal(400, "the audio cannot be read: \(error.description)", field: "audio"))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }
}

/// The API's bound port, set once the server listens and read by every request.
public final class SharedPort: Sendable {
    private let port = Atomic<Int>(0)
    public init() {}
    public func store(_ value: Int) { port.store(value, ordering: .relaxed) }
    public var value: Int { port.load(ordering: .relaxed) }
}
