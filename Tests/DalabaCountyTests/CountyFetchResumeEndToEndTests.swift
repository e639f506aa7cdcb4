import DalabaTestSupport
import Foundation
import Testing

/// Issue 10: a county announcement whose audio is being fetched outlives the village's dalabad. Its `received` receipt is
/// already at the head-end (which then never publishes it again), so a kill -9 or a stop mid-fetch must resume the fetch at
/// the next start: it plays exactly once and its coverage ends `played`. One the county cancelled meanwhile stays cancelled.
@Suite(.serialized, .enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct CountyFetchResumeEndToEndTests {
    static let village = "370703001001"
    static let notice = String(repeating: "本周六上午九点在村委会开会，讨论灌溉渠的修缮和今年的防汛安排，请各户派一人参加。", count: 3)

    /// A county whose audio route is the trickling stand-in (Tests/Hostile/head_end_audio_trickle.py), one village on `null`.
    struct Fixture {
        let county: CountyHarness
        let server: Child
        let audioDirectory: URL
        var village: DaemonHarness { county.villages[CountyFetchResumeEndToEndTests.village]! }
        var url: String

        static func start(_ name: String) async throws -> Fixture {
            // Over the embed limit, so the village fetches the notice by URL.
            let county = try await CountyHarness(name: name, headEnd: "[audio]\nembed-max-bytes = 40000\n")
            let audioDirectory = county.stateDirectory.appendingPathComponent("audio")
            try FileManager.default.createDirectory(at: audioDirectory, withIntermediateDirectories: true)
            let script = Processes.packageRoot.appendingPathComponent("Tests/Hostile/head_end_audio_trickle.py").path
            let (server, port) = try await Processes.startListening("python3", [script, audioDirectory.path])
            let fixture = Fixture(
                county: county, server: server, audioDirectory: audioDirectory, url: "http://127.0.0.1:\(port)/slow")
            do {
                try await county.startHeadEnd(publicURL: fixture.url)
                try await county.startVillage(CountyFetchResumeEndToEndTests.village, headEndURL: fixture.url)
                try await county.waitForOnline(CountyFetchResumeEndToEndTests.village)
            } catch {
                await fixture.destroy()
                throw error
            }
            return fixture
        }

        func destroy() async {
            Processes.killTree(server)
            await county.destroy()
        }

        /// Publishes the notice and waits until the village's fetch of it trickles.
        func publishAndWaitForTheFetch(_ id: String) async throws {
            let json: [String: Any] = ["id": id, "kind": "routine", "text": notice, "to": [CountyFetchResumeEndToEndTests.village]]
            let (status, body) = try await county.request("POST", "/v1/announcements", token: "county", json: json)
            #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
            let published = try JSONSerialization.jsonObject(with: body) as? [String: Any]
            #expect((published?["audio"] as? [String: Any])?["embedded"] as? Bool == false, "\(published ?? [:])")
            let marker = audioDirectory.appendingPathComponent("fetching").path
            try await county.waitFor("the notice's audio fetch trickling", within: 60) { FileManager.default.fileExists(atPath: marker) }
        }

        /// The trickle ends: the rest of a running fetch, and every later one, is sent at once.
        func goFast() {
            FileManager.default.createFile(atPath: audioDirectory.appendingPathComponent("fast").path, contents: nil)
        }

        /// How many times the village asked for audio.
        var requests: Int {
            ((try? String(contentsOf: audioDirectory.appendingPathComponent("requests"), encoding: .utf8)) ?? "").split(separator: "\n").count
        }

        func restartVillage() async throws {
            try await county.startVillage(CountyFetchResumeEndToEndTests.village, headEndURL: url)
            try await county.waitForOnline(CountyFetchResumeEndToEndTests.village)
        }

        /// After the restart: played exactly once, and `played` at the head-end.
        func expectPlayedOnce(_ id: String, since logStart: String.Index) async throws {
            var rows: [(id: String, outcome: String, frames: Int64)] = []
            try await county.waitFor("one row of \(id) after the restart", within: 60) {
                rows = try await county.villageOutcomes(CountyFetchResumeEndToEndTests.village).filter { $0.id == id }
                return !rows.isEmpty
            }
            #expect(rows.map(\.outcome) == ["completed"], "\(rows)")
            #expect(rows.first.map { $0.frames > 0 } == true, "\(rows)")
            try await county.waitFor("\(id) played at the head-end", within: 60) {
                try await county.coverageStatuses(id) == [CountyFetchResumeEndToEndTests.village: "played"]
            }
            let log = village.log
            #expect(log[logStart...].contains("county audio fetches resumed"), "\(log[logStart...].suffix(4000))")
            #expect(try await county.villageOutcomes(CountyFetchResumeEndToEndTests.village).filter { $0.id == id }.count == 1)
        }
    }

    @Test(.timeLimit(.minutes(4))) func aKill9MidFetchResumesTheFetchAtTheNextStart() async throws {
        let fixture = try await Fixture.start("county-fetch-resume-kill")
        do {
            try await fixture.publishAndWaitForTheFetch("kill-notice")
            let village = fixture.village
            try await Processes.offPool { village.kill() }
            fixture.goFast()
            let logStart = village.log.endIndex
            try await fixture.restartVillage()
            try await fixture.expectPlayedOnce("kill-notice", since: logStart)
            #expect(fixture.requests == 2, "one fetch cut off by the kill, one resumed")
        } catch {
            await fixture.destroy()
            throw error
        }
        await fixture.destroy()
    }

    @Test(.timeLimit(.minutes(4))) func aStopMidFetchKeepsItForTheNextStart() async throws {
        let fixture = try await Fixture.start("county-fetch-resume-stop")
        do {
            try await fixture.publishAndWaitForTheFetch("stop-notice")
            let village = fixture.village
            let status = try await Processes.offPool { village.stop() }
            #expect(status == 0, "dalabad exits 0 on SIGTERM mid-fetch")
            #expect(village.log.contains("county audio fetches stopped; resumed at the next start"))
            fixture.goFast()
            let logStart = village.log.endIndex
            try await fixture.restartVillage()
            try await fixture.expectPlayedOnce("stop-notice", since: logStart)
            #expect(fixture.requests == 2, "one fetch cut off by the stop, one resumed")
        } catch {
            await fixture.destroy()
            throw error
        }
        await fixture.destroy()
    }

    /// The cancel is taken while the audio trickles; dalabad is killed at once, before or after its cancelled row is written.
    /// Either way the next start neither fetches the notice again nor queues it, and its one row is `cancelled`.
    @Test(.timeLimit(.minutes(4))) func aCancelMidFetchOutlivesAKill9() async throws {
        let fixture = try await Fixture.start("county-fetch-resume-cancel")
        do {
            try await fixture.publishAndWaitForTheFetch("cancel-notice")
            let village = fixture.village
            #expect(try await fixture.county.request("DELETE", "/v1/announcements/cancel-notice", token: "county").0 == 202)
            try await fixture.county.waitFor("the village taking the cancel", within: 60) {
                village.log.contains("county cancel of an announcement whose audio is being fetched")
            }
            try await Processes.offPool { village.kill() }
            // A fetch resumed by mistake would now finish at once and play.
            fixture.goFast()
            let logStart = village.log.endIndex
            try await fixture.restartVillage()
            var rows: [(id: String, outcome: String, frames: Int64)] = []
            try await fixture.county.waitFor("the notice's cancelled row", within: 60) {
                rows = try await fixture.county.villageOutcomes(Self.village).filter { $0.id == "cancel-notice" }
                return !rows.isEmpty
            }
            #expect(rows.map { "\($0.outcome) \($0.frames)" } == ["cancelled 0"], "\(rows)")
            let log = village.log
            #expect(!log[logStart...].contains("county audio fetches resumed"), "\(log[logStart...].suffix(4000))")
            #expect(!log.contains("id=cancel-notice kind="), "the notice was never queued at the station")
            #expect(fixture.requests == 1, "the notice's audio was not fetched again")
            #expect(try await fixture.county.villageOutcomes(Self.village).filter { $0.id == "cancel-notice" }.count == 1)
        } catch {
            await fixture.destroy()
            throw error
        }
        await fixture.destroy()
    }
}
