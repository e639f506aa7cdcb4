import DalabaStation
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP application with its bound address made known: once the server listens, the address is logged and written to
/// `<state-directory>/listen` as `HOST:PORT`. With port 0 the system picks a free port, and this is how a supervisor (or a
/// test) learns which; the file is removed when the server stops.
struct ListenReport<App: ApplicationProtocol>: Service {
    let app: App
    let stateDirectory: String

    func run() async throws {
        let path = stateDirectory + "/listen"
        try? FileManager.default.removeItem(atPath: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await Reporting(app: app, path: path).run()
    }

    /// `app` as it is, but for what happens once the server runs; the protocol's own `run()` drives it.
    private struct Reporting: ApplicationProtocol {
        typealias Responder = App.Responder

        let app: App
        let path: String

        var responder: Responder { get async throws { try await app.responder } }
        var server: HTTPServerBuilder { app.server }
        var eventLoopGroup: any EventLoopGroup { app.eventLoopGroup }
        var configuration: ApplicationConfiguration { app.configuration }
        var logger: Logger { app.logger }
        var services: [any Service] { app.services }
        var processesRunBeforeServerStart: [@Sendable () async throws -> Void] { app.processesRunBeforeServerStart }

        @Sendable func onServerRunning(_ channel: any Channel) async {
            await app.onServerRunning(channel)
            guard let address = channel.localAddress, let ip = address.ipAddress, let port = address.port else { return }
            let text = address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
            // Written whole and renamed into place, so a reader never sees half an address.
            let temporary = path + ".tmp"
            do {
                try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: temporary))
                _ = rename(temporary, path)
            } catch {
                logger.error("cannot write the listen address", metadata: ["file": "\(path)", "error": "\(error)"])
            }
            logger.notice("listening", metadata: ["address": "\(text)", "file": "\(path)"])
        }
    }
}

/// `--listen HOST:PORT`, where port 0 (the system picks a free one, reported by `ListenReport`) is allowed too.
enum ListenAddress {
    static func parse(_ text: String) -> (String, Int)? {
        if text.hasSuffix(":0"), let (host, _) = Configuration.listenAddress(String(text.dropLast()) + "1") { return (host, 0) }
        return Configuration.listenAddress(text)
    }
}
