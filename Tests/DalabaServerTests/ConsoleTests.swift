import DalabaCore
@testable import DalabaServer
import DalabaStation
import DalabaStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct ConsoleTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    /// Signs in through the form as the browser would and returns the session cookie ("dalaba_session=…").
    static func signIn(_ client: some TestClientProtocol, _ token: Configuration.Token = Tokens.official) async throws -> String {
        let signIn = try await SignInForm.fetch(client)
        return try await client.execute(
            uri: "/login", method: .post, headers: signIn.headers, body: signIn.body("token=\(token.token)&next=%2F")
        ) { response throws in
            #expect(response.status == .ok)
            let setCookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("dalaba_session=") })
            return String(setCookie.prefix { $0 != ";" })
        }
    }

    @Test func signInSetsAStrictHttpOnlySessionCookieThatIsNotTheToken() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            try await client.execute(uri: "/", method: .get) { response throws in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/login?next=%2F")
            }
            try await client.execute(uri: "/log?kind=policy", method: .get) { response throws in
                #expect(response.headers[.location] == "/login?next=%2Flog%3Fkind%3Dpolicy")
            }
            try await client.execute(uri: "/login?next=%2Flog", method: .get) { response throws in
                #expect(response.status == .ok)
                #expect(response.text.contains("<input id=\"token\" name=\"token\" type=\"password\""))
                #expect(response.text.contains("name=\"next\" value=\"/log\""))
                #expect(response.headers[.contentSecurityPolicy]?.hasPrefix("default-src 'none'") == true)
            }
            let signIn = try await SignInForm.fetch(client)
            var headers = signIn.headers
            headers[.init("Sec-Fetch-Site")!] = "same-origin"
            try await client.execute(
                uri: "/login", method: .post, headers: headers,
                body: signIn.body("token=\(Tokens.official.token)&next=%2Flog%3Fkind%3Demergency")
            ) { response throws in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/log?kind=emergency")
                let cookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("dalaba_session=") })
                let parts = cookie.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                let value = String(parts[0].dropFirst("dalaba_session=".count))
                #expect(parts[0].hasPrefix("dalaba_session="))
                // hummingbird-auth's session id: 32 random bytes in base64.
                #expect(Data(base64Encoded: value)?.count == 32)
                #expect(!cookie.contains(Tokens.official.token))
                // Never Secure unless the configuration says so (the request said nothing about HTTPS either way).
                #expect(Set(parts.dropFirst().filter { !$0.hasPrefix("Expires=") }) == ["HttpOnly", "SameSite=Strict", "Path=/"])
                #expect(parts.contains { $0.hasPrefix("Expires=") })
            }
        }
    }

    @Test func aSignInPostedFromElsewhereHopsSameSiteSoTheStrictCookieIsSent() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            let signIn = try await SignInForm.fetch(client)
            try await client.execute(
                uri: "/login", method: .post, headers: signIn.headers, body: signIn.body("token=\(Tokens.admin.token)&next=%2Fverify")
            ) { response throws in
                #expect(response.status == .ok)
                #expect(response.text.contains("<meta http-equiv=\"refresh\" content=\"0; url=/verify\">"))
                #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("dalaba_session=") && $0.contains("SameSite=Strict") })
            }
            // Only paths on this server: never a redirect elsewhere.
            for next in ["%2F%2Fevil.example", "https%3A%2F%2Fevil.example", "%2F%5Cevil.example", "javascript%3Aalert(1)"] {
                let signIn = try await SignInForm.fetch(client)
                try await client.execute(
                    uri: "/login", method: .post, headers: signIn.headers, body: signIn.body("token=\(Tokens.admin.token)&next=\(next)")
                ) { response throws in
                    #expect(response.text.contains("url=/\">"), "\(next)")
                }
            }
        }
    }

    @Test func wrongTokensAndOperatorsAreRefused() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            let wrong = try await SignInForm.fetch(client)
            try await client.execute(uri: "/login", method: .post, headers: wrong.headers, body: wrong.body("token=wrong-token-0123456789")) {
                response throws in
                #expect(response.status == .unauthorized)
                #expect(!response.headers[values: .setCookie].contains { $0.hasPrefix("dalaba_session=") })
                #expect(response.text.contains("令牌无效 Unknown token."))
            }
            // Operators sign in too, and land on their own pages.
            let signIn = try await SignInForm.fetch(client)
            try await client.execute(
                uri: "/login", method: .post, headers: signIn.headers, body: signIn.body("token=\(Tokens.operatorToken.token)&next=%2F")
            ) { response throws in
                #expect(response.status == .ok)
                #expect(response.text.contains("url=/operate\">"))
                #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("dalaba_session=") })
            }
            let empty = try await SignInForm.fetch(client)
            try await client.execute(uri: "/login", method: .post, headers: empty.headers, body: empty.body("next=%2F")) { response throws in
                #expect(response.status == .badRequest)
            }
            // The old shortcut, a cookie holding the token itself, no longer signs anyone in.
            try await client.execute(uri: "/", method: .get, headers: [.cookie: "dalaba_session=\(Tokens.admin.token)"]) { response throws in
                #expect(response.status == .seeOther)
            }
            // A bearer operator reaching a console page gets a page saying why.
            try await client.execute(uri: "/log", method: .get, headers: bearer(Tokens.operatorToken)) { response throws in
                #expect(response.status == .forbidden)
                #expect(response.text.contains("Role operator may not read the log."))
            }
        }
    }

    @Test func aSessionReadsButNeverChangesAnythingAndEndsAtSignOut() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            let cookie = try await Self.signIn(client, Tokens.admin)
            try await client.execute(uri: "/v1/report", method: .get, headers: [.cookie: cookie]) { response throws in
                #expect(response.status == .ok)
            }
            // Even an admin's session cannot stop the loudspeakers: sessions count for GET and HEAD only.
            try await client.execute(
                uri: "/v1/stop-all", method: .post, headers: [.cookie: cookie, .contentType: "application/json"], body: ByteBuffer(string: "{}")
            ) {
                response throws in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/logout", method: .post, headers: [.cookie: cookie]) { response throws in
                #expect(response.status == .seeOther)
                #expect(response.headers[.location] == "/login")
                // hummingbird-auth expires the cookie and forgets the session.
                #expect(response.headers[values: .setCookie].contains { $0.hasPrefix("dalaba_session=") && $0.contains("Expires=") })
            }
            try await client.execute(uri: "/", method: .get, headers: [.cookie: cookie]) { response throws in
                #expect(response.status == .seeOther)
            }
        }
    }

    @Test func overviewShowsTotalsChartsQueueAndDownloads() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            let cookie = try await Self.signIn(client)
            try await client.execute(uri: "/?from=2025-03-14&to=2025-03-16", method: .get, headers: [.cookie: cookie]) { response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                let html = response.text
                #expect(html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"))
                #expect(html.contains("<span id=\"user\">王主任</span>"))
                #expect(html.contains("当前没有播出 Nothing on air"))
                #expect(html.contains("队列为空 The queue is empty"))
                #expect(html.contains("<tr id=\"total-real\"><th>正式播出 Real</th><td class=\"num\">5</td><td class=\"num\">0:09:10</td></tr>"))
                #expect(html.contains("<tr id=\"total-drill\"><th>演练 Drills</th><td class=\"num\">1</td><td class=\"num\">0:01:00</td></tr>"))
                #expect(
                    html.contains("<tr id=\"total-all\" class=\"grand\"><th>合计 Total</th><td class=\"num\">6</td><td class=\"num\">0:10:10</td></tr>")
                )
                #expect(html.contains("<svg id=\"chart-day\""))
                #expect(html.contains("data-key=\"2025-03-14\" data-real-seconds=\"210.002\" data-drill-seconds=\"60.000\""))
                #expect(html.contains("data-key=\"2025-03-16\" data-real-seconds=\"40.000\""))
                #expect(html.components(separatedBy: "<g class=\"bar\"").count - 1 == 3 + 4)
                #expect(html.contains("data-key=\"rumor-rebuttal\" data-real-seconds=\"0.000\""))
                // The charts come from chart.mustache: bars stacked only where there were drills, a name under each day, a total at
                // the end of each kind's row, one axis, and no element drawn from an absent value.
                #expect(html.components(separatedBy: "<rect class=\"drill\"").count - 1 == 2)
                #expect(html.contains("text-anchor=\"middle\" font-size=\"10\">03-14</text>"))
                #expect(html.contains("text-anchor=\"start\" font-size=\"11\">0:05:10</text></g>"))
                #expect(html.components(separatedBy: "<line class=\"axis\"").count - 1 == 1)
                let charts = try #require(html.range(of: "<svg id=\"chart-day\"")).lowerBound..<(try #require(html.range(of: "<p class=\"legend\"")).lowerBound)
                #expect(!html[charts].contains("=\"\""), "an attribute rendered from nothing")
                #expect(html.contains("href=\"/v1/log?from=2025-03-14&amp;to=2025-03-16&amp;format=csv\""))
            }
            // A long range is charted per month.
            try await client.execute(uri: "/?from=2025-01-01&to=2025-06-30", method: .get, headers: [.cookie: cookie]) { response throws in
                let html = response.text
                #expect(html.contains("<svg id=\"chart-month\""))
                #expect(html.contains("data-key=\"2025-03\" data-real-seconds=\"550.002\""))
                #expect(html.components(separatedBy: "<g class=\"bar\"").count - 1 == 6 + 4)
            }
            try await client.execute(uri: "/?from=2025-03-20&to=2025-03-01", method: .get, headers: [.cookie: cookie]) { response throws in
                #expect(response.text.contains("<p class=\"alert\" id=\"filter-error\">to: must be after from"))
            }
        }
    }

    @Test func logPageFiltersPagesAndEscapes() async throws {
        let store = try PreparedLog.store()
        var hostile = record(
            "h1", "<script>alert('x')</script> & 通知", kind: .policy, startedAt: instant("2025-03-17T08:00:00+08:00"), frames: 48000)
        hostile.volume = -6.5
        try store.append(hostile)
        let app = try makeApplication(source: store)
        try await app.test(.router) { client throws in
            let cookie = try await Self.signIn(client)
            try await client.execute(uri: "/log", method: .get, headers: [.cookie: cookie]) { response throws in
                let html = response.text
                /// One row of the table, from its tag to its end.
                func row(_ seq: Int) throws -> String {
                    let start = try #require(html.range(of: "<tr data-seq=\"\(seq)\""))
                    let end = try #require(html.range(of: "</tr>", range: start.upperBound..<html.endIndex))
                    return String(html[start.lowerBound..<end.upperBound])
                }
                #expect(html.contains("<th class=\"num\">音量 Volume</th>"))
                let (played, old) = (try row(8), try row(1))
                #expect(played.contains("<td class=\"num volume\">-6.50 dB</td>"), "\(played)")
                #expect(old.contains("<td class=\"num volume\">—</td>"), "a row logged before volumes shows a dash, not 0: \(old)")
                #expect(html.contains("共 <b>8</b> 条记录 rows"))
                #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; 通知"))
                #expect(!html.contains("<script>"))
                #expect(html.contains("关于&quot;秸秆禁烧&quot;的通知"))
                #expect(html.contains("<tr data-seq=\"3\" class=\"outcome-completed drill\">"))
            }
            try await client.execute(uri: "/log?kind=emergency&outcome=completed&test=false", method: .get, headers: [.cookie: cookie]) {
                response throws in
                let html = response.text
                #expect(html.contains("共 <b>1</b> 条记录 rows"))
                #expect(html.contains("防汛应急通知"))
                #expect(html.contains("<option value=\"emergency\" selected>"))
                #expect(html.contains("href=\"/v1/log?kind=emergency&amp;outcome=completed&amp;test=false&amp;format=csv\""))
            }
            try await client.execute(uri: "/log?kind=alarm", method: .get, headers: [.cookie: cookie]) { response throws in
                #expect(response.status == .badRequest)
                #expect(response.text.contains("kind: unknown kind &quot;alarm&quot;"))
            }
        }
    }

    @Test func verifyPageShowsTheResultAndHead() async throws {
        let store = try PreparedLog.store()
        let head = try #require(try store.latestHash())
        let app = try makeApplication(source: store)
        try await app.test(.router) { client throws in
            let cookie = try await Self.signIn(client)
            try await client.execute(uri: "/verify", method: .get, headers: [.cookie: cookie]) { response throws in
                #expect(response.text.contains("data-intact=\"true\""))
                #expect(response.text.contains("7 条记录 rows checked"))
                #expect(response.text.contains("<code id=\"chain-head\">\(head)</code>"))
            }
        }
    }

    @Test func consolePagesSayWhenTheStoreCannotBeRead() async throws {
        let app = try makeApplication(source: FailingLogSource())
        try await app.test(.router) { client throws in
            let cookie = try await Self.signIn(client)
            for path in ["/", "/log", "/verify"] {
                try await client.execute(uri: path, method: .get, headers: [.cookie: cookie]) { response throws in
                    #expect(response.status == .serviceUnavailable, "\(path)")
                    #expect(response.text.contains("the airtime log cannot be read"), "\(path)")
                }
            }
        }
    }
}
