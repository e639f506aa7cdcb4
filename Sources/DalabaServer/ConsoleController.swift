import DalabaCore
import DalabaStation
import DalabaStore
import Foundation
import Hummingbird

/// The officials' web console at `/`: sign-in with a token (kept out of cookies and URLs; see `SessionStore`), what plays and
/// what is queued, airtime totals and charts, the log with filters and its CSV, and the hash-chain check. Server-rendered, no
/// script, so it works on any phone browser. Roles `official` and `admin`.
struct ConsoleController {
    let station: Station
    let source: any AirtimeLogSource
    let verifier: VerificationRunner
    let sessions: SessionStore
    let tokens: [Configuration.Token]
    let timeZone: TimeZone
    let clock: @Sendable () -> Date
    /// The configured listen address: a browser's `Origin` must name it (or the `Host` it was reached by).
    var listenHost = "127.0.0.1"
    var listenPort = 8780

    static let pageSize = 50
    /// Ranges longer than this are charted per month rather than per day, so bars stay wide enough to read.
    static let maximumChartDays = 62
    /// The overview shows this many days up to today when no range is given.
    static let defaultDays = 14

    func addRoutes(to router: Router<StationRequestContext>) {
        router.get("/", use: overview)
        router.get("/log", use: log)
        router.get("/verify", use: verify)
        router.get("/login", use: loginPage)
        router.post("/login", use: login)
        router.post("/logout", use: logout)
    }

    // MARK: - Signing in and out

    @Sendable func loginPage(_ request: Request, context: StationRequestContext) async throws -> Response {
        let next = Self.safeNext(QueryParameters(request)["next"])
        if let caller = context.caller, Self.mayRead(caller) { return Self.redirect(to: next) }
        return Self.page(ConsolePages.login(error: nil, next: next))
    }

    /// `POST /login` with the form fields `token` and `next`. A session id goes into an HttpOnly, SameSite=Strict cookie; the
    /// token is checked once and never stored in the browser.
    @Sendable func login(_ request: Request, context: StationRequestContext) async throws -> Response {
        if let refusal = crossSiteRefusal(request) { return refusal }
        struct Form: Decodable {
            var token: String?
            var next: String?
        }
        let body = try await request.body.collect(upTo: 8192)
        let form = (try? URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))) ?? Form()
        let next = Self.safeNext(form.next)
        guard let presented = form.token?.trimmingCharacters(in: .whitespacesAndNewlines), !presented.isEmpty else {
            return Self.page(ConsolePages.login(error: "请输入访问令牌 Enter your token.", next: next), status: .badRequest)
        }
        guard let token = TokenAuthenticator.match(presented, in: tokens) else {
            return Self.page(ConsolePages.login(error: "令牌无效 Unknown token.", next: next), status: .unauthorized)
        }
        guard Self.mayRead(token) else {
            return Self.page(
                ConsolePages.login(error: "此控制台仅供监管人员（official 或 admin）使用。This console is for officials; operators use the dalaba tool.", next: next),
                status: .forbidden)
        }
        let id = await sessions.create(for: token, now: clock())
        // Posted from our own form: an ordinary redirect. Posted from anywhere else (a bookmark page, a test harness), a
        // same-site hop, because the browser would not send a Strict cookie on the redirect of a cross-site navigation.
        var response =
            request.headers[.init("Sec-Fetch-Site")!] == "same-origin"
            ? Self.redirect(to: next) : Self.page(ConsolePages.signedIn(next: next))
        response.setCookie(
            Cookie(name: SessionStore.cookieName, value: id, path: "/", secure: Self.isSecure(request), httpOnly: true, sameSite: .strict))
        return response
    }

    @Sendable func logout(_ request: Request, context: StationRequestContext) async throws -> Response {
        if let refusal = crossSiteRefusal(request) { return refusal }
        if let id = request.cookies[SessionStore.cookieName]?.value { await sessions.remove(id) }
        var response = Self.redirect(to: "/login")
        response.setCookie(
            Cookie(
                name: SessionStore.cookieName, value: "", maxAge: 0, path: "/", secure: Self.isSecure(request), httpOnly: true, sameSite: .strict))
        return response
    }

    // MARK: - Pages

    @Sendable func overview(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller: Configuration.Token
        switch Self.reader(request, context) {
        case .success(let token): caller = token
        case .failure(let refusal): return refusal.response
        }
        let parameters = QueryParameters(request)
        let local = LocalTime(timeZone: timeZone)
        var values = ConsolePages.FilterValues(from: parameters["from"] ?? "", to: parameters["to"] ?? "")
        if values.from.isEmpty && values.to.isEmpty {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            let now = clock()
            values.to = local.date(now)
            values.from = local.date(calendar.date(byAdding: .day, value: -(Self.defaultDays - 1), to: now) ?? now)
        }
        let status = await station.status()
        var model = ConsolePages.Overview(
            user: caller.name, status: status, timeZone: timeZone, filters: values, error: nil, timeBars: [], timeUnit: "day", kindBars: [],
            total: nil)
        do {
            let filters = try LogFilters.parse(QueryParameters(["from": values.from, "to": values.to]), timeZone: timeZone)
            let days = filters.from.map { Self.localDays(in: timeZone, from: $0, to: filters.to ?? clock()) } ?? []
            let byMonth = filters.from == nil || days.count > Self.maximumChartDays
            let timeQuery = ReportQuery(by: byMonth ? .month : .day, from: filters.from, to: filters.to, timeZone: timeZone)
            let kindQuery = ReportQuery(by: .kind, from: filters.from, to: filters.to, timeZone: timeZone)
            let source = source
            let (byTime, byKind) = try await StoreReads.run { (try source.report(timeQuery), try source.report(kindQuery)) }
            let timeGroups = Dictionary(byTime.groups.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            if byMonth {
                model.timeUnit = "month"
                let months = days.isEmpty ? timeGroups.keys.sorted() : Array(Set(days.map { String($0.prefix(7)) })).sorted()
                model.timeBars = months.map { ConsoleCharts.Bar(key: $0, label: $0, totals: timeGroups[$0]) }
            } else {
                model.timeBars = days.map { ConsoleCharts.Bar(key: $0, label: String($0.suffix(5)), totals: timeGroups[$0]) }
            }
            let kindGroups = Dictionary(byKind.groups.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            model.kindBars = Kind.allCases.map {
                ConsoleCharts.Bar(key: $0.rawValue, label: AirtimeText.chineseName($0), totals: kindGroups[$0.rawValue])
            }
            model.total = .init(byKind.total)
        } catch let error as APIError {
            if error.status == .badRequest {
                model.error = error.failure.description
            } else {
                return Self.page(ConsolePages.problem(title: "无法读取日志", message: error.failure.error, user: caller.name), status: error.status)
            }
        }
        return Self.page(ConsolePages.overview(model))
    }

    @Sendable func log(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller: Configuration.Token
        switch Self.reader(request, context) {
        case .success(let token): caller = token
        case .failure(let refusal): return refusal.response
        }
        let parameters = QueryParameters(request)
        let values = ConsolePages.FilterValues(
            from: parameters["from"] ?? "", to: parameters["to"] ?? "", kind: parameters["kind"] ?? "", outcome: parameters["outcome"] ?? "",
            test: parameters["test"] ?? "")
        var model = ConsolePages.LogPage(
            user: caller.name, timeZone: timeZone, filters: values, error: nil, entries: [], total: 0, page: 1, pageSize: Self.pageSize)
        do {
            let filters = try LogFilters.parse(parameters, timeZone: timeZone)
            model.page = try parameters.integer("page", default: 1, in: 1...1_000_000)
            let query = filters.logQuery(limit: Self.pageSize, offset: (model.page - 1) * Self.pageSize, order: .newestFirst)
            let source = source
            let (rows, total) = try await StoreReads.run { (try source.log(query), try source.logCount(query)) }
            model.entries = rows.map(StationAPI.LogEntry.init)
            model.total = total
        } catch let error as APIError {
            if error.status == .badRequest {
                model.error = error.failure.description
                return Self.page(ConsolePages.log(model), status: .badRequest)
            }
            return Self.page(ConsolePages.problem(title: "无法读取日志", message: error.failure.error, user: caller.name), status: error.status)
        }
        return Self.page(ConsolePages.log(model))
    }

    @Sendable func verify(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller: Configuration.Token
        switch Self.reader(request, context) {
        case .success(let token): caller = token
        case .failure(let refusal): return refusal.response
        }
        let started = ContinuousClock.now
        do {
            let verification = try await verifier.verify(expecting: nil)
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let result = StationAPI.LogVerification(verification, checkedAt: clock())
            return Self.page(ConsolePages.verify(.init(user: caller.name, timeZone: timeZone, result: result, seconds: seconds)))
        } catch let error as APIError {
            return Self.page(ConsolePages.problem(title: "无法校验日志", message: error.failure.error, user: caller.name), status: error.status)
        }
    }

    // MARK: - Helpers

    /// A 403 page for a POST another site made the browser send (login CSRF signs a victim in as the attacker; logout CSRF
    /// signs them out). Browsers mark such requests: `Sec-Fetch-Site` other than `same-origin`/`none`, or an `Origin` that
    /// is neither the `Host` the request was sent to nor the configured listen address. A client that sends neither header
    /// (curl, the dalaba tool) is not a browser a page could drive, and is let through.
    func crossSiteRefusal(_ request: Request) -> Response? {
        let refusal = Self.page(
            ConsolePages.problem(
                title: "拒绝跨站请求 Cross-site request refused", message: "请在本站的登录页面登录。Sign in from this station's own sign-in page.",
                user: nil),
            status: .forbidden)
        let site = request.headers[.init("Sec-Fetch-Site")!]?.lowercased()
        if let site, site != "same-origin", site != "none" { return refusal }
        guard let origin = request.headers[.origin] else { return nil }
        // "null" is what a browser sends from an opaque origin (a file, a sandboxed frame) and also from a page whose
        // referrer policy hides its origin; only Sec-Fetch-Site tells the two apart.
        if origin == "null" { return site == nil ? refusal : nil }
        guard let url = URL(string: origin), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", let host = url.host,
            url.path.isEmpty || url.path == "/"
        else { return refusal }
        let port = url.port ?? (scheme == "https" ? 443 : 80)
        let authority = Self.authority(host: host, port: port)
        var accepted = [Self.authority(host: listenHost, port: listenPort)]
        if let reached = request.head.authority {
            let defaultPort = Self.isSecure(request) ? 443 : 80
            accepted.append(reached.contains("]:") || (!reached.hasPrefix("[") && reached.contains(":")) ? reached.lowercased() : Self.authority(host: reached, port: defaultPort))
        }
        return accepted.contains(authority) ? nil : refusal
    }

    /// "host:port" lowercased, IPv6 in brackets, for comparing an Origin with where the station listens.
    static func authority(host: String, port: Int) -> String {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        return bare.contains(":") ? "[\(bare)]:\(port)" : "\(bare):\(port)"
    }

    struct Refusal: Error {
        var response: Response
    }

    /// The caller if they may read the console; otherwise the sign-in redirect (nobody signed in) or a 403 page (an operator).
    static func reader(_ request: Request, _ context: StationRequestContext) -> Result<Configuration.Token, Refusal> {
        guard let caller = context.caller else {
            var target = request.uri.path
            if let query = request.uri.query, !query.isEmpty { target += "?" + query }
            return .failure(Refusal(response: redirect(to: "/login" + HTML.query([("next", target)]))))
        }
        guard mayRead(caller) else {
            let page = ConsolePages.problem(
                title: "无权访问 Forbidden", message: "此控制台仅供监管人员使用。Role \(caller.role.rawValue) may not read the log.", user: caller.name)
            return .failure(Refusal(response: self.page(page, status: .forbidden)))
        }
        return .success(caller)
    }

    static func mayRead(_ token: Configuration.Token) -> Bool { token.role == .official || token.role == .admin }

    /// Only a path on this server: "/log?kind=policy", never "//elsewhere" or "https://…", so signing in cannot be turned into
    /// a redirect to another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), next.count < 2048,
            next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return "/" }
        return next
    }

    static func isSecure(_ request: Request) -> Bool {
        request.uri.scheme == .https || request.headers[.init("X-Forwarded-Proto")!]?.lowercased() == "https"
    }

    /// The local days from `from` up to (not including) `to`, as "2025-03-14", stopping after ten years (charted by month anyway).
    static func localDays(in timeZone: TimeZone, from: Date, to: Date) -> [String] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let local = LocalTime(timeZone: timeZone)
        var days: [String] = []
        var day = calendar.startOfDay(for: from)
        while day < to && days.count <= 3660 {
            days.append(local.date(day))
            guard let next = calendar.date(byAdding: .day, value: 1, to: day) else { break }
            day = next
        }
        return days
    }

    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// An HTML page with headers that keep it out of caches and frames and allow nothing but its own inline styles.
    static func page(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .xContentTypeOptions: "nosniff",
            .contentSecurityPolicy:
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ]
        // same-origin, not no-referrer: the browser then names our origin in `Origin` on our own forms (no-referrer makes it
        // "null"), which the sign-in's cross-site check reads; other sites still learn nothing.
        headers[.init("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
