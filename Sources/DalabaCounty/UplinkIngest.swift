import DalabaLink
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Takes in what villages send on `dalaba/up/<village>/…` over the head-end's persistent session: rows into PostgreSQL
/// (then a signed confirm back to each village), receipts and states. When PostgreSQL refuses a transaction nothing is
/// confirmed; once it answers again each village that was owed gets a confirm of what is stored, and re-sends from there.
///
/// Three tasks, so the broker's stream never waits on the database: the reader decodes and hash-checks each rows batch
/// (`PreparedRows`) and hands it to the writer; the writer takes everything that waits (up to `maximumRowsPerTransaction`)
/// into one transaction, so rows that arrive during one commit go into the next, and confirms each village only after
/// that commit; receipts and states are recorded in arrival order by a third.
///
/// Receipts are confirmed like rows: a receipt with a `seq` (its village's outbox id) is confirmed only after its
/// PostgreSQL write, a few at a time (`receiptConfirmInterval`), and the village keeps it until then (`ReceiptOutbox` walks
/// through kill -9 at each step). One without (a village older than this) is just written. When PostgreSQL refuses one,
/// its village is owed a confirm, sent once PostgreSQL answers; and at every (re)connect to the broker every configured
/// village is owed one, so after a head-end restart villages publish at once what it lost in its buffers.
public final class UplinkIngest: Service, Sendable {
    let store: CountyStore
    let broker: BrokerClient
    let desk: AnnouncementDesk
    let logger: Logger
    let retryInterval: Duration
    let maximumRowsPerTransaction: Int
    /// Villages whose rows or receipts could not be stored: they get a confirm (and so re-send) once PostgreSQL is back.
    private let owed = Mutex<Set<RegionCode>>([])
    /// When the head-end's broker connection was last made (`RepublishPolicy`).
    private let brokerConnectedAt = Mutex<Date?>(nil)
    /// Seconds between looks for villages to publish an announcement to again.
    let republishScanInterval: Duration
    /// Receipt sequences stored and not yet confirmed, by village.
    private let storedReceipts = Mutex<[RegionCode: [Int64]]>([:])
    let receiptConfirmInterval: Duration
    private let counters = Mutex(Counters())
    private let pending: PendingRows
    private let reports: AsyncStream<(RegionCode, Report)>
    private let reportsIn: AsyncStream<(RegionCode, Report)>.Continuation

    enum Report: Sendable {
        case receipt(VillageReceipt)
        case state(VillageState, receivedAt: Date)
    }

    public struct Counters: Sendable, Equatable {
        public var batches = 0
        public var transactions = 0
        /// Villages whose chain was read back from PostgreSQL instead of walked from the mark in memory.
        public var chainsReadBack = 0
        public var rowsInserted = 0
        public var rowsDuplicate = 0
        public var failures = 0
        public var receipts = 0
        public var receiptsConfirmed = 0
        public var republished = 0
        public var states = 0
        public var dropped = 0
    }

    public init(
        store: CountyStore, broker: BrokerClient, desk: AnnouncementDesk, logger: Logger, retryInterval: Duration = .seconds(2),
        maximumRowsPerTransaction: Int = 10_000, receiptConfirmInterval: Duration = .milliseconds(200),
        republishScanInterval: Duration = .seconds(1)
    ) {
        self.republishScanInterval = republishScanInterval
        self.receiptConfirmInterval = receiptConfirmInterval
        self.store = store
        self.broker = broker
        self.desk = desk
        self.logger = logger
        self.retryInterval = retryInterval
        self.maximumRowsPerTransaction = maximumRowsPerTransaction
        // Rows decoded ahead of the writer, at most: beyond that the reader waits and the broker's stream holds the payloads.
        pending = PendingRows(limit: maximumRowsPerTransaction * 2)
        (reports, reportsIn) = AsyncStream.makeStream()
    }

    public var counts: Counters { counters.withLock { $0 } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.settleDebts() }
                group.addTask { await self.confirmReceipts() }
                group.addTask { await self.republish() }
                // The writer and the reports task finish what was handed to them before the service ends.
                await withDiscardingTaskGroup { workers in
                    workers.addTask { await self.writeRows() }
                    workers.addTask { await self.recordReports() }
                    for await event in broker.events.cancelOnGracefulShutdown() {
                        switch event {
                        case .connected(let sessionPresent):
                            logger.info("broker connected", metadata: ["session-present": "\(sessionPresent)"])
                            let villages = desk.configuration.villages.map(\.code)
                            owed.withLock { $0.formUnion(villages) }
                            brokerConnectedAt.withLock { $0 = Date() }
                        case .refused(let why):
                            logger.error("the broker refused the head-end", metadata: ["reason": "\(why)"])
                        case .disconnected(let why):
                            logger.warning("broker connection lost", metadata: ["reason": "\(why)"])
                        case .message(let message):
                            await take(topic: message.topic, payload: message.payload)
                        }
                    }
                    pending.finish()
                    reportsIn.finish()
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {}
    }

    /// One uplink message, read and checked; rows go to the writer, receipts and states to the reports task. Anything
    /// malformed, or naming another village than its topic, is dropped with a warning: the broker ACL lets a village write
    /// only its own topics, so a payload claiming another village is forged.
    func take(topic: String, payload: Data) async {
        guard let (village, stream) = LinkTopic.parseUp(topic) else { return drop(topic, "not an uplink topic") }
        if payload.isEmpty { return }
        switch stream {
        case .rows:
            guard let batch = try? LinkJSON.decode(VillageRows.self, from: payload) else { return drop(topic, "not a rows batch") }
            guard batch.village == village else { return drop(topic, "names village \(batch.village)") }
            guard batch.rows.count <= VillageRows.maximumRows * 5 else { return drop(topic, "more than \(VillageRows.maximumRows * 5) rows") }
            counters.withLock { $0.batches += 1 }
            await pending.add(PreparedRows(village: village, rows: batch.rows))
        case .receipts:
            guard let receipt = try? LinkJSON.decode(VillageReceipt.self, from: payload) else { return drop(topic, "not a receipt") }
            guard receipt.village == village else { return drop(topic, "names village \(receipt.village)") }
            logger.debug(
                "receipt taken",
                metadata: [
                    "village": "\(village)", "announcement": "\(receipt.announcement ?? "-")", "stage": "\(receipt.stage.rawValue)",
                    "seq": "\(receipt.seq.map(String.init) ?? "-")",
                ])
            reportsIn.yield((village, .receipt(receipt)))
        case .state:
            guard let state = try? LinkJSON.decode(VillageState.self, from: payload) else { return drop(topic, "not a state") }
            guard state.village == village else { return drop(topic, "names village \(state.village)") }
            reportsIn.yield((village, .state(state, receivedAt: Date())))
        }
    }

    /// The one writer of rows: each transaction takes every batch that waits, and owns the villages' chain marks.
    private func writeRows() async {
        var marks = ChainMarks()
        do {
            marks = try await store.chainMarks()
        } catch {
            // Every village's chain is then read back once, as for a village new to the county.
            logger.warning("villages' chain marks not read (PostgreSQL)", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
        }
        let clock = ContinuousClock()
        while let batches = await pending.take(maximumRows: maximumRowsPerTransaction) {
            do {
                let began = clock.now
                let result = try await store.ingest(batches, marks: &marks)
                logger.debug(
                    "rows stored", metadata: ["batches": "\(batches.count)", "read-back": "\(result.readBack.count)", "took": "\(clock.now - began)"])
                let outcomes = result.outcomes
                let rows = outcomes.values.reduce(into: (0, 0)) { sum, outcome in
                    sum.0 += outcome.inserted
                    sum.1 += outcome.duplicates
                }
                counters.withLock {
                    $0.transactions += 1
                    $0.chainsReadBack += result.readBack.count
                    $0.rowsInserted += rows.0
                    $0.rowsDuplicate += rows.1
                }
                for (village, error) in result.refusals.sorted(by: { $0.key < $1.key }) {
                    // Not owed: the same rows would be refused again. The village re-sends after its patience; it stays unconfirmed.
                    logger.warning(
                        "village rows refused by PostgreSQL; not confirmed",
                        metadata: ["village": "\(village)", "error": "\(String(reflecting: error).prefix(300))"])
                }
                for (village, outcome) in outcomes.sorted(by: { $0.key < $1.key }) {
                    for fault in outcome.faults {
                        logger.warning("village airtime chain fault", metadata: ["village": "\(village)", "fault": "\(fault)"])
                    }
                    confirm(village, seq: outcome.confirmedSeq)
                }
            } catch {
                let villages = Set(batches.map(\.village))
                counters.withLock { $0.failures += 1 }
                owed.withLock { $0.formUnion(villages) }
                logger.warning(
                    "rows not stored (PostgreSQL); nothing confirmed",
                    metadata: ["villages": "\(villages.count)", "error": "\(String(reflecting: error).prefix(300))"])
            }
        }
    }

    private func recordReports() async {
        for await (village, report) in reports {
            do {
                switch report {
                case .receipt(let receipt):
                    do {
                        try await store.record(receipt)
                    } catch {
                        if receipt.seq != nil { _ = owed.withLock { $0.insert(village) } }
                        throw error
                    }
                    counters.withLock { $0.receipts += 1 }
                    if let seq = receipt.seq { storedReceipts.withLock { $0[village, default: []].append(seq) } }
                case .state(let state, let receivedAt):
                    try await store.record(state, receivedAt: receivedAt)
                    counters.withLock { $0.states += 1 }
                }
            } catch {
                logger.warning("report not stored (PostgreSQL)", metadata: ["village": "\(village)", "error": "\(String(reflecting: error).prefix(300))"])
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

    /// Confirms the receipts stored since the last look, one message per village (a lost one is made good by the village
    /// publishing again what stays unconfirmed).
    private func confirmReceipts() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: receiptConfirmInterval)
            let stored = storedReceipts.withLock { pending -> [RegionCode: [Int64]] in
                defer { pending.removeAll() }
                return pending
            }
            for (village, seqs) in stored.sorted(by: { $0.key < $1.key }) {
                for start in stride(from: 0, to: seqs.count, by: CountyMessage.Confirm.maximumReceipts) {
                    let chunk = Array(seqs[start..<min(start + CountyMessage.Confirm.maximumReceipts, seqs.count)])
                    confirmReceipts(village, chunk)
                }
            }
        }
    }

    /// Publishes announcements again to online villages that sent no receipt of them, as `RepublishPolicy` decides; at most
    /// `maximumRepublishesPerScan` a look, so a county-wide gap is filled over seconds rather than in one burst.
    private func republish() async {
        let policy = RepublishPolicy(delay: desk.configuration.republishDelay)
        guard policy.delay > 0 else { return }
        var failing = false
        while !Task.isCancelled {
            try? await Task.sleep(for: republishScanInterval)
            guard broker.isConnected, let connectedAt = brokerConnectedAt.withLock({ $0 }) else { continue }
            do {
                let now = Date()
                let due = try await store.republishCandidates(now: now, lifetime: desk.configuration.messageLifetime).filter {
                    policy.isDue($0, now: now, brokerConnectedAt: connectedAt)
                }
                for candidate in due.prefix(Self.maximumRepublishesPerScan) where try await desk.republish(candidate) != nil {
                    counters.withLock { $0.republished += 1 }
                }
                failing = false
            } catch {
                if !failing { logger.warning("re-publishing paused (PostgreSQL)", metadata: ["error": "\(String(reflecting: error).prefix(300))"]) }
                failing = true
            }
        }
    }

    static let maximumRepublishesPerScan = 100

    private func confirmReceipts(_ village: RegionCode, _ seqs: [Int64]) {
        do {
            try broker.publish(topic: LinkTopic.down(village), payload: try desk.confirm(village: village, seq: nil, receipts: seqs), qos: 1)
            counters.withLock { $0.receiptsConfirmed += seqs.count }
        } catch {
            logger.warning("receipt confirm not sent", metadata: ["village": "\(village)", "error": "\(error)"])
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

/// Prepared rows between the uplink reader and the writer. The reader waits while `limit` rows already wait; the writer takes
/// everything that waits at once (group commit), or waits for the first batch.
final class PendingRows: Sendable {
    private struct State {
        var batches: [PreparedRows] = []
        var rows = 0
        var finished = false
        var writer: CheckedContinuation<[PreparedRows]?, Never>?
        var writerMaximum = 0
        var readers: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// Hands a batch on; waits first while the writer is `limit` rows behind.
    func add(_ batch: PreparedRows) async {
        let full = state.withLock { $0.rows >= limit && !$0.finished }
        if full {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wait = state.withLock { s -> Bool in
                    guard s.rows >= limit, !s.finished else { return false }
                    s.readers.append(continuation)
                    return true
                }
                if !wait { continuation.resume() }
            }
        }
        let handOver = state.withLock { s -> (CheckedContinuation<[PreparedRows]?, Never>, [PreparedRows])? in
            s.batches.append(batch)
            s.rows += batch.rows.count
            guard let writer = s.writer else { return nil }
            s.writer = nil
            // The reader is the one adding, so nobody else waits for room.
            return (writer, takeLocked(&s, maximumRows: s.writerMaximum).batches)
        }
        if let (writer, batches) = handOver {
            writer.resume(returning: batches)
        }
    }

    /// Everything that waits, in arrival order, up to about `maximumRows` rows (always at least one batch); nil once
    /// `finish()` was called and nothing waits.
    func take(maximumRows: Int) async -> [PreparedRows]? {
        await withCheckedContinuation { (continuation: CheckedContinuation<[PreparedRows]?, Never>) in
            let taken = state.withLock { s -> (result: [PreparedRows]?, readers: [CheckedContinuation<Void, Never>])? in
                if s.batches.isEmpty {
                    if s.finished { return (nil, []) }
                    s.writer = continuation
                    s.writerMaximum = maximumRows
                    return nil
                }
                let taken = takeLocked(&s, maximumRows: maximumRows)
                return (taken.batches, taken.readers)
            }
            guard let taken else { return }
            for reader in taken.readers { reader.resume() }
            continuation.resume(returning: taken.result)
        }
    }

    /// Readers waiting for room (for tests).
    var readersWaiting: Int { state.withLock { $0.readers.count } }

    /// No more batches: the writer ends once it has taken what waits, and a waiting reader goes on.
    func finish() {
        let (writer, readers) = state.withLock { s -> (CheckedContinuation<[PreparedRows]?, Never>?, [CheckedContinuation<Void, Never>]) in
            s.finished = true
            let writer = s.batches.isEmpty ? s.writer : nil
            if writer != nil { s.writer = nil }
            defer { s.readers = [] }
            return (writer, s.readers)
        }
        writer?.resume(returning: nil)
        for reader in readers { reader.resume() }
    }

    private func takeLocked(_ s: inout State, maximumRows: Int) -> (batches: [PreparedRows], readers: [CheckedContinuation<Void, Never>]) {
        var count = 0
        var rows = 0
        while count < s.batches.count, count == 0 || rows + s.batches[count].rows.count <= maximumRows {
            rows += s.batches[count].rows.count
            count += 1
        }
        let taken = Array(s.batches.prefix(count))
        s.batches.removeFirst(count)
        s.rows -= rows
        var readers: [CheckedContinuation<Void, Never>] = []
        if s.rows < limit {
            readers = s.readers
            s.readers = []
        }
        return (taken, readers)
    }
}
