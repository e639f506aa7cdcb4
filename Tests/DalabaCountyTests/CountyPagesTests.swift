import DalabaCore
import DalabaLink
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
