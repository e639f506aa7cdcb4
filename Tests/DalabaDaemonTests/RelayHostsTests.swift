import DalabaStation
import DalabaTestSupport
import Foundation
import Testing

/// `[live] relay-hosts`: with it set, an operator's token cannot make the station fetch a "relay" from anywhere else on its
/// network (a router's admin page, another station's API); the refusal names `url` and the hosts allowed.
@Suite struct RelayHostsTests {
    @Test func theHostsAreReadLowercasedAndEmptyByDefault() throws {
        #expect(try Configuration.parse("").relayHosts.isEmpty)
        let set = try Configuration.parse("[live]\nrelay-hosts = [\"County.Example.gov.cn\", \"10.0.0.5\", \"::1\"]\n")
        #expect(set.relayHosts == ["county.example.gov.cn", "10.0.0.5", "::1"])
    }

    @Test(arguments: ["http://county.example", "county.example:8000", "county.example/live", "", "county example", "user@county.example"])
    func anEntryThatIsNotABareHostIsNamedByItsPlace(entry: String) {
        let text = "[live]\nrelay-hosts = [\"ok.example\", \"\(entry)\"]\n"
        #expect(throws: Configuration.Invalid(description: "dalaba.toml: live.relay-hosts[1]: must be a host name or address, without scheme, port or path")) {
            try Configuration.parse(text)
        }
    }

    @Test(.timeLimit(.minutes(5))) func aRelayFromAHostNotListedIsRefusedAndNothingIsQueued() async throws {
        let daemon = try DaemonHarness(name: "relay-hosts")
        daemon.extraConfiguration = "[live]\nrelay-hosts = [\"county.example\"]\n"
        try await daemon.start()
        defer { daemon.stop() }
        for url in ["http://127.0.0.1:\(daemon.port)/v1/status", "http://county.example.evil.test/live", "http://169.254.169.254/latest"] {
            let (code, body) = try await daemon.request("POST", "/v1/live", role: "operator", body: Data(#"{"kind":"routine","url":"\#(url)"}"#.utf8))
            let answer = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
            #expect(code == 400, "\(url): \(code)")
            #expect(answer?["field"] as? String == "url", "\(url): \(answer ?? [:])")
            #expect((answer?["error"] as? String)?.contains("is not one of this station's relay hosts (live.relay-hosts: county.example)") == true)
        }
        let status = try await daemon.status()
        #expect(DaemonHarness.queueIDs(status).isEmpty && DaemonHarness.nowPlayingID(status) == nil, "refused means not queued")
        // A listed host is taken (its name in any case): whether it answers is judged when it goes on air.
        let (taken, _) = try await daemon.request(
            "POST", "/v1/live", role: "operator", body: Data(#"{"kind":"routine","url":"http://County.Example/live","id":"listed"}"#.utf8))
        #expect(taken == 201)
    }

    /// A listed host that redirects elsewhere: not followed, and the row says why (with redirects followed, `localhost`,
    /// a host not listed, would have been fetched).
    @Test(.timeLimit(.minutes(5))) func aListedHostsRedirectIsNotFollowedAndTheRowSaysSo() async throws {
        let redirector = Child()
        redirector.executableURL = URL(fileURLWithPath: Processes.resolve("python3"))
        redirector.arguments = [
            "-c",
            """
            import http.server
            class H(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(302)
                    self.send_header("Location", "http://localhost:9/live.mp3")
                    self.end_headers()
                def log_message(self, *a): pass
            s = http.server.HTTPServer(("127.0.0.1", 0), H)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """,
        ]
        let output = Pipe()
        redirector.standardOutput = output
        try Processes.start(redirector)
        // SIGKILL: this process's blocked signal mask is inherited, so the child would ignore SIGTERM.
        defer { Processes.killTree(redirector) }
        var said = Data()
        while !said.contains(UInt8(ascii: "\n")) { said.append(output.fileHandleForReading.availableData) }
        let port = try #require(Int(String(decoding: said, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))

        let daemon = try DaemonHarness(name: "relay-redirect")
        daemon.extraConfiguration = "[live]\nrelay-hosts = [\"127.0.0.1\"]\n"
        try await daemon.start()
        defer { daemon.stop() }
        let body = #"{"kind":"routine","url":"http://127.0.0.1:\#(port)/live.mp3","id":"redirected","maximum":30}"#
        let (taken, _) = try await daemon.request("POST", "/v1/live", role: "operator", body: Data(body.utf8))
        #expect(taken == 201)
        try await daemon.waitFor("the relay to fail", timeout: 30) { DaemonHarness.isIdle($0) }
        let rows = try await RelayEndToEndTests.logRows(daemon, id: "redirected")
        #expect(rows.count == 1 && rows.first?["outcome"] as? String == "failed", "\(rows)")
        let error = rows.first?["error"] as? String ?? ""
        #expect(error.contains("HTTP 302") && error.contains("relay-hosts"), "\(error)")
    }
}
