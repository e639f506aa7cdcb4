import DalabaCore
import DalabaStation
import Foundation
import Hummingbird
import MultipartKit

/// The operators' API: queue, list, cancel, stop everything, status and metrics.
struct StationController {
    let station: Station
    let intake: AnnouncementIntake
    let uploadDirectory: String
    let maxUploadBytes: Int
    let metrics: StationMetrics

    func addRoutes(to router: Router<StationRequestContext>) {
        router.post("/v1/announcements", use: queue)
        router.get("/v1/queue", use: list)
        router.get("/v1/status", use: status)
        router.delete("/v1/announcements/:id", use: cancel)
        router.post("/v1/stop-all", use: stopAll)
        router.get("/metrics", use: exposeMetrics)
    }

    @Sendable func queue(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.require(.operatorRole)
        let contentType = request.headers[.contentType] ?? "application/json"
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maxUploadBytes)
        } catch {
            throw APIError(.contentTooLarge, "the request is larger than the limit of \(maxUploadBytes) bytes", field: "audio")
        }
        let announcement: Announcement
        if contentType.lowercased().hasPrefix("multipart/form-data") {
            announcement = try await fromMultipart(body, contentType: contentType, caller: caller)
        } else {
            let queueRequest = try JSONResponse.decode(StationAPI.QueueRequest.self, from: body)
            do {
                announcement = try await intake.announcement(from: queueRequest, source: caller.name)
            } catch {
                throw APIError(.badRequest, error)
            }
        }
        let receipt: StationAPI.QueueReceipt
        do {
            receipt = try await station.enqueue(announcement)
        } catch {
            throw APIError(error)
        }
        return try JSONResponse.make(receipt, status: receipt.status == .queued ? .created : .ok)
    }

    /// A `metadata` part (the JSON of a queue request, without `audio`) and an `audio` part with the file.
    private func fromMultipart(_ body: ByteBuffer, contentType: String, caller: Configuration.Token) async throws -> Announcement {
        guard let boundary = contentType.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) })
            .first(where: { $0.lowercased().hasPrefix("boundary=") })?.dropFirst("boundary=".count)
        else { throw APIError(.badRequest, "multipart request without a boundary") }
        var parts: [MultipartPart] = []
        var headers = HTTPHeaders()
        var partBody = ByteBuffer()
        let parser = MultipartParser(boundary: String(boundary).trimmingCharacters(in: CharacterSet(charactersIn: "\"")))
        parser.onHeader = { headers.replaceOrAdd(name: $0, value: $1) }
        parser.onBody = { partBody.writeBuffer(&$0) }
        parser.onPartComplete = {
            parts.append(MultipartPart(headers: headers, body: partBody))
            headers = HTTPHeaders()
            partBody = ByteBuffer()
        }
        do {
            try parser.execute(body)
        } catch {
            throw APIError(.badRequest, "the multipart body is malformed: \(error)")
        }
        guard let metadata = parts.first(where: { $0.name == "metadata" }) else {
            throw APIError(.badRequest, "is required (the JSON of the announcement)", field: "metadata")
        }
        guard let audioPart = parts.first(where: { $0.name == "audio" }), audioPart.body.readableBytes > 0 else {
            throw APIError(.badRequest, "is required (the audio file)", field: "audio")
        }
        let queueRequest = try JSONResponse.decode(StationAPI.QueueRequest.self, from: metadata.body)
        let filename = Self.filename(of: audioPart) ?? "upload"
        let ext = (filename as NSString).pathExtension.filter { $0.isLetter || $0.isNumber }.prefix(8)
        try FileManager.default.createDirectory(atPath: uploadDirectory, withIntermediateDirectories: true)
        let stored = "\(uploadDirectory)/\(UUID().uuidString.lowercased())\(ext.isEmpty ? "" : ".\(ext)")"
        guard FileManager.default.createFile(atPath: stored, contents: Data(audioPart.body.readableBytesView)) else {
            throw APIError(.init(code: 507, reasonPhrase: "Insufficient Storage"), "the upload could not be stored in \(uploadDirectory)", field: "audio")
        }
        do {
            var request = queueRequest
            request.title = request.title ?? filename
            return try await intake.announcement(from: request, uploaded: stored, source: caller.name)
        } catch {
            try? FileManager.default.removeItem(atPath: stored)
            var failure = error
            if failure.field == "audio" { failure.error = failure.error.replacingOccurrences(of: stored, with: filename) }
            throw APIError(.badRequest, failure)
        }
    }

    private static func filename(of part: MultipartPart) -> String? {
        guard let disposition = part.headers.first(name: "Content-Disposition") else { return nil }
        for item in disposition.split(separator: ";") {
            let pair = item.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix("filename=") {
                let name = pair.dropFirst("filename=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return (name as NSString).lastPathComponent
            }
        }
        return nil
    }

    @Sendable func list(_ request: Request, context: StationRequestContext) async throws -> Response {
        _ = try context.require(.operatorRole, .official)
        return try JSONResponse.make(await station.status().queue)
    }

    @Sendable func status(_ request: Request, context: StationRequestContext) async throws -> Response {
        _ = try context.require(.operatorRole, .official)
        return try JSONResponse.make(await station.status())
    }

    @Sendable func cancel(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.require(.operatorRole)
        let id = try context.parameters.require("id")
        guard await station.cancel(id: id, by: caller.name) else {
            throw APIError(.notFound, "no queued or playing announcement has id \(id)", field: "id")
        }
        return try JSONResponse.make(["id": id, "status": "cancelled"])
    }

    @Sendable func stopAll(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.require(.operatorRole)
        let count = await station.stopAll(by: caller.name)
        return try JSONResponse.make(["cancelled": count])
    }

    @Sendable func exposeMetrics(_ request: Request, context: StationRequestContext) async throws -> Response {
        _ = try context.require(.operatorRole, .official)
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }
}
