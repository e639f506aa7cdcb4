import DalabaCore
import Foundation

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

    /// Uploads `file` with the announcement's JSON as multipart/form-data.
    func upload(_ path: String, metadata: StationAPI.QueueRequest, file: URL) async throws -> Data {
        let boundary = "dalaba-\(UUID().uuidString)"
        var body = Data()
        func part(_ headers: String, _ content: Data) {
            body.append(Data("--\(boundary)\r\n\(headers)\r\n\r\n".utf8))
            body.append(content)
            body.append(Data("\r\n".utf8))
        }
        part("Content-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json", try StationAPI.makeEncoder().encode(metadata))
        let audio: Data
        do {
            audio = try Data(contentsOf: file)
        } catch {
            throw Failure(description: "\(file.path): cannot read the file")
        }
        let name = file.lastPathComponent.replacingOccurrences(of: "\"", with: "")
        part("Content-Disposition: form-data; name=\"audio\"; filename=\"\(name)\"\r\nContent-Type: application/octet-stream", audio)
        body.append(Data("--\(boundary)--\r\n".utf8))
        return try await send(method: "POST", path: path, body: body, contentType: "multipart/form-data; boundary=\(boundary)")
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
