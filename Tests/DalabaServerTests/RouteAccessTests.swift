import DalabaCore
@testable import DalabaServer
import DalabaStation
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Every route's role is declared on its route group: the router's own list of routes (Hummingbird's `routes`) must equal
/// the routes declared through `RoleGroup`, and each declared rule is then tried against every role.
@Suite struct RouteAccessTests {
    /// "GET /v1/log", the way both lists are compared.
    static func key(_ method: String, _ path: String) -> String { "\(method) /\(path.drop { $0 == "/" })" }

    /// Routes the router serves that no group declared.
    static func undeclared(_ router: Router<StationRequestContext>, _ declared: [DeclaredRoute]) -> [String] {
        // Hummingbird writes a parameter `:id` as `{id}`.
        let known = Set(declared.map { key($0.method, $0.path.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }.joined(separator: "/")) })
        return router.routes.map { key($0.method.rawValue, $0.path.description) }.filter { !known.contains($0) }.sorted()
    }

    @Test func everyRegisteredRouteHasADeclaredRole() throws {
        let (router, declared) = try makeRouter()
        #expect(router.routes.count >= 20, "the walk found only \(router.routes.count) routes")
        #expect(Self.undeclared(router, declared) == [])
        #expect(Set(declared.map { Self.key($0.method, $0.path) }).count == declared.count, "a route is declared twice")
        // What the walk is for: a route added straight to the router, past the groups, is caught.
        router.get("/v1/forgotten") { _, _ in "open to anyone" }
        #expect(Self.undeclared(router, declared) == ["GET /v1/forgotten"])
    }

    /// A request for a declared route, with a concrete value in each path parameter.
    static func path(_ route: DeclaredRoute) -> String {
        "/" + route.path.split(separator: "/").map { $0.hasPrefix(":") ? "x" : String($0) }.joined(separator: "/")
    }

    static func allowed(_ access: Access, _ role: Configuration.Role) -> Bool {
        switch access {
        case .open, .watcher: true
        case .official: role == .official || role == .admin
        case .operatorAPI, .operatorConsole: role == .operatorRole || role == .admin
        case .admin: role == .admin
        }
    }

    @Test func everyDeclaredRuleRefusesWhoItShouldAndLetsThroughWhoItShould() async throws {
        let (router, declared) = try makeRouter()
        let app = Application(router: router)
        try await app.test(.router) { client throws in
            for route in declared where route.access != .open {
                let method = HTTPRequest.Method(route.method)!
                let path = Self.path(route)
                try await client.execute(uri: path, method: method) { response throws in
                    let expected: HTTPResponse.Status = path.hasPrefix("/v1/") || path == "/metrics" ? .unauthorized : .seeOther
                    #expect(response.status == expected, "\(route) without a caller: \(response.status)")
                }
                for token in Tokens.all {
                    // A body that cannot be queued, so a route that lets the caller through answers 4xx without changing anything.
                    try await client.execute(
                        uri: path, method: method, headers: bearer(token).merging([.contentType: "application/x-www-form-urlencoded"]),
                        body: ByteBuffer(string: "id=nothing-has-this-id")
                    ) { response throws in
                        let refused = response.status == .forbidden || response.status == .unauthorized
                        #expect(refused == !Self.allowed(route.access, token.role), "\(route) as \(token.role.rawValue): \(response.status)")
                    }
                }
            }
        }
    }

    @Test func aConsoleSessionCannotDriveTheBearerOnlyAPI() async throws {
        let (router, declared) = try makeRouter()
        let app = Application(router: router)
        try await app.test(.router) { client throws in
            let session = try await ConsoleTests.signIn(client, Tokens.admin)
            for route in declared where route.access == .operatorAPI || route.access == .admin {
                try await client.execute(uri: Self.path(route), method: HTTPRequest.Method(route.method)!, headers: [.cookie: session]) {
                    response throws in
                    #expect(response.status == .unauthorized, "\(route) with a session: \(response.status)")
                }
            }
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var fields = self
        for field in other { fields.append(field) }
        return fields
    }
}
