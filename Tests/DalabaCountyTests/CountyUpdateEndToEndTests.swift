import DalabaLink
import DalabaTestSupport
import Foundation
import Testing

/// `dalaba update` against the head-end, through real processes: the signed update reaches the village, which changes the
/// waiting item in one step (no cancelled copy in its log); 404, 409 and 403 come back as one clear line.
@Suite(.serialized, .enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct CountyUpdateEndToEndTests {
    @Test func updateAtTheHeadEndReachesTheVillageInOneStep() async throws {
        let county = try await CountyHarness(name: "county-update")
        do {
            try await run(county)
        } catch {
            await county.destroy()
            throw error
        }
        await county.destroy()
    }

    func dalaba(_ county: CountyHarness, _ arguments: [String], token: String = "county") async throws -> Processes.Result {
        try await Processes.run("dalaba", arguments + ["--server", county.server, "--token", county.tokens[token]!], timeout: 60)
    }

    func run(_ county: CountyHarness) async throws {
        let village = CountyHarness.townshipOne[0]
        try await county.startHeadEnd()
        try await county.startVillage(village)
        let start = Date().addingTimeInterval(3_600)
        let (posted, body) = try await county.request(
            "POST", "/v1/announcements", token: "county",
            json: ["id": "meeting", "kind": "policy", "title": "开会", "text": "下午开会。", "notBefore": CountyControlEndToEndTests.iso(start)])
        #expect(posted == 202, "\(String(decoding: body, as: UTF8.self))")
        try await county.waitFor("meeting queued at the village", within: 60) { try await county.villageQueue(village).map(\.id) == ["meeting"] }

        let expires = start.addingTimeInterval(1_800)
        let updated = try await dalaba(county, ["update", "meeting", "--title", "改期开会", "--expires", CountyControlEndToEndTests.iso(expires)])
        #expect(updated.status == 0, "\(updated.stderr)")
        #expect(updated.stdout.hasPrefix("update sent (message "), "\(updated.stdout)")
        #expect(updated.stdout.contains(") to 370703: 5 villages"), "\(updated.stdout)")
        try await county.waitFor("the new title at the village", within: 30) {
            guard let item = try await county.villageQueue(village).first, item.title == "改期开会", let at = item.expires.flatMap(LinkJSON.parse) else {
                return false
            }
            return abs(at.timeIntervalSince(expires)) < 1
        }
        // One step: no cancelled copy in the village's log, nothing but received and queued at the county.
        #expect(try await county.villageOutcomes(village).filter { $0.id == "meeting" }.isEmpty)
        #expect(try await county.postgres.scalar("SELECT title FROM announcement WHERE id = 'meeting'") == "改期开会")

        let unknown = try await dalaba(county, ["update", "nobody", "--title", "x"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no county announcement has id nobody"), "\(unknown.stderr)")
        let reader = try await dalaba(county, ["update", "meeting", "--title", "x"], token: "official")
        #expect(reader.status == 1 && !reader.stderr.isEmpty, "\(reader.stderr)")
        #expect(try await dalaba(county, ["cancel", "meeting"]).status == 0)
        let cancelled = try await dalaba(county, ["update", "meeting", "--title", "x"])
        #expect(cancelled.status == 1)
        #expect(cancelled.stderr.contains("was cancelled: there is nothing to update"), "\(cancelled.stderr)")
    }
}
