import DalabaCore
import DalabaIntake
import DalabaStation
import Foundation
import Hummingbird

/// The operators' API: queue, list, cancel, stop everything, status and metrics.
struct StationController {
    let station: Station
    let intake: AnnouncementIntake
    let uploadDirectory: String
    let maxUploadBytes: Int
    let minimumFreeBytes: Int
    let maxQueue: Int
    let emergencyHeadroom: Int
    let metrics: StationMetrics
    let intakeMetrics: IntakeMetrics

    func addRoutes(to routes: RouteTable) {
        routes.group(.operatorAPI)
            .post("/v1/announcements", use: queue)
            .delete("/v1/announcements/:id", use: cancel)
            .delete("/v1/announcements", use: cancel)
            .patch("/v1/announcements/:id", use: update)
            .post("/v1/stop-all", use: stopAll)
        routes.group(.watcher)
            .get("/v1/queue", use: list)
            .get("/v1/status", use: status)
            .get("/metrics", use: exposeMetrics)
    }

    /// `POST /v1/announcements`: JSON (`application/json`), or an upload (`multipart/form-data` with `metadata` and `audio`).
    /// Order of checks: role (the route group), content type, queue room, body (strictly decoded), tier, then the station's own checks; a
    /// refused upload leaves no file behind.
    @Sendable func queue(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        guard let contentType = request.headers[.contentType] else {
            throw refuse(.unsupportedMediaType, "send Content-Type: application/json, or multipart/form-data with the audio file")
        }
        let media = contentType.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        let isUpload: Bool
        switch media {
        case "application/json":
            isUpload = false
            if let charset = Self.parameter("charset", of: contentType), charset.lowercased() != "utf-8" {
                throw refuse(.unsupportedMediaType, "JSON must be UTF-8, not charset \(DisplayText.echo(charset))")
            }
        case "multipart/form-data": isUpload = true
        default:
            throw refuse(
                .unsupportedMediaType,
                "unsupported Content-Type \(DisplayText.echo(contentType)): send application/json, or multipart/form-data with the audio file")
        }
        // A coarse check before reading anything, so a full queue never costs an upload's disk space.
        let queued = await station.status().queue.count
        if queued >= maxQueue + emergencyHeadroom { throw queueFull(queued) }

        var upload: UploadFile?
        do {
            let queueRequest: StationAPI.QueueRequest
            if isUpload {
                let received = try await receiveUpload(request, contentType: contentType)
                upload = received.file
                queueRequest = received.request
            } else {
                let body: ByteBuffer
                do {
                    body = try await request.body.collect(upTo: Self.maximumJSONBytes)
                } catch {
                    throw refuse(.tooLarge, "a JSON request is larger than \(Self.maximumJSONBytes) bytes")
                }
                do {
                    queueRequest = try QueueRequestDecoder.decode(Array(body.readableBytesView))
                } catch {
                    throw refuse(.badRequest, error)
                }
            }
            if queueRequest.kind != .emergency, queued >= maxQueue { throw queueFull(queued) }
            let tier: Tier
            do {
                tier = try QueueRequestDecoder.tier(requested: queueRequest.tier, allowed: caller.tier, token: caller.name)
            } catch {
                throw refuse(error.error.hasPrefix("unknown") ? .badRequest : .tierTooHigh, error)
            }
            let announcement: Announcement
            do {
                if let upload, let stored = upload.path {
                    var request = queueRequest
                    request.title = request.title ?? upload.filename ?? "upload"
                    announcement = try await intake.announcement(from: request, uploaded: stored, source: caller.name, tier: tier)
                } else {
                    announcement = try await intake.announcement(from: queueRequest, source: caller.name, tier: tier)
                }
            } catch {
                var failure = error
                if let upload, let stored = upload.path, failure.field == "audio" {
                    failure.error = failure.error.replacingOccurrences(of: stored, with: upload.filename ?? "the upload")
                }
                throw refuse(.badRequest, failure)
            }
            let receipt: StationAPI.QueueReceipt
            do {
                receipt = try await station.enqueue(announcement)
            } catch {
                if case .queueFull = error { intakeMetrics.count(.queueFull) } else { intakeMetrics.count(.diskFull) }
                throw APIError(error)
            }
            if receipt.status != .queued { upload?.discard() }
            if receipt.status == .queued, let upload {
                intakeMetrics.uploads.increment()
                intakeMetrics.uploadBytes.increment(by: Int64(upload.byteCount))
            }
            return try JSONResponse.make(receipt, status: receipt.status == .queued ? .created : .ok)
        } catch {
            upload?.discard()
            throw error
        }
    }

    /// Largest JSON body: a queue request with the longest text the decoder takes, in any script.
    static let maximumJSONBytes = 1 << 20

    /// Streams an upload: the `audio` part straight into a file in the upload directory (never whole in memory), the
    /// `metadata` part through the strict decoder. Bounded by `station.max-upload-bytes` (413) and by the free space the
    /// upload directory must keep (`http.upload-min-free-bytes`, 507).
    private func receiveUpload(_ request: Request, contentType: String) async throws -> (request: StationAPI.QueueRequest, file: UploadFile) {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxUploadBytes {
            throw refuse(.tooLarge, "the request is larger than the limit of \(maxUploadBytes) bytes", field: "audio")
        }
        do {
            try FileManager.default.createDirectory(atPath: uploadDirectory, withIntermediateDirectories: true)
        } catch {
            throw refuse(.diskFull, "the upload directory \(uploadDirectory) cannot be created", field: "audio")
        }
        let expected = request.headers[.contentLength].flatMap { Int($0) } ?? 0
        if let free = ConsoleQueries.freeBytes(at: uploadDirectory), free - expected < minimumFreeBytes {
            throw refuse(.diskFull, "the station's disk is too full to store an upload (\(free) bytes free)", field: "audio")
        }
        let file = UploadFile(directory: uploadDirectory, minimumFreeBytes: minimumFreeBytes)
        do {
            var limits = MultipartIntake.Limits()
            limits.fileBytes = maxUploadBytes
            let stream: MultipartIntake.Stream
            do {
                stream = try MultipartIntake.Stream(contentType: contentType, limits: limits, sink: file)
            } catch {
                throw refuse(.badRequest, error)
            }
            var total = 0
            for try await chunk in request.body {
                total += chunk.readableBytes
                guard total <= maxUploadBytes else {
                    throw refuse(.tooLarge, "the request is larger than the limit of \(maxUploadBytes) bytes", field: "audio")
                }
                do {
                    try stream.feed(chunk)
                } catch {
                    throw file.diskFull ? refuse(.diskFull, error) : refuse(error.field == "audio" && error.error.contains("larger") ? .tooLarge : .badRequest, error)
                }
            }
            let parts: [MultipartIntake.Part]
            do {
                parts = try stream.finish()
                try file.close()
            } catch {
                throw file.diskFull ? refuse(.diskFull, error) : refuse(.badRequest, error)
            }
            guard let metadata = parts.first(where: { $0.name == "metadata" }) else {
                throw refuse(.badRequest, "is required (the JSON of the announcement)", field: "metadata")
            }
            if let type = metadata.contentType, type.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() != "application/json" {
                throw refuse(.badRequest, "must be application/json, not \(DisplayText.echo(type))", field: "metadata")
            }
            guard let audio = parts.first(where: { $0.name == "audio" }), audio.byteCount > 0, file.path != nil else {
                throw refuse(.badRequest, "is required (the audio file)", field: "audio")
            }
            do {
                return (try QueueRequestDecoder.decode(metadata.body), file)
            } catch {
                throw refuse(.badRequest, error)
            }
        } catch {
            file.discard()
            throw error
        }
    }

    private func queueFull(_ queued: Int) -> APIError {
        refuse(
            .queueFull,
            "the queue is full (\(queued) items; the limit is \(maxQueue), emergencies \(emergencyHeadroom) more): wait or cancel something")
    }

    private func refuse(_ reason: IntakeMetrics.Refusal, _ message: String, field: String? = nil) -> APIError {
        refuse(reason, StationAPI.Failure(error: message, field: field))
    }

    private func refuse(_ reason: IntakeMetrics.Refusal, _ failure: StationAPI.Failure) -> APIError {
        intakeMetrics.count(reason)
        let status: HTTPResponse.Status =
            switch reason {
            case .badRequest: .badRequest
            case .unsupportedMediaType: .unsupportedMediaType
            case .tooLarge: .contentTooLarge
            case .diskFull, .queueFull: .init(code: 507, reasonPhrase: "Insufficient Storage")
            case .tierTooHigh, .crossSite: .forbidden
            }
        return APIError(status, failure)
    }

    /// A parameter of a header value such as `application/json; charset=utf-8`.
    static func parameter(_ name: String, of value: String) -> String? {
        for item in value.split(separator: ";").dropFirst() {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == name { return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        return nil
    }

    @Sendable func list(_ request: Request, context: StationRequestContext) async throws -> Response {
        return try JSONResponse.make(await station.status().queue)
    }

    @Sendable func status(_ request: Request, context: StationRequestContext) async throws -> Response {
        return try JSONResponse.make(await station.status())
    }

    /// `DELETE /v1/announcements/{id}` with the id percent-encoded as one path segment, or `DELETE /v1/announcements?id=…`
    /// (for clients that cannot send `.` or `..` as a segment). `%XX` is decoded; `+` is a plus, not a space.
    @Sendable func cancel(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let prefix = "/v1/announcements/"
        let path = request.uri.path
        let encoded: Substring
        if path.hasPrefix(prefix) {
            encoded = path.dropFirst(prefix.count)
            if let query = request.uri.query, !query.isEmpty {
                throw refuse(.badRequest, "give the id in the path or as ?id=, not both", field: "id")
            }
        } else {
            let values = (request.uri.query ?? "").split(separator: "&").filter { $0.hasPrefix("id=") }
            guard values.count == 1, let value = values.first else {
                throw refuse(.badRequest, "give one id: DELETE /v1/announcements/{id} or DELETE /v1/announcements?id={id}", field: "id")
            }
            encoded = value.dropFirst(3)
        }
        guard let id = AnnouncementID.percentDecoded(encoded), !id.isEmpty else {
            throw refuse(.badRequest, "is not a percent-encoded UTF-8 id", field: "id")
        }
        guard await station.cancel(id: id, by: caller.name) else {
            throw APIError(.notFound, "no queued or playing announcement has id \(DisplayText.echo(id, limit: 200))", field: "id")
        }
        return try JSONResponse.make(["id": id, "status": "cancelled"])
    }

    /// `POST /v1/stop-all` takes no body, or an empty JSON object.
    @Sendable func stopAll(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let body = try await request.body.collect(upTo: 1024)
        if body.readableBytes > 0 {
            let media = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard media == "application/json" else { throw refuse(.unsupportedMediaType, "send no body, or {} as application/json") }
        }
        let count = await station.stopAll(by: caller.name)
        return try JSONResponse.make(["cancelled": count])
    }

    @Sendable func exposeMetrics(_ request: Request, context: StationRequestContext) async throws -> Response {
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }
}
