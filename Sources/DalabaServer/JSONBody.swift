import Hummingbird

extension Request {
    /// The body of a JSON request: 415 naming what to send when it is not `application/json`, 413 beyond `limit` bytes.
    /// The checks every JSON endpoint makes before its own strict decoder reads the bytes.
    func jsonBody(upTo limit: Int, _ what: String, send hint: String) async throws -> [UInt8] {
        let media = headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard media == "application/json" else { throw APIError(.unsupportedMediaType, hint) }
        do {
            return Array(try await body.collect(upTo: limit).readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "\(what) is larger than \(limit >> 10) KiB")
        }
    }
}
