import DalabaTestSupport
import Foundation
import Testing

/// The operators' API and CLI against a real `dalabad` on the `null` device.
@Suite(.serialized) struct OperatorAPITests {
    /// Expected status for each role: no token, a wrong token, operator, official, admin.
    struct Row: Sendable, CustomStringConvertible {
        var method: String
        var path: String
        var body: String?
        var allowed: [String]
        var okStatus: Int
        var description: String { "\(method) \(path)" }
    }

    static let matrix: [Row] = [
        Row(method: "POST", path: "/v1/announcements", body: "{}", allowed: ["operator", "admin"], okStatus: 400),
        Row(method: "GET", path: "/v1/queue", allowed: ["operator", "official", "admin"], okStatus: 200),
        Row(method: "GET", path: "/v1/status", allowed: ["operator", "official", "admin"], okStatus: 200),
        Row(method: "DELETE", path: "/v1/announcements/nothing-here", allowed: ["operator", "admin"], okStatus: 404),
        Row(method: "POST", path: "/v1/stop-all", body: "{}", allowed: ["operator", "admin"], okStatus: 200),
        Row(method: "GET", path: "/metrics", allowed: ["operator", "official", "admin"], okStatus: 200),
    ]

    @Test func everyEndpointChecksTheTokenAndTheRole() async throws {
        let daemon = try DaemonHarness(name: "roles")
        try await daemon.start()
        defer { daemon.stop() }
        var failures: [String] = []
        for row in Self.matrix {
            for caller in ["none", "wrong", "operator", "official", "admin"] {
                let role: String? =
                    switch caller {
                    case "none": nil
                    case "wrong": "not-a-real-token-123456"
                    default: caller
                    }
                let (status, _) = try await daemon.request(row.method, row.path, role: role, body: row.body.map { Data($0.utf8) })
                let expected = role == nil || caller == "wrong" ? 401 : (row.allowed.contains(caller) ? row.okStatus : 403)
                if status != expected { failures.append("\(row) as \(caller): \(status), expected \(expected)") }
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func badRequestsGetA4xxNamingTheFieldAndDisturbNothing() async throws {
        let daemon = try DaemonHarness(name: "badinput")
        try daemon.tone("ok.wav", frequency: 440, seconds: 1)
        try "not audio at all".write(to: daemon.audioDirectory.appendingPathComponent("notes.wav"), atomically: true, encoding: .utf8)
        try await daemon.start()
        defer { daemon.stop() }
        // Something already queued, held back so it stays in the queue during the test.
        // (Intake refuses a notBefore more than 366 days ahead, so a month from now.)
        let month = ISO8601DateFormatter().string(from: Date().addingTimeInterval(30 * 86_400))
        let held = #"{"audio":"ok.wav","kind":"routine","id":"held","notBefore":"\#(month)"}"#
        #expect(try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(held.utf8)).0 == 201)
        let before = DaemonHarness.queueIDs(try await daemon.status())

        let cases: [(String, Int, String?)] = [
            (#"{"audio":"ok.wav","kind":"#, 400, nil),
            (#"{"audio":"ok.wav","kind":"announcement"}"#, 400, "kind"),
            (#"{"audio":"ok.wav","kind":"emergency","level":7}"#, 400, "level"),
            (#"{"audio":"ok.wav","kind":"emergency"}"#, 400, "level"),
            (#"{"audio":"../../etc/passwd","kind":"routine"}"#, 400, "audio"),
            (#"{"audio":"/etc/passwd","kind":"routine"}"#, 400, "audio"),
            (#"{"audio":"missing.wav","kind":"routine"}"#, 400, "audio"),
            (#"{"audio":"notes.wav","kind":"routine"}"#, 400, "audio"),
            (#"{"audio":"ok.wav","kind":"routine","repeat":0}"#, 400, "repeat"),
            (#"{"audio":"ok.wav","kind":"routine","tier":"province"}"#, 400, "tier"),
            (#"{"audio":"ok.wav","kind":"routine","expires":"tomorrow"}"#, 400, "expires"),
            (#"{"kind":"routine"}"#, 400, "audio"),
        ]
        for (body, status, field) in cases {
            let (got, data) = try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(body.utf8))
            let json = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            #expect(got == status, "\(body) → \(got) \(String(decoding: data, as: UTF8.self))")
            #expect(json["field"] as? String == field, "\(body) → \(json)")
            #expect((json["error"] as? String)?.isEmpty == false)
        }
        let (notFound, _) = try await daemon.request("DELETE", "/v1/announcements/no-such-id", role: "operator")
        #expect(notFound == 404)

        // An upload that is not audio is refused after libsndfile looked at it.
        let upload = try await daemon.dalaba(["queue", "/etc/hostname", "--kind", "routine"])
        #expect(upload.status == 1)
        #expect(upload.stderr.hasPrefix("dalaba: audio: hostname: not an audio file"), "\(upload.stderr)")
        #expect(DaemonHarness.queueIDs(try await daemon.status()) == before, "the queue is undisturbed")
    }

    @Test func anUploadOverTheLimitIsRefused() async throws {
        let daemon = try DaemonHarness(name: "toolarge")
        daemon.stationConfiguration = "max-upload-bytes = 4096"
        try await daemon.start()
        defer { daemon.stop() }
        let big = try daemon.tone("big.wav", frequency: 440, seconds: 1)
        let result = try await daemon.dalaba(["queue", daemon.audioDirectory.appendingPathComponent(big).path, "--kind", "routine"])
        #expect(result.status == 1)
        #expect(result.stderr == "dalaba: audio: the request is larger than the limit of 4096 bytes\n", "\(result.stderr)")
        #expect(DaemonHarness.isIdle(try await daemon.status()))
    }

    @Test func theCommandLineQueuesShowsStatusCancelsAndStopsAll() async throws {
        let daemon = try DaemonHarness(name: "cli")
        try daemon.tone("far.wav", frequency: 440, seconds: 1)
        try await daemon.start()
        defer { daemon.stop() }
        let queued = try await daemon.dalaba(["queue", "far.wav", "--kind", "policy", "--title", "防汛通知", "--id", "flood-notice", "--not-before", "+2h"])
        #expect(queued.stdout == "queued flood-notice: on air now or next\n", "\(queued.stderr)")
        let second = try await daemon.dalaba(["queue", "far.wav", "--kind", "routine", "--id", "music", "--not-before", "+3h"])
        #expect(second.stdout == "queued music: position 1 in the queue\n")
        let again = try await daemon.dalaba(["queue", "far.wav", "--kind", "routine", "--id", "music"])
        #expect(again.stdout == "not queued: music is already queued or playing\n")

        let status = try await daemon.dalaba(["status"])
        #expect(status.stdout.contains("1. flood-notice  防汛通知  policy  from op-wang"), "\(status.stdout)")
        #expect(status.stdout.contains("2. music"))
        let json = try await daemon.dalaba(["status", "--format", "json"])
        #expect((try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])?["queue"] != nil)

        #expect(try await daemon.dalaba(["cancel", "flood-notice"]).stdout == "cancelled flood-notice\n")
        let unknown = try await daemon.dalaba(["cancel", "flood-notice"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr == "dalaba: id: no queued or playing announcement has id flood-notice\n")
        #expect(try await daemon.dalaba(["stop-all"]).stdout == "stopped: 1 announcement cancelled\n")
        #expect(DaemonHarness.isIdle(try await daemon.status()))
        let denied = try await daemon.dalaba(["stop-all"], role: "official")
        #expect(denied.status == 1)
        #expect(denied.stderr.hasPrefix("dalaba: role official may not do this"))
        let unreachable = try await Processes.run("dalaba", ["status", "--server", "http://127.0.0.1:9", "--token", "x"])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.hasPrefix("dalaba: cannot reach the station at http://127.0.0.1:9"))
    }

    @Test func aDeviceThatCannotBeOpenedKeepsTheItemAndReportsTheDeviceDown() async throws {
        let daemon = try DaemonHarness(name: "nodevice", device: "hw:9,9")
        try daemon.tone("a.wav", frequency: 440, seconds: 1)
        try await daemon.start()
        defer { daemon.stop() }
        #expect(try await daemon.dalaba(["queue", "a.wav", "--kind", "policy", "--id", "keep-me"]).status == 0)
        try await daemon.waitFor("the device to be reported down") { ($0["device"] as? [String: Any])?["up"] as? Bool == false }
        let status = try await daemon.status()
        let device = try #require(status["device"] as? [String: Any])
        #expect((device["lastError"] as? String)?.contains("cannot open ALSA device 'hw:9,9'") == true, "\(device)")
        #expect(device["retryAt"] != nil)
        let ids = DaemonHarness.queueIDs(status) + [DaemonHarness.nowPlayingID(status)].compactMap { $0 }
        #expect(ids == ["keep-me"], "the item went back to the queue")
        let (_, metrics) = try await daemon.request("GET", "/metrics", role: "official")
        #expect(String(decoding: metrics, as: UTF8.self).contains("dalaba_device_up 0"))
        #expect(daemon.isRunning)
    }
}
