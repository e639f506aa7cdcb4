import DalabaStation
import Foundation
import Hummingbird

/// Checks `Authorization: Bearer …` against the configured tokens. An unknown token is refused here (401);
/// each route then asks for the roles it allows (403 otherwise).
///
/// Without a bearer header, a console session cookie (see `SessionStore`) identifies the caller for GET and HEAD only: the console
/// is read-only, so a session can never queue, cancel or stop anything, even if a page on a sibling port of the same host (same
/// site, so SameSite does not help) managed to send the cookie along.
struct TokenAuthenticator: RouterMiddleware {
    typealias Context = StationRequestContext
    let tokens: [Configuration.Token]
    let sessions: SessionStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError(.unauthorized, "use Authorization: Bearer TOKEN") }
            guard let token = Self.match(String(parts[1]), in: tokens) else {
                throw APIError(.unauthorized, "unknown token")
            }
            context.caller = token
        } else if request.method == .get || request.method == .head, let id = request.cookies[SessionStore.cookieName]?.value {
            context.caller = await sessions.caller(for: id, now: Date())
        }
        return try await next(request, context)
    }

    /// The configured token equal to `presented`, compared in constant time.
    static func match(_ presented: String, in tokens: [Configuration.Token]) -> Configuration.Token? {
        tokens.first { constantTimeEquals($0.token, presented) }
    }

    /// Compares without stopping at the first difference, so response times do not leak a token's prefix.
    private static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}
