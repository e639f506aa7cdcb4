import DalabaStation
import Hummingbird

/// The request context carries who is asking, once their bearer token has been checked.
public struct StationRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var caller: Configuration.Token?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        caller = nil
    }

    /// The caller, if their role is one of `roles`; otherwise 403 (or 401 if nobody signed in).
    public func require(_ roles: Configuration.Role...) throws -> Configuration.Token {
        guard let caller else { throw APIError(.unauthorized, "a bearer token is required") }
        guard caller.role == .admin || roles.contains(caller.role) else {
            throw APIError(.forbidden, "role \(caller.role.rawValue) may not do this (needs \(roles.map(\.rawValue).joined(separator: " or ")))")
        }
        return caller
    }
}
