import DalabaCore
import Foundation
import Testing

@testable import DalabaStore

/// Builds a large log and times reports and verification. Off unless DALABA_BENCH=1 (run it in release:
/// `DALABA_BENCH=1 swift test -c release --filter AirtimeLogBenchmark`); DALABA_BENCH_ROWS sets the size (default 1,000,000)
/// and DALABA_BENCH_PATH keeps the database for comparison with the sqlite3 CLI.
@Suite struct AirtimeLogBenchmarkTests {
    static let enabled = ProcessInfo.processInfo.environment["DALABA_BENCH"] == "1"

    func milliseconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }

    func best(of runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<runs { times.append(try milliseconds(body)) }
        return times.min()!
    }

    @Test(.enabled(if: enabled)) func millionRowLog() throws {
        let environment = ProcessInfo.processInfo.environment
        let count = environment["DALABA_BENCH_ROWS"].flatMap(Int.init) ?? 1_000_000
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = environment["DALABA_BENCH_PATH"] ?? directory.appendingPathComponent("bench.sqlite").path
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + "-wal")
        try? FileManager.default.removeItem(atPath: path + "-shm")
        let store = try StationStore.open(path: path)

        let build = try milliseconds { try store.generateSyntheticLog(count: count) }
        print("bench: built \(count) rows in \(Int(build)) ms")
        var month = Report(by: .month, groups: [], total: ReportGroup(key: "", realCount: 0, realSeconds: 0, drillCount: 0, drillSeconds: 0))
        let byMonth = try best(of: 5) { month = try store.report(ReportQuery(by: .month)) }
        let byKind = try best(of: 5) { _ = try store.report(ReportQuery(by: .kind)) }
        let byDay = try best(of: 5) { _ = try store.report(ReportQuery(by: .day)) }
        let byMonthRange = try best(of: 5) {
            let from = instant("2023-06-15T12:34:00+08:00")
            _ = try store.report(ReportQuery(by: .month, from: from, to: instant("2025-06-15T08:00:00+08:00")))
        }
        let byMonthUTC = try best(of: 1) { _ = try store.report(ReportQuery(by: .month, timeZone: TimeZone(identifier: "UTC")!)) }
        var verification = Verification(rowCount: 0)
        let verify = try best(of: 1) { verification = try store.verify() }
        let page = try best(of: 5) { _ = try store.log(LogQuery(kind: .emergency, limit: 50, offset: 1000)) }
        let append = try best(of: 5) { try store.append(SyntheticLog.record(count + 1, start: Date(), spacing: 0)) }
        print("bench: report by month \(String(format: "%.2f", byMonth)) ms (\(month.groups.count) groups, \(month.total.realCount) real plays)")
        print("bench: report by kind \(String(format: "%.2f", byKind)) ms")
        print("bench: report by day \(String(format: "%.2f", byDay)) ms")
        print("bench: report by month, partial-day range \(String(format: "%.2f", byMonthRange)) ms")
        print("bench: report by month in UTC (log scan) \(String(format: "%.0f", byMonthUTC)) ms")
        print("bench: verify \(String(format: "%.0f", verify)) ms, \(verification.rowCount) rows, intact \(verification.isIntact)")
        print("bench: log page (emergency, 50 at offset 1000) \(String(format: "%.2f", page)) ms")
        print("bench: one append \(String(format: "%.2f", append)) ms")
        #expect(verification.isIntact)
        #expect(month.total.realCount + month.total.drillCount == count - count / 50)
    }
}
