import DalabaCore
import DalabaLink
import Foundation
import Mustache

/// The read-only console pages (the villages table, the airtime log, an announcement's coverage, sign-in): swift-mustache
/// templates shipped with this module (`Templates/`), filled from plain views whose text is already formatted. Mustache
/// escapes every `{{value}}`, and no template has a `{{{value}}}`: everything shown comes from a village or an operator.
enum CountyPages {
    /// The templates, read once. A head-end without them cannot show a page, so `dalaba-county` reads them before it starts
    /// any service and stops there, naming the places it looked (`CountyCommand`).
    static let templates = Result { try Templates.locate() }

    static func villages(_ villages: [CountyAPI.Village], county: CountyConfiguration, caller: CountyConfiguration.Token) -> String {
        let local = LocalTime(timeZone: county.timeZone)
        let lines = villages.map { v in
            VillagesView.Line(
                code: v.code, name: v.name, township: county.townshipName((try? RegionCode(v.township)) ?? county.county),
                linkClass: v.online ? "ok" : "bad", link: (v.online ? "online" : "OFFLINE") + (v.since.map { " since " + local.dateTime($0) } ?? ""),
                onAir: v.onAir ?? "—", deviceClass: v.deviceUp == false ? "bad" : "", device: v.deviceUp.map { $0 ? "up" : "DOWN" } ?? "?",
                lastHeartbeat: v.lastHeartbeat.map(local.dateTime) ?? "—", rows: "\(v.rows)",
                chainClass: v.chainFault == nil ? "" : "bad", chain: v.chainFault ?? "intact")
        }
        let view = VillagesView(
            title: "\(county.countyName.isEmpty ? county.county.digits : county.countyName) — villages", heading: heading(county),
            region: caller.scope.digits, online: "\(villages.filter(\.online).count)", total: "\(villages.count)", villages: lines)
        return render("villages", view)
    }

    static func coverage(_ coverage: CountyAPI.Coverage, county: CountyConfiguration) -> String {
        let local = LocalTime(timeZone: county.timeZone)
        let lines = coverage.villages.map { v in
            CoverageView.Line(
                code: v.code, name: v.name, status: v.status.rawValue,
                timeToFirstAudio: v.timeToFirstAudio.map { String(format: "%.3f s", $0) } ?? "—",
                airtime: v.rate.map { AirtimeText.hms(Double(v.frames) / Double(max($0, 1))) } ?? "—",
                volume: v.volume?.text ?? "—", implausible: v.volume.map { !$0.isPlausible } ?? false, reason: v.reason ?? "")
        }
        let counts = CountyAPI.Coverage.Status.allCases.compactMap { s -> String? in
            let n = coverage.counts[s.rawValue] ?? 0
            return n == 0 ? nil : "\(s.rawValue) \(n)"
        }
        let view = CoverageView(
            title: "coverage \(coverage.id)", announcement: coverage.title, id: coverage.id,
            kind: coverage.kind.rawValue + (coverage.level.map { " level \($0)" } ?? ""), acceptedAt: local.dateTime(coverage.acceptedAt),
            targets: coverage.targets.joined(separator: ", "), targeted: "\(coverage.targeted)", counts: counts.joined(separator: " · "),
            villages: lines)
        return render("coverage", view)
    }

    /// The county's copy of the villages' airtime rows, newest first, with the volume each played at (as in the log CSV).
    static func log(_ rows: [(village: String, row: LinkRow)], total: Int, county: CountyConfiguration, caller: CountyConfiguration.Token) -> String {
        let local = LocalTime(timeZone: county.timeZone)
        let names = Dictionary(county.villages.map { ($0.code.digits, $0.name) }, uniquingKeysWith: { first, _ in first })
        let lines = rows.map { village, r in
            LogView.Line(
                village: village, name: names[village] ?? "", seq: "\(r.seq)",
                started: r.startedAt.map { local.dateTime(Date(timeIntervalSince1970: Double($0) / 1000)) } ?? "—", title: r.title,
                kind: r.kind + (r.level.map { " L\($0)" } ?? "") + (r.isTest ? " (drill)" : ""), outcome: r.outcome,
                airtime: AirtimeText.hms(r.airtime), volume: r.volume.map { CountyController.decibels($0) + " dB" } ?? "—")
        }
        let view = LogView(
            title: "\(county.countyName.isEmpty ? county.county.digits : county.countyName) — airtime log", heading: heading(county),
            region: caller.scope.digits, total: "\(total)", shown: "\(rows.count)", rows: lines)
        return render("log", view)
    }

    static func login(_ county: CountyConfiguration) -> String {
        render("login", LoginView(title: "sign in", heading: heading(county)))
    }

    /// The county's name, or its code when it has none.
    static func heading(_ county: CountyConfiguration) -> String {
        county.countyName.isEmpty ? "County \(county.county)" : county.countyName
    }

    /// A page from its template. `dalaba-county` never serves without its templates, so the failure text is only ever seen by a
    /// caller that skipped that check.
    static func render(_ name: String, _ view: some Any) -> String {
        switch templates {
        case .success(let templates):
            // Every name is checked when the templates are read (`Templates.names`).
            return templates.library.render(view, withTemplate: name) ?? "the county console has no template \(name)"
        case .failure(let error):
            return "the county console cannot show a page: \(error)"
        }
    }

    // MARK: - What the templates read

    struct VillagesView {
        var title, heading, region, online, total: String
        var villages: [Line]

        struct Line {
            var code, name, township, linkClass, link, onAir, deviceClass, device, lastHeartbeat, rows, chainClass, chain: String
        }
    }

    struct CoverageView {
        var title, announcement, id, kind, acceptedAt, targets, targeted, counts: String
        var villages: [Line]

        /// `volume` is "—" when no level is known; `implausible` marks a level no station plays at, since only something other
        /// than dalabad writes one.
        struct Line {
            var code, name, status, timeToFirstAudio, airtime, volume: String
            var implausible: Bool
            var reason: String
        }
    }

    struct LogView {
        var title, heading, region, total, shown: String
        var rows: [Line]

        struct Line {
            var village, name, seq, started, title, kind, outcome, airtime, volume: String
        }
    }

    struct LoginView {
        var title, heading: String
    }

    // MARK: - Finding the templates

    /// The console's templates, every one of them read and parsed.
    struct Templates: Sendable {
        /// Every template a page needs: a directory that lacks one is refused whole, not found out at the first request for it.
        static let names = ["layout", "villages", "log", "coverage", "login"]

        let directory: URL
        let library: MustacheLibrary

        /// Reads every template from `directory`, or says which one is missing or cannot be parsed (file, line and column).
        init(directory: URL) throws {
            var library = MustacheLibrary()
            for name in Self.names {
                let file = directory.appendingPathComponent("\(name).mustache")
                let text: String
                do {
                    text = try String(contentsOf: file, encoding: .utf8)
                } catch {
                    let reason = FileManager.default.fileExists(atPath: file.path) ? "cannot be read as UTF-8 text" : "is missing"
                    throw Unusable(description: "the county console's template \(file.path) \(reason)")
                }
                do {
                    try library.register(text, named: name)
                } catch let error as MustacheTemplate.ParserError {
                    throw Unusable(
                        description: "the county console's template \(file.path), line \(error.context.lineNumber) column "
                            + "\(error.context.columnNumber): \(error.error)")
                }
            }
            self.directory = directory
            self.library = library
        }

        /// Where the templates may be, in order: beside the executable as SwiftPM lays out a build (`swift build`, `swift run`,
        /// the tests), then an installed tree's `<prefix>/share/dalaba/county` beside `<prefix>/bin`. SwiftPM's `Bundle.module`
        /// is not asked: its accessor stops the process with a trap when its bundle is missing, and the build tree's copy it
        /// would find is the one beside the executable.
        static func places(executable: URL) -> [URL] {
            let directory = executable.resolvingSymlinksInPath().deletingLastPathComponent()
            return [
                directory.appendingPathComponent("Dalaba_DalabaCounty.resources/Templates"),
                directory.deletingLastPathComponent().appendingPathComponent("share/dalaba/county"),
            ]
        }

        /// The templates of the first place that has a layout; none having one is an error naming every place looked.
        static func locate(in places: [URL] = places(executable: Bundle.main.executableURL ?? Bundle.main.bundleURL)) throws -> Templates {
            guard let directory = places.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("layout.mustache").path) })
            else {
                throw Unusable(description: "the county console's templates are in none of: \(places.map(\.path).joined(separator: ", "))")
            }
            return try Templates(directory: directory)
        }
    }

    struct Unusable: Error, CustomStringConvertible {
        let description: String
    }
}
