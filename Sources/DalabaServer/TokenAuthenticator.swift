import DalabaStation
import Hummingbird

/// Checks `Authorization: Bearer …` against the configured tokens. An unknown token is refused here (401);
/// each route then asks for the roles it allows (403 otherwise).
struct TokenAuthenticator: RouterMiddleware {
    typealias Context = StationRequestContext
    let tokens: [Configuration.Token]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError(.unauthorized, "use Authorization: Bearer TOKEN") }
            guard let token = tokens.first(where: { constantTimeEquals($0.token, String(parts[1])) }) else {
                throw APIError(.unauthorized, "unknown token")
            }
            context.caller = token
        } else if let cookie = request.cookies["dalaba_session"]?.value,
            let token = tokens.first(where: { constantTimeEquals($0.token, cookie) })
        {
            context.caller = token
        }
        return try await next(request, context)
    }

    /// Compares without stopping at the first difference, so response times do not leak a token's prefix.
    private func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
