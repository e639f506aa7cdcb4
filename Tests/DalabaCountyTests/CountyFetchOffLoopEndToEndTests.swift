import DalabaTestSupport
import Foundation
import Testing

/// Issue 10: a village fetches an announcement's audio off its link's loop, so a head-end trickling one notice's audio holds
/// back no later county message: an emergency with embedded audio goes on air at once, and a cancel of the notice is honoured
/// while its fetch runs (the notice never plays and has a cancelled row).
@Suite(.serialized, .enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct CountyFetchOffLoopEndToEndTests {
    static let village = "370703001001"

    @Test(.timeLimit(.minutes(4))) func anEmergencyAndACancelAreNotHeldBehindATricklingAudioFetch() async throws {
        let county = try await CountyHarness(name: "county-fetch-off-loop", headEnd: "[audio]\nembed-max-bytes = 40000\n")
        let audioDirectory = county.stateDirectory.appendingPathComponent("audio")
        try FileManager.default.createDirectory(at: audioDirectory, withIntermediateDirectories: true)
        // The trickling head-end of Tests/Hostile: one byte a second, `fetching` touched when a fetch starts.
        let script = Processes.packageRoot.appendingPathComponent("Tests/Hostile/head_end_audio_trickle.py")
        let (server, port) = try await Processes.startListening("python3", [script.path, audioDirectory.path])
        defer { Processes.killTree(server) }
        let slow = "http://127.0.0.1:\(port)/slow"
        do {
            try await county.startHeadEnd(publicURL: slow)
            try await county.startVillage(Self.village, headEndURL: slow)
            let village = try #require(county.villages[Self.village])
            try await county.waitForOnline(Self.village)

            let text = String(repeating: "本周六上午九点在村委会开会，讨论灌溉渠的修缮和今年的防汛安排，请各户派一人参加。", count: 3)
            let (status, body) = try await county.request(
                "POST", "/v1/announcements", token: "county", json: ["id": "slow-notice", "kind": "routine", "text": text, "to": [Self.village]])
            #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
            let notice = try JSONSerialization.jsonObject(with: body) as? [String: Any]
            #expect((notice?["audio"] as? [String: Any])?["embedded"] as? Bool == false, "\(notice ?? [:])")
            let marker = audioDirectory.appendingPathComponent("fetching").path
            try await county.waitFor("the notice's audio fetch trickling", within: 60) { FileManager.default.fileExists(atPath: marker) }

            let published = Date()
            let (emergencyStatus, emergencyBody) = try await county.request(
                "POST", "/v1/announcements", token: "county", json: ["id": "flood", "kind": "emergency", "level": 1, "text": "洪水，转移。", "to": [Self.village]])
            #expect(emergencyStatus == 202, "\(String(decoding: emergencyBody, as: UTF8.self))")
            let emergency = try JSONSerialization.jsonObject(with: emergencyBody) as? [String: Any]
            #expect((emergency?["audio"] as? [String: Any])?["embedded"] as? Bool == true, "\(emergency ?? [:])")
            // The null device is not paced, so the emergency's play is seen in its `on-air` receipt at the head-end.
            var onAirAfter: TimeInterval = .infinity
            try await county.waitFor("the emergency on air", within: 60) {
                guard try await county.postgres.scalar("SELECT count(*) FROM receipt WHERE announcement_id = 'flood' AND stage = 'on-air'") != "0"
                else { return false }
                onAirAfter = Date().timeIntervalSince(published)
                return true
            }
            // The notice's fetch would take about 30 s (its time allowed); the old inline fetch held the emergency that long.
            #expect(onAirAfter < 5, "the emergency went on air \(onAirAfter) s after its publish")

            // Cancelled while its audio still trickles: it never plays, and its row says the county cancelled it before play.
            let cancelled = Date()
            #expect(try await county.request("DELETE", "/v1/announcements/slow-notice", token: "county").0 == 202)
            var rows: [(id: String, outcome: String, frames: Int64)] = []
            try await county.waitFor("the notice's cancelled row", within: 60) {
                rows = try await county.villageOutcomes(Self.village)
                return rows.contains { $0.id == "slow-notice" }
            }
            #expect(Date().timeIntervalSince(cancelled) < 20, "the cancel was taken in \(Date().timeIntervalSince(cancelled)) s")
            #expect(rows.filter { $0.id == "slow-notice" }.map { "\($0.outcome) \($0.frames)" } == ["cancelled 0"], "\(rows)")
            try await county.waitFor("the emergency's end", within: 60) {
                try await county.villageOutcomes(Self.village).contains { $0.id == "flood" }
            }
            #expect(!village.log.contains("id=slow-notice kind="), "the notice was never queued at the station")
            #expect(village.log.contains("county cancel of an announcement whose audio is being fetched"))
            #expect(try await county.villageOutcomes(Self.village).filter { $0.id == "slow-notice" }.count == 1)
        } catch {
            await county.destroy()
            throw error
        }
        await county.destroy()
    }
}
