import ArgumentParser
import DalabaLink
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import UnixSignals

/// `dalaba-county --config FILE`: the county head-end.
public struct CountyCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dalaba-county",
        abstract: "The county head-end: signs and publishes announcements to villages, and keeps every village's log in PostgreSQL.")

    @Option(help: "The head-end's TOML configuration.")
    var config: String

    @Option(help: "Listen on HOST:PORT instead of http.listen (port 0: any free port, written to <state>/listen).")
    var listen: String?

    @Flag(help: "Print the county's public key (made on first use) and exit.")
    var printPublicKey = false

    public init() {}

    public func run() async throws {
        var configuration: CountyConfiguration
        do {
            configuration = try CountyConfiguration.load(path: config)
            if let listen {
                guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
                    throw CountyConfiguration.Invalid(description: "--listen must be HOST:PORT, not \(listen)")
                }
                configuration.listenHost = String(listen[..<colon])
                configuration.listenPort = port
            }
        } catch {
            FileHandle.standardError.write(Data("dalaba-county: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "dalaba-county")
        let key: (key: Curve25519SigningKey, created: Bool)
        do {
            try FileManager.default.createDirectory(at: configuration.stateURL, withIntermediateDirectories: true)
            key = try SigningKeyFile.loadOrCreate(path: configuration.signingKeyPath)
        } catch {
            FileHandle.standardError.write(Data("dalaba-county: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let publicKey = SigningKeyFile.publicText(key.key)
        if printPublicKey {
            print(publicKey)
            return
        }
        // The console's templates now: a head-end installed without them stops here, naming the places it looked.
        if case .failure(let error) = CountyPages.templates {
            FileHandle.standardError.write(Data("dalaba-county: \(error)\n".utf8))
            throw ExitCode(2)
        }
        logger.notice(
            "county signing key \(key.created ? "made" : "loaded"); villages' [county] public-key:",
            metadata: ["public-key": "\(publicKey)", "file": "\(configuration.signingKeyPath).pub"])

        let postgresConfiguration = CountyStore.clientConfiguration(configuration.database)
        let store = CountyStore(client: PostgresClient(configuration: postgresConfiguration, backgroundLogger: logger), logger: logger)
        let postgres = PostgresReconnector(store: store, configuration: postgresConfiguration, logger: logger)
        var options = BrokerClient.Options(
            host: configuration.broker.host, port: configuration.broker.port, clientID: configuration.broker.clientID,
            username: configuration.broker.username, password: configuration.broker.password, caFile: configuration.broker.caFile.map(configuration.resolve))
        options.subscriptions = [LinkTopic.allRows, LinkTopic.allReceipts, LinkTopic.allStates]
        let broker: BrokerClient
        do {
            broker = try BrokerClient(options: options, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("dalaba-county: broker: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let publisher = OutboxPublisher(store: store, broker: broker, logger: logger)
        let desk = AnnouncementDesk(configuration: configuration, key: key.key, store: store, outboxChanged: { publisher.notify() }, logger: logger)
        let ingest = UplinkIngest(store: store, broker: broker, desk: desk, logger: logger)
        let listenFile = configuration.stateURL.appendingPathComponent("listen").path
        let host = configuration.listenHost
        let app = buildCountyApplication(
            configuration: configuration, desk: desk, store: store, logger: logger,
            onBound: { port in
                desk.boundPort.store(port)
                try? Data("\(host):\(port)\n".utf8).write(to: URL(fileURLWithPath: listenFile), options: .atomic)
                logger.notice("dalaba-county listening", metadata: ["address": "\(host):\(port)"])
            })
        let headEnd = HeadEndService(
            store: store, broker: broker, villages: configuration.villages, publisher: publisher, ingest: ingest, http: app, logger: logger)
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: postgres), .init(service: headEnd)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

public typealias Curve25519SigningKey = SigningKeyFile.PrivateKey

/// Brings the schema up once PostgreSQL answers, then runs the broker link, the outbox publisher, the uplink ingest and the
/// HTTP API together; on shutdown the broker is disconnected cleanly after the rest has stopped.
struct HeadEndService<App: ApplicationProtocol>: Service {
    let store: CountyStore
    let broker: BrokerClient
    let villages: [CountyConfiguration.Village]
    let publisher: OutboxPublisher
    let ingest: UplinkIngest
    let http: App
    let logger: Logger

    func run() async throws {
        var attempt = 0
        while true {
            do {
                try await store.migrate()
                try await store.register(villages)
                break
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                attempt += 1
                if attempt == 1 || attempt % 10 == 0 {
                    logger.warning("PostgreSQL is not answering yet; retrying", metadata: ["error": "\(String(reflecting: error).prefix(300))"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        broker.start()
        do {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await publisher.run() }
                group.addTask { try await ingest.run() }
                group.addTask { try await http.run() }
            }
        } catch {
            await broker.stop()
            throw error
        }
        await broker.stop()
    }
}
