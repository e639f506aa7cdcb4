import DalabaCore
import Foundation
import MultipartKit

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Talks to `dalabad` over its HTTP API; every failure becomes one clear line for the operator.
struct StationClient {
    let server: URL
    let token: String?

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    func get(_ path: String) async throws -> Data {
        try await send(method: "GET", path: path, body: nil, contentType: nil)
    }

    func post<T: Encodable>(_ path: String, json: T) async throws -> Data {
        try await send(method: "POST", path: path, body: try StationAPI.makeEncoder().encode(json), contentType: "application/json")
    }

    func post(_ path: String, body: Data, contentType: String) async throws -> Data {
        try await send(method: "POST", path: path, body: body, contentType: contentType)
    }

    func delete(_ path: String) async throws -> Data {
        try await send(method: "DELETE", path: path, body: nil, contentType: nil)
    }

    func patch<T: Encodable>(_ path: String, json: T) async throws -> Data {
        try await send(method: "PATCH", path: path, body: try StationAPI.makeEncoder().encode(json), contentType: "application/json")
    }

    /// Uploads `file` with the announcement's JSON as multipart/form-data, encoded by MultipartKit's `FormDataEncoder`: the
    /// `metadata` part (JSON), then the `audio` part with the file's name.
    func upload(_ path: String, metadata: StationAPI.QueueRequest, file: URL) async throws -> Data {
        /// A part given whole, headers and all: `FormDataEncoder` takes any `Encodable` that converts to a part as that part.
        struct Part: Encodable, MultipartPartConvertible {
            var multipart: MultipartPart?
            init(_ part: MultipartPart) { multipart = part }
            init?(multipart: MultipartPart) { self.multipart = multipart }
            func encode(to encoder: any Encoder) throws {}
        }
        struct Form: Encodable {
            var metadata: Part
            var audio: Part
        }
        let audio: Data
        do {
            audio = try Data(contentsOf: file)
        } catch {
            throw Failure(description: "\(file.path): cannot read the file")
        }
        // A quote or a line break in a file name would end the header it is written into.
        let name = String(file.lastPathComponent.unicodeScalars.filter { $0 != "\"" && $0 != "\r" && $0 != "\n" })
        let form = Form(
            metadata: Part(MultipartPart(headers: ["Content-Type": "application/json"], body: try StationAPI.makeEncoder().encode(metadata))),
            audio: Part(
                MultipartPart(headers: ["Content-Disposition": "form-data; filename=\"\(name)\"", "Content-Type": "application/octet-stream"], body: audio)))
        let boundary = "dalaba-\(UUID().uuidString)"
        var body = ByteBuffer()
        try FormDataEncoder().encode(form, boundary: boundary, into: &body)
        return try await send(method: "POST", path: path, body: Data(body.readableBytesView), contentType: "multipart/form-data; boundary=\(boundary)")
    }

    private func send(method: String, path: String, body: Data?, contentType: String?) async throws -> Data {
        guard let url = URL(string: path, relativeTo: server) else { throw Failure(description: "bad server URL \(server)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body
        request.timeoutInterval = 30
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw Failure(description: "cannot reach the station at \(server.absoluteString): \(error.localizedDescription)")
        }
        guard let http = response as? HTTPURLResponse else { throw Failure(description: "no HTTP response from \(server.absoluteString)") }
        guard (200..<300).contains(http.statusCode) else {
            if let failure = try? StationAPI.makeDecoder().decode(StationAPI.Failure.self, from: data) {
                throw Failure(description: failure.description)
            }
            throw Failure(description: "the station answered \(http.statusCode) \(HTTPURLResponse.localizedString(forStatusCode: http.statusCode))")
        }
        return data
    }
}
