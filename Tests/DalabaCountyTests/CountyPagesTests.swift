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
