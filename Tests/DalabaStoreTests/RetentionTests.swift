import DalabaCore
import Foundation
import GRDB
import Testing

@testable import DalabaStore

/// Retention removes the oldest rows as a prefix of the chain and records its anchor in the chain, so verification still holds
/// (forgery and published heads: `RetentionAnchorTests`).
@Suite struct RetentionTests {
    @Test func pruningKeepsTheChainVerifiableAndTheTotalsConsistent() throws {
        let (store, queue) = try makeStore()
        // One row every 90 minutes from 2023-01-01: 40 rows over 2.5 days.
        try store.append(contentsOf: SyntheticLog.records(count: 40, spacing: 5_400))
        let cutoff = instant("2023-01-02T12:00:00+08:00")
        let removed = try store.prune(before: cutoff)
        let remaining = try store.log(LogQuery(order: .oldestFirst))
        #expect(removed + remaining.count == 40)
        #expect(remaining.allSatisfy { ($0.record.startedAt ?? $0.record.endedAt) >= cutoff })
        #expect(remaining.first?.seq == Int64(removed + 1))
        let verification = try store.verify()
        #expect(verification.isIntact, "\(verification.problem ?? "")")
        #expect(verification.rowCount == remaining.count + 1, "the kept rows and the retention record")
        #expect(verification.anchor?.firstKeptSeq == remaining.first?.seq)
        let report = try store.report(ReportQuery(by: .kind))
        #expect(report.total.realCount + report.total.drillCount <= remaining.count)

        // Pruning again before the same cutoff removes nothing more; the log stays intact.
        #expect(try store.prune(before: cutoff) == 0)
        #expect(try store.verify().isIntact)

        // An edit after pruning is still caught, at the first remaining row.
        let first = try #require(remaining.first?.seq)
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER airtimeLog_noUpdate")
            try db.execute(sql: "UPDATE airtimeLog SET title = 'forged' WHERE seq = ?", arguments: [first])
        }
        let tampered = try store.verify()
        #expect(tampered.firstBadSeq == first, "\(tampered.problem ?? "")")
    }

    @Test func theNewestRowIsNeverPruned() throws {
        let (store, _) = try makeStore()
        try store.append(contentsOf: SyntheticLog.records(count: 5, spacing: 60))
        #expect(try store.prune(before: instant("2099-01-01T00:00:00+08:00")) == 4)
        #expect(try store.log(LogQuery()).map(\.seq) == [5])
        #expect(try store.verify().isIntact)
    }

    @Test func outsidePruningTheDeleteTriggerStillRefuses() throws {
        let (store, queue) = try makeStore()
        try store.append(contentsOf: SyntheticLog.records(count: 5, spacing: 60))
        try store.prune(before: instant("2023-01-01T00:02:30+08:00"))
        #expect(throws: (any Error).self) { try queue.write { db in try db.execute(sql: "DELETE FROM airtimeLog") } }
    }
}
