import DalabaStation
import Foundation
import Hummingbird
import HummingbirdAuth
import HummingbirdCore
import Logging

/// Composes the HTTP application: the caller is found first (a bearer token, else a console session), then every route sits
/// in a group that declares who may call it (`RouteTable`, `RoleGuard`).
///
/// - Parameter secureCookies: mark the console's cookies `Secure`, for a station served over HTTPS by a proxy in front of it.
///   Only the configuration decides this; a client's `X-Forwarded-Proto` is never believed.
public func buildApplication(
    station: Station, configuration: Configuration, metrics: StationMetrics, store: any AirtimeLogSource, logger: Logger,
    schedules: ScheduleService? = nil, preparation: AudioPreparation? = nil, secureCookies: Bool = false
) -> some ApplicationProtocol {
    let sessions = MemoryPersistDriver()
    // Read the console's templates now: a station installed without them stops here, saying where it looked.
    _ = ConsolePages.library
    let (router, _) = buildRouter(
        station: station, configuration: configuration, metrics: metrics, store: store, sessions: sessions, schedules: schedules,
        preparation: preparation, secureCookies: secureCookies)
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
        // The session store's own service drops expired sessions.
        services: [sessions],
        logger: logger)
}

/// The router and the table of every route with its declared access (the route-walking test compares the two).
func buildRouter(
    station: Station, configuration: Configuration, metrics: StationMetrics, store: any AirtimeLogSource, sessions: some PersistDriver,
    schedules: ScheduleService? = nil, preparation: AudioPreparation? = nil, secureCookies: Bool = false, clock: @escaping @Sendable () -> Date = { Date() }
) -> (Router<StationRequestContext>, [DeclaredRoute]) {
    let router = Router(context: StationRequestContext.self)
    router.add(middleware: BearerAuthenticator(tokens: configuration.tokens))
    router.add(
        middleware: SessionMiddleware<StationRequestContext>(
            storage: sessions,
            configuration: .init(
                sessionCookieParameters: .init(name: "dalaba_session", path: "/", secure: secureCookies, sameSite: .strict),
                keyPrefix: "console.", defaultSessionExpiration: .seconds(12 * 3600))))
    router.add(middleware: ConsoleSessionAuthenticator(clock: clock))
    let routes = RouteTable(router: router)
    let origin = OriginCheck(listenHost: configuration.listenHost, listenPort: configuration.listenPort, secure: secureCookies)
    let state = configuration.resolve(configuration.stateDirectory)
    let intake = AnnouncementIntake(configuration: configuration, preparation: preparation)
    StationController(
        station: station, intake: intake, uploadDirectory: state + "/uploads", maxUploadBytes: configuration.maxUploadBytes,
        minimumFreeBytes: configuration.uploadMinimumFreeBytes, maxQueue: configuration.maxQueue,
        emergencyHeadroom: configuration.queueEmergencyHeadroom, metrics: metrics, intakeMetrics: IntakeMetrics(registry: metrics.registry)
    ).addRoutes(to: routes)
    CAPController(
        station: station, intake: intake, preparation: preparation, policy: .station(overrides: configuration.capSeverityLevels),
        tier: configuration.capTier, alertDirectory: state + "/alerts", signatures: CAPSignatureCheck(configuration: configuration)
    ).addRoutes(to: routes)
    LiveController(station: station, intake: intake).addRoutes(to: routes)
    if let schedules { ScheduleController(schedules: schedules).addRoutes(to: routes) }
    VolumeController(station: station).addRoutes(to: routes)
    let log = LogController(source: store, timeZone: configuration.timeZone)
    log.addRoutes(to: routes)
    ConsoleController(
        station: station, source: store, verifier: log.verifier, tokens: configuration.tokens, timeZone: configuration.timeZone, clock: clock,
        origin: origin, loginToken: LoginToken(), stateDirectory: state
    ).addRoutes(to: routes)
    OperatorController(
        station: station, intake: intake, preparation: preparation, schedules: schedules, timeZone: configuration.timeZone, clock: clock,
        uploadDirectory: state + "/uploads", stateDirectory: state, maxUploadBytes: configuration.maxUploadBytes,
        minimumFreeBytes: configuration.uploadMinimumFreeBytes, maxSpeechCharacters: configuration.maxSpeechCharacters,
        chimeSeconds: ConsoleQueries.audioSeconds(configuration.audioPath(configuration.chime)) ?? 0,
        attentionSeconds: ConsoleQueries.audioSeconds(configuration.audioPath(configuration.attention)) ?? 0
    ).addRoutes(to: routes, csrf: CSRFGuard(origin: origin))
    return (router, routes.declared)
}
