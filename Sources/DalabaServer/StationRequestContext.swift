import DalabaCore
import DalabaStation
import Foundation
import Hummingbird
import HummingbirdAuth

/// Who is asking: the holder of a bearer token, or an official or operator signed in to the console.
public struct Caller: RoleProviding, Sendable, Equatable {
    public var name: String
    public var role: Configuration.Role
    /// The highest tier this caller may queue at, from the token (never from a request).
    public var tier: Tier
    /// Signed in through the console (a session cookie), so a browser: whatever it changes must carry the session's CSRF token.
    public var viaSession: Bool

    /// An admin holds every role, so a group that names `official` or `operator` lets an admin through.
    public var roles: Set<Configuration.Role> { role == .admin ? Set(Configuration.Role.allCases) : [role] }

    public init(name: String, role: Configuration.Role, tier: Tier, viaSession: Bool) {
        self.name = name
        self.role = role
        self.tier = tier
        self.viaSession = viaSession
    }

    init(_ token: Configuration.Token) {
        self.init(name: token.name, role: token.role, tier: token.tier, viaSession: false)
    }
}

/// What a console sign-in keeps, in memory only (hummingbird-auth's session storage over `MemoryPersistDriver`): the name,
/// role and tier of the token that signed in (never the token itself), the CSRF token its forms carry, and when it was used.
/// A restart signs everyone out, which for a handful of officials is a fair price for keeping nothing secret on disk.
public struct ConsoleSession: Codable, Sendable, Equatable {
    public var name: String
    public var role: Configuration.Role
    public var tier: Tier
    /// 32 random bytes as hex; every state-changing console form echoes it (see `CSRFGuard`).
    public var csrf: String
    public var signedInAt: Date
    public var lastSeen: Date
}

/// The request context: the caller once a bearer token or a session has been checked (hummingbird-auth's `identity`), and
/// the console session, if any.
public struct StationRequestContext: AuthRequestContext, SessionRequestContext {
    public var coreContext: CoreRequestContextStorage
    public var identity: Caller?
    public let sessions: SessionContext<ConsoleSession>

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        sessions = .init()
    }

    /// The caller a route group let through. Every route sits in a group that declares its role (`RoleGuard`), so behind
    /// it this never throws; it is not a second place to check roles.
    public var caller: Caller {
        get throws(APIError) {
            guard let identity else { throw APIError(.unauthorized, "a bearer token is required") }
            return identity
        }
    }
}
