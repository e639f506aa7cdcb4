import DalabaCore
import DalabaStation
import Foundation
import Hummingbird
import Mustache

/// HTML escaping and query strings for what Swift still writes itself (the SVG charts, links with query strings).
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A query string from name-value pairs, percent-encoded, skipping empty values.
    static func query(_ pairs: [(String, String?)]) -> String {
        // ASCII only: CharacterSet.alphanumerics would leave Chinese letters unencoded.
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:")
        let items = pairs.compactMap { name, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }
        return items.isEmpty ? "" : "?" + items.joined(separator: "&")
    }
}

/// The console's pages: swift-mustache templates shipped as resources of this module (`Templates/`), filled from plain
/// values. Mustache escapes every `{{value}}`; only the server-drawn SVG charts go in unescaped (`{{{chart}}}`). Chinese
/// first, English beside it for the maintainers.
enum ConsolePages {
    /// The templates, read once from the module's resources. A station without them cannot show a page at all, so the
    /// daemon loads them when it composes the application (`buildApplication`) and stops there, naming the directory.
    static let library: MustacheLibrary = {
        let directory = templateDirectory
        var library = MustacheLibrary()
        do {
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() where name.hasSuffix(".mustache") {
                let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                try library.register(text, named: String(name.dropLast(".mustache".count)))
            }
        } catch {
            fatalError("the console's templates in \(directory.path) cannot be read: \(error)")
        }
        return library
    }()

    /// Where the templates are: beside the executable as SwiftPM lays out a build (`Dalaba_DalabaServer.resources`), in an
    /// installed tree's `share/dalaba/console`, else the module's own bundle (`Bundle.module`, which names what it misses).
    static let templateDirectory: URL = {
        let executable = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() ?? Bundle.main.bundleURL
        let candidates = [
            executable.appendingPathComponent("Dalaba_DalabaServer.resources/Templates"),
            executable.deletingLastPathComponent().appendingPathComponent("share/dalaba/console"),
        ]
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("layout.mustache").path) }) {
            return found
        }
        return Bundle.module.url(forResource: "Templates", withExtension: nil) ?? Bundle.module.bundleURL.appendingPathComponent("Templates")
    }()

    /// The stylesheet and the script, served from the same directory.
    static func asset(_ name: String) -> Data? {
        try? Data(contentsOf: templateDirectory.appendingPathComponent(name))
    }

    enum Section: String {
        case overview, log, verify, operate, live, schedule
    }

    struct NavLink {
        var href: String
        var label: String
        var active: Bool
    }

    /// What every page's layout reads.
    struct Frame {
        var title: String
        var user: String?
        var nav: [NavLink]
        var timeZone: String?
        var csrf: String?
        var refresh: String?
        var reloadSeconds: Int?
        var script: Bool

        init(
            title: String, user: String? = nil, role: Configuration.Role? = nil, active: Section? = nil, timeZone: TimeZone? = nil,
            csrf: String? = nil, refresh: String? = nil, reloadSeconds: Int? = nil, script: Bool = false
        ) {
            self.title = title
            self.user = user
            self.timeZone = timeZone?.identifier
            self.csrf = csrf
            self.refresh = refresh
            self.reloadSeconds = reloadSeconds
            self.script = script
            var sections: [(Section, String, String)] = []
            if role == .official || role == .admin {
                sections += [(.overview, "/", "概览"), (.log, "/log", "播出记录"), (.verify, "/verify", "完整性校验")]
            }
            if role == .operatorRole || role == .admin {
                sections += [(.operate, "/operate", "播出 Queue"), (.live, "/live", "实时队列 Live")]
            }
            if role != nil { sections.append((.schedule, "/schedule", "节目表 Schedule")) }
            nav = sections.map { NavLink(href: $0.1, label: $0.2, active: $0.0 == active) }
        }
    }

    /// A page: its layout frame and the template's own values, looked up by name (the frame's first).
    struct Page<Content>: MustacheParent {
        var frame: Frame
        var content: Content

        func child(named name: String) -> Any? {
            Self.unwrap(Mirror(reflecting: frame).descendant(name)) ?? Self.unwrap(Mirror(reflecting: content).descendant(name))
        }

        /// A property that is an empty optional is absent, so `{{#error}}` is false for a nil error.
        static func unwrap(_ value: Any?) -> Any? {
            guard let value else { return nil }
            let mirror = Mirror(reflecting: value)
            guard mirror.displayStyle == .optional else { return value }
            return unwrap(mirror.children.first?.value)
        }
    }

    /// The rendered page with headers that keep it out of caches and frames and allow only this server's style and script.
    static func render(_ template: String, _ frame: Frame, _ content: some Any, status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(Page(frame: frame, content: content), withTemplate: template) ?? "template \(template) is missing"
        return response(html, status: status)
    }

    static func response(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store", .xContentTypeOptions: "nosniff",
            .contentSecurityPolicy:
                "default-src 'none'; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; media-src 'self' blob:; img-src 'self' data:; "
                + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ]
        // same-origin, not no-referrer: the browser then names our origin in `Origin` on our own forms (no-referrer makes it
        // "null"), which the cross-site check reads; other sites still learn nothing.
        headers[.init("Referrer-Policy")!] = "same-origin"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    // MARK: - Small pages

    struct Problem {
        var title: String
        var message: String
        var back: String?
    }

    static func problem(title: String, message: String, user: String?, back: String? = nil, status: HTTPResponse.Status) -> Response {
        render("problem", Frame(title: title, user: user), Problem(title: title, message: message, back: back), status: status)
    }

    struct Login {
        var error: String?
        var next: String
        var loginToken: String
    }

    struct SignedIn {
        var next: String
    }

    // MARK: - Pieces shared by the pages

    /// A kind badge, with the emergency level and the drill mark.
    struct Badge {
        var kind: String
        var kindName: String
        var levelName: String?
        var test: Bool

        init(_ kind: Kind, _ level: Int?, _ test: Bool) {
            self.kind = kind.rawValue
            kindName = AirtimeText.chineseName(kind)
            levelName = kind == .emergency ? level.map { ["", "Ⅰ级", "Ⅱ级", "Ⅲ级", "Ⅳ级"][min(max($0, 1), 4)] } : nil
            self.test = test
        }
    }

    /// Device, underruns, store fault, schedule problems and free disk of the state directory: at the top of every page.
    struct Health {
        var device: StationAPI.Device
        var diskFree: String
        var storeFault: String?
        var scheduleProblems: [String]

        init(_ status: StationAPI.Status, freeBytes: Int?) {
            device = status.device
            diskFree = freeBytes.map(Self.bytes) ?? "未知 unknown"
            storeFault = status.storeFault
            scheduleProblems = status.scheduleProblems
        }

        static func bytes(_ count: Int) -> String {
            let units = ["B", "KiB", "MiB", "GiB", "TiB"]
            var value = Double(count)
            var unit = 0
            while value >= 1024 && unit < units.count - 1 {
                value /= 1024
                unit += 1
            }
            return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
        }
    }

    /// What plays now, for the overview and the live queue.
    struct NowPlaying {
        var id: String
        var title: String
        var badge: Badge
        var position: String
        var source: String
        var playNumber: Int
        var repeatCount: Int
        var startedAt: String?
        var hasDuration: Bool
        var duration: Double
        var progress: Double

        init(_ now: StationAPI.NowPlaying, local: LocalTime) {
            id = now.item.id
            title = now.item.title
            badge = Badge(now.item.kind, now.item.level, now.item.test)
            position = now.inSignal ? "提示音 \(now.signal)" : "\(AirtimeText.hms(now.position)) / \(AirtimeText.hms(now.duration))"
            source = now.item.source
            playNumber = now.playNumber
            repeatCount = now.item.repeat
            startedAt = now.startedAt.map(local.time)
            hasDuration = now.duration > 0
            duration = now.duration
            progress = min(now.position, now.duration)
        }
    }

    /// A queued item; `expected` is filled for the live queue.
    struct QueueItem {
        var id: String
        var title: String
        var badge: Badge
        var notes: String
        var expected: String?

        init(_ item: StationAPI.Item, local: LocalTime, expected: String? = nil) {
            var notes: [String] = ["来源 \(item.source)"]
            if let notBefore = item.notBefore { notes.append("不早于 \(local.dateTime(notBefore))") }
            if let expires = item.expires { notes.append("过期 \(local.dateTime(expires))") }
            if item.repeat > 1 { notes.append("共 \(item.repeat) 次") }
            id = item.id
            title = item.title
            badge = Badge(item.kind, item.level, item.test)
            self.notes = notes.joined(separator: " · ")
            self.expected = expected
        }
    }

    struct Option {
        var value: String
        var text: String
        var selected: Bool
    }

    struct Select {
        var name: String
        var label: String
        var options: [Option]
    }

    /// The filter form's values as typed, so the page shows them back.
    struct FilterValues: Equatable {
        var from = ""
        var to = ""
        var kind = ""
        var outcome = ""
        var test = ""

        var pairs: [(String, String?)] { [("from", from), ("to", to), ("kind", kind), ("outcome", outcome), ("test", test)] }

        var selects: [Select] {
            func options(_ pairs: [(String, String)], _ value: String) -> [Option] {
                pairs.map { Option(value: $0.0, text: $0.1, selected: $0.0 == value) }
            }
            return [
                Select(name: "kind", label: "类别 Kind", options: options(Kind.allCases.map { ($0.rawValue, AirtimeText.chineseName($0)) }, kind)),
                Select(
                    name: "outcome", label: "结果 Outcome",
                    options: options(Outcome.allCases.map { ($0.rawValue, AirtimeText.chineseName($0)) }, outcome)),
                Select(name: "test", label: "性质 Type", options: options([("false", "正式播出 real"), ("true", "演练 drills")], test)),
            ]
        }
    }

    struct Totals {
        var realCount: Int
        var realTime: String
        var drillCount: Int
        var drillTime: String
        var totalCount: Int
        var totalTime: String
        var timeHeading: String
        var timeChart: ConsoleCharts.Chart
        var kindChart: ConsoleCharts.Chart
        var csvLog: String
        var csvReport: String
    }

    struct Overview {
        var health: Health
        var nowPlaying: NowPlaying?
        var queue: [QueueItem]
        var queueCount: Int
        var queueEmpty: Bool
        var filterAction = "/"
        var filters: FilterValues
        var selects: [Select] = []
        var error: String?
        var total: Totals?
    }

    struct LogRowView {
        var seq: Int64
        var outcome: String
        var outcomeName: String
        var test: Bool
        var when: String
        var title: String
        var badge: Badge
        var error: String?
        var airtime: String
        var source: String
        /// The level it played at ("-6.00 dB"), "—" when it never reached the device or was logged before volumes were.
        var volume: String

        init(_ entry: StationAPI.LogEntry, local: LocalTime) {
            seq = entry.seq
            outcome = entry.outcome.rawValue
            outcomeName = AirtimeText.chineseName(entry.outcome)
            test = entry.test
            when = entry.startedAt.map { local.dateTime($0) } ?? "（未播）" + local.dateTime(entry.endedAt)
            title = entry.title
            badge = .init(entry.kind, entry.level, entry.test)
            error = entry.error
            airtime = AirtimeText.hms(entry.seconds)
            source = entry.source
            volume = entry.volume.map { String(format: "%.2f dB", $0) } ?? "—"
        }
    }

    struct Pager {
        var newer: String?
        var older: String?
        var page: Int
        var pages: Int
    }

    struct LogPage {
        var filterAction = "/log"
        var filters: FilterValues
        var selects: [Select]
        var error: String?
        var total = 0
        var shown: String?
        var csv = ""
        var realPlays = 0
        var realTime = ""
        var drillPlays = 0
        var drillTime = ""
        var rows: [LogRowView] = []
        var pager: Pager?
    }

    struct VerifyPage {
        var intact: Bool
        var rows: Int
        var problem: String
        var firstBadSeq: Int64?
        var head: String?
        var checkedAt: String
        var seconds: String
    }
}
