import DalabaCore
import DalabaStation
import DalabaStore
import Foundation
import Hummingbird
import HummingbirdAuth

/// The officials' side of the web console at `/`: sign-in with a token (kept out of cookies and URLs), what plays and what is
/// queued, airtime totals and charts, the log with filters and its CSV, and the hash-chain check. Server-rendered, so it
/// works on any phone browser. Operators who sign in land on their own pages (`OperatorController`).
struct ConsoleController {
    let station: Station
    let source: any AirtimeLogSource
    let verifier: VerificationRunner
    let tokens: [Configuration.Token]
    let timeZone: TimeZone
    let clock: @Sendable () -> Date
    let origin: OriginCheck
    let loginToken: LoginToken
    /// Where the state lives: its free space is shown at the top of every page.
    let stateDirectory: String

    static let pageSize = 50
    /// Ranges longer than this are charted per month rather than per day, so bars stay wide enough to read.
    static let maximumChartDays = 62
    /// The overview shows this many days up to today when no range is given.
    static let defaultDays = 14

    func addRoutes(to routes: RouteTable) {
        routes.group(.open, style: .page)
            .get("/login", use: loginPage)
            .post("/login", use: login)
            .post("/logout", use: logout)
            .get("/static/console.css", use: { _, _ in Self.asset("console.css", type: "text/css; charset=utf-8") })
            .get("/static/console.js", use: { _, _ in Self.asset("console.js", type: "text/javascript; charset=utf-8") })
        routes.group(.watcher, style: .page).get("/", use: home)
        routes.group(.official, style: .page)
            .get("/log", use: log)
            .get("/verify", use: verify)
    }

    // MARK: - Signing in and out

    @Sendable func loginPage(_ request: Request, context: StationRequestContext) async throws -> Response {
        let next = Self.safeNext(QueryParameters(request)["next"])
        if context.identity != nil { return Self.redirect(to: next) }
        return signInForm(error: nil, next: next, status: .ok)
    }

    /// The sign-in form with a fresh pre-session token: its nonce in a cookie, its HMAC in the form.
    private func signInForm(error: String?, next: String, status: HTTPResponse.Status) -> Response {
        let issued = loginToken.issue(now: clock())
        var response = ConsolePages.render(
            "login", .init(title: "登录 Sign in"), ConsolePages.Login(error: error, next: next, loginToken: issued.field), status: status)
        response.setCookie(
            Cookie(
                name: LoginToken.cookieName, value: issued.nonce, maxAge: Int(LoginToken.lifetime), path: "/login", secure: origin.secure, httpOnly: true,
                sameSite: .strict))
        return response
    }

    /// `POST /login` with the form fields `token`, `next` and `login_csrf`. The session (hummingbird-auth's, in memory) goes
    /// into an HttpOnly, SameSite=Strict cookie; the token is checked once and never stored in the browser.
    ///
    /// Login CSRF: refused when the browser says another site sent it (`OriginCheck`), and whenever the form's pre-session
    /// token is missing, stale, or not the one its cookie was issued with (`LoginToken`), whoever posts it.
    @Sendable func login(_ request: Request, context: StationRequestContext) async throws -> Response {
        if origin.isCrossSite(request) { throw ConsoleRefusal.crossSite }
        struct Form: Decodable {
            var token: String?
            var next: String?
            var login_csrf: String?
        }
        let body = try await request.body.collect(upTo: 8192)
        let form = (try? URLEncodedFormDecoder().decode(Form.self, from: String(buffer: body))) ?? Form()
        let next = Self.safeNext(form.next)
        let nonce = request.cookies[LoginToken.cookieName]?.value
        let site = request.headers[.init("Sec-Fetch-Site")!]?.lowercased()
        guard loginToken.verify(nonce: nonce, field: form.login_csrf, now: clock()) else { throw ConsoleRefusal.badToken }
        guard let presented = form.token?.trimmingCharacters(in: .whitespacesAndNewlines), !presented.isEmpty else {
            return signInForm(error: "请输入访问令牌 Enter your token.", next: next, status: .badRequest)
        }
        guard let token = BearerAuthenticator.match(presented, in: tokens) else {
            return signInForm(error: "令牌无效 Unknown token.", next: next, status: .unauthorized)
        }
        let now = clock()
        context.sessions.createSession(
            ConsoleSession(name: token.name, role: token.role, tier: token.tier, csrf: randomHex(), signedInAt: now, lastSeen: now))
        let landing = token.role == .operatorRole && next == "/" ? "/operate" : next
        // Posted from our own form: an ordinary redirect. Posted from anywhere else (a bookmark page, a test harness), a
        // same-site hop, because the browser would not send a Strict cookie on the redirect of a cross-site navigation.
        var response =
            site == "same-origin"
            ? Self.redirect(to: landing)
            : ConsolePages.render("signed-in", .init(title: "已登录 Signed in", refresh: landing), ConsolePages.SignedIn(next: landing))
        response.setCookie(
            Cookie(name: LoginToken.cookieName, value: "", maxAge: 0, path: "/login", secure: origin.secure, httpOnly: true, sameSite: .strict))
        return response
    }

    /// `POST /logout`: ends the session (hummingbird-auth's middleware then expires the cookie). Refused cross-site.
    @Sendable func logout(_ request: Request, context: StationRequestContext) async throws -> Response {
        if origin.isCrossSite(request) { throw ConsoleRefusal.crossSite }
        context.sessions.clearSession()
        return Self.redirect(to: "/login")
    }

    static func asset(_ name: String, type: String) -> Response {
        guard let data = ConsolePages.asset(name) else { return Response(status: .notFound) }
        return Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "no-cache", .xContentTypeOptions: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: - Pages

    /// `/`: the officials' overview; an operator's home is the queue form.
    @Sendable func home(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        guard caller.roles.contains(.official) else { return Self.redirect(to: "/operate") }
        return try await overview(request, caller: caller)
    }

    func frame(_ title: String, _ caller: Caller, _ section: ConsolePages.Section, script: Bool = false, reload: Int? = nil, csrf: String? = nil)
        -> ConsolePages.Frame
    {
        .init(
            title: title, user: caller.name, role: caller.role, active: section, timeZone: timeZone, csrf: csrf, reloadSeconds: reload, script: script)
    }

    func overview(_ request: Request, caller: Caller) async throws -> Response {
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
            health: .init(status, freeBytes: UploadFile.freeBytes(at: stateDirectory)),
            nowPlaying: status.nowPlaying.map { .init($0, local: local) }, queue: status.queue.map { .init($0, local: local) },
            queueCount: status.queue.count, queueEmpty: status.queue.isEmpty, filters: values)
        do {
            let filters = try LogFilters.parse(QueryParameters(["from": values.from, "to": values.to]), timeZone: timeZone)
            let days = filters.from.map { Self.localDays(in: timeZone, from: $0, to: filters.to ?? clock()) } ?? []
            let byMonth = filters.from == nil || days.count > Self.maximumChartDays
            let timeQuery = ReportQuery(by: byMonth ? .month : .day, from: filters.from, to: filters.to, timeZone: timeZone)
            let kindQuery = ReportQuery(by: .kind, from: filters.from, to: filters.to, timeZone: timeZone)
            let source = source
            let (byTime, byKind) = try await StoreReads.run { (try source.report(timeQuery), try source.report(kindQuery)) }
            let timeGroups = Dictionary(byTime.groups.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            let unit = byMonth ? "month" : "day"
            let timeBars: [ConsoleCharts.Bar]
            if byMonth {
                let months = days.isEmpty ? timeGroups.keys.sorted() : Array(Set(days.map { String($0.prefix(7)) })).sorted()
                timeBars = months.map { ConsoleCharts.Bar(key: $0, label: $0, totals: timeGroups[$0]) }
            } else {
                timeBars = days.map { ConsoleCharts.Bar(key: $0, label: String($0.suffix(5)), totals: timeGroups[$0]) }
            }
            let kindGroups = Dictionary(byKind.groups.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            let kindBars = Kind.allCases.map {
                ConsoleCharts.Bar(key: $0.rawValue, label: AirtimeText.chineseName($0), totals: kindGroups[$0.rawValue])
            }
            let total = byKind.total
            let range = HTML.query([("from", values.from), ("to", values.to)])
            let sep = range.isEmpty ? "?" : "&"
            model.total = .init(
                realCount: total.realCount, realTime: AirtimeText.hms(total.realSeconds), drillCount: total.drillCount,
                drillTime: AirtimeText.hms(total.drillSeconds), totalCount: total.totalCount, totalTime: AirtimeText.hms(total.totalSeconds),
                timeHeading: byMonth ? "每月播出时长 Airtime per month" : "每日播出时长 Airtime per day",
                timeChart: ConsoleCharts.columns(timeBars, title: "播出时长 airtime per \(unit)", id: "chart-\(unit)"),
                kindChart: ConsoleCharts.rows(kindBars, title: "各类别播出时长 airtime per kind", id: "chart-kind"),
                csvLog: "/v1/log\(range + sep)format=csv", csvReport: "/v1/report\(range + sep)by=day&format=csv")
        } catch let error as APIError {
            guard error.status == .badRequest else {
                return ConsolePages.problem(title: "无法读取日志", message: error.failure.error, user: caller.name, status: error.status)
            }
            model.error = error.failure.description
        }
        return ConsolePages.render("overview", frame("概览 Overview", caller, .overview), model)
    }

    @Sendable func log(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let parameters = QueryParameters(request)
        let local = LocalTime(timeZone: timeZone)
        let values = ConsolePages.FilterValues(
            from: parameters["from"] ?? "", to: parameters["to"] ?? "", kind: parameters["kind"] ?? "", outcome: parameters["outcome"] ?? "",
            test: parameters["test"] ?? "")
        var model = ConsolePages.LogPage(filters: values, selects: values.selects)
        let frame = frame("播出记录 Log", caller, .log)
        do {
            let filters = try LogFilters.parse(parameters, timeZone: timeZone)
            let page = try parameters.integer("page", default: 1, in: 1...1_000_000)
            let query = filters.logQuery(limit: Self.pageSize, offset: (page - 1) * Self.pageSize, order: .newestFirst)
            let source = source
            let (rows, total) = try await StoreReads.run { (try source.log(query), try source.logCount(query)) }
            let entries = rows.map(StationAPI.LogEntry.init)
            model.total = total
            let first = (page - 1) * Self.pageSize + 1
            if total > 0 { model.shown = "\(first)–\(first + entries.count - 1)" }
            model.csv = "/v1/log" + HTML.query(values.pairs + [("format", "csv")])
            let summary = LogTable.Summary(entries)
            model.realPlays = summary.realPlays
            model.realTime = AirtimeText.hms(summary.realSeconds)
            model.drillPlays = summary.drillPlays
            model.drillTime = AirtimeText.hms(summary.drillSeconds)
            model.rows = entries.map { ConsolePages.LogRowView($0, local: local) }
            let pages = max(1, (total + Self.pageSize - 1) / Self.pageSize)
            if pages > 1 {
                let link = { (n: Int) in "/log" + HTML.query(values.pairs + [("page", String(n))]) }
                model.pager = .init(newer: page > 1 ? link(page - 1) : nil, older: page < pages ? link(page + 1) : nil, page: page, pages: pages)
            }
        } catch let error as APIError {
            guard error.status == .badRequest else {
                return ConsolePages.problem(title: "无法读取日志", message: error.failure.error, user: caller.name, status: error.status)
            }
            model.error = error.failure.description
            return ConsolePages.render("log", frame, model, status: .badRequest)
        }
        return ConsolePages.render("log", frame, model)
    }

    @Sendable func verify(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let started = ContinuousClock.now
        do {
            let verification = try await verifier.verify(expecting: nil)
            let elapsed = ContinuousClock.now - started
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let result = StationAPI.LogVerification(verification, checkedAt: clock())
            let model = ConsolePages.VerifyPage(
                intact: result.intact, rows: result.rows, problem: result.problem ?? "unknown problem", firstBadSeq: result.firstBadSeq,
                head: result.head, checkedAt: LocalTime(timeZone: timeZone).dateTime(result.checkedAt), seconds: String(format: "%.2f", seconds))
            return ConsolePages.render("verify", frame("完整性校验 Verify", caller, .verify), model)
        } catch let error as APIError {
            return ConsolePages.problem(title: "无法校验日志", message: error.failure.error, user: caller.name, status: error.status)
        }
    }

    // MARK: - Helpers

    /// Only a path on this server: "/log?kind=policy", never "//elsewhere" or "https://…", so signing in cannot be turned into
    /// a redirect to another site.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), next.count < 2048,
            next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return "/" }
        return next
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
}
