import DalabaTestSupport
import Foundation
import Testing

/// `dalaba update` against a real dalabad, and the update as one step: a kill -9 at any instant of it leaves the waiting
/// item as the old version or the new one, never missing.
@Suite(.serialized) struct UpdateEndToEndTests {
    static func queued(_ status: [String: Any]) -> [[String: Any]] { (status["queue"] as? [[String: Any]]) ?? [] }

    @Test func updateChangesTheWaitingItemInPlaceAndNamesWhatIsWrong() async throws {
        let daemon = try DaemonHarness(name: "update")
        try daemon.tone("notice.wav", frequency: 440, seconds: 1)
        try await daemon.start()
        defer { daemon.stop() }
        for id in ["first", "notice", "last"] {
            let queued = try await daemon.dalaba(["queue", "notice.wav", "--kind", "policy", "--id", id, "--title", "旧标题 \(id)", "--not-before", "+1h"])
            #expect(queued.status == 0, "\(queued.stderr)")
        }

        let updated = try await daemon.dalaba(["update", "notice", "--title", "新标题", "--expires", "+3h"])
        #expect(updated.status == 0, "\(updated.stderr)")
        #expect(updated.stdout.contains("updated notice: position 1 in the queue"), "\(updated.stdout)")
        let items = Self.queued(try await daemon.status())
        #expect(items.compactMap { $0["id"] as? String } == ["first", "notice", "last"], "it keeps its place in line")
        #expect(items.compactMap { $0["title"] as? String } == ["旧标题 first", "新标题", "旧标题 last"])
        #expect(items[1]["expires"] != nil)

        // 422: the end time would come before the item may start; the item is unchanged.
        let early = try await daemon.dalaba(["update", "notice", "--expires", "+30m"])
        #expect(early.status == 1)
        #expect(early.stderr.contains("expires") && early.stderr.contains("not after not-before"), "\(early.stderr)")
        // 404: nothing has the id.
        let unknown = try await daemon.dalaba(["update", "nobody", "--title", "x"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no queued or playing announcement has id nobody"), "\(unknown.stderr)")
        // Strict: nothing to change, or a key the update does not take.
        #expect(try await daemon.dalaba(["update", "notice"]).status != 0)
        let (status, body) = try await daemon.request(
            "PATCH", "/v1/announcements/notice", role: "operator", body: Data(#"{"title":"x","kind":"emergency"}"#.utf8))
        #expect(status == 400, "\(String(decoding: body, as: UTF8.self))")
        // An official may read but not change.
        #expect(try await daemon.dalaba(["update", "notice", "--title", "x"], role: "official").status == 1)
        #expect(Self.queued(try await daemon.status()).compactMap { $0["title"] as? String } == ["旧标题 first", "新标题", "旧标题 last"])

        // An end time already past is before this item's not-before, too: refused, not taken as an expiry.
        let (pastStatus, pastBody) = try await daemon.request(
            "PATCH", "/v1/announcements/last", role: "operator", body: Data(#"{"expires":"2020-01-01T00:00:00Z"}"#.utf8))
        #expect(pastStatus == 422, "before its not-before: \(String(decoding: pastBody, as: UTF8.self))")
    }

    @Test func aKill9AtAnyInstantOfAnUpdateLeavesTheOldVersionOrTheNewNeverNeither() async throws {
        let daemon = try DaemonHarness(name: "update-kill")
        try daemon.tone("notice.wav", frequency: 440, seconds: 1)
        try await daemon.start()
        defer { daemon.kill() }
        #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "policy", "--id", "notice", "--title", "v0", "--not-before", "+1h"]).status == 0)
        var titles: [String] = []
        // Round "held": the daemon is stopped (SIGSTOP) with the request in its socket and killed there, so the update never
        // ran: the old version. Rounds of a few milliseconds: the kill lands before, during or after the commit. Round
        // "answered": killed after the 200, so the new version.
        let rounds: [(String, Int?)] = [("held", nil), ("0 ms", 0), ("1 ms", 1), ("2 ms", 2), ("4 ms", 4), ("8 ms", 8), ("answered", nil)]
        for (round, (name, delay)) in rounds.enumerated() {
            let title = "v\(round + 1)"
            let previous = titles.last ?? "v0"
            if name == "held" { daemon.signal(SIGSTOP) }
            let body = Data(#"{"title":"\#(title)"}"#.utf8)
            let request = Task { try? await daemon.request("PATCH", "/v1/announcements/notice", role: "operator", body: body) }
            var answered: Int?
            if let delay {
                try await Task.sleep(for: .milliseconds(delay))
            } else if name == "held" {
                try await Task.sleep(for: .milliseconds(100))
            } else {
                answered = await request.value?.0
            }
            await daemon.kill()
            _ = await request.value
            try await daemon.start()
            let items = Self.queued(try await daemon.status())
            let now = items.compactMap { $0["title"] as? String }
            #expect(items.compactMap { $0["id"] as? String } == ["notice"], "round \(name): the item is there, once")
            #expect(now == [previous] || now == [title], "round \(name): \(now), expected \(previous) or \(title)")
            if name == "held" { #expect(now == [previous], "an update the daemon never read changes nothing") }
            if name == "answered" {
                #expect(answered == 200)
                #expect(now == [title], "an update answered 200 is on disk")
            }
            titles.append(now.first ?? "missing")
        }
        // No cancel and re-queue happened: the log has no row for the item at all.
        let (_, log) = try await daemon.request("GET", "/v1/log", role: "official")
        #expect(!String(decoding: log, as: UTF8.self).contains("\"notice\""), "\(String(decoding: log, as: UTF8.self).prefix(400))")
    }
}
