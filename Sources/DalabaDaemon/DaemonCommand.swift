import ArgumentParser
import DalabaAudio
import DalabaServer
import DalabaStation
import DalabaStore
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// `dalabad`: the station daemon. Its services (the station with its player thread, and the HTTP server) run in one
/// ServiceGroup; SIGTERM or SIGINT stops the item on air cleanly, records its partial play, and exits 0.
public struct DaemonCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dalabad", abstract: "The Dalaba station daemon: queues, schedules, plays and logs announcements.")

    @Option(help: "The TOML configuration file. Without it, the embedded defaults are used.")
    var config: String?

    @Option(help: "Override device.name: the ALSA PCM to play to.")
    var device: String?

    @Option(help: "Override http.listen, e.g. 127.0.0.1:8780.")
    var listen: String?

    public init() {}

    public func run() async throws {
        Self.limitMallocArenas()
        var configuration: Configuration
        do {
            configuration = try config.map { try Configuration.load(path: $0) } ?? Configuration()
            if let device { configuration.output.device = device }
            if let listen {
                guard let (host, port) = ListenAddress.parse(listen) else {
                    throw Configuration.Invalid(description: "--listen must be HOST:PORT, not \(listen)")
                }
                configuration.listenHost = host
                configuration.listenPort = port
            }
        } catch {
            FileHandle.standardError.write(Data("dalabad: \(error)\n".utf8))
            throw ExitCode(2)
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: configuration.logLevel) ?? .info
            return handler
        }
        let logger = Logger(label: "dalabad")
        let state = configuration.resolve(configuration.stateDirectory)
        let lock: StateDirectoryLock
        do {
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            lock = try StateDirectoryLock(directory: state)
        } catch {
            FileHandle.standardError.write(Data("dalabad: \(error)\n".utf8))
            throw ExitCode(2)
        }
        defer { withExtendedLifetime(lock) {} }
        if let problem = Self.listenProblem(host: configuration.listenHost, port: configuration.listenPort) {
            FileHandle.standardError.write(Data("dalabad: cannot listen on \(configuration.listenHost):\(configuration.listenPort) (http.listen): \(problem)\n".utf8))
            throw ExitCode(2)
        }
        do {
            if configuration.tokens.isEmpty { configuration.tokens = [try Self.localAdminToken(stateDirectory: state, logger: logger)] }
        } catch {
            FileHandle.standardError.write(Data("dalabad: state directory \(state): \(error)\n".utf8))
            throw ExitCode(2)
        }
        let store: StationStore
        do {
            store = try StationStore.open(path: state + "/station.sqlite", timeZone: configuration.timeZone)
        } catch {
            FileHandle.standardError.write(Data("dalabad: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let metrics = StationMetrics()
        let preparation = AudioPreparation(
            stateDirectory: state, levels: configuration.levels, voice: configuration.voice, maxCharacters: configuration.maxSpeechCharacters,
            logger: Logger(label: "dalabad.audio"))
        for signal in [configuration.chime, configuration.attention] { await preparation.measure(configuration.audioPath(signal)) }
        let player = Player(format: configuration.output, mixer: configuration.volume.mixer, logger: Logger(label: "dalabad.player"))
        let amplifier = AmplifierControl(
            configuration: configuration.amplifier, hardware: AmplifierControl.hardware(for: configuration.amplifier), player: player,
            metrics: metrics, logger: Logger(label: "dalabad.amplifier"))
        let station = try Station(
            configuration: configuration, store: store, player: player, metrics: metrics, logger: Logger(label: "dalabad.station"),
            preparation: preparation, amplifier: amplifier)
        let schedules = ScheduleService(
            configuration: configuration, station: station, store: store, logger: Logger(label: "dalabad.schedule"), preparation: preparation)
        let app = buildApplication(
            station: station, configuration: configuration, metrics: metrics, store: store, logger: Logger(label: "dalabad.http"),
            schedules: schedules, preparation: preparation, secureCookies: configuration.secureCookies)
        logger.info(
            "station starting",
            metadata: [
                "device": "\(configuration.output.device)", "listen": "\(configuration.listenHost):\(configuration.listenPort)", "state": "\(state)",
            ])
        // `[county]`: last to start, first to stop (it reports the village offline while the station still runs).
        let countyLink: [ServiceGroupConfiguration.ServiceConfiguration] =
            configuration.county.map { [.init(service: CountyLinkService(settings: $0, station: station, store: store, stateDirectory: state, logger: Logger(label: "dalabad.county")))] } ?? []
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: StationService(station: station)), .init(service: ScheduleRunner(schedules: schedules)),
                    .init(service: LogRetention(store: store, days: configuration.retentionDays, logger: logger)),
                    .init(
                        service: CacheSweeping(
                            station: station,
                            sweeper: CacheSweeper(policies: CacheSweeper.defaultPolicies(stateDirectory: state), metrics: metrics, logger: logger))),
                    .init(service: ListenReport(app: app, stateDirectory: state)),
                ] + countyLink,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            // A bind that failed after the check above (another process took the port meanwhile) still gets one clear line.
            let text = "\(error)"
            if text.contains("bind") || text.contains("Address already in use") {
                FileHandle.standardError.write(
                    Data("dalabad: cannot listen on \(configuration.listenHost):\(configuration.listenPort) (http.listen): \(text)\n".utf8))
                throw ExitCode(2)
            }
            throw error
        }
        logger.info("station stopped")
    }

    /// glibc gives each busy thread its own malloc arena and rarely hands their pages back: after a flood of requests over
    /// the HTTP server's threads the daemon kept 13 MB it no longer used. Two arenas keep it within 2 MB of idle.
    /// (`mallopt` is not in the Glibc module's headers; M_ARENA_MAX is -8.)
    static func limitMallocArenas() {
        #if os(Linux)
        typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
        guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil, let symbol = dlsym(nil, "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: MallOpt.self)(-8, 2)
        #endif
    }

    /// Tries the listen address before anything starts, so a port in use is one line naming `http.listen`, not an
    /// error from deep in the server after the station has begun playing.
    static func listenProblem(host: String, port: Int) -> String? {
        guard port != 0 else { return nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let info = result else { return "cannot resolve \(host): \(String(cString: gai_strerror(status)))" }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return String(cString: strerror(errno)) }
        defer { close(fd) }
        var yes: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size)) == 0 else { return String(cString: strerror(errno)) }
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else { return String(cString: strerror(errno)) }
        return nil
    }

    /// With no tokens configured, an admin token is made once and kept in the state directory (mode 0600), so the
    /// embedded defaults work out of the box and `dalaba` on the same machine can read it.
    static func localAdminToken(stateDirectory: String, logger: Logger) throws -> Configuration.Token {
        let path = stateDirectory + "/admin.token"
        if let existing = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines), existing.count >= 16 {
            return .init(name: "local-admin", token: existing, role: .admin)
        }
        let token = (0..<4).map { _ in UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }.joined().prefix(48)
        FileManager.default.createFile(atPath: path, contents: Data((token + "\n").utf8), attributes: [.posixPermissions: 0o600])
        logger.notice("no tokens configured: made an admin token", metadata: ["file": "\(path)"])
        return .init(name: "local-admin", token: String(token), role: .admin)
    }
}

/// Removes airtime-log rows older than the configured number of days, at start and every six hours; with 0 days
/// (the default) it keeps everything and does nothing.
struct LogRetention: Service {
    let store: StationStore
    let days: Int
    let logger: Logger

    func run() async throws {
        // Returning would end the whole group, so with retention off this service just waits for shutdown.
        guard days > 0 else {
            try? await gracefulShutdown()
            return
        }
        while !Task.isShuttingDownGracefully {
            do {
                let removed = try store.prune(before: Date().addingTimeInterval(-Double(days) * 86_400), policy: "keep \(days) days")
                if removed > 0 { logger.notice("airtime log retention", metadata: ["removed": "\(removed)", "keep-days": "\(days)"]) }
            } catch {
                logger.error("airtime log retention failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(6 * 3600)) }
        }
    }
}

/// Sweeps the audio caches at start and every ten minutes, never removing what a queued item needs.
struct CacheSweeping: Service {
    let station: Station
    let sweeper: CacheSweeper

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            let referenced = await station.referencedAudio()
            let sweeper = self.sweeper
            // Listing and removing files blocks: on a dispatch thread, not the cooperative pool.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global(qos: .utility).async {
                    sweeper.sweep(referenced: referenced, now: Date())
                    continuation.resume()
                }
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(600)) }
        }
    }
}

/// The station as a service: runs until graceful shutdown, then stops the item on air and records it.
struct StationService: Service {
    let station: Station

    func run() async throws {
        await station.run { try? await gracefulShutdown() }
    }
}
