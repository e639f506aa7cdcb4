import ArgumentParser
import DalabaCore
import Foundation

/// `dalaba villages`: the county head-end's villages table (online since when, on air, device, last heartbeat, chain).
struct VillagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "villages", abstract: "The county's villages: online or offline since when, on air, device health, last heartbeat.",
        discussion: "Asks the head-end (dalaba-county) named by --server.")

    @Option(help: "Only this township or county (a 6- or 9-digit code inside your token's region).")
    var region: String?

    @OptionGroup var station: StationOptions

    func run() async throws {
        try await reportingFailures {
            let path = "/v1/villages" + (region.map { "?region=\(AnnouncementID.pathSegment($0))" } ?? "")
            let data = try await station.client.get(path)
            if station.format == .json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let villages = try StationAPI.makeDecoder().decode(CountyAPI.Villages.self, from: data).villages
            print(CountyTables.villages(villages))
        }
    }
}

/// `dalaba coverage ID`: where a county announcement got to, village by village.
struct CoverageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coverage", abstract: "Coverage of a county announcement: targeted, received, played in full or partly, failed, offline.",
        discussion: "Asks the head-end (dalaba-county) named by --server.")

    @Argument(help: "The announcement's id.")
    var id: String

    @OptionGroup var station: StationOptions

    func run() async throws {
        try await reportingFailures {
            let data = try await station.client.get("/v1/coverage/\(AnnouncementID.pathSegment(id))")
            if station.format == .json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print(CountyTables.coverage(try StationAPI.makeDecoder().decode(CountyAPI.Coverage.self, from: data)))
        }
    }
}

/// The readable tables of the county commands.
enum CountyTables {
    static func villages(_ villages: [CountyAPI.Village]) -> String {
        var table = TextTable(
            header: ["code", "village", "link", "since", "on air", "device", "heartbeat", "rows", "chain"],
            alignments: [.left, .left, .left, .left, .left, .left, .left, .right, .left])
        for v in villages {
            table.rows.append([
                v.code, DisplayText.echo(v.name, limit: 40), v.online ? "online" : "OFFLINE", v.since.map(StatusReport.clock) ?? "—",
                DisplayText.echo(v.onAir ?? "—", limit: 60), v.deviceUp.map { $0 ? "up" : "DOWN" } ?? "?", v.lastHeartbeat.map(StatusReport.clock) ?? "—",
                "\(v.rows)", v.chainFault.map { "FAULT: " + DisplayText.echo($0, limit: 120) } ?? "intact",
            ])
        }
        return table.render() + "\n\(villages.filter(\.online).count) of \(villages.count) online"
    }

    static func coverage(_ c: CountyAPI.Coverage) -> String {
        var table = TextTable(
            header: ["code", "village", "status", "first audio", "airtime", "volume", "reason"],
            alignments: [.left, .left, .left, .right, .right, .right, .left])
        for v in c.villages {
            table.rows.append([
                v.code, DisplayText.echo(v.name, limit: 40), v.status.rawValue, v.timeToFirstAudio.map { String(format: "%.3f s", $0) } ?? "—",
                v.rate.map { AirtimeText.hms(Double(v.frames) / Double(max($0, 1))) } ?? "—", volume(v.volume),
                DisplayText.echo(v.reason ?? "", limit: 80),
            ])
        }
        let counts = CountyAPI.Coverage.Status.allCases.compactMap { s in (c.counts[s.rawValue] ?? 0) > 0 ? "\(s.rawValue) \(c.counts[s.rawValue]!)" : nil }
        let kind = c.kind == .emergency ? "emergency L\(c.level ?? 0)" : c.kind.rawValue
        return "\(DisplayText.echo(c.id, limit: 200))  \(DisplayText.echo(c.title, limit: 200))  \(kind)  to \(c.targets.joined(separator: ", "))\n"
            + table.render() + "\n\(c.targeted) targeted: \(counts.joined(separator: ", "))"
    }

    /// A village's levels for the coverage table: "—" when none is known, marked when no station plays at such a level.
    static func volume(_ volume: CountyAPI.Coverage.PlayedVolume?) -> String {
        guard let volume else { return "—" }
        return volume.isPlausible ? volume.text : volume.text + " (implausible)"
    }
}

extension CountyTables {
    /// `POST /v1/announcements`, with `?to=` when regions are given (codes are digits, so they need no escaping; anything
    /// else is refused by the head-end by name).
    static func announcementsPath(to: [String]) -> String {
        to.isEmpty ? "/v1/announcements" : "/v1/announcements?to=\(to.map(AnnouncementID.pathSegment).joined(separator: ","))"
    }

    /// Prints the head-end's answer to a queue request; false when `data` is a village's receipt instead.
    static func printAccepted(_ data: Data, format: StationOptions.OutputFormat) -> Bool {
        guard let accepted = try? StationAPI.makeDecoder().decode(CountyAPI.Accepted.self, from: data) else { return false }
        if format == .json {
            print(String(decoding: data, as: UTF8.self))
        } else if accepted.status == "duplicate" {
            print("not sent: \(DisplayText.echo(accepted.id, limit: 200)) was accepted before")
        } else {
            print(
                "accepted \(DisplayText.echo(accepted.id, limit: 200)) (message \(accepted.message)) at \(accepted.tier) tier: to \(accepted.targets.joined(separator: ", ")), "
                    + "\(accepted.villages.count) village\(accepted.villages.count == 1 ? "" : "s")")
        }
        return true
    }

    /// Prints the head-end's answer to stop-all; false when `data` is a village's answer instead.
    static func printSent(_ data: Data, format: StationOptions.OutputFormat) -> Bool {
        guard let sent = try? StationAPI.makeDecoder().decode(CountyAPI.Sent.self, from: data) else { return false }
        if format == .json {
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("stop-all sent (message \(sent.message)) to \(sent.targets.joined(separator: ", ")): \(sent.villages.count) villages")
        }
        return true
    }
}
