import Crypto
import DalabaAudio
import DalabaCore
import DalabaTestSupport
import Foundation
import Logging
import Testing

@testable import DalabaLink

/// A test head-end: a broker client with the head-end's credential and a signing key, which collects what the village
/// sends back (receipts, rows, state).
final class TestHeadEnd: @unchecked Sendable {
    let key = Curve25519.Signing.PrivateKey()
    let client: BrokerClient
    let recorder: Recorder

    init(broker: Broker) throws {
        var options = BrokerClient.Options(
            host: "127.0.0.1", port: broker.port, clientID: "head-end-test", username: broker.headEnd.username, password: broker.headEnd.password,
            caFile: broker.caFile)
        options.subscriptions = ["dalaba/up/#"]
        options.reconnectMaximum = 0.5
        client = try BrokerClient(options: options, logger: Logger(label: "test.head-end"))
        recorder = Recorder.of(client)
        client.start()
    }

    func send(_ message: CountyMessage, to code: String) async throws {
        try await client.publish(topic: "dalaba/down/\(code)", payload: try SignedEnvelope.sign(message, with: key).encoded())
    }

    func sendRaw(_ bytes: Data, to code: String) async throws { try await client.publish(topic: "dalaba/down/\(code)", payload: bytes) }

    /// Everything received so far, decoded by topic.
    var receipts: [VillageReceipt] { recorder.all.compactMap { m in m.topic.hasSuffix("/receipts") ? try? LinkJSON.decode(VillageReceipt.self, from: m.payload) : nil } }
    var rows: [LinkRow] {
        recorder.all.flatMap { m in m.topic.hasSuffix("/rows") ? ((try? LinkJSON.decode(VillageRows.self, from: m.payload))?.rows ?? []) : [] }
    }
    var states: [VillageState] { recorder.all.compactMap { m in m.topic.hasSuffix("/state") ? try? LinkJSON.decode(VillageState.self, from: m.payload) : nil } }

    /// Waits until `condition` holds over what was received, within `seconds`; the failure names what did arrive.
    func waitFor(_ what: String, within seconds: Double = 20, _ condition: (TestHeadEnd) -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition(self) { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw BrokerFixtureError(
            "\(what) did not happen within \(seconds) s; receipts: \(receipts.map { "\($0.announcement ?? "-")/\($0.stage.rawValue)/\($0.reason ?? "")" })")
    }

    /// The stages the head-end keeps: QoS 1 may deliver a receipt twice (a broker restart resends what it had not
    /// acknowledged), and the head-end keeps one per (stage, time), its table's key; a second play's receipt, with
    /// its own time, still counts.
    func stages(_ announcement: String) -> [ReceiptStage] {
        var seen = Set<String>()
        return receipts.filter { $0.announcement == announcement && seen.insert("\($0.stage.rawValue) \($0.at.timeIntervalSince1970)").inserted }
            .map(\.stage)
    }
}

extension Recorder {
    /// Every message received, in order.
    var all: [BrokerClient.Message] { snapshot.compactMap { if case .message(let m) = $0 { m } else { nil } } }
}

/// Real `dalabad` villages with `[county]` against a real broker and a test head-end.
@Suite(.serialized) struct VillageEndToEndTests {
    static let code = "370703001001"
    let issued = Date()

    func village(_ broker: Broker, key: Curve25519.Signing.PrivateKey, name: String) throws -> DaemonHarness {
        let harness = try DaemonHarness(name: name)
        let credential = broker.credential(for: Self.code)
        harness.extraConfiguration = """
            [county]
            broker-host = "127.0.0.1"
            broker-port = \(broker.port)
            ca-file = "\(broker.caFile)"
            username = "\(credential.username)"
            password = "\(credential.password)"
            region = "\(Self.code)"
            county-key = "\(key.publicKey.rawRepresentation.base64EncodedString())"
            """
        return harness
    }

    /// Half a second of Ogg Opus (what the head-end embeds).
    func opus(_ frequency: Double) throws -> Data {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("county-\(UUID().uuidString).opus").path
        let writer = try SoundFileWriter(path: path, format: .oggOpus, rate: 48_000, channels: 1)
        try writer.write(Tone.sine(frequency: frequency, seconds: 0.5, rate: 48_000))
        writer.close()
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try Data(contentsOf: URL(fileURLWithPath: path))
    }

    func announce(
        _ id: String, _ announcement: String, audio: Data, targets: [String] = ["370703"], validFor: Double = 3600, notBefore: Date? = nil,
        kind: DalabaCore.Kind = .policy
    ) throws -> CountyMessage {
        CountyMessage(
            id: id, issued: Date(), expires: Date().addingTimeInterval(validFor), targets: try targets.map(RegionCode.init),
            body: .announce(.init(announcement: announcement, title: "县通知 \(announcement)", kind: kind, level: kind == .emergency ? 1 : nil, notBefore: notBefore, audio: .embedded(audio))))
    }

    func online(_ head: TestHeadEnd, _ online: Bool) -> (TestHeadEnd) -> Bool {
        { $0.states.last?.online == online }
    }

    /// The rows received form one intact chain from row 1, each row once however often it was sent.
    func checkChain(_ rows: [LinkRow]) -> [LinkRow] {
        var bySeq: [Int64: LinkRow] = [:]
        for row in rows {
            if let earlier = bySeq[row.seq] { #expect(earlier == row, "row \(row.seq) sent twice with different content") }
            bySeq[row.seq] = row
        }
        let ordered = bySeq.values.sorted { $0.seq < $1.seq }
        var previous: (seq: Int64, hash: String)?
        for row in ordered {
            #expect(AirtimeChain.problem(row, after: previous) == nil, "\(AirtimeChain.problem(row, after: previous) ?? "")")
            previous = (row.seq, row.hash)
        }
        #expect(ordered.first?.seq == 1)
        return ordered
    }

    @Test func aCountyItemPlaysAndForgedReplayedUnsignedAreRefused() async throws {
        let broker = try Broker(villages: [Self.code])
        try await broker.start()
        let head = try TestHeadEnd(broker: broker)
        let v = try village(broker, key: head.key, name: "county-village")
        defer {
            v.kill()
            broker.shutdown()
        }
        try await v.start()
        try await head.waitFor("the village online", online(head, true))

        let audio = try opus(440)
        let message = try announce("m-1", "c-1", audio: audio)
        let signed = try SignedEnvelope.sign(message, with: head.key).encoded()
        try await head.sendRaw(signed, to: "370703")
        try await head.waitFor("c-1 completed") { $0.stages("c-1").contains(.completed) }
        #expect(head.stages("c-1") == [.received, .queued, .onAir, .completed])
        let completed = head.receipts.first { $0.announcement == "c-1" && $0.stage == .completed }
        #expect(completed?.message == "m-1")
        #expect((completed?.frames ?? 0) >= 23_000 && completed?.rate == 48_000)
        try await head.waitFor("c-1's row") { $0.rows.contains { $0.announcementID == "c-1" } }
        let row = head.rows.first { $0.announcementID == "c-1" }
        #expect(row?.outcome == "completed" && row?.tier == "county" && row?.source == "county" && row?.frames == completed?.frames)

        // Refused: the same message again, one signed by another key, one without a signature.
        try await head.sendRaw(signed, to: "370703001")
        try await head.send(try announce("m-2", "c-2", audio: audio), to: "370703")  // genuine
        var forged = try SignedEnvelope.sign(try announce("m-3", "c-3", audio: audio), with: Curve25519.Signing.PrivateKey())
        forged.key = CountyKey(head.key.publicKey).id
        try await head.sendRaw(try forged.encoded(), to: "370703")
        var unsigned = try SignedEnvelope.sign(try announce("m-4", "c-4", audio: audio), with: head.key)
        unsigned.sig = nil
        try await head.sendRaw(try unsigned.encoded(), to: Self.code)
        try await head.waitFor("three refusals") { $0.receipts.filter { $0.stage == .refused }.count >= 3 }
        let refusals = head.receipts.filter { $0.stage == .refused }.map { "\($0.message ?? "?"):\($0.reason ?? "?")" }
        #expect(refusals == ["m-1:replayed", "m-3:forged", "m-4:unsigned"])
        // m-2 was genuine: it plays (a control that the refusals were not the link failing).
        try await head.waitFor("c-2 completed") { $0.stages("c-2").contains(.completed) }

        // A county cancel: of a finished item it changes nothing; of a waiting one it ends it, reported as interrupted.
        try await head.send(try announce("m-5", "c-5", audio: audio, notBefore: Date().addingTimeInterval(600)), to: "370703")
        try await head.waitFor("c-5 queued") { $0.stages("c-5").contains(.queued) }
        for (id, target) in [("m-6", "c-1"), ("m-7", "c-5")] {
            try await head.send(CountyMessage(id: id, issued: Date(), expires: Date().addingTimeInterval(60), targets: [try RegionCode(Self.code)], body: .cancel(announcement: target)), to: Self.code)
        }
        try await head.waitFor("c-5 cancelled") { $0.stages("c-5").contains(.interrupted) }
        #expect(head.receipts.last { $0.announcement == "c-5" }?.reason == "cancelled by county")
        // (Besides the refusal of its replay.)
        #expect(head.stages("c-1") == [.received, .queued, .onAir, .completed, .refused])

        // A replay after the village restarted is still caught: the seen ids are in its store.
        #expect(await v.stop() == 0)
        try await head.waitFor("the village offline") { $0.states.last?.online == false }
        try await v.start()
        try await head.waitFor("the village back online", online(head, true))
        try await head.sendRaw(signed, to: "370703")
        // This head-end confirms no receipts, so the restarted village also publishes its unconfirmed ones again: the replay's
        // refusal is the one of a new time.
        try await head.waitFor("the replay after a restart refused") {
            Set($0.receipts.filter { $0.stage == .refused && $0.reason == "replayed" }.map(\.at)).count >= 2
        }
        // Nothing of the refused ones played: the village's whole log, resent after its restart, holds c-1 and c-2 once each.
        try await head.waitFor("the rows resent after the restart") { $0.rows.count >= 6 }
        let chain = checkChain(head.rows)
        #expect(chain.map { "\($0.announcementID):\($0.outcome)" } == ["c-1:completed", "c-2:completed", "c-5:cancelled"])
    }

    /// A village killed (its last will says offline), a notice that expires while it is down and one that stays valid,
    /// the broker restarted meanwhile, and receipts made while the broker is down: on return one plays, one is logged
    /// expired, and every receipt and row arrives.
    @Test func storeAndForwardAcrossVillageAndBrokerOutages() async throws {
        let broker = try Broker(villages: [Self.code])
        try await broker.start()
        let head = try TestHeadEnd(broker: broker)
        let v = try village(broker, key: head.key, name: "county-outage")
        defer {
            v.kill()
            broker.shutdown()
        }
        try await v.start()
        try await head.waitFor("the village online", online(head, true))
        let audio = try opus(660)

        await v.kill()
        try await head.waitFor("the last will", within: 30) { $0.states.last?.online == false }
        let shortLived = try announce("m-d", "d-1", audio: audio, validFor: 1.5)
        try await head.send(shortLived, to: "370703")
        try await head.send(try announce("m-e", "e-1", audio: audio), to: "370703001")
        try await broker.restart()
        // The notice's validity passes while the village is down.
        while Date() < shortLived.expires.addingTimeInterval(0.2) { try await Task.sleep(for: .milliseconds(50)) }
        try await v.start()
        try await head.waitFor("e-1 completed and d-1 expired") { $0.stages("e-1").contains(.completed) && $0.stages("d-1").contains(.expired) }
        #expect(head.stages("d-1") == [.received, .expired])
        #expect(head.stages("e-1") == [.received, .queued, .onAir, .completed])

        // An item that plays while the broker is down: its receipts wait in the outbox.
        let later = Date().addingTimeInterval(2)
        try await head.send(try announce("m-f", "f-1", audio: audio, notBefore: later), to: Self.code)
        try await head.waitFor("f-1 queued") { $0.stages("f-1").contains(.queued) }
        await broker.stop()
        while Date() < later.addingTimeInterval(0.5) { try await Task.sleep(for: .milliseconds(50)) }
        try await broker.start()
        try await head.waitFor("f-1 completed after the broker came back", within: 30) { $0.stages("f-1").contains(.completed) }
        #expect(head.stages("f-1") == [.received, .queued, .onAir, .completed])
        try await head.waitFor("every row") { $0.rows.contains { $0.announcementID == "f-1" } }
        let chain = checkChain(head.rows)
        #expect(chain.map { "\($0.announcementID):\($0.outcome)" } == ["d-1:expired", "e-1:completed", "f-1:completed"])
    }
}
