import DalabaCore
import Foundation
import Hummingbird

/// An error answered as `{"error": "...", "field": "..."}` with its status, so every client reads failures the same way.
public struct APIError: Error, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var failure: StationAPI.Failure

    public init(_ status: HTTPResponse.Status, _ message: String, field: String? = nil) {
        self.status = status
        failure = .init(error: message, field: field)
    }

    public init(_ status: HTTPResponse.Status, _ failure: StationAPI.Failure) {
        self.status = status
        self.failure = failure
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if status == .unauthorized { fields[.wwwAuthenticate] = "Bearer realm=\"dalaba\"" }
        let data = (try? StationAPI.makeEncoder().encode(failure)) ?? Data("{\"error\":\"internal error\"}".utf8)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// JSON responses with the API's date format.
enum JSONResponse {
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try StationAPI.makeEncoder().encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Decodes a JSON body, naming the field at fault when the client sent something wrong.
    static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        do {
            return try StationAPI.makeDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError(.badRequest, describe(error))
        }
    }

    static func describe(_ error: DecodingError) -> StationAPI.Failure {
        func path(_ context: DecodingError.Context) -> String? {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? nil : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context).map { "\($0)." } ?? ""
            return .init(error: "is required", field: parent + key.stringValue)
        case .typeMismatch(let type, let context):
            return .init(error: "must be \(friendly(type))", field: path(context))
        case .valueNotFound(let type, let context):
            return .init(error: "must be \(friendly(type)), not null", field: path(context))
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return .init(error: "the body is not valid JSON") }
            if context.codingPath.last?.stringValue == "kind" {
                return .init(error: "unknown kind (use emergency, rumor-rebuttal, policy or routine)", field: "kind")
            }
            return .init(error: context.debugDescription, field: path(context))
        @unknown default:
            return .init(error: "the body could not be read")
        }
    }

    private static func friendly(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is Date.Type: "a date and time like 2026-11-21T08:00:00+08:00"
        default: "\(type)"
        }
    }
}
