import ArgumentParser
import Foundation

/// The options every command that talks to the daemon takes.
struct StationOptions: ParsableArguments {
    @Option(help: "The station's URL.")
    var server = "http://127.0.0.1:8780"

    @Option(help: "Bearer token (or set DALABA_TOKEN). Defaults to ./.dalaba/admin.token when present.")
    var token: String?

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    @Option(help: "Output: table (readable) or json.")
    var format: OutputFormat = .table

    var client: StationClient {
        get throws {
            guard let url = URL(string: server), url.scheme == "http" || url.scheme == "https" else {
                throw StationClient.Failure(description: "--server must be an http:// or https:// URL, not \(server)")
            }
            let environment = ProcessInfo.processInfo.environment["DALABA_TOKEN"]
            let local = try? String(contentsOfFile: ".dalaba/admin.token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            return StationClient(server: url, token: token ?? environment ?? local)
        }
    }
}

/// Runs a command body, turning any failure into one line on stderr and exit status 1.
func reportingFailures(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        Console.error("\(error)")
        throw ExitCode(1)
    }
}
