import DalabaStation
import Foundation
import Hummingbird
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
        metrics: metrics
    ).addRoutes(to: router)
    CAPController(
        station: station, intake: intake, preparation: preparation, policy: .station(overrides: configuration.capSeverityLevels),
        tier: configuration.capTier, alertDirectory: configuration.resolve(configuration.stateDirectory) + "/alerts"
    ).addRoutes(to: router)
    if let schedules { ScheduleController(schedules: schedules).addRoutes(to: router) }
    let log = LogController(source: store, timeZone: configuration.timeZone)
    log.addRoutes(to: router)
    ConsoleController(
        station: station, source: store, verifier: log.verifier, sessions: sessions, tokens: configuration.tokens, timeZone: configuration.timeZone,
        clock: { Date() }
    ).addRoutes(to: router)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.listenHost, port: configuration.listenPort), serverName: "dalabad"),
        logger: logger)
}
