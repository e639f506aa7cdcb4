import DalabaCore
@testable import DalabaServer
import DalabaStation
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The operators' pages through the router: CSRF and Origin on every change, who may queue, the sign-in's own token, and
/// what the review page says will happen. (Queueing for real, on a paced device, is `OperatorConsoleBrowserTests`.)
@Suite struct OperatorConsoleTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// The session's CSRF token, as the page gives it to its forms.
    static func csrf(_ html: String) throws -> String {
        let marker = "data-csrf=\""
        let start = try #require(html.range(of: marker)).upperBound
        return String(html[start...].prefix(64))
    }

    static func session(_ client: some TestClientProtocol, _ token: Configuration.Token, page: String) async throws -> (cookie: String, csrf: String) {
        let cookie = try await ConsoleTests.signIn(client, token)
        let csrf = try await client.execute(uri: page, method: .get, headers: [.cookie: cookie]) { response throws in
            #expect(response.status == .ok, "\(page): \(response.status)")
            return try Self.csrf(response.text)
        }
        #expect(csrf.count == 64 && csrf.allSatisfy(\.isHexDigit))
        return (cookie, csrf)
    }

    static func headers(_ cookie: String, _ extra: [(String, String)] = []) -> HTTPFields {
        var fields = form
        fields[.cookie] = cookie
        for (name, value) in extra { fields[.init(name)!] = value }
        return fields
    }

    @Test func aSessionChangesNothingWithoutItsTokenOrFromAnotherSite() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            let (cookie, csrf) = try await Self.session(client, Tokens.operatorToken, page: "/live")
            let (_, otherCSRF) = try await Self.session(client, Tokens.admin, page: "/live")
            let attempts: [(String, [(String, String)], String)] = [
                ("no token", [], "confirm=1"),
                ("another session's token", [], "confirm=1&csrf=\(otherCSRF)"),
                ("cross-site with a valid token", [("Origin", "http://evil.example")], "confirm=1&csrf=\(csrf)"),
                ("same-site page on another port", [("Origin", "http://localhost:1")], "confirm=1&csrf=\(csrf)"),
                ("Sec-Fetch-Site cross-site", [("Sec-Fetch-Site", "cross-site")], "confirm=1&csrf=\(csrf)"),
                ("opaque origin", [("Origin", "null")], "confirm=1&csrf=\(csrf)"),
            ]
            for (name, extra, body) in attempts {
                try await client.execute(uri: "/live/stop-all", method: .post, headers: Self.headers(cookie, extra), body: ByteBuffer(string: body)) {
                    response throws in
                    #expect(response.status == .forbidden, "\(name): \(response.status)")
                    #expect(response.headers[.location] == nil, "\(name)")
                }
            }
            // The header form of the token, as the page's script sends it, and a multipart upload's ?csrf=.
            try await client.execute(
                uri: "/live/cancel", method: .post, headers: Self.headers(cookie, [("X-CSRF-Token", csrf), ("Origin", "http://evil.example")]),
                body: ByteBuffer(string: "id=x")
            ) { response throws in
                #expect(response.status == .forbidden)
            }
            try await client.execute(
                uri: "/live/stop-all", method: .post, headers: Self.headers(cookie, [("Origin", "http://127.0.0.1:8780"), ("Sec-Fetch-Site", "same-origin")]),
                body: ByteBuffer(string: "confirm=1&csrf=\(csrf)")
            ) { response throws in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/live?stopped=0")
            }
            // Stop-all needs its confirmation box.
            try await client.execute(uri: "/live/stop-all", method: .post, headers: Self.headers(cookie), body: ByteBuffer(string: "csrf=\(csrf)")) {
                response throws in
                #expect(response.status == .badRequest)
                #expect(response.text.contains("Tick the confirmation"))
            }
        }
    }

    @Test func anOfficialCannotQueue() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            let cookie = try await ConsoleTests.signIn(client, Tokens.official)
            try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]) { response throws in
                #expect(response.status == .ok)
                #expect(!response.text.contains("href=\"/operate\""), "an official's menu offers no queueing")
            }
            // The role is refused before any token is looked at.
            let csrf = String(repeating: "0", count: 64)
            for (path, body) in [
                ("/operate/queue", "kind=policy&text=%E9%80%9A%E7%9F%A5&csrf=\(csrf)"), ("/operate/review", "kind=policy&text=x&csrf=\(csrf)"),
                ("/live/stop-all", "confirm=1&csrf=\(csrf)"), ("/live/cancel", "id=x&csrf=\(csrf)"),
            ] {
                try await client.execute(uri: path, method: .post, headers: Self.headers(cookie), body: ByteBuffer(string: body)) { response throws in
                    #expect(response.status == .forbidden, "\(path)")
                    #expect(response.text.contains("Role official may not do this (needs operator)"), "\(path)")
                }
            }
            try await client.execute(uri: "/operate", method: .get, headers: [.cookie: cookie]) { response throws in
                #expect(response.status == .forbidden)
            }
            try await client.execute(uri: "/operate/queue", method: .post, headers: bearer(Tokens.official).merging(Self.form), body: ByteBuffer(string: "kind=policy")) {
                response throws in
                #expect(response.status == .forbidden)
            }
        }
    }

    @Test func aSignInFromABrowserNeedsTheFormsOwnToken() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            try await client.execute(uri: "/login", method: .get) { response throws in
                let cookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("dalaba_login=") })
                #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"))
                #expect(cookie.contains("Max-Age=3600"), "the form's cookie lasts as long as its token: \(cookie)")
            }
            let own = [("Origin", "http://127.0.0.1:8780")]
            let one = try await SignInForm.fetch(client)
            let two = try await SignInForm.fetch(client)
            let three = try await SignInForm.fetch(client)
            let cases: [(String, String?, String?, [(String, String)], HTTPResponse.Status)] = [
                ("the form's token and its cookie", one.nonce, one.field, own, .ok),
                ("a token without its cookie", nil, two.field, own, .forbidden),
                ("a cookie without its token", two.nonce, nil, own, .forbidden),
                ("a token from another form", two.nonce, one.field, own, .forbidden),
                ("a browser post with no token at all", nil, nil, own, .forbidden),
                ("a post vouched for by Sec-Fetch-Site but with no token", nil, nil, [("Sec-Fetch-Site", "same-origin")], .forbidden),
                ("a tool's post (no browser headers) with no token", nil, nil, [], .forbidden),
                ("a tool's post with a fresh pair", three.nonce, three.field, [], .ok),
                ("a valid pair posted from another site", two.nonce, two.field, [("Origin", "http://evil.example")], .forbidden),
                ("a forged nonce with another form's token", "1-" + String(repeating: "0", count: 64), two.field, own, .forbidden),
            ]
            for (name, nonce, field, extra, expected) in cases {
                var headers = Self.form
                if let nonce { headers[.cookie] = "dalaba_login=\(nonce)" }
                for (key, value) in extra { headers[.init(key)!] = value }
                let body = "token=\(Tokens.official.token)&next=%2F" + (field.map { "&login_csrf=\($0)" } ?? "")
                try await client.execute(uri: "/login", method: .post, headers: headers, body: ByteBuffer(string: body)) { response throws in
                    #expect(response.status == expected, "\(name): \(response.status)")
                    let signedIn = response.headers[values: .setCookie].contains { $0.hasPrefix("dalaba_session=") }
                    #expect(signedIn == (expected == .ok), "\(name)")
                }
            }
        }
    }

    /// The sign-in form's token is short-lived: an hour after `GET /login` (by the injected clock) it is refused.
    @Test func aSignInFormExpiresAfterAnHour() {
        let login = LoginToken()
        let issuedAt = instant("2026-12-01T09:00:00+08:00")
        let (nonce, field) = login.issue(now: issuedAt)
        #expect(login.verify(nonce: nonce, field: field, now: issuedAt.addingTimeInterval(3_599)))
        #expect(!login.verify(nonce: nonce, field: field, now: issuedAt.addingTimeInterval(3_601)))
        #expect(!login.verify(nonce: nonce, field: field, now: issuedAt.addingTimeInterval(-120)), "issued in the future")
        // The issue time is covered by the HMAC: moving it forward breaks the token.
        let later = "\(Int(issuedAt.timeIntervalSince1970) + 3_000)" + nonce.drop { $0 != "-" }
        #expect(!login.verify(nonce: later, field: field, now: issuedAt.addingTimeInterval(3_601)))
        #expect(!LoginToken().verify(nonce: nonce, field: field, now: issuedAt), "another process's key")
    }

    @Test func theReviewSaysWhatWillHappenAndAnEmergencyNeedsASecondConfirmation() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            let (cookie, csrf) = try await Self.session(client, Tokens.operatorToken, page: "/operate")
            try await client.execute(
                uri: "/operate/review", method: .post, headers: Self.headers(cookie),
                body: ByteBuffer(string: "csrf=\(csrf)&text=%E6%98%8E%E5%A4%A9%E5%81%9C%E6%B0%B4&kind=policy&repeat=2&interval=5")
            ) { response throws in
                #expect(response.status == .ok)
                #expect(response.text.contains("<p class=\"preview\" id=\"preview-line\">立即播出，先播提示音 plays now, after the chime</p>"))
                #expect(response.text.contains("<b id=\"review-title\">明天停水</b>"))
                #expect(response.text.contains("plays 2 times"))
                #expect(response.text.contains("<input type=\"hidden\" name=\"text\" value=\"明天停水\">"))
                #expect(!response.text.contains("confirm-emergency"))
            }
            try await client.execute(
                uri: "/operate/review", method: .post, headers: Self.headers(cookie), body: ByteBuffer(string: "csrf=\(csrf)&text=x&kind=emergency&level=1")
            ) { response throws in
                #expect(response.text.contains("goes on air now, after the attention signal"))
                #expect(response.text.contains("id=\"confirm-emergency\""))
            }
            for (body, message) in [
                ("text=x&kind=emergency", "level: 紧急广播须选择级别 an emergency needs a level (1 to 4)"),
                ("text=x&kind=alarm", "kind: 请选择类别 choose a kind"), ("text=x&kind=policy&repeat=0", "repeat: must be a number from 1 to 1000"),
                ("text=&kind=policy", "text: 请输入播出内容 type the text to speak"),
                ("text=x&kind=policy&notBefore=tomorrow", "notBefore: must be a date and time like 2026-12-01T14:30"),
                ("upload=..%2F..%2Fetc%2Fpasswd&kind=policy", "The upload has expired"),
            ] {
                try await client.execute(uri: "/operate/review", method: .post, headers: Self.headers(cookie), body: ByteBuffer(string: "csrf=\(csrf)&" + body)) {
                    response throws in
                    #expect(response.status == .badRequest, "\(body)")
                    #expect(response.text.contains(message), "\(body): \(response.text.prefix(3000))")
                }
            }
            // Queueing an emergency without the second confirmation queues nothing.
            try await client.execute(
                uri: "/operate/queue", method: .post, headers: Self.headers(cookie), body: ByteBuffer(string: "csrf=\(csrf)&text=x&kind=emergency&level=1")
            ) { response throws in
                #expect(response.status == .badRequest)
                #expect(response.text.contains("An emergency needs its second confirmation."))
            }
            try await client.execute(uri: "/v1/queue", method: .get, headers: bearer(Tokens.admin)) { response throws in
                #expect(response.text == "[]")
            }
        }
    }
}

@Suite struct ForecastTests {
    static let now = instant("2026-12-01T09:00:00+08:00")

    static func item(_ id: String, _ kind: Kind, audio: String = "a.wav", notBefore: Date? = nil, repeat count: Int = 1) -> StationAPI.Item {
        var item = StationAPI.Item(QueueEntry(announcement: Announcement(
            id: id, title: id, kind: kind, level: kind == .emergency ? 1 : nil, tier: .village, isTest: false, audio: audio, text: nil, source: "t",
            repeatCount: count, repeatInterval: 0, notBefore: notBefore, expires: nil, queuedAt: now), sequence: 0))
        item.notBefore = notBefore
        return item
    }

    static func status(playing: StationAPI.Item?, position: Double = 0, duration: Double = 0, queue: [StationAPI.Item]) -> StationAPI.Status {
        let device = StationAPI.Device(
            name: "null", up: true, open: true, rate: 48000, channels: 2, periodFrames: 1024, bufferFrames: 4096, underruns: 0, lastError: nil, retryAt: nil)
        return .init(
            now: now,
            nowPlaying: playing.map { .init(item: $0, playNumber: 1, signal: "chime", startedAt: now, position: position, duration: duration, inSignal: false) },
            queue: queue, device: device, storeFault: nil, scheduleProblems: [])
    }

    /// Every file is a minute long; the chime two seconds, the attention signal five.
    static let timing = Forecast.Timing(chime: 2, attention: 5, seconds: { _ in 60 })
    static let local = LocalTime(timeZone: shanghai)

    @Test func aNoticeWaitsForWhatPlaysAndWhatIsAheadOfItsRank() {
        let state = Self.status(
            playing: Self.item("p", .routine), position: 30, duration: 90,
            queue: [Self.item("r", .rumorRebuttal), Self.item("q", .policy), Self.item("later", .policy, notBefore: Self.now.addingTimeInterval(7200)), Self.item("z", .routine)])
        // 60 s left of what plays, then the rebuttal and the notice ahead (62 s each): 184 s, about 4 min.
        #expect(Forecast.line(kind: .policy, notBefore: nil, status: state, timing: Self.timing, local: Self.local)
            == "排在 3 条之后，约 4 分钟后播出 plays after 3 items, about 4 min")
        #expect(Forecast.line(kind: .emergency, notBefore: nil, status: state, timing: Self.timing, local: Self.local)
            == "立即插播，先播提示音 cuts in now, after the attention signal")
        let emergencyOnAir = Self.status(playing: Self.item("e", .emergency), position: 10, duration: 130, queue: [])
        #expect(Forecast.line(kind: .emergency, notBefore: nil, status: emergencyOnAir, timing: Self.timing, local: Self.local)
            == "排在正在播出的紧急广播之后，约 2 分钟后 plays after the emergency on air now, in about 2 min")
        #expect(Forecast.line(kind: .routine, notBefore: Self.now.addingTimeInterval(3600), status: state, timing: Self.timing, local: Self.local)
            .hasPrefix("将于 2026-12-01 10:00:00 起播出"))
    }

    @Test func expectedStartsFollowPlayOrderRepeatsAndNotBefore() {
        let state = Self.status(
            playing: Self.item("p", .routine), position: 30, duration: 90,
            queue: [Self.item("a", .policy, repeat: 2), Self.item("b", .policy, notBefore: Self.now.addingTimeInterval(3600)), Self.item("c", .routine)])
        let starts = Forecast.expectedStarts(status: state, timing: Self.timing)
        #expect(starts["a"] == Self.now.addingTimeInterval(60))
        #expect(starts["b"] == Self.now.addingTimeInterval(3600))
        #expect(starts["c"] == Self.now.addingTimeInterval(3600 + 62))
    }

    @Test func lunarDatesAreWrittenAsAVillageCalendarWritesThem() {
        let lunar = LunarDate(timeZone: shanghai)
        #expect(lunar.describe(instant("2026-02-17T08:00:00+08:00")) == "农历正月初一")
        #expect(lunar.describe(instant("2025-07-25T08:00:00+08:00")) == "农历闰六月初一")
        #expect(lunar.describe(instant("2026-01-26T08:00:00+08:00")) == "农历腊月初八")
        #expect(lunar.describe(instant("2025-10-06T08:00:00+08:00")) == "农历八月十五")
        #expect(LunarDate.day(20) == "二十" && LunarDate.day(21) == "廿一" && LunarDate.day(30) == "三十" && LunarDate.day(11) == "十一")
        #expect(lunar.weekday(instant("2026-12-01T08:00:00+08:00")) == "周二 Tue")
    }
}

@Suite struct ConsoleCookieTests {
    static func sessionCookie(secure: Bool, headers extra: HTTPFields = [:]) async throws -> String {
        let configuration = testConfiguration()
        let (router, _) = buildRouter(
            station: try idleStation(configuration), configuration: configuration, metrics: StationMetrics(), store: try PreparedLog.store(),
            sessions: MemoryPersistDriver(), secureCookies: secure)
        return try await Application(router: router).test(.router) { client throws in
            let signIn = try await SignInForm.fetch(client)
            var headers = signIn.headers
            for field in extra { headers.append(field) }
            return try await client.execute(
                uri: "/login", method: .post, headers: headers, body: signIn.body("token=\(Tokens.official.token)&next=%2F")
            ) { response throws in
                try #require(response.headers[values: .setCookie].first { $0.hasPrefix("dalaba_session=") })
            }
        }
    }

    @Test func secureComesFromTheConfigurationAndNeverFromTheClient() async throws {
        let forwarded: HTTPFields = [.init("X-Forwarded-Proto")!: "https"]
        #expect(!(try await Self.sessionCookie(secure: false, headers: forwarded)).contains("Secure"))
        let secure = try await Self.sessionCookie(secure: true)
        #expect(secure.contains("; Secure") && secure.contains("HttpOnly") && secure.contains("SameSite=Strict"), "\(secure)")
    }
}
