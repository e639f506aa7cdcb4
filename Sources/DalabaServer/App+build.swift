import DalabaStation
import Hummingbird
import Logging

/// Composes the HTTP application: token checks first, then the controllers.
public func buildApplication(
    station: Station, configuration: Configuration, metrics: StationMetrics, logger: Logger
) -> some ApplicationProtocol {
    let router = Router(context: StationRequestContext.self)
    router.add(middleware: TokenAuthenticator(tokens: configuration.tokens))
    StationController(
        station: station, intake: AnnouncementIntake(configuration: configuration),
        uploadDirectory: configuration.resolve(configuration.stateDirectory) + "/uploads", maxUploadBytes: configuration.maxUploadBytes,
        metrics: metrics
    ).addRoutes(to: router)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.listenHost, port: configuration.listenPort), serverName: "dalabad"),
        logger: logger)
}
