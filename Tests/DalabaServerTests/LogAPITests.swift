import DalabaCore
import DalabaServer
import DalabaStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct LogAPITests {
    @Test func rolesOfficialAndAdminMayReadOthersMayNot() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            for path in ["/v1/log", "/v1/report", "/v1/log/verify"] {
                try await client.execute(uri: path, method: .get) { response throws in
                    #expect(response.status == .unauthorized, "\(path)")
                    #expect(try response.json(StationAPI.Failure.self).error == "a bearer token is required")
                }
                try await client.execute(uri: path, method: .get, headers: bearer(Tokens.operatorToken)) { response throws in
                    #expect(response.status == .forbidden, "\(path)")
                    #expect(try response.json(StationAPI.Failure.self).error.contains("needs official"))
                }
                for token in [Tokens.official, Tokens.admin] {
                    try await client.execute(uri: path, method: .get, headers: bearer(token)) { response throws in
                        #expect(response.status == .ok, "\(path) as \(token.role)")
                    }
                }
            }
            try await client.execute(uri: "/v1/log", method: .get, headers: [.authorization: "Bearer not-a-real-token-at-all"]) { response throws in
                #expect(response.status == .unauthorized)
            }
        }
    }

    @Test func logListsNewestFirstWithTotalAndStationTimeZone() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            try await client.execute(uri: "/v1/log", method: .get, headers: bearer(Tokens.official)) { response throws in
                let page = try response.json(StationAPI.LogPage.self)
                #expect(page.timeZone == "Asia/Shanghai")
                #expect(page.total == PreparedLog.records.count)
                #expect(page.limit == 100 && page.offset == 0)
                #expect(page.entries.map(\.id) == ["n1", "f1", "x1", "r1", "d1", "p1", "e1"])
                let policy = try #require(page.entries.first { $0.id == "p1" })
                #expect(policy.title == PreparedLog.quotedTitle)
                #expect(policy.frames == 44100 * 120 + 100 && policy.rate == 44100)
                #expect(policy.seconds == Double(44100 * 120 + 100) / 44100)
                #expect(page.entries.first { $0.id == "x1" }?.startedAt == nil)
            }
            try await client.execute(uri: "/v1/log?limit=2&offset=1&order=oldest", method: .get, headers: bearer(Tokens.official)) {
                response throws in
                let page = try response.json(StationAPI.LogPage.self)
                #expect(page.total == 7)
                #expect(page.entries.map(\.id) == ["p1", "d1"])
            }
        }
    }

    @Test func filtersByLocalDaysKindOutcomeAndDrill() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            func ids(_ query: String) async throws -> [String] {
                try await client.execute(uri: "/v1/log?order=oldest&" + query, method: .get, headers: bearer(Tokens.official)) { response throws in
                    #expect(response.status == .ok, "\(query): \(response.text)")
                    return try response.json(StationAPI.LogPage.self).entries.map(\.id)
                }
            }
            // `to` is a whole local day; 2025-03-16 23:59:50 local is still the 16th although it is the 16th 15:59:50 UTC.
            #expect(try await ids("from=2025-03-14&to=2025-03-14") == ["e1", "p1", "d1"])
            #expect(try await ids("from=2025-03-16&to=2025-03-16") == ["f1", "n1"])
            #expect(try await ids("from=2025-03-15") == ["r1", "x1", "f1", "n1"])
            #expect(try await ids("kind=emergency") == ["e1", "d1"])
            #expect(try await ids("outcome=cancelled") == ["x1"])
            #expect(try await ids("test=true") == ["d1"])
            #expect(try await ids("kind=emergency&test=false") == ["e1"])
            // ISO 8601 instants: from inclusive, to exclusive; "+" must be sent encoded, a bare one (read as a space) is forgiven.
            #expect(try await ids("from=2025-03-14T09:00:00%2B08:00&to=2025-03-14T10:00:00%2B08:00") == ["p1"])
            #expect(try await ids("from=2025-03-14T09:00:00+08:00&to=2025-03-14T10:00:00Z") == ["p1", "d1"])
            // A local time without an offset is the station's.
            #expect(try await ids("from=2025-03-14T08:30&to=2025-03-14%2009:30:00") == ["p1"])
            // Empty values, as a form with untouched fields sends them, are no filter.
            #expect(try await ids("from=&to=&kind=&outcome=").count == 7)
        }
    }

    @Test func badInputIsA400NamingTheField() async throws {
        let app = try makeApplication()
        let cases: [(String, String, String)] = [
            ("/v1/log?from=2025-13-01", "from", "must be a date like 2025-03-14"),
            ("/v1/log?to=2025-02-30", "to", "not \"2025-02-30\""),
            ("/v1/log?from=yesterday", "from", "ISO 8601"),
            ("/v1/log?from=2025-03-15&to=2025-03-14", "to", "inverted range"),
            ("/v1/log?kind=alarm", "kind", "unknown kind \"alarm\" (use emergency, rumor-rebuttal, policy, routine)"),
            ("/v1/log?outcome=aired", "outcome", "unknown outcome"),
            ("/v1/log?test=maybe", "test", "must be true"),
            ("/v1/log?limit=5000", "limit", "from 1 to 1000"),
            ("/v1/log?limit=0", "limit", "from 1 to 1000"),
            ("/v1/log?offset=-1", "offset", "whole number"),
            ("/v1/log?format=xlsx", "format", "json, csv"),
            ("/v1/report?by=year", "by", "day, week, month, kind, level, source"),
            ("/v1/report?from=2025-03-20&to=2025-03-01", "to", "inverted range"),
            ("/v1/log/verify?head=12", "head", "SEQ:HASH"),
        ]
        try await app.test(.router) { client throws in
            for (uri, field, message) in cases {
                try await client.execute(uri: uri, method: .get, headers: bearer(Tokens.official)) { response throws in
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                    let failure = try response.json(StationAPI.Failure.self)
                    #expect(failure.field == field, "\(uri)")
                    #expect(failure.error.contains(message), "\(uri): \(failure.error)")
                }
            }
        }
    }

    @Test func logCSVOpensInASpreadsheet() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            try await client.execute(uri: "/v1/log?format=csv&from=2025-03-14&to=2025-03-16", method: .get, headers: bearer(Tokens.official)) {
                response throws in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                #expect(response.headers[.contentDisposition] == "attachment; filename=\"dalaba-log-2025-03-14_2025-03-16.csv\"")
                let bytes = Array(response.body.readableBytesView)
                #expect(Array(bytes.prefix(3)) == [0xEF, 0xBB, 0xBF])
                let text = String(decoding: bytes.dropFirst(3), as: UTF8.self)
                #expect(text.hasSuffix("\r\n"))
                // Every line ends in CRLF: no bare LF anywhere.
                #expect(text.replacingOccurrences(of: "\r\n", with: "").contains("\n") == false)
                let lines = text.components(separatedBy: "\r\n").dropLast()
                #expect(lines.count == 1 + 7)
                #expect(lines[0].hasPrefix("序号 seq,开始时间 started (Asia/Shanghai),结束时间 ended,标题 title,类别 kind"))
                // Oldest first, local times, RFC 4180 quoting of the title with quotes and commas, Chinese intact.
                #expect(lines[1].hasPrefix("1,2025-03-14 08:00:00,2025-03-14 08:01:30,防汛应急通知,emergency,2,no,county,县应急管理局,completed,0:01:30,90.000,"))
                #expect(lines[2].contains(",\"关于\"\"秸秆禁烧\"\"的通知，请相互转告, 谢谢\",policy,"))
                #expect(lines[2].contains(",0:02:00,120.002,5292100,4800,44100,"))
                #expect(lines[3].contains(",yes,"))
                // Never started: no start time, no airtime.
                #expect(lines[5].hasPrefix("5,,2025-03-15 07:40:00,辟谣：自来水安全,rumor-rebuttal,,no,village,乡政府,cancelled,0:00:00,0.000,0,"))
                // A title that a spreadsheet would run as a formula is neutralised, and quoted because it holds quotes.
                #expect(lines[6].contains(",\"'=HYPERLINK(\"\"http://example.com\"\")\",policy,"))
                #expect(lines[6].contains(",failed,"))
                #expect(lines[6].contains(",\"device lost, reopened\","))
            }
            try await client.execute(uri: "/v1/log?format=csv&limit=2&order=newest", method: .get, headers: bearer(Tokens.official)) {
                response throws in
                let lines = response.text.components(separatedBy: "\r\n").dropLast()
                #expect(lines.count == 3)
                #expect(lines[1].hasPrefix("7,2025-03-16 23:59:50,"))
            }
        }
    }

    @Test func csvExportStreamsAWholeLargeLogExactlyOnceInOrder() async throws {
        // 1,200 rows at one instant (more than a page), then 1,300 rows three to a second: pages break inside runs of ties.
        let store = try StationStore.inMemory(timeZone: shanghai)
        let start = instant("2025-04-01T08:00:00+08:00")
        var records: [AirtimeRecord] = []
        for i in 0..<2500 {
            let at = i < 1200 ? start : start.addingTimeInterval(Double(1 + (i - 1200) / 3))
            records.append(record("s\(i)", "第\(i)条", kind: .routine, startedAt: at, frames: 4800))
        }
        try store.append(contentsOf: records)
        let app = try makeApplication(source: store)
        try await app.test(.router) { client throws in
            for order in ["oldest", "newest"] {
                try await client.execute(uri: "/v1/log?format=csv&order=\(order)", method: .get, headers: bearer(Tokens.official)) {
                    response throws in
                    let lines = response.text.components(separatedBy: "\r\n").dropLast().dropFirst()
                    let seqs = lines.map { Int($0.prefix { $0 != "," })! }
                    let expected = order == "oldest" ? Array(1...2500) : Self.newestFirst(count: 2500, tiedAtStart: 1200)
                    #expect(seqs == expected, "\(order)")
                }
            }
            try await client.execute(uri: "/v1/log?format=csv&from=2025-04-01T08:00:10%2B08:00", method: .get, headers: bearer(Tokens.official)) {
                response throws in
                #expect(response.text.components(separatedBy: "\r\n").dropLast().count == 1 + (1300 - 27))
            }
        }
    }

    /// Newest first orders by time, then seq, both descending.
    static func newestFirst(count: Int, tiedAtStart: Int) -> [Int] {
        let times = (0..<count).map { $0 < tiedAtStart ? 0 : 1 + ($0 - tiedAtStart) / 3 }
        return (1...count).sorted { (times[$0 - 1], $0) > (times[$1 - 1], $1) }
    }

    @Test func reportTotalsRealAndDrillsApartToTheFrame() async throws {
        let app = try makeApplication()
        try await app.test(.router) { client throws in
            try await client.execute(uri: "/v1/report?by=day", method: .get, headers: bearer(Tokens.official)) { response throws in
                let report = try response.json(StationAPI.AirtimeReport.self)
                #expect(report.by == "day" && report.timeZone == "Asia/Shanghai")
                #expect(report.groups.map(\.key) == ["2025-03-14", "2025-03-15", "2025-03-16"])
                #expect(report.groups[0].realCount == 2 && report.groups[0].drillCount == 1)
                #expect(report.groups[0].realSeconds == 90 + Double(44100 * 120 + 100) / 44100)
                #expect(report.groups[0].drillSeconds == 60)
                #expect(report.groups[1].realCount == 1 && report.groups[1].realSeconds == 300)
                #expect(report.groups[2].realSeconds == 40)
                #expect(report.total.realCount == 5 && report.total.drillCount == 1)
                #expect(abs(report.total.realSeconds - PreparedLog.realSeconds) < 1e-9)
                #expect(report.total.drillSeconds == PreparedLog.drillSeconds)
            }
            try await client.execute(uri: "/v1/report?by=kind&from=2025-03-15&to=2025-03-16", method: .get, headers: bearer(Tokens.admin)) {
                response throws in
                let report = try response.json(StationAPI.AirtimeReport.self)
                #expect(report.groups.map(\.key) == ["policy", "routine"])
                #expect(report.groups[1].realSeconds == 310)
                #expect(report.from == instant("2025-03-15T00:00:00+08:00"))
                #expect(report.to == instant("2025-03-17T00:00:00+08:00"))
            }
            try await client.execute(uri: "/v1/report?by=month&format=csv", method: .get, headers: bearer(Tokens.official)) { response throws in
                #expect(response.headers[.contentDisposition] == "attachment; filename=\"dalaba-report-by-month-start_now.csv\"")
                let bytes = Array(response.body.readableBytesView)
                #expect(Array(bytes.prefix(3)) == [0xEF, 0xBB, 0xBF])
                let lines = String(decoding: bytes.dropFirst(3), as: UTF8.self).components(separatedBy: "\r\n")
                #expect(lines[0].hasPrefix("月份 month,正式播出次数 real plays,正式播出时长 real airtime"))
                #expect(lines[1] == "2025-03,5,0:09:10,550.002,1,0:01:00,60.000,6,0:10:10,610.002")
                #expect(lines[2] == "合计 total,5,0:09:10,550.002,1,0:01:00,60.000,6,0:10:10,610.002")
                #expect(lines[3] == "")
            }
        }
    }

    @Test func verifyReportsTheHeadAndAWrongPublishedHead() async throws {
        let store = try PreparedLog.store()
        let head = try #require(try store.latestHash())
        let app = try makeApplication(source: store)
        try await app.test(.router) { client throws in
            try await client.execute(uri: "/v1/log/verify", method: .get, headers: bearer(Tokens.official)) { response throws in
                let result = try response.json(StationAPI.LogVerification.self)
                #expect(result.intact && result.rows == 7 && result.head == head.description && result.problem == nil)
            }
            try await client.execute(uri: "/v1/log/verify?head=\(head)", method: .get, headers: bearer(Tokens.official)) { response throws in
                #expect(try response.json(StationAPI.LogVerification.self).intact)
            }
            let later = "9:" + String(repeating: "a", count: 64)
            try await client.execute(uri: "/v1/log/verify?head=\(later)", method: .get, headers: bearer(Tokens.official)) { response throws in
                #expect(response.status == .ok)
                let result = try response.json(StationAPI.LogVerification.self)
                #expect(!result.intact && result.firstBadSeq == 8)
                #expect(result.problem?.contains("rows 8–9 were removed") == true)
            }
        }
    }

    @Test func aStoreThatCannotBeReadIsA503WithTheCause() async throws {
        let app = try makeApplication(source: FailingLogSource())
        try await app.test(.router) { client throws in
            for path in ["/v1/log", "/v1/log?format=csv", "/v1/report?by=kind", "/v1/log/verify"] {
                try await client.execute(uri: path, method: .get, headers: bearer(Tokens.official)) { response throws in
                    #expect(response.status == .serviceUnavailable, "\(path)")
                    #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                    let failure = try response.json(StationAPI.Failure.self)
                    #expect(
                        failure.error.hasPrefix(
                            "the airtime log cannot be read: cannot read the airtime log (database /var/lib/dalaba/station.sqlite)"))
                    #expect(failure.error.contains("disk I/O error"))
                }
            }
            // Bad input is still named first.
            try await client.execute(uri: "/v1/log?kind=x", method: .get, headers: bearer(Tokens.official)) { response throws in
                #expect(response.status == .badRequest)
            }
        }
    }
}
