import DalabaLink
import DalabaTestSupport
import Foundation
import Testing

/// A county of real processes: broker, PostgreSQL, `dalaba-county` and five `dalabad` villages in two townships.
@Suite(.serialized, .enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct CountyEndToEndTests {
    /// Every village's rows are in PostgreSQL exactly once and the county's totals equal the sum of the villages' own logs.
    func checkRowsExactlyOnce(_ county: CountyHarness) async throws {
        var villageTotal: Int64 = 0
        for code in CountyHarness.allVillages {
            let log = try await county.villageLog(code)
            let lastSeq = log.map(\.seq).max() ?? 0
            try await county.waitFor("\(code)'s rows through \(lastSeq) stored", within: 30) {
                let villages = try await county.getJSON("/v1/villages")["villages"] as? [[String: Any]] ?? []
                let row = villages.first { $0["code"] as? String == code }
                return (row?["confirmedSeq"] as? NSNumber)?.int64Value == lastSeq
            }
            let stored = try await county.postgres.scalar("SELECT count(*), count(DISTINCT seq), coalesce(sum(frames), 0) FROM airtime_row WHERE village = '\(code)'")
            let frames = log.map(\.frames).reduce(0, +)
            #expect(stored == "\(log.count)|\(log.count)|\(frames)", "village \(code)")
            villageTotal += frames
        }
        let report = try await county.getJSON("/v1/report?by=township")
        let total = report["total"] as? [String: Any]
        #expect(((total?["frames"] as? NSNumber)?.int64Value ?? -1) + ((total?["drillFrames"] as? NSNumber)?.int64Value ?? 0) == villageTotal)
        #expect(try await county.postgres.scalar("SELECT count(*) FROM village WHERE chain_fault IS NOT NULL") == "0")
    }

    @Test func aCountyNoticePlaysEverywhereATownshipEmergencyOnlyThere() async throws {
        let county = try await CountyHarness(name: "county-fanout")
        do {
            try await county.startHeadEnd()
            for code in CountyHarness.allVillages { try await county.startVillage(code) }
            try await county.waitFor("all five villages online") {
                let villages = try await county.getJSON("/v1/villages")["villages"] as? [[String: Any]] ?? []
                return villages.count == 5 && villages.allSatisfy { $0["online"] as? Bool == true }
            }

            // A county-wide policy notice, spoken once at the head-end.
            let (status, body) = try await county.request(
                "POST", "/v1/announcements", token: "county", json: ["id": "notice-1", "kind": "policy", "text": "全县通知：明天停水。", "title": "停水通知"])
            #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
            let accepted = try JSONSerialization.jsonObject(with: body) as? [String: Any]
            #expect(accepted?["targets"] as? [String] == ["370703"])
            #expect((accepted?["villages"] as? [String])?.count == 5)
            #expect(accepted?["tier"] as? String == "county")
            try await county.waitFor("notice-1 played in all five") {
                let statuses = try await county.coverageStatuses("notice-1")
                return statuses.count == 5 && statuses.values.allSatisfy { $0 == "played" }
            }

            // The same id again: nothing is sent again.
            let (again, againBody) = try await county.request(
                "POST", "/v1/announcements", token: "county", json: ["id": "notice-1", "kind": "policy", "text": "全县通知：明天停水。"])
            #expect(again == 200 && String(decoding: againBody, as: UTF8.self).contains("\"duplicate\""))

            // A township operator may not reach the other township, nor ask for county tier; tier and scope are the token's.
            let (outside, _) = try await county.request(
                "POST", "/v1/announcements", token: "township2", json: ["kind": "emergency", "level": 1, "text": "越权", "to": ["370703001"]])
            #expect(outside == 403)
            let (higher, _) = try await county.request(
                "POST", "/v1/announcements", token: "township2", json: ["kind": "emergency", "level": 1, "text": "越级", "tier": "county"])
            #expect(higher == 403)
            let (official, _) = try await county.request("POST", "/v1/announcements", token: "official", json: ["kind": "policy", "text": "x"])
            #expect(official == 403)

            // The township emergency, with the township operator's token and no `to`: its own township, at township tier.
            let (emergency, emergencyBody) = try await county.request(
                "POST", "/v1/announcements", token: "township2", json: ["id": "flood-1", "kind": "emergency", "level": 1, "text": "洪水预警，立即转移。"])
            #expect(emergency == 202, "\(String(decoding: emergencyBody, as: UTF8.self))")
            let flood = try JSONSerialization.jsonObject(with: emergencyBody) as? [String: Any]
            #expect(flood?["villages"] as? [String] == CountyHarness.townshipTwo)
            #expect(flood?["tier"] as? String == "township")
            try await county.waitFor("flood-1 played in township two") {
                try await county.coverageStatuses("flood-1") == ["370703002001": "played", "370703002002": "played"]
            }
            let coverage = try await county.getJSON("/v1/coverage/flood-1")
            #expect(coverage["targeted"] as? Int == 2)
            for line in coverage["villages"] as? [[String: Any]] ?? [] {
                let seconds = (line["timeToFirstAudio"] as? NSNumber)?.doubleValue ?? -1
                #expect(seconds > 0 && seconds < 30, "time to first audio \(seconds)")
                #expect(((line["frames"] as? NSNumber)?.int64Value ?? 0) > 0)
            }
            // A township official sees only its own township's villages.
            let township1 = try await county.getJSON("/v1/villages", token: "township1-official")["villages"] as? [[String: Any]] ?? []
            #expect(township1.compactMap { $0["code"] as? String } == CountyHarness.townshipOne)

            for code in CountyHarness.allVillages {
                let ids = try await county.villageLog(code).map(\.id)
                #expect(ids.filter { $0 == "notice-1" }.count == 1, "\(code): \(ids)")
                #expect(ids.filter { $0 == "flood-1" }.count == (CountyHarness.townshipTwo.contains(code) ? 1 : 0), "\(code): \(ids)")
            }
            try await checkRowsExactlyOnce(county)

            // The last will: a village killed is marked offline at once.
            await county.villages["370703001003"]!.kill()
            try await county.waitFor("the killed village offline", within: 90) {
                let villages = try await county.getJSON("/v1/villages")["villages"] as? [[String: Any]] ?? []
                return villages.first { $0["code"] as? String == "370703001003" }?["online"] as? Bool == false
            }
        } catch {
            await county.destroy()
            throw error
        }
        await county.destroy()
    }

    /// PostgreSQL stopped and restarted: rows made meanwhile arrive late, none twice. The head-end killed -9 with its outbox
    /// entries still open (as after a kill between the broker's ack and recording it): on restart it publishes the same
    /// message again, and no village plays it twice.
    @Test func postgresDownAndHeadEndKilledLoseNothingAndDoubleNothing() async throws {
        let county = try await CountyHarness(name: "county-faults")
        do {
            try await county.startHeadEnd()
            let villages = ["370703001001", "370703002001"]
            for code in villages { try await county.startVillage(code) }
            try await county.waitFor("the villages online") {
                let list = try await county.getJSON("/v1/villages")["villages"] as? [[String: Any]] ?? []
                return list.filter { $0["online"] as? Bool == true }.count == 2
            }
            let (status, body) = try await county.request(
                "POST", "/v1/announcements", token: "county", json: ["id": "once-1", "kind": "policy", "text": "只播一次。", "to": villages])
            #expect(status == 202, "\(String(decoding: body, as: UTF8.self))")
            try await county.waitFor("once-1 played in both") {
                try await county.coverageStatuses("once-1") == ["370703001001": "played", "370703002001": "played"]
            }

            // kill -9 with the outbox entries open again: the restarted head-end publishes the very same message. They are
            // opened once it is dead: opened before, its 2 s look at the outbox could publish them first (CI once saw four
            // refusals, two from each head-end).
            await county.killHeadEnd()
            #expect(try await county.postgres.scalar("WITH u AS (UPDATE outbox SET published_at = NULL RETURNING 1) SELECT count(*) FROM u") == "2")
            try await county.startHeadEnd()
            try await county.waitFor("the outbox published again") {
                try await county.postgres.scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL") == "0"
            }
            let refusals = "SELECT count(*) FROM receipt WHERE stage = 'refused' AND reason = 'replayed'"
            try await county.waitFor("the replay refused by both villages") { Int(try await county.postgres.scalar(refusals)) ?? 0 >= 2 }
            let receipts = try await county.postgres.scalar(
                "SELECT string_agg(village || ' ' || stage || ' ' || coalesce(reason, '') || ' at ' || at, '; ') FROM receipt WHERE announcement_id = 'once-1'")
            #expect(try await county.postgres.scalar(refusals) == "2", "one replay, one refusal per village: \(receipts)")
            for code in villages {
                #expect(try await county.villageLog(code).filter { $0.id == "once-1" }.count == 1)
            }

            // PostgreSQL down: villages keep playing their own items, and their rows wait.
            await county.postgres.kill()
            for code in villages {
                let (queued, _) = try await county.villages[code]!.request(
                    "POST", "/v1/announcements", role: "operator", body: Data(#"{"kind":"policy","text":"本村通知。","id":"local-\#(code)"}"#.utf8))
                #expect((200..<300).contains(queued))
            }
            for code in villages {
                try await county.waitFor("\(code)'s local item logged", within: 30) {
                    try await county.villageLog(code).contains { $0.id == "local-\(code)" }
                }
            }
            try await county.postgres.start()
            // Once PostgreSQL is back the head-end's pool is fresh within a second or two, it confirms what it holds, and the
            // villages resend the rest at once (not after their 60 s confirm patience): all of it arrives, once.
            try await county.waitFor("the late rows stored", within: 30) {
                try await county.postgres.scalar("SELECT count(*) FROM airtime_row WHERE announcement_id LIKE 'local-%'") == "2"
            }
            for code in villages {
                let log = try await county.villageLog(code)
                let stored = try await county.postgres.scalar("SELECT count(*), count(DISTINCT seq), sum(frames) FROM airtime_row WHERE village = '\(code)'")
                #expect(stored == "\(log.count)|\(log.count)|\(log.map(\.frames).reduce(0, +))")
            }
        } catch {
            await county.destroy()
            throw error
        }
        await county.destroy()
    }
}
