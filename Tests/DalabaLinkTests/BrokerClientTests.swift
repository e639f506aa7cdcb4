import DalabaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import DalabaLink

/// The libmosquitto client against a real Mosquitto (TLS, password file, ACL, persistence) from the `Broker` fixture.
@Suite(.serialized) struct BrokerClientTests {
    static let villageCode = "370703001001"
    static let otherVillage = "370703002001"

    func client(_ broker: Broker, _ credential: Broker.Credential, id: String, subscriptions: [String] = [], password: String? = nil)
        throws -> BrokerClient
    {
        var options = BrokerClient.Options(
            host: "127.0.0.1", port: broker.port, clientID: id, username: credential.username, password: password ?? credential.password,
            caFile: broker.caFile)
        options.subscriptions = subscriptions
        options.reconnectMaximum = 1
        return try BrokerClient(options: options, logger: Logger(label: "test.\(id)"))
    }

    /// The next event matching `match` since the last one taken, within `seconds` (a TLS connect beside a loaded suite
    /// has taken over 10 s on two cores; a wedge is still caught).
    func next<T: Sendable>(_ client: BrokerClient, within seconds: Double = 30, _ match: @escaping @Sendable (BrokerClient.Event) -> T?) async -> T? {
        await Recorder.of(client).next(within: seconds, match)
    }

    func connected(_ event: BrokerClient.Event) -> Bool? { if case .connected = event { true } else { nil } }

    @Test func tlsWithCredentialsDeliversAtQoS1AndTheACLKeepsVillagesOffTheDownlink() async throws {
        let broker = try Broker(villages: [Self.villageCode, Self.otherVillage])
        try await broker.start()
        defer { broker.shutdown() }
        let village = try RegionCode(Self.villageCode)
        let v = try client(broker, broker.credential(for: Self.villageCode), id: Self.villageCode, subscriptions: LinkTopic.subscriptions(for: village))
        let head = try client(broker, broker.headEnd, id: "head-end", subscriptions: ["dalaba/down/#", "dalaba/up/#"])
        v.start()
        head.start()
        #expect(await next(v, connected) == true)
        #expect(await next(head, connected) == true)

        // A village credential publishing on the county's topic and on another village's uplink: the broker drops both.
        try await v.publish(topic: "dalaba/down/370703", payload: Data("forged by a village".utf8))
        try await v.publish(topic: "dalaba/up/\(Self.otherVillage)/receipts", payload: Data("pretending".utf8))
        try await v.publish(topic: LinkTopic.receipts(village), payload: Data("own receipt".utf8))
        // The head-end's first message is the village's own receipt: the two forbidden ones never arrived.
        let first = await next(head) { if case .message(let m) = $0 { m } else { nil } }
        #expect(first?.topic == LinkTopic.receipts(village))
        #expect(first.map { String(decoding: $0.payload, as: UTF8.self) } == "own receipt")

        // The head-end reaches the village on its county topic; the publish completes on the broker's ack.
        try await head.publish(topic: "dalaba/down/370703", payload: Data("to the county".utf8))
        let got = await next(v) { if case .message(let m) = $0 { m } else { nil } }
        #expect(got?.topic == "dalaba/down/370703" && got?.qos == 1)
        await v.stop()
        await head.stop()
    }

    @Test func aWrongPasswordIsRefusedAndRetried() async throws {
        let broker = try Broker(villages: [Self.villageCode])
        try await broker.start()
        defer { broker.shutdown() }
        let bad = try client(broker, broker.credential(for: Self.villageCode), id: Self.villageCode, password: "wrong")
        bad.start()
        let refusals = await next(bad) { if case .refused(let why) = $0 { why } else { nil } }
        #expect(refusals?.isEmpty == false)
        #expect(!bad.isConnected)
        await bad.stop()
    }

    /// A village away while the head-end publishes, and the broker restarted meanwhile: the persistent session keeps the
    /// messages, and the village gets every one when it is back.
    @Test func persistentSessionSurvivesABrokerRestart() async throws {
        let broker = try Broker(villages: [Self.villageCode])
        try await broker.start()
        defer { broker.shutdown() }
        let village = try RegionCode(Self.villageCode)
        let subs = LinkTopic.subscriptions(for: village)
        let first = try client(broker, broker.credential(for: Self.villageCode), id: Self.villageCode, subscriptions: subs)
        first.start()
        #expect(await next(first, connected) == true)
        // Wait for the SUBACKs to be in: a round trip to the broker after subscribing.
        try await first.publish(topic: LinkTopic.state(village), payload: Data("up".utf8), retain: true)
        await first.stop()

        let head = try client(broker, broker.headEnd, id: "head-end")
        head.start()
        #expect(await next(head, connected) == true)
        for i in 1...5 { try await head.publish(topic: subs[i % 3], payload: Data("m\(i)".utf8)) }
        await head.stop()
        try await broker.restart()

        let again = try client(broker, broker.credential(for: Self.villageCode), id: Self.villageCode, subscriptions: subs)
        again.start()
        var payloads: [String] = []
        while payloads.count < 5, let m = await next(again, within: 15, { if case .message(let m) = $0 { m } else { nil } }) {
            payloads.append(String(decoding: m.payload, as: UTF8.self))
        }
        #expect(payloads.sorted() == ["m1", "m2", "m3", "m4", "m5"])
        await again.stop()
    }

    /// The client keeps reconnecting while the broker is down and is back by itself once it returns.
    @Test func reconnectsAfterTheBrokerWasKilled() async throws {
        let broker = try Broker(villages: [Self.villageCode])
        try await broker.start()
        defer { broker.shutdown() }
        let v = try client(broker, broker.credential(for: Self.villageCode), id: Self.villageCode)
        v.start()
        #expect(await next(v, connected) == true)
        await broker.kill()
        #expect(await next(v) { if case .disconnected = $0 { true } else { nil } } == true)
        try await broker.start()
        #expect(await next(v, within: 15, connected) == true)
        try await v.publish(topic: LinkTopic.state(try RegionCode(Self.villageCode)), payload: Data("back".utf8))
        await v.stop()
    }
}

/// Reads a client's events in one task for the client's whole life (cancelling a task that iterates an AsyncStream would
/// end the stream), so a test can wait for the next matching event many times.
final class Recorder: @unchecked Sendable {
    private static let all = Mutex<[ObjectIdentifier: Recorder]>([:])
    private let events = Mutex<(list: [BrokerClient.Event], taken: Int)>(([], 0))
    /// The client it reads (an identifier alone could be reused by a later client at the same address).
    private weak var client: BrokerClient?

    static func of(_ client: BrokerClient) -> Recorder {
        all.withLock { map in
            if let r = map[ObjectIdentifier(client)], r.client === client { return r }
            let r = Recorder()
            r.client = client
            map[ObjectIdentifier(client)] = r
            Task { [weak r] in
                for await event in client.events { r?.events.withLock { $0.list.append(event) } }
            }
            return r
        }
    }

    /// Every event so far.
    var snapshot: [BrokerClient.Event] { events.withLock { $0.list } }

    func next<T: Sendable>(within seconds: Double, _ match: (BrokerClient.Event) -> T?) async -> T? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let found: T? = events.withLock { state in
                while state.taken < state.list.count {
                    let event = state.list[state.taken]
                    state.taken += 1
                    if let value = match(event) { return value }
                }
                return nil
            }
            if let found { return found }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }
}
