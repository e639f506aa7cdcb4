import DalabaCore
import DalabaLink
import DalabaTestSupport
import Foundation
import Testing

@testable import DalabaCounty

/// The county console's airtime log page shows the volume each row played at, as the county's log CSV does.
struct CountyPagesTests {
    @Test func theLogPageShowsEachRowsVolumeAndADashForARowLoggedBeforeVolumes() throws {
        var county = CountyConfiguration(county: region("370703"))
        county.villages = [.init(code: region("370703001001"), name: "东村", fetchToken: "fetch-token-0123456789")]
        let caller = CountyConfiguration.Token(name: "official", token: "t", role: .official, scope: region("370703"))
        var rows = chainedRows(count: 1, volume: -650) + chainedRows(from: 2, count: 1)
        rows[1].title = "<b>未转义</b>"
        let html = CountyPages.log(rows.map { ("370703001001", $0) }, total: 2, county: county, caller: caller)
        /// One row of the table, from its tag to its end.
        func row(_ seq: Int) throws -> String {
            let start = try #require(html.range(of: "data-seq=\"\(seq)\""))
            let end = try #require(html.range(of: "</tr>", range: start.upperBound..<html.endIndex))
            return String(html[start.lowerBound..<end.upperBound])
        }
        let row1 = try row(1)
        #expect(html.contains("<th>volume</th>"))
        #expect(row1.contains("<td class=\"num volume\">-6.50 dB</td>"), "\(row1)")
        let row2 = try row(2)
        #expect(row2.contains("<td class=\"num volume\">—</td>"), "\(row2)")
        #expect(html.contains("&lt;b&gt;未转义&lt;/b&gt;") && !html.contains("<b>未转义"), "titles are escaped")
        #expect(html.contains("<td>东村</td>"))
    }
}

/// The console's pages come from its swift-mustache templates, which escape whatever a village or an operator wrote; a
/// head-end whose templates are missing stops at start, naming the places it looked.
struct CountyTemplateTests {
    static let shipped = Processes.packageRoot.appendingPathComponent("Sources/DalabaCounty/Templates")

    /// A directory holding the shipped templates, less `leaving`.
    func copyOfTheTemplates(leaving: String? = nil) throws -> URL {
        let directory = try Processes.temporaryDirectory("county-templates")
        for name in CountyPages.Templates.names where name != leaving {
            try FileManager.default.copyItem(
                at: Self.shipped.appendingPathComponent("\(name).mustache"), to: directory.appendingPathComponent("\(name).mustache"))
        }
        return directory
    }

    @Test func aDirectoryLackingATemplateOrWithABrokenOneIsRefusedNamingTheFile() throws {
        let lacking = try copyOfTheTemplates(leaving: "log")
        defer { try? FileManager.default.removeItem(at: lacking) }
        let missing = #expect(throws: CountyPages.Unusable.self) { try CountyPages.Templates(directory: lacking) }
        #expect(missing?.description == "the county console's template \(lacking.path)/log.mustache is missing")
        // A layout is there, so this is the place chosen: the missing page is named, not passed over for another place.
        let chosen = #expect(throws: CountyPages.Unusable.self) { try CountyPages.Templates.locate(in: [lacking, Self.shipped]) }
        #expect(chosen?.description.contains("\(lacking.path)/log.mustache is missing") == true, "\(String(describing: chosen))")

        try "{{<layout}}{{$body}}\n{{#rows}}<tr>\n{{/body}}{{/layout}}\n".write(
            to: lacking.appendingPathComponent("log.mustache"), atomically: true, encoding: .utf8)
        let broken = #expect(throws: CountyPages.Unusable.self) { try CountyPages.Templates(directory: lacking) }
        #expect(
            broken?.description.hasPrefix("the county console's template \(lacking.path)/log.mustache, line ") == true,
            "\(String(describing: broken))")
    }

    @Test func theTemplatesAreLookedForBesideTheExecutableThenInTheInstalledShareAndNoneNamesEveryPlace() throws {
        let places = CountyPages.Templates.places(executable: URL(fileURLWithPath: "/opt/dalaba/bin/dalaba-county"))
        #expect(places.map(\.path) == ["/opt/dalaba/bin/Dalaba_DalabaCounty.resources/Templates", "/opt/dalaba/share/dalaba/county"])
        let empty = try Processes.temporaryDirectory("county-no-templates")
        defer { try? FileManager.default.removeItem(at: empty) }
        let installed = try copyOfTheTemplates()
        defer { try? FileManager.default.removeItem(at: installed) }
        #expect(try CountyPages.Templates.locate(in: [empty, installed]).directory == installed)
        let none = #expect(throws: CountyPages.Unusable.self) {
            try CountyPages.Templates.locate(in: [empty, empty.appendingPathComponent("share")])
        }
        #expect(none?.description == "the county console's templates are in none of: \(empty.path), \(empty.path)/share")
        // The tests' own executable finds the build's copy.
        #expect(try CountyPages.templates.get().directory.path.hasSuffix("/Dalaba_DalabaCounty.resources/Templates"))
    }

    /// `dalaba-county` itself, linked into a tree of its own that has no templates: it stops before it starts anything.
    @Test func aHeadEndWithoutItsTemplatesStopsAtStartNamingThePlacesItLooked() async throws {
        let tree = try Processes.temporaryDirectory("county-bare-tree")
        defer { try? FileManager.default.removeItem(at: tree) }
        let bin = tree.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let executable = bin.appendingPathComponent("dalaba-county")
        // A hard link, not a symbolic one (which would lead back to the build's templates); a copy on another file system.
        let built = Processes.binDirectory.appendingPathComponent("dalaba-county")
        if link(built.path, executable.path) != 0 { try FileManager.default.copyItem(at: built, to: executable) }
        let config = tree.appendingPathComponent("county.toml")
        try "[county]\ncode = \"370703\"\nstate-directory = \"\(tree.appendingPathComponent("state").path)\"\n".write(
            to: config, atomically: true, encoding: .utf8)
        let result = try await Processes.run(executable.path, ["--config", config.path], timeout: 60)
        #expect(result.status == 2, "\(result.stderr)")
        #expect(
            result.stderr.contains(
                "dalaba-county: the county console's templates are in none of: \(bin.path)/Dalaba_DalabaCounty.resources/Templates, "
                    + "\(tree.path)/share/dalaba/county"), "\(result.stderr)")
    }

    @Test func hostileTextFromVillagesAndOperatorsIsEscapedInTextAndAttributes() throws {
        let hostile = "\"><script>alert('x')</script>&"
        let escaped = "&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        var county = CountyConfiguration(county: region("370703"))
        county.countyName = hostile
        county.villages = [.init(code: region("370703001001"), name: hostile, fetchToken: "fetch-token-0123456789")]
        let caller = CountyConfiguration.Token(name: "official", token: "t", role: .official, scope: region("370703"))
        let village = CountyAPI.Village(
            code: hostile, name: hostile, township: "370703001", online: true, since: nil, lastHeartbeat: nil, deviceUp: nil, onAir: hostile,
            queueLength: nil, underruns: nil, version: nil, rows: 0, confirmedSeq: 0, chainFault: hostile)
        var rows = chainedRows(count: 1)
        rows[0].title = hostile
        rows[0].outcome = hostile
        let coverage = CountyAPI.Coverage(
            id: hostile, title: hostile, kind: .policy, level: nil, acceptedAt: Date(timeIntervalSince1970: 1_764_547_200), cancelledAt: nil,
            targets: [hostile],
            villages: [
                .init(
                    code: hostile, name: hostile, status: .failed, online: false, receivedAt: nil, firstAudioAt: nil, timeToFirstAudio: nil,
                    frames: 0, rate: nil, reason: hostile, volume: nil)
            ])
        let pages = [
            CountyPages.villages([village], county: county, caller: caller),
            CountyPages.log([(hostile, rows[0])], total: 1, county: county, caller: caller),
            CountyPages.coverage(coverage, county: county), CountyPages.login(county),
        ]
        for html in pages {
            #expect(html.contains(escaped), "\(html)")
            #expect(!html.contains("<script>") && !html.contains("'x'"), "\(html)")
        }
        #expect(pages[1].contains("data-village=\"\(escaped)\""))
        #expect(pages[2].contains("data-village=\"\(escaped)\""))
        // No template writes anything unescaped.
        for name in CountyPages.Templates.names {
            let text = try String(contentsOf: Self.shipped.appendingPathComponent("\(name).mustache"), encoding: .utf8)
            #expect(!text.contains("{{{") && !text.contains("{{&"), "\(name).mustache")
        }
    }
}

/// The coverage page says at what level each village played the announcement, from the levels its rows reported.
struct CountyCoveragePageTests {
    @Test func eachVillagesLevelIsShownWithARangeWhenPlaysDifferADashWhenUnknownAndAnImplausibleOneMarked() throws {
        let county = CountyConfiguration(county: region("370703"))
        let accepted = Date(timeIntervalSince1970: 1_764_547_200)
        func line(_ code: String, _ name: String, _ volume: CountyAPI.Coverage.PlayedVolume?) -> CountyAPI.Coverage.VillageCoverage {
            .init(
                code: code, name: name, status: .played, online: true, receivedAt: accepted, firstAudioAt: accepted, timeToFirstAudio: 1,
                frames: 48_000, rate: 48_000, reason: nil, volume: volume)
        }
        let coverage = CountyAPI.Coverage(
            id: "notice-1", title: "通知", kind: .policy, level: nil, acceptedAt: accepted, cancelledAt: nil, targets: ["370703"],
            villages: [
                line("370703001001", "东村", .init(lowestHundredths: -600, highestHundredths: -600, lastHundredths: -600)),
                line("370703001002", "西村", .init(lowestHundredths: -1200, highestHundredths: -600, lastHundredths: -1200)),
                line("370703001003", "<script>alert(1)</script>", nil),
                line("370703001004", "北村", .init(lowestHundredths: -600, highestHundredths: 2_000, lastHundredths: 2_000)),
            ])
        let html = CountyPages.coverage(coverage, county: county)
        func row(_ code: String) throws -> String {
            let start = try #require(html.range(of: "data-village=\"\(code)\""))
            let end = try #require(html.range(of: "</tr>", range: start.upperBound..<html.endIndex))
            return String(html[start.lowerBound..<end.upperBound])
        }
        #expect(html.contains("<th>airtime</th><th>volume</th><th>reason</th>"))
        let (one, range, unknown, implausible) = (try row("370703001001"), try row("370703001002"), try row("370703001003"), try row("370703001004"))
        #expect(one.contains("<td class=\"num volume\">-6.00 dB</td>"), "\(one)")
        #expect(range.contains("<td class=\"num volume\">-12.00 to -6.00 dB, last -12.00</td>"), "\(range)")
        #expect(unknown.contains("<td class=\"num volume\">—</td>"), "no level known is a dash, not 0: \(unknown)")
        #expect(implausible.contains("class=\"num volume bad\""), "\(implausible)")
        #expect(implausible.contains("-6.00 to 20.00 dB, last 20.00 (implausible)"), "\(implausible)")
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>"), "names are escaped")
    }

    @Test func aCoverageAnswerWithoutVolumesStillDecodesAndOneWithThemRoundTrips() throws {
        // What a head-end from before volumes answered: no `volume` key in any village line.
        let old = Data(
            """
            {"id":"n","title":"t","kind":"policy","acceptedAt":"2026-12-01T00:00:00Z","targets":["370703"],"targeted":1,
             "counts":{"played":1},"villages":[{"code":"370703001001","name":"东村","status":"played","online":true,"frames":48000,
             "rate":48000}]}
            """.utf8)
        let decoded = try StationAPI.makeDecoder().decode(CountyAPI.Coverage.self, from: old)
        #expect(decoded.villages.map(\.volume) == [nil])
        var coverage = decoded
        coverage.villages[0].volume = .init(lowest: -12, highest: -6, last: -6)
        let again = try StationAPI.makeDecoder().decode(CountyAPI.Coverage.self, from: try StationAPI.makeEncoder().encode(coverage))
        #expect(again.villages[0].volume == .init(lowest: -12, highest: -6, last: -6))
    }
}
