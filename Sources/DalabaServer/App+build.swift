import DalabaStation
import Foundation
import Hummingbird
import HummingbirdCore
import Logging

/// Composes the HTTP application: token checks first, then the controllers.
public func buildApplication(
    station: Station, configuration: Configuration, metrics: StationMetrics, store: any AirtimeLogSource, logger: Logger,
    schedules: ScheduleService? = nil, preparation: AudioPreparation? = nil
) -> some ApplicationProtocol {
    let router = Router(context: StationRequestContext.self)
    let sessions = SessionStore()
    router.add(middleware: TokenAuthenticator(tokens: configuration.tokens, sessions: sessions))
    let intake = AnnouncementIntake(configuration: configuration, preparation: preparation)
    StationController(
        station: station, intake: intake,
        uploadDirectory: configuration.resolve(configuration.stateDirectory) + "/uploads", maxUploadBytes: configuration.maxUploadBytes,
        minimumFreeBytes: configuration.uploadMinimumFreeBytes, maxQueue: configuration.maxQueue,
        emergencyHeadroom: configuration.queueEmergencyHeadroom, metrics: metrics, intakeMetrics: IntakeMetrics(registry: metrics.registry)
    ).addRoutes(to: router)
    CAPController(
        station: station, intake: intake, preparation: preparation, policy: .station(overrides: configuration.capSeverityLevels),
        tier: configuration.capTier, alertDirectory: configuration.resolve(configuration.stateDirectory) + "/alerts",
        signatures: CAPSignatureCheck(configuration: configuration)
    ).addRoutes(to: router)
    if let schedules { ScheduleController(schedules: schedules).addRoutes(to: router) }
    let log = LogController(source: store, timeZone: configuration.timeZone)
    log.addRoutes(to: router)
    ConsoleController(
        station: station, source: store, verifier: log.verifier, sessions: sessions, tokens: configuration.tokens, timeZone: configuration.timeZone,
        clock: { Date() }, listenHost: configuration.listenHost, listenPort: configuration.listenPort
    ).addRoutes(to: router)
    // The idle timeout closes a connection that has not sent a complete request head in time (slow loris) or sits idle
    // between requests; the connection bound keeps what is left from exhausting file descriptors; request heads are
    // bounded at 100 fields of 8 KiB, 32 KiB in all (an API request needs a few hundred bytes).
    return Application(
        router: router,
        server: .http1(
            configuration: .init(
                idleTimeout: .seconds(Int64(configuration.httpIdleTimeout)),
                httpDecoderConfiguration: .init(maxHeaderFieldSize: 8 << 10, maxHeaderListSize: 32 << 10, maxHeaderFieldCount: 100))),
        configuration: .init(
            address: .hostname(configuration.listenHost, port: configuration.listenPort), serverName: "dalabad",
            availableConnectionsDelegate: MaximumAvailableConnections(configuration.httpMaxConnections, logger: logger)),
        logger: logger)
}
