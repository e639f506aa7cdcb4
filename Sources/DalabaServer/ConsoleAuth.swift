import Crypto
import DalabaStation
import Foundation
import Hummingbird
import HummingbirdAuth

/// `Authorization: Bearer …` against the configured tokens (hummingbird-auth's authenticator protocol). An unknown token is
/// refused here (401); the route's group then checks the role (`RoleGuard`).
struct BearerAuthenticator: AuthenticatorMiddleware {
    typealias Context = StationRequestContext
    let tokens: [Configuration.Token]

    func authenticate(request: Request, context: Context) async throws -> Caller? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw APIError(.unauthorized, "use Authorization: Bearer TOKEN") }
        guard let token = Self.match(String(parts[1]), in: tokens) else { throw APIError(.unauthorized, "unknown token") }
        return Caller(token)
    }

    /// The configured token equal to `presented`, compared in constant time.
    static func match(_ presented: String, in tokens: [Configuration.Token]) -> Configuration.Token? {
        tokens.first { constantTimeEquals($0.token, presented) }
    }

    /// Compares without stopping at the first difference, so response times do not leak a token's prefix.
    static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}

/// The console session as the caller, when no bearer token spoke first. Sessions end after `idleTimeout` unused and
/// `lifetime` after sign-in however busy (hummingbird-auth's storage expires them at `lifetime` too).
struct ConsoleSessionAuthenticator: AuthenticatorMiddleware {
    typealias Context = StationRequestContext
    var idleTimeout: TimeInterval = 2 * 3600
    var lifetime: TimeInterval = 12 * 3600
    let clock: @Sendable () -> Date

    func authenticate(request: Request, context: Context) async throws -> Caller? {
        guard context.identity == nil, let session = context.sessions.session else { return nil }
        let now = clock()
        guard now.timeIntervalSince(session.lastSeen) < idleTimeout, now.timeIntervalSince(session.signedInAt) < lifetime else {
            context.sessions.clearSession()
            return nil
        }
        // Written back at most once a minute, so reading pages does not rewrite the session on every request.
        if now.timeIntervalSince(session.lastSeen) > 60 {
            var seen = session
            seen.lastSeen = now
            context.sessions.updateSession(seen)
        }
        return Caller(name: session.name, role: session.role, tier: session.tier, viaSession: true)
    }
}

/// Random bytes from the system's cryptographic source (getrandom(2)), as hex.
func randomHex(bytes: Int = 32) -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
}

/// Browsers mark a request another site made them send: `Sec-Fetch-Site` other than `same-origin`/`none`, or an `Origin`
/// that is neither the `Host` the request was sent to nor the configured listen address. A client that sends neither header
/// (curl, the dalaba tool) is not a browser a page could drive.
struct OriginCheck: Sendable {
    let listenHost: String
    let listenPort: Int
    /// From the configuration only: a client's `X-Forwarded-Proto` is never believed.
    let secure: Bool

    /// Whether the request may have been sent by another site's page.
    func isCrossSite(_ request: Request) -> Bool {
        let site = request.headers[.init("Sec-Fetch-Site")!]?.lowercased()
        if let site, site != "same-origin", site != "none" { return true }
        guard let origin = request.headers[.origin] else { return false }
        // "null" is what a browser sends from an opaque origin (a file, a sandboxed frame) and also from a page whose
        // referrer policy hides its origin; only Sec-Fetch-Site tells the two apart.
        if origin == "null" { return site == nil }
        guard let url = URL(string: origin), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", let host = url.host,
            url.path.isEmpty || url.path == "/"
        else { return true }
        let authority = Self.authority(host: host, port: url.port ?? (scheme == "https" ? 443 : 80))
        var accepted = [Self.authority(host: listenHost, port: listenPort)]
        if let reached = request.head.authority {
            let hasPort = reached.contains("]:") || (!reached.hasPrefix("[") && reached.contains(":"))
            accepted.append(hasPort ? reached.lowercased() : Self.authority(host: reached, port: secure ? 443 : 80))
        }
        return !accepted.contains(authority)
    }

    /// "host:port" lowercased, IPv6 in brackets, for comparing an Origin with where the station listens.
    static func authority(host: String, port: Int) -> String {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        return bare.contains(":") ? "[\(bare)]:\(port)" : "\(bare):\(port)"
    }
}

/// Every state-changing console request: not sent by another site (`OriginCheck`), and, for a session, carrying the
/// session's CSRF token: the `csrf` field of a URL-encoded form, `?csrf=` on a multipart upload (its body is streamed to
/// disk, so the token cannot wait behind the file), or the `X-CSRF-Token` header from the console's script.
struct CSRFGuard: RouterMiddleware {
    typealias Context = StationRequestContext
    let origin: OriginCheck
    static let field = "csrf"
    static let header = "X-CSRF-Token"
    /// Largest URL-encoded form read to find the token (the longest text to speak fits many times over).
    static let maximumFormBytes = 256 << 10

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method != .get, request.method != .head else { return try await next(request, context) }
        if origin.isCrossSite(request) { throw ConsoleRefusal.crossSite }
        guard let caller = context.identity, caller.viaSession else { return try await next(request, context) }
        guard let expected = context.sessions.session?.csrf else { throw ConsoleRefusal.badToken }
        var request = request
        var presented = request.headers[.init(Self.header)!] ?? request.uri.queryParameters.get(Self.field)
        let media = request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        if presented == nil, media == "application/x-www-form-urlencoded" {
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: Self.maximumFormBytes)
            } catch {
                throw APIError(.contentTooLarge, "the form is larger than \(Self.maximumFormBytes) bytes")
            }
            presented = Self.formField(Self.field, in: String(buffer: body))
            request.body = .init(buffer: body)
        }
        guard let presented, BearerAuthenticator.constantTimeEquals(presented, expected) else { throw ConsoleRefusal.badToken }
        return try await next(request, context)
    }

    /// One field of a URL-encoded form, decoded.
    static func formField(_ name: String, in form: String) -> String? {
        for pair in form.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts.count == 2, parts[0] == name {
                return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
        }
        return nil
    }
}

/// The sign-in form's own CSRF token, before any session exists (login CSRF signs a victim in as the attacker): `GET /login`
/// sets a nonce carrying its issue time in an HttpOnly, SameSite=Strict cookie and puts its HMAC (with a key that lives only
/// in this process) in the form; `POST /login` needs both to agree, and the form to be younger than `lifetime`. Every sign-in
/// needs it, browser or not: another site can neither read the field nor set the cookie.
struct LoginToken: Sendable {
    static let cookieName = "dalaba_login"
    /// A sign-in page left open longer than this must be reloaded.
    static let lifetime: TimeInterval = 3_600
    private let key = Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })

    /// A fresh pair: `nonce` is "<issued, Unix seconds>-<64 random hex>".
    func issue(now: Date) -> (nonce: String, field: String) {
        let nonce = "\(Int(now.timeIntervalSince1970))-\(randomHex())"
        return (nonce, mac(nonce))
    }

    func verify(nonce: String?, field: String?, now: Date) -> Bool {
        guard let nonce, let field, nonce.utf8.count <= 96 else { return false }
        let parts = nonce.split(separator: "-", maxSplits: 1)
        guard parts.count == 2, let issued = Int(parts[0]), parts[1].utf8.count == 64 else { return false }
        // A minute's grace for a clock stepped back by NTP between issuing and posting.
        let age = now.timeIntervalSince1970 - Double(issued)
        guard age >= -60, age <= Self.lifetime else { return false }
        return BearerAuthenticator.constantTimeEquals(mac(nonce), field)
    }

    private func mac(_ nonce: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(nonce.utf8), using: SymmetricKey(data: key)).map { String(format: "%02x", $0) }.joined()
    }
}

/// A refusal answered as a console page: the sign-in redirect, or a page that says why.
enum ConsoleRefusal: Error, HTTPResponseError {
    case signIn(next: String)
    case forbidden(user: String, role: Configuration.Role, needs: Access)
    case crossSite
    case badToken

    var status: HTTPResponse.Status {
        switch self {
        case .signIn: .seeOther
        case .forbidden, .crossSite, .badToken: .forbidden
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        switch self {
        case .signIn(let next):
            return ConsoleController.redirect(to: "/login" + HTML.query([("next", next)]))
        case .forbidden(let user, let role, let needs):
            let message =
                needs == .official
                ? "此控制台仅供监管人员使用。Role \(role.rawValue) may not read the log."
                : "此页面仅供广播员使用。Role \(role.rawValue) may not do this (needs \(needs.roleNames))."
            return ConsolePages.problem(title: "无权访问 Forbidden", message: message, user: user, status: .forbidden)
        case .crossSite:
            return ConsolePages.problem(
                title: "拒绝跨站请求 Cross-site request refused", message: "请在本站的页面上操作。Use this station's own pages.", user: nil,
                status: .forbidden)
        case .badToken:
            return ConsolePages.problem(
                title: "表单已过期 Form expired", message: "请重新打开页面再提交。Reload the page and submit again (the form's token is missing or stale).",
                user: nil, status: .forbidden)
        }
    }
}
