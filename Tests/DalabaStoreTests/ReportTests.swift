import DalabaCore
import Foundation
import Testing

@testable import DalabaStore

@Suite struct ReportTests {
    /// Hand-computed plays (Asia/Shanghai wall clock):
    /// A emergency L1 real, 03-14 10:00, 30 s · B policy real, 03-14 23:30, 60 s · C routine drill, 03-15 00:30 (UTC still 03-14),
    /// 10.5 s at 44.1 kHz · D policy real, 04-01 00:10 (UTC still 03-31), 12 s at 22.05 kHz · E missed, never on air.
    func store() throws -> StationStore {
        let (store, _) = try makeStore()
        try store.append(
            makeRecord(id: "A", kind: .emergency, level: 1, source: "county", startedAt: instant("2025-03-14T10:00:00+08:00"), frames: 30 * 48000))
        try store.append(makeRecord(id: "B", kind: .policy, startedAt: instant("2025-03-14T23:30:00+08:00"), frames: 60 * 48000))
        try store.append(
            makeRecord(
                id: "C", kind: .routine, isTest: true, source: "schedule:news", startedAt: instant("2025-03-15T00:30:00+08:00"),
                frames: 10 * 44100 + 22050, rate: 44100))
        try store.append(
            makeRecord(id: "D", kind: .policy, source: "township", startedAt: instant("2025-04-01T00:10:00+08:00"), frames: 12 * 22050, rate: 22050))
        try store.append(makeRecord(id: "E", kind: .policy, startedAt: nil, frames: 0, rate: 0, outcome: .missed))
        return store
    }

    func summary(_ report: Report) -> [String] {
        report.groups.map { "\($0.key) \($0.realCount) \($0.realSeconds) \($0.drillCount) \($0.drillSeconds)" }
    }

    @Test func byMonthInShanghai() throws {
        let report = try store().report(ReportQuery(by: .month))
        #expect(summary(report) == ["2025-03 2 90.0 1 10.5", "2025-04 1 12.0 0 0.0"])
        #expect(report.total == ReportGroup(key: "total", realCount: 3, realSeconds: 102, drillCount: 1, drillSeconds: 10.5))
    }

    @Test func byDayUsesShanghaiMidnights() throws {
        let report = try store().report(ReportQuery(by: .day))
        #expect(summary(report) == ["2025-03-14 2 90.0 0 0.0", "2025-03-15 0 0.0 1 10.5", "2025-04-01 1 12.0 0 0.0"])
    }

    @Test func byDayInUTCReadsTheLog() throws {
        let report = try store().report(ReportQuery(by: .day, timeZone: TimeZone(identifier: "UTC")!))
        #expect(summary(report) == ["2025-03-14 2 90.0 1 10.5", "2025-03-31 1 12.0 0 0.0"])
        #expect(report.total.realSeconds == 102)
    }

    @Test func byWeekIsoMondayFirst() throws {
        let report = try store().report(ReportQuery(by: .week))
        #expect(summary(report) == ["2025-W11 2 90.0 1 10.5", "2025-W14 1 12.0 0 0.0"])
    }

    @Test func byKindLevelAndSource() throws {
        let store = try store()
        #expect(summary(try store.report(ReportQuery(by: .kind))) == ["emergency 1 30.0 0 0.0", "policy 2 72.0 0 0.0", "routine 0 0.0 1 10.5"])
        #expect(summary(try store.report(ReportQuery(by: .level))) == ["1 1 30.0 0 0.0", "none 2 72.0 1 10.5"])
        #expect(
            summary(try store.report(ReportQuery(by: .source)))
                == ["county 1 30.0 0 0.0", "schedule:news 0 0.0 1 10.5", "township 1 12.0 0 0.0", "village-office 1 60.0 0 0.0"])
    }

    @Test func rangesWithPartialDays() throws {
        let store = try store()
        // 12:00 on the 14th to 00:05 on April 1st: B and C, not A (10:00) nor D (00:10).
        var report = try store.report(
            ReportQuery(by: .kind, from: instant("2025-03-14T12:00:00+08:00"), to: instant("2025-04-01T00:05:00+08:00")))
        #expect(report.total == ReportGroup(key: "total", realCount: 1, realSeconds: 60, drillCount: 1, drillSeconds: 10.5))
        // Whole days: the 15th up to the start of April 2nd: C and D.
        report = try store.report(ReportQuery(by: .month, from: instant("2025-03-15T00:00:00+08:00"), to: instant("2025-04-02T00:00:00+08:00")))
        #expect(summary(report) == ["2025-03 0 0.0 1 10.5", "2025-04 1 12.0 0 0.0"])
        // Inside one day.
        report = try store.report(ReportQuery(by: .day, from: instant("2025-03-14T09:00:00+08:00"), to: instant("2025-03-14T11:00:00+08:00")))
        #expect(summary(report) == ["2025-03-14 1 30.0 0 0.0"])
        // Empty and inverted ranges.
        #expect(try store.report(ReportQuery(by: .day, from: instant("2026-01-01T00:00:00+08:00"))).groups.isEmpty)
        #expect(try store.report(ReportQuery(from: instant("2025-05-01T00:00:00Z"), to: instant("2025-04-01T00:00:00Z"))).total.realCount == 0)
    }

    /// The fast path (daily totals plus partial-day scans) agrees with a brute-force sum over the records for arbitrary ranges.
    @Test func totalsAgreeWithABruteForceSum() throws {
        let (store, _) = try makeStore()
        let records = SyntheticLog.records(count: 600, start: instant("2024-12-28T00:00:00+08:00"), spacing: 3 * 3600 + 17)
        try store.append(contentsOf: records)
        var generator = SystemRandomNumberGenerator()
        let span = records.last!.endedAt.timeIntervalSince(records[0].endedAt)
        for _ in 0..<40 {
            let a = records[0].endedAt.addingTimeInterval(Double.random(in: -86400...span, using: &generator))
            let b = a.addingTimeInterval(Double.random(in: 0...span / 2, using: &generator))
            let from = Date(millisecondsSince1970: a.millisecondsSince1970)
            let to = Date(millisecondsSince1970: b.millisecondsSince1970)
            let report = try store.report(ReportQuery(by: .month, from: from, to: to))
            let inRange = records.filter { r in
                let at = (r.startedAt ?? r.endedAt).millisecondsSince1970
                return r.frames > 0 && at >= from.millisecondsSince1970 && at < to.millisecondsSince1970
            }
            let real = inRange.filter { !$0.isTest }
            let drills = inRange.filter(\.isTest)
            #expect(report.total.realCount == real.count)
            #expect(report.total.drillCount == drills.count)
            #expect(abs(report.total.realSeconds - real.reduce(0) { $0 + $1.airtime }) < 1e-6)
            #expect(abs(report.total.drillSeconds - drills.reduce(0) { $0 + $1.airtime }) < 1e-6)
            #expect(abs(report.groups.reduce(0) { $0 + $1.realSeconds } - report.total.realSeconds) < 1e-6)
        }
    }

    @Test func reopeningInAnotherZoneRebuildsTheDailyTotals() throws {
        let directory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("station.sqlite").path
        do {
            let store = try StationStore.open(path: path)
            try store.append(makeRecord(id: "C", startedAt: instant("2025-03-15T00:30:00+08:00"), frames: 48000))
        }
        let utc = TimeZone(identifier: "UTC")!
        let store = try StationStore.open(path: path, timeZone: utc)
        #expect(summary(try store.report(ReportQuery(by: .day, timeZone: utc))) == ["2025-03-14 1 1.0 0 0.0"])
        #expect(try store.verify().isIntact)
    }

    @Test func calendarKeys() {
        #expect(LocalCalendar.dayKey(0) == "1970-01-01")
        #expect(LocalCalendar.day(year: 2025, month: 3, day: 14) == 20161)
        #expect(LocalCalendar.dayKey(20161) == "2025-03-14")
        #expect(LocalCalendar.weekKey(LocalCalendar.day(year: 2024, month: 12, day: 30)) == "2025-W01")
        #expect(LocalCalendar.weekKey(LocalCalendar.day(year: 2021, month: 1, day: 3)) == "2020-W53")
        #expect(LocalCalendar.monthKey(LocalCalendar.day(year: 2024, month: 2, day: 29)) == "2024-02")
        #expect(LocalCalendar.dayKey(-1) == "1969-12-31")
    }
}
