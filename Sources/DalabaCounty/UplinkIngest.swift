import DalabaLink
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Takes in what villages send on `dalaba/up/<village>/…` over the head-end's persistent session: rows into PostgreSQL
/// (then a signed confirm back to the village), receipts and states. When PostgreSQL refuses a batch nothing is confirmed;
/// once it answers again each village that was owed gets a confirm of what is stored, and re-sends from there.
public final class UplinkIngest: Service, Sendable {
    let store: CountyStore
    let broker: BrokerClient
    let desk: AnnouncementDesk
    let logger: Logger
    let retryInterval: Duration
    /// Villages whose rows could not be stored: they get a confirm (and so re-send) once PostgreSQL is back.
    private let owed = Mutex<Set<RegionCode>>([])
    private let counters = Mutex(Counters())

    public struct Counters: Sendable, Equatable {
        public var batches = 0
        public var rowsInserted = 0
        public var rowsDuplicate = 0
        public var failures = 0
        public var receipts = 0
        public var states = 0
        public var dropped = 0
    }

    public init(store: CountyStore, broker: BrokerClient, desk: AnnouncementDesk, logger: Logger, retryInterval: Duration = .seconds(2)) {
        self.store = store
        self.broker = broker
        self.desk = desk
        self.logger = logger
        self.retryInterval = retryInterval
    }

    public var counts: Counters { counters.withLock { $0 } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.settleDebts() }
                for await event in broker.events.cancelOnGracefulShutdown() {
                    switch event {
                    case .connected(let sessionPresent):
                        logger.info("broker connected", metadata: ["session-present": "\(sessionPresent)"])
                    case .refused(let why):
                        logger.error("the broker refused the head-end", metadata: ["reason": "\(why)"])
                    case .disconnected(let why):
                        logger.warning("broker connection lost", metadata: ["reason": "\(why)"])
                    case .message(let message):
                        await handle(topic: message.topic, payload: message.payload)
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {}
    }

    /// One uplink message. Anything malformed, or naming another village than its topic, is dropped with a warning: the broker
    /// ACL lets a village write only its own topics, so a payload claiming another village is forged.
    public func handle(topic: String, payload: Data) async {
        guard let (village, stream) = LinkTopic.parseUp(topic) else { return drop(topic, "not an uplink topic") }
        if payload.isEmpty { return }
        switch stream {
        case .rows:
            guard let batch = try? LinkJSON.decode(VillageRows.self, from: payload) else { return drop(topic, "not a rows batch") }
            guard batch.village == village else { return drop(topic, "names village \(batch.village)") }
            guard batch.rows.count <= VillageRows.maximumRows * 5 else { return drop(topic, "more than \(VillageRows.maximumRows * 5) rows") }
            do {
                let outcome = try await store.ingest(village: village, rows: batch.rows)
                counters.withLock {
                    $0.batches += 1
                    $0.rowsInserted += outcome.inserted
                    $0.rowsDuplicate += outcome.duplicates
                }
                for fault in outcome.faults {
                    logger.warning("village airtime chain fault", metadata: ["village": "\(village)", "fault": "\(fault)"])
                }
                confirm(village, seq: outcome.confirmedSeq)
            } catch {
                counters.withLock { $0.failures += 1 }
                _ = owed.withLock { $0.insert(village) }
                logger.warning(
                    "rows not stored (PostgreSQL); nothing confirmed", metadata: ["village": "\(village)", "error": "\(String(reflecting: error).prefix(300))"])
            }
        case .receipts:
            guard let receipt = try? LinkJSON.decode(VillageReceipt.self, from: payload) else { return drop(topic, "not a receipt") }
            guard receipt.village == village else { return drop(topic, "names village \(receipt.village)") }
            do {
                try await store.record(receipt)
                counters.withLock { $0.receipts += 1 }
            } catch {
                logger.warning("receipt not stored (PostgreSQL)", metadata: ["village": "\(village)", "error": "\(String(reflecting: error).prefix(300))"])
            }
        case .state:
            guard let state = try? LinkJSON.decode(VillageState.self, from: payload) else { return drop(topic, "not a state") }
            guard state.village == village else { return drop(topic, "names village \(state.village)") }
            do {
                try await store.record(state, receivedAt: Date())
                counters.withLock { $0.states += 1 }
            } catch {
                logger.warning("state not stored (PostgreSQL)", metadata: ["village": "\(village)", "error": "\(String(reflecting: error).prefix(300))"])
            }
        }
    }

    private func drop(_ topic: String, _ why: String) {
        counters.withLock { $0.dropped += 1 }
        logger.warning("uplink message dropped", metadata: ["topic": "\(topic.prefix(120))", "reason": "\(why)"])
    }

    /// Tells `village` that every row through `seq` is stored (not awaited: a lost confirm is made good by the next).
    private func confirm(_ village: RegionCode, seq: Int64) {
        do {
            let envelope = try desk.confirm(village: village, seq: seq)
            try broker.publish(topic: LinkTopic.down(village), payload: envelope, qos: 1)
        } catch {
            _ = owed.withLock { $0.insert(village) }
            logger.warning("confirm not sent", metadata: ["village": "\(village)", "error": "\(error)"])
        }
    }

    /// Every few seconds, confirms to each owed village what PostgreSQL holds for it, once PostgreSQL answers again.
    private func settleDebts() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: retryInterval)
            let villages = owed.withLock { debts -> Set<RegionCode> in
                let all = debts
                debts.removeAll()
                return all
            }
            for village in villages.sorted() {
                do {
                    let seq = try await store.confirmedSeq(village: village)
                    confirm(village, seq: seq)
                    logger.info("PostgreSQL is back: confirmed what is stored", metadata: ["village": "\(village)", "seq": "\(seq)"])
                } catch {
                    _ = owed.withLock { $0.insert(village) }
                }
            }
        }
    }
}
