import DalabaTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The schedule page against a real `dalabad` with real schedule files: seven days of slots by local day, each with its
/// lunar date and its rule, and the problems the daemon found in the files at the top.
@Suite struct ScheduleConsoleTests {
    @Test(.timeLimit(.minutes(5))) func theNextSevenDaysShowLunarDatesRulesAndProblems() async throws {
        let daemon = try DaemonHarness(name: "schedule-console")
        defer { try? FileManager.default.removeItem(at: daemon.directory) }
        try FileManager.default.createDirectory(at: daemon.schedulesDirectory, withIntermediateDirectories: true)
        try daemon.tone("news.wav", frequency: 440, seconds: 0.2)
        try """
        timezone: Asia/Shanghai
        programmes:
          - name: news-relay
            title: 早间新闻转播
            kind: routine
            audio: news.wav
            times: ["06:30"]
            days: daily
          - name: market-day
            title: 逢一逢五赶集提示
            kind: policy
            audio: news.wav
            times: ["07:30"]
            lunar-days: [1, 5, 11, 15, 21, 25]
        """.write(to: daemon.schedulesDirectory.appendingPathComponent("village.yaml"), atomically: true, encoding: .utf8)
        try await daemon.start()
        defer { daemon.stop() }
        let (status, data) = try await daemon.request("GET", "/schedule", role: "official")
        let html = String(decoding: data, as: UTF8.self)
        #expect(status == 200)
        // Seven days of a daily slot: seven rows (today's 06:30 may be past, then the eighth day's is beyond the week).
        let news = html.components(separatedBy: "<tr data-programme=\"news-relay\">").count - 1
        #expect(news == 7 || news == 6, "\(news) news slots")
        // Every market-day row falls on one of its lunar days, as Foundation's Chinese calendar reads them.
        let rows = html.components(separatedBy: "<tr data-programme=\"market-day\">").dropFirst()
        #expect(!rows.isEmpty, "a lunar day 1, 5, 11, 15, 21 or 25 falls in every week")
        for row in rows {
            let lunar = row.components(separatedBy: "<td class=\"lunar\">").dropFirst().first?.prefix { $0 != "<" } ?? ""
            #expect(["初一", "初五", "十一", "十五", "廿一", "廿五"].contains { lunar.hasSuffix($0) } && lunar.hasPrefix("农历"), "\(lunar)")
            #expect(row.contains("<td class=\"rule\">lunar days 1, 5, 11, 15, 21, 25 at 07:30</td>"), "\(row.prefix(600))")
        }
        // Days are headed with their weekday and lunar date.
        #expect(html.contains("<tr class=\"day\"><th colspan=\"4\">"))
        #expect(!html.contains("schedule-problem"))

        // A file with a problem: the daemon reports it (at the top of the page) and keeps the last good schedule.
        try """
        programmes:
          - name: night
            title: 夜间
            kind: routine
            audio: missing.wav
            times: ["22:00"]
            days: daily
        """.write(to: daemon.schedulesDirectory.appendingPathComponent("night.yaml"), atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        var later = ""
        for _ in 0..<100 {
            later = String(decoding: try await daemon.request("GET", "/schedule", role: "operator").1, as: UTF8.self)
            if later.contains("schedule-problem") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(later.contains("class=\"warning schedule-problem\">节目表问题 Schedule problem: "), "\(later.prefix(3000))")
        #expect(later.contains("night.yaml") && later.contains("missing.wav"))
        #expect(later.components(separatedBy: "<tr data-programme=\"news-relay\">").count - 1 == news)
    }
}
