import ArgumentParser
import DalabaCore
import Foundation

extension Outcome: ExpressibleByArgument {}

/// The options of the officials' commands: the station and token as for every command, and an output that may also be CSV.
struct ReviewOptions: ParsableArguments {
    @Option(help: "The station's URL.")
    var server = "http://127.0.0.1:8780"

    @Option(help: "Bearer token (or set DALABA_TOKEN). Defaults to ./.dalaba/admin.token when present.")
    var token: String?

    enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
        case table, csv, json
    }

    @Option(help: "Output: table (readable), csv (UTF-8 with BOM, for Excel or WPS) or json.")
    var format: OutputFormat = .table

    /// The client, resolving the token exactly as every other command does.
    var client: StationClient {
        get throws {
            try StationOptions.parse(["--server", server] + (token.map { ["--token", $0] } ?? [])).client
        }
    }
}

/// `dalaba log`: lists the airtime log; `dalaba log verify` checks its hash chain.
struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "The airtime log: what was broadcast, when, from whom, and for how long.",
        subcommands: [LogListCommand.self, LogVerifyCommand.self], defaultSubcommand: LogListCommand.self)
}

struct LogListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the log, oldest first, with the airtime totals (real broadcasts and drills apart).",
        discussion: """
            Dates are days in the station's time zone (2025-03-14; --to includes the whole day) or ISO 8601 times \
            (2025-03-14T08:00:00+08:00). Times are shown in the station's time zone.
            """)

    @Option(help: "First day (or time) to include.")
    var from: String?

    @Option(help: "Last day to include (or the time to stop before).")
    var to: String?

    @Option(help: "Only this kind: emergency, rumor-rebuttal, policy or routine.")
    var kind: Kind?

    @Option(help: "Only this outcome: completed, interrupted, cancelled, expired, missed or failed.")
    var outcome: Outcome?

    @Option(help: "Show at most this many rows.")
    var limit: Int?

    @OptionGroup var options: ReviewOptions

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    func run() async throws {
        try await reportingFailures {
            let client = try options.client
            let filters: [(String, String?)] = [("from", from), ("to", to), ("kind", kind?.rawValue), ("outcome", outcome?.rawValue)]
            if options.format == .csv {
                let data = try await client.get("/v1/log" + QueryString.make(filters + [("format", "csv"), ("limit", limit.map(String.init))]))
                FileHandle.standardOutput.write(data)
                return
            }
            let page = try await Self.fetchAll(client: client, filters: filters, limit: limit)
            switch options.format {
            case .json: print(String(decoding: try StationAPI.makeEncoder().encode(page), as: UTF8.self))
            default: print(LogTable.text(page.entries, timeZone: TimeZone(identifier: page.timeZone) ?? .current))
            }
        }
    }

    /// Every matching row (or the first `limit`), oldest first, a thousand per request.
    static func fetchAll(client: StationClient, filters: [(String, String?)], limit: Int?) async throws -> StationAPI.LogPage {
        var all: StationAPI.LogPage?
        while true {
            let offset = all?.entries.count ?? 0
            let size = min(1000, limit.map { $0 - offset } ?? 1000)
            let data = try await client.get(
                "/v1/log" + QueryString.make(filters + [("order", "oldest"), ("limit", String(size)), ("offset", String(offset))]))
            let page = try StationAPI.makeDecoder().decode(StationAPI.LogPage.self, from: data)
            if all == nil { all = page } else { all!.entries += page.entries }
            let fetched = all!.entries.count
            if page.entries.count < size || fetched >= page.total || fetched >= (limit ?? .max) { break }
        }
        all!.limit = all!.entries.count
        all!.offset = 0
        return all!
    }
}

/// `dalaba log verify`: walks the hash chain; exit status 3 when the log was edited, with the first row at fault.
struct LogVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Check that no row of the log was edited, inserted or deleted.",
        discussion: """
            Prints the chain head (SEQ:HASH). Keep it elsewhere (on paper, or sent to the county) and pass it later with --expect: \
            that also detects the removal or rewrite of the newest rows, which the chain alone cannot. After retention it prints the \
            anchor (the first kept row, the hash it links to, and the retention record that made it); every retention is a link of \
            the chain, so a head published after it covers the anchor, and one published before it is told so. Exit status 3 when \
            the log is not intact.

            Pointed (--server) at a county head-end (dalaba-county), it checks every village's chain as PostgreSQL holds it, \
            within --region, and names each village at fault with its first row at fault; exit status 3 when any is not intact.
            """)

    @Option(help: "A head printed by an earlier check (SEQ:HASH), that the log must still contain.")
    var expect: String?

    @Option(help: "At a county head-end: only this township or village (a 6-, 9- or 12-digit code inside your token's region).")
    var region: String?

    @OptionGroup var options: ReviewOptions

    /// Tells the head-end's answer from a station's by its shape: only the head-end's names its county.
    private struct Shape: Decodable { var county: String? }

    func run() async throws {
        try await reportingFailures {
            let data = try await options.client.get("/v1/log/verify" + QueryString.make([("head", expect), ("region", region)]))
            if try StationAPI.makeDecoder().decode(Shape.self, from: data).county != nil {
                guard expect == nil else { throw ValidationError("--expect is for a station's log; a county head-end has no single head") }
                try report(try StationAPI.makeDecoder().decode(CountyAPI.LogVerification.self, from: data), data: data)
                return
            }
            guard region == nil else { throw ValidationError("--region is for a county head-end; \(options.server) answered as a station") }
            let result = try StationAPI.makeDecoder().decode(StationAPI.LogVerification.self, from: data)
            switch options.format {
            case .json: print(String(decoding: data, as: UTF8.self))
            case .csv:
                print(
                    CSV.byteOrderMark
                        + CSV.line([
                            "intact", "rows", "first bad seq", "problem", "head", "first kept seq", "anchor hash", "retention seq",
                            "retention at", "retention by", "notice",
                        ])
                        + CSV.line([
                            String(result.intact), String(result.rows), result.firstBadSeq.map(String.init) ?? "", result.problem ?? "",
                            result.head ?? "", result.anchor.map { String($0.firstKeptSeq) } ?? "", result.anchor?.anchorHash ?? "",
                            result.anchor.map { String($0.retentionSeq) } ?? "", result.anchor.map { VerifyReport.time($0.madeAt) } ?? "",
                            result.anchor?.madeBy ?? "", result.notice ?? "",
                        ]),
                    terminator: "")
            case .table: print(VerifyReport.render(result))
            }
            if !result.intact {
                Console.error("the airtime log is NOT intact: \(result.problem ?? "unknown problem")")
                throw ExitCode(3)
            }
        }
    }

    /// The county's answer: each village at fault with its first row at fault, and the summary.
    private func report(_ result: CountyAPI.LogVerification, data: Data) throws {
        let broken = result.villages.filter { !$0.intact }
        switch options.format {
        case .json: print(String(decoding: data, as: UTF8.self))
        case .csv:
            print(
                CSV.byteOrderMark + CSV.line(["village", "intact", "rows", "last seq", "first bad seq", "first fault", "faults"])
                    + result.villages.map {
                        CSV.line([
                            $0.village, String($0.intact), String($0.rows), String($0.lastSeq), $0.firstBadSeq.map(String.init) ?? "",
                            $0.faults.first ?? "", String($0.faults.count),
                        ])
                    }.joined(),
                terminator: "")
        case .table: print(VerifyReport.render(result))
        }
        if !broken.isEmpty {
            Console.error(
                "the airtime log of \(broken.count) village\(broken.count == 1 ? "" : "s") is NOT intact: "
                    + broken.map { DisplayText.echo($0.village, limit: 20) }.joined(separator: ", "))
            throw ExitCode(3)
        }
    }
}

/// `dalaba report --by …`: airtime totals and counts, real broadcasts and drills apart, with the grand total.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Airtime totals per day, week, month, kind, level or source.",
        discussion: """
            Airtime is counted from the frames that reached the device, as hours:minutes:seconds. Days, ISO weeks and months \
            are the station's. Dates as for dalaba log.
            """)

    enum Grouping: String, ExpressibleByArgument, CaseIterable {
        case day, week, month, kind, level, source
    }

    @Option(help: "Group by day, week, month, kind, level or source.")
    var by: Grouping = .month

    @Option(help: "First day (or time) to include.")
    var from: String?

    @Option(help: "Last day to include (or the time to stop before).")
    var to: String?

    @OptionGroup var options: ReviewOptions

    func run() async throws {
        try await reportingFailures {
            let client = try options.client
            let filters: [(String, String?)] = [("by", by.rawValue), ("from", from), ("to", to)]
            switch options.format {
            case .csv:
                FileHandle.standardOutput.write(try await client.get("/v1/report" + QueryString.make(filters + [("format", "csv")])))
            case .json:
                print(String(decoding: try await client.get("/v1/report" + QueryString.make(filters)), as: UTF8.self))
            case .table:
                let data = try await client.get("/v1/report" + QueryString.make(filters))
                print(ReportTable.text(try StationAPI.makeDecoder().decode(StationAPI.AirtimeReport.self, from: data)))
            }
        }
    }
}

/// The readable result of `dalaba log verify`.
enum VerifyReport {
    static func render(_ result: StationAPI.LogVerification) -> String {
        var lines: [String] = []
        if result.intact {
            lines.append("intact: \(result.rows) row\(result.rows == 1 ? "" : "s") checked, no edit, insertion or deletion found")
        } else {
            lines.append("NOT INTACT: \(result.problem ?? "unknown problem")")
            if let seq = result.firstBadSeq { lines.append("first row at fault: \(seq)") }
            lines.append("rows walked: \(result.rows)")
        }
        if let anchor = result.anchor {
            let removed = anchor.firstKeptSeq == 2 ? "row 1" : "rows 1–\(anchor.firstKeptSeq - 1)"
            lines.append(
                "anchor: \(removed) removed by retention record \(anchor.retentionSeq) at \(time(anchor.madeAt)) (\(anchor.madeBy)); "
                    + "the chain starts at row \(anchor.firstKeptSeq) from \(anchor.anchorHash)")
        }
        if let notice = result.notice { lines.append("notice: \(notice)") }
        if let head = result.head { lines.append("head: \(head)   (keep it; check later with --expect \(head))") }
        return lines.joined(separator: "\n")
    }

    /// A county's villages: one line per village at fault (its code, its first row at fault and why), then the summary.
    static func render(_ result: CountyAPI.LogVerification) -> String {
        var lines: [String] = []
        for village in result.villages where !village.intact {
            lines.append("NOT INTACT \(DisplayText.echo(village.village, limit: 20)): \(DisplayText.echo(village.faults.first ?? "", limit: 200))")
            if let seq = village.firstBadSeq { lines.append("    first row at fault: \(seq)") }
            let more = village.faults.dropFirst()
            for fault in more.prefix(4) { lines.append("    also: \(DisplayText.echo(fault, limit: 200))") }
            if more.count > 4 { lines.append("    and \(more.count - 4) more") }
        }
        let rows = result.villages.reduce(Int64(0)) { $0 + $1.rows }
        let broken = result.villages.filter { !$0.intact }.count
        let counted = "\(result.villages.count) village\(result.villages.count == 1 ? "" : "s"), \(rows) row\(rows == 1 ? "" : "s") checked"
        let place = "county \(DisplayText.echo(result.county, limit: 20)), region \(DisplayText.echo(result.region, limit: 20))"
        lines.append(
            broken == 0
                ? "intact: \(counted) (\(place)), no edit, insertion or deletion found"
                : "NOT INTACT: \(broken) of \(counted) (\(place))")
        return lines.joined(separator: "\n")
    }

    /// An instant as ISO 8601 UTC, the form it has in the JSON.
    static func time(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }
}

/// A query string from name-value pairs, skipping absent values and percent-encoding the rest ("+" in a time must not become a
/// space).
enum QueryString {
    static func make(_ pairs: [(String, String?)]) -> String {
        // ASCII only: CharacterSet.alphanumerics would leave Chinese letters unencoded.
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:")
        let items = pairs.compactMap { name, value in
            value.map { "\(name)=\($0.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0)" }
        }
        return items.isEmpty ? "" : "?" + items.joined(separator: "&")
    }
}
