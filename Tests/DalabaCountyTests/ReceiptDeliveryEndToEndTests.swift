import DalabaLink
import DalabaTestSupport
import Foundation
import Logging
import Testing

/// Receipts and announcements that the broker acknowledged but that did not arrive, through real processes: a broker,
/// PostgreSQL, `dalaba-county` and two `dalabad` villages.
@Suite(.serialized, .enabled(if: PostgresCluster.isAvailable, "needs PostgreSQL 15 (apt-get install postgresql)"))
struct ReceiptDeliveryEndToEndTests {
    static func iso(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    func post(_ county: CountyHarness, _ json: [String: Any]) async throws -> [String: Any] {
        let (status, body) = try await county.request("POST", "/v1/announcements", token: "county", json: json)
        guard status == 202 else { throw BrokerFixtureError("POST \(json): \(status) \(String(decoding: body, as: UTF8.self))") }
        return (try JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:]
    }

    func online(_ county: CountyHarness) async throws -> Set<String> {
        let villages = try await county.getJSON("/v1/villages")["villages"] as? [[String: Any]] ?? []
        return Set(villages.filter { $0["online"] as? Bool == true }.compactMap { $0["code"] as? String })
    }

    /// What waits in a village's SQLite outbox (read beside the running daemon; the store is in WAL mode).
    func outboxCount(_ county: CountyHarness, _ code: String) async throws -> String {
        try await outbox(county, code, "SELECT count(*) FROM linkOutbox")
    }

    func outbox(_ county: CountyHarness, _ code: String, _ sql: String) async throws -> String {
        let path = county.villages[code]!.stateDirectory.appendingPathComponent("station.sqlite").path
        let result = try await Processes.run("sqlite3", [path, sql], timeout: 10)
        guard result.status == 0 else { throw BrokerFixtureError("sqlite3 \(path): \(result.stderr)") }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func run(_ name: String, headEnd: String = "", _ body: (CountyHarness) async throws -> Void) async throws {
        let county = try await CountyHarness(name: name, headEnd: headEnd)
        do {
            try await body(county)
        } catch {
            await county.destroy()
            throw error
        }
        await county.destroy()
    }

    /// PostgreSQL down while two villages play a notice: their on-air and completed receipts reach the head-end (the broker
    /// has its PUBACK) but cannot be written; the head-end is then killed -9 with them in its buffers. Back up, every stage
    /// of the notice is in PostgreSQL exactly once for both villages, and the villages' outboxes are empty.
    ///
    /// Before receipts were confirmed this failed: a village deleted each receipt at the broker's PUBACK, so the two stages
    /// the head-end held were gone for good and the count stayed at the 4 receipts written before PostgreSQL went down.
    @Test func receiptsAHeadEndHeldWhenKilledArriveExactlyOnce() async throws {
        try await run("county-receipts-kill") { county in
            let pair = [CountyHarness.townshipOne[0], CountyHarness.townshipTwo[0]]
            try await county.startHeadEnd()
            for code in pair { try await county.startVillage(code) }
            try await county.waitFor("both villages online") { try await online(county) == Set(pair) }

            // Played 8 s from now: received and queued are written at once, on air and completed while PostgreSQL is down.
            _ = try await post(
                county, ["id": "receipts-kill", "kind": "policy", "text": "短通知。", "to": pair, "notBefore": Self.iso(Date().addingTimeInterval(8))])
            try await county.waitFor("received and queued stored", within: 30) {
                try await county.postgres.scalar("SELECT count(*) FROM receipt WHERE announcement_id = 'receipts-kill'") == "4"
            }
            await county.postgres.kill()
            try await county.waitFor("played in both villages", within: 40) {
                for code in pair where try await county.villageOutcomes(code).filter({ $0.id == "receipts-kill" }).map(\.outcome) != ["completed"] {
                    return false
                }
                return true
            }
            // The head-end has taken both later stages of both villages (libmosquitto acknowledged them on reading).
            try await county.waitFor("the head-end holding on-air and completed of both", within: 30) {
                let lines = county.log.split(separator: "\n").filter { $0.contains("receipt taken") && $0.contains("announcement=receipts-kill") }
                return pair.allSatisfy { code in
                    ["on-air", "completed"].allSatisfy { stage in lines.contains { $0.contains("village=\(code)") && $0.contains("stage=\(stage)") } }
                }
            }
            let taken = Date()
            await county.killHeadEnd()
            for code in pair {
                let kept = try await outbox(county, code, "SELECT group_concat(json_extract(CAST(payload AS TEXT), '$.stage')) FROM linkOutbox")
                #expect(kept.contains("on-air") && kept.contains("completed"), "\(code) keeps what was not confirmed: \(kept)")
            }

            try await Processes.offPool { try county.postgres.start() }
            // The restarted head-end confirms every village at once; a village then publishes again what it sent more than
            // `ReceiptOutbox.Settings.promptGrace` (5 s) before and has no confirm of, and anything newer after its 60 s
            // patience. The head-end starts once the receipts it held are that old, so the test sees the prompt path.
            let age = Date().timeIntervalSince(taken)
            if age < 6 { try await Task.sleep(for: .seconds(6 - age)) }
            try await county.startHeadEnd()
            try await county.waitFor("every stage of both villages stored", within: 40) {
                try await county.postgres.scalar("SELECT count(*) FROM receipt WHERE announcement_id = 'receipts-kill'") == "8"
            }
            for code in pair {
                let stages = try await county.postgres.scalar(
                    "SELECT string_agg(stage, ',' ORDER BY stage) FROM receipt WHERE announcement_id = 'receipts-kill' AND village = '\(code)'")
                #expect(stages == "completed,on-air,queued,received", "\(code)")
            }
            try await county.waitFor("the villages' outboxes confirmed empty", within: 30) {
                for code in pair where try await outboxCount(county, code) != "0" { return false }
                return true
            }
            // Nothing counted twice: one row per village, and still one receipt per stage.
            try await county.waitFor("both rows stored", within: 60) {
                try await county.postgres.scalar("SELECT count(*) FROM airtime_row WHERE announcement_id = 'receipts-kill'") == "2"
            }
            #expect(try await county.postgres.scalar("SELECT count(*) FROM receipt WHERE announcement_id = 'receipts-kill'") == "8")
        }
    }

    /// A village away (its session on disk) while the county publishes a notice; the broker can save nothing more and is
    /// killed -9 right after, so it comes back without the notice. The village back online gets it from the head-end's
    /// re-publish and plays it once; the village that was there and has its receipt gets none. A re-publish to a village
    /// that already has the notice is answered with its first receipt and queues nothing, and a replay of that signed
    /// re-publish is refused as a replay.
    @Test func aNoticeTheBrokerLostReachesTheReturningVillageOnce() async throws {
        try await run("county-republish") { county in
            // Re-published after 2 s (the default is 30), so the test does not wait.
            let text = county.configuration.replacingOccurrences(of: "\n[http]\n", with: "republish-delay = 2\n\n[http]\n")
            try text.write(toFile: county.configPath, atomically: true, encoding: .utf8)
            let (steady, away) = (CountyHarness.townshipOne[0], CountyHarness.townshipOne[1])
            try await county.startHeadEnd()
            for code in [steady, away] { try await county.startVillage(code) }
            try await county.waitFor("both villages online") { try await online(county) == [steady, away] }

            // The away village leaves cleanly; its session is saved before the broker loses the ability to save.
            await county.villages[away]!.stop()
            try await county.waitFor("the away village offline") { try await online(county) == [steady] }
            try await county.waitFor("the away village's session saved", within: 20) {
                let lines = county.broker.log.split(separator: "\n")
                guard let left = lines.lastIndex(where: { $0.contains("Client \(away) disconnected") }) else { return false }
                return lines[left...].contains { $0.contains("Saving in-memory database") }
            }
            // mosquitto writes its save to `mosquitto.db.new` and renames it: a directory there makes every save fail.
            let block = county.broker.directory.appendingPathComponent("data/mosquitto.db.new")
            // It may be mid-save this very moment (the file is there): take its place, and retry if it is renamed under us.
            var blocked = false
            for _ in 0..<50 where !blocked {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: block.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    try? FileManager.default.removeItem(at: block)
                }
                blocked = (try? FileManager.default.createDirectory(at: block, withIntermediateDirectories: false)) != nil
                if !blocked { try await Task.sleep(for: .milliseconds(20)) }
            }
            try #require(blocked, "a directory at \(block.path) to make the broker's saves fail")
            let accepted = try await post(county, ["id": "lost-notice", "kind": "policy", "text": "停电通知。", "to": [steady, away]])
            let first = accepted["message"] as? String ?? ""
            try await county.waitFor("the notice acknowledged by the broker and received by the steady village", within: 30) {
                guard try await county.postgres.scalar("SELECT count(*) FROM outbox WHERE message_id = '\(first)' AND published_at IS NULL") == "0"
                else { return false }
                return try await county.postgres.scalar(
                    "SELECT count(*) FROM receipt WHERE announcement_id = 'lost-notice' AND village = '\(steady)' AND stage = 'received'") == "1"
            }
            try await county.waitFor("a save refused", within: 10) { county.broker.log.contains("Error saving in-memory database") }
            await county.broker.kill()
            try FileManager.default.removeItem(at: block)
            try await county.broker.start()

            try await county.startVillage(away)
            try await county.waitFor("the notice played where the broker lost it", within: 60) {
                try await county.coverageStatuses("lost-notice")[away] == "played"
            }
            // It came by the re-publish (a message of its own), not by the session: the broker had really lost it.
            let republished = try await county.postgres.scalar(
                "SELECT message_id FROM receipt WHERE announcement_id = 'lost-notice' AND village = '\(away)' AND stage = 'received'")
            #expect(republished != first && republished.hasPrefix("m-"), "\(republished)")
            #expect(try await county.postgres.scalar("SELECT count(*) FROM republish WHERE announcement_id = 'lost-notice' AND village = '\(away)'") == "1")
            #expect(try await county.villageOutcomes(away).filter { $0.id == "lost-notice" }.map(\.outcome) == ["completed"])

            // The head-end loses the away village's receipts: it publishes again after the delay; the village answers with the
            // same received receipt (same time, same message) and queues nothing.
            let receivedAt = try await county.postgres.scalar(
                "SELECT at FROM receipt WHERE announcement_id = 'lost-notice' AND village = '\(away)' AND stage = 'received'")
            _ = try await county.postgres.psql("DELETE FROM receipt WHERE announcement_id = 'lost-notice' AND village = '\(away)'")
            try await county.waitFor("the received receipt answered again", within: 30) {
                try await county.postgres.scalar(
                    "SELECT count(*) FROM receipt WHERE announcement_id = 'lost-notice' AND village = '\(away)' AND stage = 'received'") == "1"
            }
            #expect(
                try await county.postgres.scalar(
                    "SELECT at || ' ' || message_id FROM receipt WHERE announcement_id = 'lost-notice' AND village = '\(away)' AND stage = 'received'"
                )
                    == "\(receivedAt) \(republished)")
            #expect(try await county.postgres.scalar("SELECT attempts FROM republish WHERE announcement_id = 'lost-notice' AND village = '\(away)'") == "2")

            // A replay of that signed re-publish, on the village's topic: refused as a replay.
            let second = try await county.postgres.scalar(
                "SELECT m.id FROM message m JOIN outbox o ON o.message_id = m.id WHERE m.announcement_id = 'lost-notice' AND o.region = '\(away)' "
                    + "ORDER BY m.created_at DESC LIMIT 1")
            let envelope = try await county.postgres.scalar("SELECT convert_from(envelope, 'UTF8') FROM message WHERE id = '\(second)'")
            var options = BrokerClient.Options(
                host: "127.0.0.1", port: county.broker.port, clientID: "replayer", username: county.broker.headEnd.username,
                password: county.broker.headEnd.password, caFile: county.broker.caFile)
            options.reconnectMaximum = 1
            let replayer = try BrokerClient(options: options, logger: Logger(label: "replayer"))
            replayer.start()
            try await county.waitFor("the replayer connected", within: 20) { replayer.isConnected }
            try await replayer.publish(topic: LinkTopic.down(try RegionCode(away)), payload: Data(envelope.utf8), qos: 1)
            await replayer.stop()
            try await county.waitFor("the replay refused", within: 30) {
                try await county.postgres.scalar(
                    "SELECT count(*) FROM receipt WHERE message_id = '\(second)' AND stage = 'refused' AND reason = 'replayed'") == "1"
            }
            #expect(try await county.villageOutcomes(away).filter { $0.id == "lost-notice" }.map(\.outcome) == ["completed"])
            #expect(!(try await county.villageQueue(away).contains { $0.id == "lost-notice" }))

            // The steady village, with its receipts, was never published to again.
            #expect(try await county.postgres.scalar("SELECT count(*) FROM republish WHERE village = '\(steady)'") == "0")
            #expect(try await county.villageOutcomes(steady).filter { $0.id == "lost-notice" }.map(\.outcome) == ["completed"])
        }
    }
}
