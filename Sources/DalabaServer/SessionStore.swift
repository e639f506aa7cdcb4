import DalabaStation
import Foundation

/// Console sign-ins: a random session id (the cookie's value) mapped, in memory only, to the name and role of the token that
/// signed in. The token itself never goes into a cookie, a URL or a log line; a restart signs everyone out, which for a handful
/// of officials is a fair price for keeping nothing secret on disk.
public actor SessionStore {
    struct Session {
        var name: String
        var role: Configuration.Role
        var created: Date
        var lastSeen: Date
    }

    /// The cookie's name.
    public static let cookieName = "dalaba_session"

    /// A session unused this long ends.
    let idleTimeout: TimeInterval
    /// A session ends this long after sign-in however busy it was.
    let lifetime: TimeInterval
    /// Most sessions kept; signing in beyond it ends the least recently used, so a flood of sign-ins cannot grow memory.
    let capacity: Int
    private var sessions: [String: Session] = [:]

    public init(idleTimeout: TimeInterval = 2 * 3600, lifetime: TimeInterval = 12 * 3600, capacity: Int = 256) {
        self.idleTimeout = idleTimeout
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Starts a session for a token that was just checked, returning its id: 32 bytes from the system's cryptographic random
    /// source (`SystemRandomNumberGenerator` reads getrandom(2)), as 64 hex digits.
    public func create(for token: Configuration.Token, now: Date) -> String {
        expire(now: now)
        if sessions.count >= capacity, let oldest = sessions.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key {
            sessions[oldest] = nil
        }
        var generator = SystemRandomNumberGenerator()
        var id = ""
        for _ in 0..<4 {
            let word = generator.next() as UInt64
            let hex = String(word, radix: 16)
            id += String(repeating: "0", count: 16 - hex.count) + hex
        }
        sessions[id] = Session(name: token.name, role: token.role, created: now, lastSeen: now)
        return id
    }

    /// Who a session belongs to, as a caller without the token's secret; nil for an unknown or expired id.
    public func caller(for id: String, now: Date) -> Configuration.Token? {
        guard var session = sessions[id] else { return nil }
        guard now.timeIntervalSince(session.lastSeen) < idleTimeout, now.timeIntervalSince(session.created) < lifetime else {
            sessions[id] = nil
            return nil
        }
        session.lastSeen = now
        sessions[id] = session
        return Configuration.Token(name: session.name, token: "", role: session.role)
    }

    /// Signs out.
    public func remove(_ id: String) {
        sessions[id] = nil
    }

    public var count: Int { sessions.count }

    private func expire(now: Date) {
        sessions = sessions.filter { now.timeIntervalSince($0.value.lastSeen) < idleTimeout && now.timeIntervalSince($0.value.created) < lifetime }
    }
}
