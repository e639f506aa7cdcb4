import ArgumentParser
import Foundation

/// The options every command that talks to the daemon takes.
struct StationOptions: ParsableArguments {
    @Option(help: "The station's URL.")
    var server = "http://127.0.0.1:8780"

    @Option(help: "Bearer token (or set DALABA_TOKEN). Defaults to ./.dalaba/admin.token, then /var/lib/dalaba/admin.token, when readable.")
    var token: String?

    /// The admin token the daemon (or the package's postinst) made: the one of a station run from this directory first,
    /// then the installed station's, which root and members of group dalaba can read.
    static func adminToken(candidates: [String] = [".dalaba/admin.token", "/var/lib/dalaba/admin.token"]) -> String? {
        for path in candidates {
            if let text = try? String(contentsOfFile: path, encoding: .utf8) {
                let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if !token.isEmpty { return token }
            }
        }
        return nil
    }

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
            return StationClient(server: url, token: token ?? environment ?? Self.adminToken())
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
