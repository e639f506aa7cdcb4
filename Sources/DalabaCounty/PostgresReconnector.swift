import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The PostgreSQL client the store's queries use now, shared by every copy of the store.
public final class PostgresClientSlot: Sendable {
    private let client: Mutex<PostgresClient>

    init(_ client: PostgresClient) { self.client = Mutex(client) }

    public var current: PostgresClient { client.withLock { $0 } }

    func replace(with fresh: PostgresClient) { client.withLock { $0 = fresh } }
}

/// Runs the store's PostgreSQL client, and replaces it with a fresh one when PostgreSQL is back after an outage.
///
/// postgres-nio's pool backs off between connection attempts (100 ms × 1.25ⁿ, up to a minute, not configurable in
/// 1.33), so after an outage of a minute it may wait tens of seconds more before it tries again, and rows, receipts and
/// the outbox wait with it. This probes once a second: while the pool fails, a single direct connection tells when the
/// server answers again, and a new client (with no backoff behind it) takes over at once; the old one is shut down.
public final class PostgresReconnector: Service, Sendable {
    let slot: PostgresClientSlot
    let configuration: PostgresClient.Configuration
    let logger: Logger
    let interval: Duration
    /// Clients made since start, the first included (for tests and the log).
    private let generation = Atomic<Int>(1)

    public init(store: CountyStore, configuration: PostgresClient.Configuration, logger: Logger, interval: Duration = .seconds(1)) {
        slot = store.clients
        self.configuration = configuration
        self.logger = logger
        self.interval = interval
    }

    public var clientsMade: Int { generation.load(ordering: .relaxed) }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            var stopCurrent = Self.start(slot.current, in: &group)
            var failing = false
            while !Task.isShuttingDownGracefully, !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                if !failing {
                    if await Self.answers(slot.current, within: .seconds(2)) { continue }
                    logger.warning("PostgreSQL is not answering; probing it every second")
                    failing = true
                }
                // While failing, the server is probed directly, not through the pool: the pool may sit in its backoff
                // for a minute, and whether it happens to retry just as the server returns must not decide how soon
                // rows flow again.
                guard await directlyReachable() else { continue }
                failing = false
                // The server is back after an outage: a fresh pool has no backoff behind it. (If the old pool happened
                // to reconnect already, replacing it costs one connection; racing it would make recovery a lottery.)
                let fresh = PostgresClient(configuration: configuration, backgroundLogger: logger)
                let stopFresh = Self.start(fresh, in: &group)
                slot.replace(with: fresh)
                stopCurrent()
                stopCurrent = stopFresh
                let made = generation.add(1, ordering: .relaxed).newValue
                logger.notice("PostgreSQL is back: queries go through a new connection pool", metadata: ["pool": "\(made)"])
            }
            stopCurrent()
        }
    }

    /// Runs `client` in the group until the returned function is called.
    private static func start(_ client: PostgresClient, in group: inout DiscardingTaskGroup) -> @Sendable () -> Void {
        let (stop, stopper) = AsyncStream.makeStream(of: Void.self)
        group.addTask {
            await withTaskGroup(of: Void.self) { inner in
                inner.addTask { await client.run() }
                for await _ in stop {}
                inner.cancelAll()
            }
        }
        return { stopper.finish() }
    }

    /// True when `SELECT 1` through `client` comes back within `limit`.
    private static func answers(_ client: PostgresClient, within limit: Duration) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await client.query("SELECT 1")) != nil }
            group.addTask {
                try? await Task.sleep(for: limit)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// True when one direct connection (outside the pool) to the server succeeds; it is closed at once.
    private func directlyReachable() async -> Bool {
        guard let host = configuration.host, let port = configuration.port else { return false }
        var direct = PostgresConnection.Configuration(
            host: host, port: port, username: configuration.username, password: configuration.password, database: configuration.database, tls: .disable)
        direct.options.connectTimeout = .seconds(2)
        do {
            let connection = try await PostgresConnection.connect(configuration: direct, id: 0, logger: logger)
            try? await connection.close()
            return true
        } catch {
            return false
        }
    }
}
