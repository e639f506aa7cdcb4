import DalabaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import DalabaLink

/// The receive path under a flood: a consumer slower than the broker holds the client's buffer at its bound (the socket is
/// not read meanwhile, and the broker keeps the rest), and every QoS 1 message still arrives, once.
@Suite(.serialized) struct BrokerBackpressureTests {
    static let village = "370703001001"

    @Test func aSlowConsumerUnderAFloodStaysWithinTheBufferAndLosesNothing() async throws {
        let broker = try Broker(villages: [Self.village])
        try await broker.start()
        defer { broker.shutdown() }
        var options = BrokerClient.Options(
            host: "127.0.0.1", port: broker.port, clientID: "head-end", username: broker.headEnd.username, password: broker.headEnd.password,
            caFile: broker.caFile)
        options.subscriptions = ["dalaba/up/#"]
        options.receiveBufferMessages = 200
        options.receiveBufferBytes = 1 << 20
        let head = try BrokerClient(options: options, logger: Logger(label: "test.backpressure"))
        head.start()

        // 4,000 messages of 4 KiB (16 MiB, sixteen times the buffer), published by mosquitto_pub as the village.
        let count = 4_000
        let padding = String(repeating: "x", count: 4_096)
        let lines = (1...count).map { "\($0) \(padding)" }.joined(separator: "\n") + "\n"
        let file = broker.directory.appendingPathComponent("flood.txt").path
        try lines.write(toFile: file, atomically: true, encoding: .utf8)
        let credential = broker.credential(for: Self.village)
        let publish =
            "mosquitto_pub -h 127.0.0.1 -p \(broker.port) --cafile \(broker.caFile) -u \(credential.username) -P \(credential.password) "
            + "-i flood -q 1 -t dalaba/up/\(Self.village)/rows -l < \(file)"

        var seen = Set<Int>()
        var duplicates = 0
        var publisher: Task<Processes.Result, any Error>?
        let deadline = ContinuousClock.now + .seconds(120)
        for await event in head.events {
            switch event {
            case .connected:
                if publisher == nil { publisher = Task.detached { try await Processes.run("sh", ["-c", publish], timeout: 120) } }
            case .message(let message):
                let seq = Int(String(decoding: message.payload.prefix(while: { $0 != 0x20 }), as: UTF8.self)) ?? 0
                if !seen.insert(seq).inserted { duplicates += 1 }
                // The stalled consumer: after the first message it takes nothing until the client's buffer is at its bound
                // (or 60 s pass), however fast mosquitto_pub manages to publish beside the rest of the suite. A consumer
                // that was merely slow (2 ms per 10 messages) once outran a loaded publisher and never filled it (84 of 200).
                if seen.count == 1 {
                    let stall = ContinuousClock.now + .seconds(60)
                    while head.receiveHighWater.messages < 200, ContinuousClock.now < stall { try await Task.sleep(for: .milliseconds(10)) }
                    // A moment longer at the bound: a client that did not stop reading the socket would go past it now.
                    try await Task.sleep(for: .milliseconds(500))
                }
                // Then slow: about 2 ms for every 10 messages, behind what the broker can send.
                if seen.count % 10 == 0 { try await Task.sleep(for: .milliseconds(2)) }
            default: break
            }
            if seen.count == count || ContinuousClock.now > deadline { break }
        }
        let published = try await publisher?.value
        #expect(published?.status == 0, "\(published?.stderr ?? "mosquitto_pub did not run")")
        #expect(seen.count == count && seen == Set(1...count), "\(count - seen.count) of \(count) messages missing")
        #expect(duplicates == 0)
        let high = head.receiveHighWater
        // The bound, plus at most what one read of the socket takes (the client's in-flight window of 100).
        #expect(high.messages <= 200 + 101, "\(high)")
        #expect(high.bytes <= (1 << 20) + 101 * 4_200, "\(high)")
        #expect(high.messages >= 200, "the stalled consumer let the buffer fill to its bound: \(high)")
        await head.stop()
    }

    /// Many clients in one process (VillageSwarm's 450): a client whose socket is numbered above select(2)'s 1024 still
    /// connects and receives, since the loop polls instead of calling `mosquitto_loop`.
    @Test func aClientWhoseSocketIsNumberedAbove1024StillReceives() async throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        if limit.rlim_cur < 1_200, limit.rlim_max >= 1_200 {
            limit.rlim_cur = 1_200
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        try #require(limit.rlim_cur >= 1_200, "the test needs 1,200 file descriptors (ulimit -n)")
        let broker = try Broker(villages: [Self.village])
        try await broker.start()
        defer { broker.shutdown() }
        // Hold descriptors until the next ones are numbered above 1024.
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        while held.last.map({ $0 < 1_100 }) ?? true {
            let fd = open("/dev/null", O_RDONLY)
            try #require(fd >= 0)
            held.append(fd)
        }
        var options = BrokerClient.Options(
            host: "127.0.0.1", port: broker.port, clientID: "head-end", username: broker.headEnd.username, password: broker.headEnd.password,
            caFile: broker.caFile)
        options.subscriptions = ["dalaba/up/#"]
        let head = try BrokerClient(options: options, logger: Logger(label: "test.high-fd"))
        head.start()
        // A loop that cannot use its socket sends no event at all: stopping the client ends the wait.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(30))
            await head.stop()
        }
        var sent = false
        var received = false
        for await event in head.events {
            if case .connected = event, !sent {
                sent = true
                try await head.publish(topic: "dalaba/up/\(Self.village)/state", payload: Data("above 1024".utf8))
            }
            if case .message(let message) = event {
                #expect(String(decoding: message.payload, as: UTF8.self) == "above 1024")
                received = true
                break
            }
        }
        watchdog.cancel()
        #expect(sent && received, "connected and received within 30 s")
        await head.stop()
    }
}
