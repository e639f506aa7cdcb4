import DalabaStation
import Foundation
import Hummingbird
import HummingbirdAuth

/// Who may call a route. Every route is registered through a `RoleGroup` that carries one of these, so a route cannot be
/// added without saying who may call it, and `RouteTable.declared` lists them all for the test that walks the router.
public enum Access: String, Sendable, CaseIterable {
    /// The sign-in page, signing in and out: anyone (the posts are checked against cross-site requests instead).
    case open
    /// Officials (and admins): the log, reports, the hash-chain check, the officials' console pages.
    case official
    /// Anyone with a role: status, the queue, the schedule, metrics; console sessions may read them too.
    case watcher
    /// Operators (and admins) with a bearer token: queue, cancel, stop everything, CAP. A console session is not enough:
    /// the API takes no CSRF token, so a page on a sibling port of the same host could otherwise drive it.
    case operatorAPI = "operator-api"
    /// Operators (and admins) in the console: its forms, each carrying the session's CSRF token (`CSRFGuard`).
    case operatorConsole = "operator-console"
    /// Admins only, with a bearer token.
    case admin

    /// The roles let through; an admin holds every role (`Caller.roles`).
    var policy: (any AuthorizationPolicy<Caller>)? {
        switch self {
        case .open: nil
        case .official: RolePolicy<Caller>(.official)
        case .watcher: anyOf { RolePolicy<Caller>(.operatorRole); RolePolicy<Caller>(.official) }
        case .operatorAPI, .operatorConsole: RolePolicy<Caller>(.operatorRole)
        case .admin: RolePolicy<Caller>(.admin)
        }
    }

    /// The roles the refusal names.
    var roleNames: String {
        switch self {
        case .open: "anyone"
        case .official: "official"
        case .watcher: "operator or official"
        case .operatorAPI, .operatorConsole: "operator"
        case .admin: "admin"
        }
    }

    var acceptsSessions: Bool { self != .operatorAPI && self != .admin }
}

/// How a refusal is answered: the API's JSON errors, or the console's sign-in redirect and pages.
enum RefusalStyle: Sendable {
    case api
    case page
}

/// The one place roles are checked: hummingbird-auth's `RolePolicy` on the group's `Access`, answered in the API's JSON
/// (401 without a caller, 403 naming the caller's role and the roles needed) or, for console pages, with the sign-in
/// redirect and a page that says why.
struct RoleGuard: RouterMiddleware {
    typealias Context = StationRequestContext
    let access: Access
    let style: RefusalStyle

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let policy = access.policy else { return try await next(request, context) }
        guard let caller = context.identity else {
            switch style {
            case .api: throw APIError(.unauthorized, "a bearer token is required")
            case .page: throw ConsoleRefusal.signIn(next: request.uri.path + (request.uri.query.map { $0.isEmpty ? "" : "?" + $0 } ?? ""))
            }
        }
        if caller.viaSession && !access.acceptsSessions {
            throw APIError(.unauthorized, "a bearer token is required (a console session cannot \(request.method) this)")
        }
        guard try await policy.isAuthorized(identity: caller, request: request) else {
            switch style {
            case .api:
                throw APIError(.forbidden, "role \(caller.role.rawValue) may not do this (needs \(access.roleNames))")
            case .page:
                throw ConsoleRefusal.forbidden(user: caller.name, role: caller.role, needs: access)
            }
        }
        return try await next(request, context)
    }
}

/// One declared route: method, path as registered, and who may call it.
public struct DeclaredRoute: Sendable, Hashable, CustomStringConvertible {
    public var method: String
    public var path: String
    public var access: Access
    public var description: String { "\(method) \(path) [\(access.rawValue)]" }
}

/// Collects the declared routes while the router is built.
final class RouteTable: @unchecked Sendable {
    let router: Router<StationRequestContext>
    private(set) var declared: [DeclaredRoute] = []

    init(router: Router<StationRequestContext>) { self.router = router }

    /// A group of routes with one access rule. API groups answer refusals in JSON; console groups with pages.
    func group(_ access: Access, style: RefusalStyle = .api, csrf: CSRFGuard? = nil) -> RoleGroup {
        var group = router.group().add(middleware: RoleGuard(access: access, style: style))
        if let csrf { group = group.add(middleware: csrf) }
        return RoleGroup(group: group, access: access, table: self)
    }

    fileprivate func declare(_ method: HTTPRequest.Method, _ path: String, _ access: Access) {
        declared.append(DeclaredRoute(method: method.rawValue, path: path, access: access))
    }
}

/// Routes that share an access rule; the only way controllers add routes.
struct RoleGroup {
    let group: RouterGroup<StationRequestContext>
    let access: Access
    let table: RouteTable

    typealias Handler<Output: ResponseGenerator> = @Sendable (Request, StationRequestContext) async throws -> Output

    @discardableResult func get(_ path: String, use handler: @escaping Handler<some ResponseGenerator>) -> RoleGroup {
        on(path, .get, handler)
    }

    @discardableResult func post(_ path: String, use handler: @escaping Handler<some ResponseGenerator>) -> RoleGroup {
        on(path, .post, handler)
    }

    @discardableResult func put(_ path: String, use handler: @escaping Handler<some ResponseGenerator>) -> RoleGroup {
        on(path, .put, handler)
    }

    @discardableResult func delete(_ path: String, use handler: @escaping Handler<some ResponseGenerator>) -> RoleGroup {
        on(path, .delete, handler)
    }

    @discardableResult func patch(_ path: String, use handler: @escaping Handler<some ResponseGenerator>) -> RoleGroup {
        on(path, .patch, handler)
    }

    private func on(_ path: String, _ method: HTTPRequest.Method, _ handler: @escaping Handler<some ResponseGenerator>) -> RoleGroup {
        table.declare(method, path, access)
        group.on(RouterPath(path), method: method, use: handler)
        return self
    }
}
