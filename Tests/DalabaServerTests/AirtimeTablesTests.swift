import DalabaCore
import Foundation
import Testing

/// The renderers behind `dalaba log`, `dalaba report` and every CSV download.
@Suite struct AirtimeTablesTests {
    func entry(_ seq: Int64, _ title: String, kind: Kind = .policy, test: Bool = false, at: String, seconds: Int64, outcome: Outcome = .completed)
        -> StationAPI.LogEntry
    {
        let start = instant(at)
        return StationAPI.LogEntry(
            seq: seq, id: "a\(seq)", title: title, kind: kind, level: kind == .emergency ? 1 : nil, test: test, tier: "village", source: "村委会",
            audio: "/a.wav", text: nil, playNumber: 1, scheduledAt: nil, startedAt: seconds > 0 ? start : nil,
            endedAt: start.addingTimeInterval(Double(seconds)), frames: seconds * 48000, signalFrames: 0, rate: 48000, outcome: outcome, error: nil,
            hash: String(repeating: "0", count: 64))
    }

    @Test func hoursMinutesSeconds() {
        #expect(AirtimeText.hms(0) == "0:00:00")
        #expect(AirtimeText.hms(59.4) == "0:00:59")
        #expect(AirtimeText.hms(59.6) == "0:01:00")
        #expect(AirtimeText.hms(3661) == "1:01:01")
        #expect(AirtimeText.hms(5400 * 3600 + 7) == "5400:00:07")
        #expect(AirtimeText.hms(-3) == "0:00:00")
    }

    @Test func csvQuotesAsRFC4180AndNeutralisesFormulas() {
        #expect(CSV.line(["a", "b c", "中文"]) == "a,b c,中文\r\n")
        #expect(CSV.line(["x,y", "say \"hi\"", "two\nlines", "cr\r"]) == "\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",\"cr\r\"\r\n")
        #expect(CSV.text("=1+1") == "'=1+1")
        #expect(CSV.text("+86 138") == "'+86 138")
        #expect(CSV.text("-2") == "'-2")
        #expect(CSV.text("@SUM(A1)") == "'@SUM(A1)")
        #expect(CSV.text("防汛=通知") == "防汛=通知")
        let document = CSV.document(header: ["标题"], rows: [["通知"]])
        #expect(Array(document.utf8.prefix(3)) == [0xEF, 0xBB, 0xBF])
        #expect(document == "\u{FEFF}标题\r\n通知\r\n")
    }

    @Test func displayWidthCountsChineseAsTwoColumns() {
        #expect(DisplayWidth.of("abc") == 3)
        #expect(DisplayWidth.of("防汛通知") == 8)
        #expect(DisplayWidth.of("辟谣：水") == 8)
        #expect(DisplayWidth.of("e\u{301}") == 1)
    }

    @Test func logTableAlignsChineseTitlesAndTotalsRealAndDrillsApart() {
        let entries = [
            entry(1, "防汛应急通知", kind: .emergency, at: "2025-03-14T08:00:00+08:00", seconds: 90),
            entry(2, "drill", kind: .emergency, test: true, at: "2025-03-14T09:00:00+08:00", seconds: 60),
            entry(3, "取消的通知", at: "2025-03-14T10:00:00+08:00", seconds: 0, outcome: .cancelled),
            entry(4, "早间新闻", kind: .routine, at: "2025-03-15T07:30:00+08:00", seconds: 3600 + 125),
        ]
        let text = LogTable.text(entries, timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 6)
        #expect(lines[0] == "seq  started (Asia/Shanghai)  airtime  kind                outcome    source  title")
        #expect(lines[1] == "  1  2025-03-14 08:00:00      0:01:30  emergency L1        completed  村委会  防汛应急通知")
        #expect(lines[2] == "  2  2025-03-14 09:00:00      0:01:00  emergency L1 DRILL  completed  村委会  drill")
        #expect(lines[3] == "  3  — 2025-03-14 10:00:00    0:00:00  policy              cancelled  村委会  取消的通知")
        #expect(lines[4] == "  4  2025-03-15 07:30:00      1:02:05  routine             completed  村委会  早间新闻")
        #expect(lines[5] == "4 rows · real 2 plays 1:03:35 · drills 1 play 0:01:00 · total 3 plays 1:04:35")
        // The title column starts at the same display column on every line, Chinese source names and all.
        let titles = ["title", "防汛应急通知", "drill", "取消的通知", "早间新闻"]
        #expect(Set(zip(lines, titles).map { DisplayWidth.of($0) - DisplayWidth.of($1) }).count == 1)
    }

    @Test func logCSVUsesLocalTimesAndBothLanguagesInTheHeader() {
        let csv = LogTable.csv([entry(1, "通知, 重要", at: "2025-03-14T23:30:00Z", seconds: 90)], timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let lines = csv.components(separatedBy: "\r\n")
        #expect(lines[0].hasPrefix("\u{FEFF}序号 seq,开始时间 started (Asia/Shanghai),"))
        #expect(
            lines[1].hasPrefix(
                "1,2025-03-15 07:30:00,2025-03-15 07:31:30,\"通知, 重要\",policy,,no,village,村委会,completed,0:01:30,90.000,4320000,0,48000,1,a1,"))
        #expect(lines[2] == "")
    }

    @Test func reportTableHasAGrandTotalLine() {
        let report = StationAPI.AirtimeReport(
            by: "kind", timeZone: "Asia/Shanghai", from: instant("2025-03-01T00:00:00+08:00"), to: instant("2025-04-01T00:00:00+08:00"),
            groups: [
                .init(key: "emergency", realCount: 2, realSeconds: 180, drillCount: 1, drillSeconds: 60),
                .init(key: "routine", realCount: 40, realSeconds: 36000.4, drillCount: 0, drillSeconds: 0),
            ],
            total: .init(key: "total", realCount: 42, realSeconds: 36180.4, drillCount: 1, drillSeconds: 60))
        let lines = ReportTable.text(report).split(separator: "\n").map(String.init)
        #expect(lines[0] == "airtime by kind, 2025-03-01 – 2025-03-31 (Asia/Shanghai)")
        #expect(lines[1] == "kind       real plays  real airtime  drills  drill airtime  total plays  total airtime")
        #expect(lines[2] == "emergency           2       0:03:00       1        0:01:00            3        0:04:00")
        #expect(lines[3] == "routine            40      10:00:00       0        0:00:00           40       10:00:00")
        #expect(lines[4].allSatisfy { $0 == "─" })
        #expect(lines[5] == "total              42      10:03:00       1        0:01:00           43       10:04:00")
        let csv = ReportTable.csv(report).components(separatedBy: "\r\n")
        #expect(csv[0].hasPrefix("\u{FEFF}类别 kind,正式播出次数 real plays,"))
        #expect(csv[1] == "emergency,2,0:03:00,180.000,1,0:01:00,60.000,3,0:04:00,240.000")
        #expect(csv[3] == "合计 total,42,10:03:00,36180.400,1,0:01:00,60.000,43,10:04:00,36240.400")
    }

    @Test func stationTimesAreLocalWhateverTheMachineZone() {
        let local = LocalTime(timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        #expect(local.dateTime(instant("2025-03-14T16:30:05Z")) == "2025-03-15 00:30:05")
        #expect(local.date(instant("2025-03-14T16:30:05Z")) == "2025-03-15")
    }
}
