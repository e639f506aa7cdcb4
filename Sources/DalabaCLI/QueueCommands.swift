import ArgumentParser
import DalabaCore
import Foundation

extension Kind: ExpressibleByArgument {}

/// `dalaba queue FILE | --text "…" --kind KIND …`: prints the id and the queue position.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue", abstract: "Queue an announcement on the station.",
        discussion: """
            FILE is uploaded when it is a file on this machine; otherwise it names a file in the station's audio directory.
            """)

    @Argument(help: "Audio file to play.")
    var file: String?

    @Option(help: "Text to speak instead of a file.")
    var text: String?

    @Option(help: "emergency, rumor-rebuttal, policy or routine.")
    var kind: Kind

    @Option(help: "Emergency level 1 (I, red) to 4 (IV, blue).")
    var level: Int?

    @Option(help: "Title shown in status and the log.")
    var title: String?

    @Option(help: "Source tier: county, township or village; at most the tier of your token (the default).")
    var tier: String?

    @Option(help: "How many times it plays in all.")
    var `repeat`: Int?

    @Option(help: "Seconds between repeats.")
    var interval: Double?

    @Option(help: "Not started before this time (ISO 8601, HH:MM today, or +10m).")
    var notBefore: String?

    @Option(help: "Never started after this time; an emergency playing past it stops (ISO 8601, HH:MM today, or +2h).")
    var expires: String?

    @Option(help: "External id: a second copy with the same id is not queued twice.")
    var id: String?

    @Flag(help: "A drill or test: marked and counted apart.")
    var test = false

    @Option(parsing: .upToNextOption, help: "At the county head-end: the county, township or village codes to reach (default: your token's region).")
    var to: [String] = []

    @OptionGroup var station: StationOptions

    func validate() throws {
        guard file != nil || text != nil else { throw ValidationError("give a FILE or --text") }
        guard file == nil || text == nil else { throw ValidationError("give a FILE or --text, not both") }
    }

    func run() async throws {
        try await reportingFailures {
            var request = StationAPI.QueueRequest(
                text: text, kind: kind, level: level, title: title, tier: tier, repeat: `repeat`, repeatInterval: interval,
                notBefore: try notBefore.map { try TimeArgument.parse($0, option: "--not-before") },
                expires: try expires.map { try TimeArgument.parse($0, option: "--expires") }, id: id, test: test ? true : nil)
            let client = try station.client
            let data: Data
            if let file, FileManager.default.fileExists(atPath: file) {
                data = try await client.upload(CountyTables.announcementsPath(to: to), metadata: request, file: URL(fileURLWithPath: file))
            } else {
                request.audio = file
                data = try await client.post(CountyTables.announcementsPath(to: to), json: request)
            }
            if CountyTables.printAccepted(data, format: station.format) { return }
            try Self.printReceipt(data, format: station.format)
        }
    }

    /// Prints the station's answer to a queue request: the id and where it stands, or why nothing was added.
    static func printReceipt(_ data: Data, format: StationOptions.OutputFormat) throws {
        let receipt = try StationAPI.makeDecoder().decode(StationAPI.QueueReceipt.self, from: data)
        switch format {
        case .json: print(String(decoding: data, as: UTF8.self))
        case .table:
            switch receipt.status {
            case .queued:
                let place = receipt.position == 0 ? "on air now or next" : "position \(receipt.position ?? 0) in the queue"
                print("queued \(receipt.id): \(place)")
            case .duplicate: print("not queued: \(receipt.id) is already queued or playing")
            case .expired: print("not queued: \(receipt.id) had already expired (logged as expired)")
            }
        }
    }
}

/// `dalaba cap FILE.xml`: hands a CAP 1.2 alert to the station, which broadcasts, replaces or cancels as it says.
struct CapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cap", abstract: "Ingest a CAP 1.2 alert (Alert, Update or Cancel).")

    @Argument(help: "The CAP 1.2 XML document.")
    var file: String

    @OptionGroup var station: StationOptions

    func run() async throws {
        try await reportingFailures {
            guard let document = FileManager.default.contents(atPath: file) else {
                throw StationClient.Failure(description: "\(file): cannot read the file")
            }
            let data = try await station.client.post("/v1/cap", body: document, contentType: "application/cap+xml")
            if station.format == .json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let outcome = (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
            let id = outcome["id"] as? String ?? "?"
            switch outcome["status"] as? String {
            case "queued": print("queued \(id): \(outcome["position"] as? Int == 0 ? "on air now or next" : "position \(outcome["position"] ?? 0) in the queue")")
            case "replaced": print("queued \(id), replacing \((outcome["cancelled"] as? [String])?.joined(separator: ", ") ?? "nothing on air")")
            case "cancelled": print("cancelled \((outcome["cancelled"] as? [String])?.joined(separator: ", ") ?? "nothing")")
            case "duplicate": print("not queued: \(id) is already queued or playing")
            case "ignored": print("not broadcast: \(outcome["reason"] as? String ?? "")")
            default: print(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cancel", abstract: "Cancel a queued or playing announcement.")

    @Argument(help: "The announcement's id.")
    var id: String

    @OptionGroup var station: StationOptions

    func run() async throws {
        try await reportingFailures {
            // Every byte outside A–Z a–z 0–9 - _ ~ is percent-encoded, so `/ ? # % \\`, spaces, 通知-1 and CAP ids that are
            // URLs travel as one path segment; `.` and `..` go as a query, which no client or proxy rewrites as a dot segment.
            let path =
                id.allSatisfy({ $0 == "." })
                ? "/v1/announcements?id=\(AnnouncementID.pathSegment(id))" : "/v1/announcements/\(AnnouncementID.pathSegment(id))"
            let data = try await station.client.delete(path)
            print(station.format == .json ? String(decoding: data, as: UTF8.self) : "cancelled \(DisplayText.echo(id, limit: 200))")
        }
    }
}

struct StopAllCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop-all", abstract: "Stop what plays and cancel everything queued.")

    @Option(parsing: .upToNextOption, help: "At the county head-end: the county, township or village codes to stop (default: your token's region).")
    var to: [String] = []

    @OptionGroup var station: StationOptions

    func run() async throws {
        try await reportingFailures {
            let data = try await station.client.post("/v1/stop-all", json: CountyAPI.StopAllRequest(to: to.isEmpty ? nil : to))
            if CountyTables.printSent(data, format: station.format) { return }
            if station.format == .json {
                print(String(decoding: data, as: UTF8.self))
            } else {
                let count = (try? JSONDecoder().decode([String: Int].self, from: data))?["cancelled"] ?? 0
                print("stopped: \(count) announcement\(count == 1 ? "" : "s") cancelled")
            }
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "What plays now, the queue, device health, the amplifier, dead air, the live item and the volume.")

    @OptionGroup var station: StationOptions

    @Flag(help: "Print the station's status as JSON (the same as --format json).")
    var json = false

    func run() async throws {
        try await reportingFailures {
            let data = try await station.client.get("/v1/status")
            if json || station.format == .json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let status = try StationAPI.makeDecoder().decode(StationAPI.Status.self, from: data)
            print(StatusReport.render(status))
        }
    }
}

/// Times as operators type them: ISO 8601, "HH:MM" (today, local), or "+10m" / "+2h" / "+30s" from now.
enum TimeArgument {
    static func parse(_ text: String, option: String, now: Date = Date(), timeZone: TimeZone = .current) throws -> Date {
        if text.hasPrefix("+"), let unit = text.last, let amount = Double(text.dropFirst().dropLast()), amount >= 0 {
            switch unit {
            case "s": return now.addingTimeInterval(amount)
            case "m": return now.addingTimeInterval(amount * 60)
            case "h": return now.addingTimeInterval(amount * 3600)
            default: break
            }
        }
        let parts = text.split(separator: ":")
        if parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            if let date = calendar.date(bySettingHour: h, minute: m, second: 0, of: now) { return date }
        }
        if let date = try? Date(text, strategy: .iso8601) { return date }
        throw ValidationError("\(option) \(text): use an ISO 8601 time (2026-11-21T08:00:00+08:00), HH:MM, or +10m / +2h")
    }
}

/// The readable `dalaba status` page.
enum StatusReport {
    static func render(_ status: StationAPI.Status) -> String {
        var lines: [String] = []
        let device = status.device
        let health = device.up ? "up" : "DOWN\(device.lastError.map { " (\($0))" } ?? "")"
        lines.append("device  \(device.name): \(health), \(device.rate) Hz × \(device.channels), underruns \(device.underruns)")
        if let retry = device.retryAt { lines.append("        retrying at \(clock(retry))") }
        if let fault = status.storeFault { lines.append("STORE FAULT  \(fault)") }
        for problem in status.scheduleProblems { lines.append("schedule problem  \(problem)") }
        lines += hardwareLines(status)
        if let now = status.nowPlaying {
            let where_ = now.inSignal ? "\(now.signal) signal" : "\(seconds(now.position)) / \(seconds(now.duration))"
            lines.append("on air  \(describe(now.item))  [\(where_)]  play \(now.playNumber) of \(now.item.repeat)")
        } else {
            lines.append("on air  nothing")
        }
        if status.queue.isEmpty {
            lines.append("queue   empty")
        } else {
            lines.append("queue")
            for (index, item) in status.queue.enumerated() {
                var notes: [String] = []
                if item.resumeAt > 0 { notes.append("resumes at \(seconds(item.resumeAt))") }
                if let nb = item.notBefore { notes.append("not before \(clock(nb))") }
                if let ex = item.expires { notes.append("expires \(clock(ex))") }
                lines.append("  \(index + 1). \(describe(item))\(notes.isEmpty ? "" : "  (" + notes.joined(separator: ", ") + ")")")
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The amplifier, the dead-air alarm, the live item and the volume: what a technician checks first when the village
    /// hears nothing. The alarm line is always there, so its absence never has to be read as good news.
    static func hardwareLines(_ status: StationAPI.Status) -> [String] {
        let safe = { (text: String) in DisplayText.echo(text, limit: 300) }
        var lines: [String] = []
        if let amplifier = status.amplifier {
            var line = "amplifier  \(safe(amplifier.backend)): \(amplifier.state), switched on \(amplifier.switchedOn) / off \(amplifier.switchedOff)"
            line += ", failures \(amplifier.failures)"
            if let error = amplifier.lastError { line += " (last: \(safe(error)))" }
            lines.append(line)
        }
        if let deadAir = status.deadAir {
            lines.append("DEAD AIR  since \(clock(deadAir.since)): \(safe(deadAir.reason))")
        } else {
            lines.append("dead air  none")
        }
        if let live = status.live {
            var line = "live    \(safe(live.id))  input \(safe(live.input))  on air \(seconds(live.secondsOnAir))"
            line += "  level " + (live.inputLevel.map { $0 <= StationAPI.Live.silenceFloor ? "silent" : String(format: "%.1f dBFS", $0) } ?? "—")
            if let volume = live.volume { line += "  volume \(String(format: "%g", volume)) dB" }
            lines.append(line)
            if let lost = live.outputLostSince {
                lines.append("        LOUDSPEAKER GONE since \(clock(lost)); the input is still heard, the talk goes on when it is back")
            }
        }
        if let relay = status.relay {
            let state = relay.connected ? "connected" : relay.reconnects > 0 || relay.lastError != nil ? "reconnecting" : "connecting"
            var line = "relay   \(safe(withoutUserinfo(relay.url)))  \(state), reconnects \(relay.reconnects)"
            if let buffered = relay.bufferedSeconds { line += String(format: ", %.1f s buffered", buffered) }
            if let limit = relay.deadAirSeconds { line += String(format: ", dead air after %.0f s", limit) }
            if relay.deadAir { line += "  DEAD AIR" }
            if !relay.connected, let error = relay.lastError { line += " (last: \(safe(error)))" }
            lines.append(line)
        }
        if let volume = status.volume {
            let how = volume.path == "mixer" ? "mixer element \(safe(volume.mixer ?? ""))" : "software gain"
            var line = "volume  base \(String(format: "%g", volume.base)) dB (\(how))"
            if let by = volume.setBy {
                line += ", set by \(safe(by))\(volume.setAt.map { " at \(clock($0))" } ?? "")"
            } else {
                line += ", as configured"
            }
            lines.append(line)
        }
        return lines
    }

    /// A relay's address as shown: any user and password taken out (the station refuses them, but an older queue may hold one).
    static func withoutUserinfo(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.user != nil || components.password != nil else { return url }
        components.user = nil
        components.password = nil
        return components.string ?? url
    }

    static func describe(_ item: StationAPI.Item) -> String {
        let kind = item.kind == .emergency ? "emergency L\(item.level ?? 0)" : item.kind.rawValue
        // Escapes in what the station reports never reach the terminal as escapes (items queued before intake refused them).
        let safe = { (text: String) in DisplayText.echo(text, limit: 500) }
        return "\(safe(item.id))  \(safe(item.title))  \(kind)\(item.test ? " DRILL" : "")  from \(safe(item.source))"
    }

    static func seconds(_ value: Double) -> String {
        let total = Int(value)
        return String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
    }

    static func clock(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }
}
