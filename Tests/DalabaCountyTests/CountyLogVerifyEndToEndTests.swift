import DalabaTestSupport
import Foundation
import Testing

/// Two county faults seen through real processes: `dalaba log verify` at the head-end names a village whose rows were
/// edited in PostgreSQL, and a village whose head-end answers its audio fetch with an endless body refuses it with the
/// reason, with bounded memory, while its own item plays on.
@Suite(.serialized, .enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct CountyLogVerifyEndToEndTests {
    static let edited = "370703001001"
    static let other = "370703002001"

    /// A short tone queued at the village itself: its row is one of the village's chain, sent to the county like any.
    static func playOwn(_ village: DaemonHarness, id: String, seconds: Double) async throws {
        try village.tone("\(id).wav", frequency: 440, seconds: seconds)
        let (status, body) = try await village.request(
            "POST", "/v1/announcements", role: "operator", body: Data(#"{"audio":"\#(id).wav","kind":"routine","id":"\#(id)"}"#.utf8))
        #expect(status == 201 || status == 202, "\(String(decoding: body, as: UTF8.self))")
    }

    func verify(_ county: CountyHarness, _ extra: [String] = []) async throws -> Processes.Result {
        try await Processes.run("dalaba", ["log", "verify", "--server", county.server, "--token", county.tokens["official"]!] + extra, timeout: 30)
    }

    @Test(.timeLimit(.minutes(4))) func aVillageWhoseRowWasEditedInPostgresIsNamedAndTheExitStatusIs3() async throws {
        let county = try await CountyHarness(name: "county-verify")
        do {
            try await county.startHeadEnd()
            for code in [Self.edited, Self.other] { try await county.startVillage(code) }
            // One village turned down, so its row's volume is known on the county's console page.
            let (turned, _) = try await county.villages[Self.edited]!.request(
                "POST", "/v1/volume", role: "admin", body: Data(#"{"base": -6.5}"#.utf8))
            #expect(turned == 200)
            for code in [Self.edited, Self.other] { try await Self.playOwn(county.villages[code]!, id: "own-\(code.suffix(3))", seconds: 0.3) }
            var rows = 0
            for code in [Self.edited, Self.other] {
                try await county.waitFor("\(code)'s row played and stored at the head-end", within: 60) {
                    let log = try await county.villageLog(code)
                    guard let last = log.map(\.seq).max(), log.contains(where: { $0.id.hasPrefix("own-") }) else { return false }
                    return try await county.postgres.scalar("SELECT coalesce(max(seq), 0) FROM airtime_row WHERE village = '\(code)'") == "\(last)"
                }
                rows += Int(try await county.postgres.scalar("SELECT count(*) FROM airtime_row WHERE village = '\(code)'")) ?? 0
            }

            // The console's airtime log page shows the volume the row played at.
            #expect(try await county.postgres.scalar("SELECT volume FROM airtime_row WHERE village = '\(Self.edited)' AND seq = 1") == "-650")
            let (pageStatus, page) = try await county.request("GET", "/log", token: "official")
            let html = String(decoding: page, as: UTF8.self)
            let start = try #require(html.range(of: "data-village=\"\(Self.edited)\" data-seq=\"1\""), "\(pageStatus) \(html.prefix(2000))")
            let end = try #require(html.range(of: "</tr>", range: start.upperBound..<html.endIndex))
            let row = html[start.lowerBound..<end.upperBound]
            #expect(row.contains("<td class=\"num volume\">-6.50 dB</td>"), "\(row)")

            let intact = try await verify(county)
            #expect(intact.status == 0, "\(intact.stdout)\(intact.stderr)")
            #expect(intact.stdout.contains("intact: 5 villages, \(rows) rows checked (county 370703, region 370703)"), "\(intact.stdout)")

            _ = try await county.postgres.scalar("UPDATE airtime_row SET frames = frames + 1 WHERE village = '\(Self.edited)' AND seq = 1")
            let broken = try await verify(county)
            #expect(broken.status == 3, "\(broken.stdout)\(broken.stderr)")
            #expect(broken.stdout.contains("NOT INTACT \(Self.edited): row 1 was edited: its content no longer matches its hash"), "\(broken.stdout)")
            #expect(broken.stdout.contains("NOT INTACT: 1 of 5 villages, \(rows) rows checked"), "\(broken.stdout)")
            #expect(!broken.stdout.contains("NOT INTACT \(Self.other)"), "\(broken.stdout)")
            #expect(broken.stderr.contains("is NOT intact: \(Self.edited)"), "\(broken.stderr)")
            // The other township's chains are intact: --region asks the head-end for those only.
            let township = try await verify(county, ["--region", "370703002"])
            #expect(township.status == 0 && township.stdout.contains("intact: 2 villages"), "\(township.stdout)\(township.stderr)")
            let csv = try await verify(county, ["--format", "csv"])
            #expect(csv.status == 3 && csv.stdout.contains("\(Self.edited),false,"), "\(csv.stdout)")
            // The first row at fault as a field, not only in the fault's text.
            let json = try await verify(county, ["--format", "json"])
            let answer = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let chains = answer?["villages"] as? [[String: Any]] ?? []
            #expect(chains.first { $0["village"] as? String == Self.edited }?["firstBadSeq"] as? Int == 1, "\(json.stdout)")
            #expect(chains.first { $0["village"] as? String == Self.other }?["firstBadSeq"] == nil, "\(json.stdout)")
            #expect(broken.stdout.contains("    first row at fault: 1"), "\(broken.stdout)")

            // A station still answers as a station, and --region is refused there.
            let station = try await county.villages[Self.other]!.dalaba(["log", "verify"], role: "official")
            #expect(station.status == 0 && station.stdout.hasPrefix("intact: ") && station.stdout.contains("head: "), "\(station.stdout)")
            let misdirected = try await county.villages[Self.other]!.dalaba(["log", "verify", "--region", "370703002"], role: "official")
            #expect(misdirected.status != 0 && misdirected.stderr.contains("--region is for a county head-end"), "\(misdirected.stderr)")
        } catch {
            await county.destroy()
            throw error
        }
        await county.destroy()
    }

    @Test(.timeLimit(.minutes(4))) func anEndlessAudioBodyIsRefusedWithItsReasonWhileTheVillagePlaysOn() async throws {
        let (server, port) = try await Processes.startListening(
            "python3", [Processes.packageRoot.appendingPathComponent("Tests/Hostile/county_audio_server.py").path])
        defer { Processes.killTree(server) }
        let hostile = "http://127.0.0.1:\(port)/endless"

        let county = try await CountyHarness(name: "county-hostile-audio", headEnd: "[audio]\nembed-max-bytes = 1024\n")
        do {
            try await county.startHeadEnd(publicURL: hostile)
            try await county.startVillage(Self.edited, headEndURL: hostile)
            let village = try #require(county.villages[Self.edited])
            try await county.waitForOnline(Self.edited)
            try await Self.playOwn(village, id: "own-before", seconds: 4)

            let pidText = try String(contentsOfFile: village.stateDirectory.appendingPathComponent("dalabad.lock").path, encoding: .utf8)
            let pid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
            let baseline = try #require(Self.residentBytes(pid))
            let (status, body) = try await county.request(
                "POST", "/v1/announcements", token: "county",
                json: ["id": "hostile-audio", "kind": "policy", "text": "这段录音的下载地址被人换成了无底洞。", "to": [Self.edited]])
            #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
            let accepted = try JSONSerialization.jsonObject(with: body) as? [String: Any]
            #expect((accepted?["audio"] as? [String: Any])?["embedded"] as? Bool == false, "\(accepted ?? [:])")
            var peak = baseline
            var reason = ""
            try await county.waitFor("the refusal reported to the county", within: 60) {
                if let now = Self.residentBytes(pid) { peak = max(peak, now) }
                reason = try await county.postgres.scalar(
                    "SELECT coalesce(max(reason), '') FROM receipt WHERE announcement_id = 'hostile-audio' AND stage = 'failed'")
                return !reason.isEmpty
            }
            #expect(reason.contains("county audio \(hostile)/v1/audio/") && reason.contains("sent more than"), "\(reason)")
            #expect(peak - baseline < 50 << 20, "the village grew by \((peak - baseline) >> 20) MiB")
            #expect(try await county.coverageStatuses("hostile-audio") == [Self.edited: "failed"])
            #expect(village.log.contains("county audio unusable"), "the refusal is in the village's log")

            // Its own items play, whole, before and after; the county item has a failed row of no frames.
            try await Self.playOwn(village, id: "own-after", seconds: 4)
            try await county.waitFor("its own item after the refusal logged", within: 30) {
                try await county.villageOutcomes(Self.edited).contains { $0.id == "own-after" }
            }
            let rows = try await county.villageOutcomes(Self.edited)
            for id in ["own-before", "own-after"] {
                #expect(rows.filter { $0.id == id }.map { "\($0.outcome) \($0.frames)" } == ["completed \(4 * 48_000)"], "\(rows)")
            }
            #expect(rows.filter { $0.id == "hostile-audio" }.map { "\($0.outcome) \($0.frames)" } == ["failed 0"], "\(rows)")
            let cache = village.stateDirectory.appendingPathComponent("county-audio").path
            #expect((try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? [] == [], "nothing half-written in the cache")
        } catch {
            await county.destroy()
            throw error
        }
        await county.destroy()
    }

    static func residentBytes(_ pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "").map { $0 * 1024 }
    }
}
