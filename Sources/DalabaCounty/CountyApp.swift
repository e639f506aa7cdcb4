import DalabaCore
import DalabaIntake
import DalabaLink
import Foundation
import Hummingbird
import Logging

/// Who is asking, once the bearer token was checked: an operator or official (with role and region), or a village
/// fetching audio with its own token.
public struct CountyRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var caller: CountyConfiguration.Token?
    public var fetchingVillage: RegionCode?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// The caller (an operator, official or admin token); 401 otherwise.
    public func requireCaller() throws -> CountyConfiguration.Token {
        guard let caller else { throw CountyHTTPError(.unauthorized, "a bearer token is required") }
        return caller
    }
}

/// An error answered as `{"error": …, "field": …}` with its status, as the village answers.
public struct CountyHTTPError: Error, HTTPResponseError {
    public var status: HTTPResponse.Status
    public var failure: StationAPI.Failure

    public init(_ status: HTTPResponse.Status, _ message: String, field: String? = nil) {
        self.status = status
        failure = .init(error: message, field: field)
    }

    init(_ refusal: CountyRefusal) {
        status = HTTPResponse.Status(code: refusal.status)
        failure = refusal.failure
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if status == .unauthorized { fields[.wwwAuthenticate] = "Bearer realm=\"dalaba-county\"" }
        let data = (try? StationAPI.makeEncoder().encode(failure)) ?? Data("{\"error\":\"internal error\"}".utf8)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Checks `Authorization: Bearer …` (or, for GET of console pages, the console cookie) against the operators' and the
/// villages' tokens, in constant time. An unknown token is 401 here; each route group then declares its roles.
struct CountyAuthenticator: RouterMiddleware {
    typealias Context = CountyRequestContext
    let tokens: [CountyConfiguration.Token]
    let villages: [CountyConfiguration.Village]
    static let cookie = "dalaba_county"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        var presented: String?
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw CountyHTTPError(.unauthorized, "use Authorization: Bearer TOKEN") }
            presented = String(parts[1])
        } else if request.method == .get, let cookie = request.cookies[Self.cookie]?.value {
            // The console is read-only: a cookie never authorises anything but GET.
            presented = cookie
        }
        if let presented {
            if let token = tokens.first(where: { Self.equal($0.token, presented) }) {
                context.caller = token
            } else if let village = villages.first(where: { Self.equal($0.fetchToken, presented) }) {
                context.fetchingVillage = village.code
            } else {
                throw CountyHTTPError(.unauthorized, "unknown token")
            }
        }
        return try await next(request, context)
    }

    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for i in x.indices { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}

/// The roles a route group admits (admin always): declared once per group, not checked in every handler.
struct CountyRoleGuard: RouterMiddleware {
    typealias Context = CountyRequestContext
    let roles: Set<CountyConfiguration.Role>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let caller = try context.requireCaller()
        guard caller.role == .admin || roles.contains(caller.role) else {
            throw CountyHTTPError(
                .forbidden, "role \(caller.role.rawValue) may not do this (needs \(roles.map(\.rawValue).sorted().joined(separator: " or ")))")
        }
        return try await next(request, context)
    }
}

/// Only villages' fetch tokens (and admins) may fetch audio.
struct VillageFetchGuard: RouterMiddleware {
    typealias Context = CountyRequestContext
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.fetchingVillage != nil || context.caller?.role == .admin else {
            throw CountyHTTPError(context.caller == nil ? .unauthorized : .forbidden, "audio is fetched with a village's fetch token")
        }
        return try await next(request, context)
    }
}

/// Composes the head-end's HTTP application: authentication, then the API and the read-only console.
public func buildCountyApplication(
    configuration: CountyConfiguration, desk: AnnouncementDesk, store: CountyStore, logger: Logger, onBound: (@Sendable (Int) -> Void)? = nil
) -> some ApplicationProtocol {
    let router = Router(context: CountyRequestContext.self)
    router.add(middleware: CountyAuthenticator(tokens: configuration.tokens, villages: configuration.villages))
    CountyController(configuration: configuration, desk: desk, store: store).addRoutes(to: router)
    return Application(
        router: router, server: .http1(configuration: .init(idleTimeout: .seconds(30))),
        configuration: .init(address: .hostname(configuration.listenHost, port: configuration.listenPort), serverName: "dalaba-county"),
        onServerRunning: { channel in onBound?(channel.localAddress?.port ?? 0) },
        logger: logger)
}
