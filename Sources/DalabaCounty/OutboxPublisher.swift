import DalabaLink
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Publishes what the outbox holds, once per target region at QoS 1, and marks each entry published only when the broker
/// has acknowledged it. After a crash (even kill -9 mid-publish) the entries still open are published again with the
/// same bytes, so the same message id: villages act on an id once, and nothing plays twice.
public final class OutboxPublisher: Service, Sendable {
    let store: CountyStore
    let broker: BrokerClient
    let logger: Logger
    /// Seconds between looks at the outbox when nobody wakes the publisher (retries after a failure).
    let retryInterval: Duration
    private let wake: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation
    private let published = Atomic<Int>(0)

    public init(store: CountyStore, broker: BrokerClient, logger: Logger, retryInterval: Duration = .seconds(2)) {
        self.store = store
        self.broker = broker
        self.logger = logger
        self.retryInterval = retryInterval
        (wake, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Something new is in the outbox.
    public func notify() { wakeContinuation.yield() }

    /// Entries acknowledged by the broker since start.
    public var publishedCount: Int { published.load(ordering: .relaxed) }

    public func run() async throws {
        let continuation = wakeContinuation
        let interval = retryInterval
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        continuation.yield()
                    }
                }
                continuation.yield()
                for await _ in wake { await drain() }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
    }

    /// Publishes every open entry (up to 100 at a time in flight) and records each acknowledgement.
    func drain() async {
        while true {
            let pending: [CountyStore.Pending]
            do {
                pending = try await store.pending()
            } catch {
                logger.warning("outbox: PostgreSQL is unavailable; retrying", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
                return
            }
            if pending.isEmpty { return }
            var failed = false
            await withTaskGroup(of: Bool.self) { group in
                var inFlight = 0
                for entry in pending {
                    if inFlight >= 100, let ok = await group.next() {
                        inFlight -= 1
                        failed = failed || !ok
                    }
                    inFlight += 1
                    group.addTask { [self] in
                        guard let region = try? RegionCode(entry.region) else { return false }
                        do {
                            try await broker.publish(topic: LinkTopic.down(region), payload: entry.envelope, qos: 1)
                        } catch {
                            logger.warning("outbox: publish failed; retrying", metadata: ["message": "\(entry.messageID)", "error": "\(error)"])
                            return false
                        }
                        do {
                            try await store.published(messageID: entry.messageID, region: entry.region)
                        } catch {
                            // The broker has it; it goes again after PostgreSQL is back, and villages drop the copy by its id.
                            logger.warning("outbox: cannot record a publish", metadata: ["message": "\(entry.messageID)", "error": "\(error)"])
                            return false
                        }
                        self.published.add(1, ordering: .relaxed)
                        logger.debug("published", metadata: ["message": "\(entry.messageID)", "region": "\(entry.region)"])
                        return true
                    }
                }
                for await ok in group { failed = failed || !ok }
            }
            if failed { return }
        }
    }
}
