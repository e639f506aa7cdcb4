import DalabaCore
import Foundation
import GRDB
import Testing

@testable import DalabaStore

/// Every retention is a link of the chain, so its anchor cannot be written anywhere else, and a published head covers it.
/// The attacker here has write access to the database file: it drops the append-only triggers, as anyone holding the file can.
@Suite struct RetentionAnchorTests {
    let cutoff = instant("2023-01-02T12:00:00+08:00")

    /// 40 rows, one every 90 minutes from 2023-01-01 (CST), and the hashes they had.
    func fortyRows() throws -> (StationStore, DatabaseQueue, [Int64: String]) {
        let (store, queue) = try makeStore()
        try store.append(contentsOf: SyntheticLog.records(count: 40, spacing: 5_400))
        let hashes = Dictionary(uniqueKeysWithValues: try store.log(LogQuery(order: .oldestFirst)).map { ($0.seq, $0.hash) })
        return (store, queue, hashes)
    }

    @Test func rowsDeletedByHandWithAMatchingAnchorInTheSettingsAreReportedAsForged() throws {
        let (store, queue, hashes) = try fortyRows()
        // What the unchained retention of earlier versions left, written by hand: delete rows 1–15, anchor at row 15.
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER airtimeLog_noDelete")
            try db.execute(sql: "DELETE FROM airtimeLog WHERE seq <= 15")
            try db.execute(
                sql: "INSERT OR REPLACE INTO storeSetting(key, value) VALUES ('airtimeLog.anchorSeq', 15), ('airtimeLog.anchorHash', ?)",
                arguments: [hashes[15]!])
            try ReportTotals.rebuild(timeZone: shanghai, db)
        }
        let result = try store.verify()
        #expect(!result.isIntact)
        #expect(result.firstBadSeq == 1)
        #expect(result.problem?.contains("matches no retention record in the chain: it was forged, and rows 1–15 deleted by hand") == true, "\(result)")
        #expect(result.anchor == nil)

        // Without the settings anchor, the same deletion is a plain gap at the start.
        try queue.write { db in try db.execute(sql: "DELETE FROM storeSetting WHERE key LIKE 'airtimeLog.anchor%'") }
        let gap = try store.verify()
        #expect(gap.firstBadSeq == 1 && gap.problem == "rows 1–15 are missing (deleted)", "\(gap)")
    }

    @Test func aLegitimateRetentionIsIntactAndReportsItsAnchor() throws {
        let (store, queue, hashes) = try fortyRows()
        let reportBefore = try store.report(ReportQuery(by: .kind))
        let removed = try store.prune(before: cutoff, policy: "keep 90 days")
        #expect(removed > 0 && removed < 40)
        let result = try store.verify()
        #expect(result.isIntact, "\(result)")
        let anchor = try #require(result.anchor)
        #expect(anchor.firstKeptSeq == Int64(removed + 1))
        #expect(anchor.anchorHash == hashes[Int64(removed)])
        #expect(anchor.retentionSeq == 41, "the record is the next link after the newest row")
        #expect(anchor.madeBy == "keep 90 days" && anchor.cutoff == cutoff && anchor.removedRows == removed)
        #expect(anchor.madeAt == instant("2025-06-01T12:00:00+08:00"), "the store's clock")
        #expect(result.head?.seq == 41 && result.rowCount == 40 - removed + 1)

        // The record is in the chain, not in the log: listings, counts and reports see airtime rows only.
        #expect(try store.logCount(LogQuery()) == 40 - removed)
        #expect(try store.log(LogQuery()).allSatisfy { $0.seq <= 40 })
        let report = try store.report(ReportQuery(by: .kind))
        #expect(report.total.realCount + report.total.drillCount == reportBefore.total.realCount + reportBefore.total.drillCount - removed)

        // The next play links to the record.
        let next = try store.append(SyntheticLog.record(40, start: instant("2023-01-03T12:00:00+08:00"), spacing: 0))
        #expect(next.seq == 42 && next.previousHash == result.head?.hash)
        #expect(try store.verify().isIntact)

        // The record is append-only like the rows.
        #expect(throws: (any Error).self) { try queue.write { db in try db.execute(sql: "DELETE FROM logRetention") } }
        #expect(throws: (any Error).self) { try queue.write { db in try db.execute(sql: "UPDATE logRetention SET madeBy = 'x'") } }
    }

    @Test func anAnchorRewrittenInTheRecordBreaksTheChain() throws {
        let (store, queue, hashes) = try fortyRows()
        let removed = try store.prune(before: cutoff)
        // Remove five more rows and move the record's anchor to match, without recomputing its hash.
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER airtimeLog_noDelete")
            try db.execute(sql: "DROP TRIGGER logRetention_noUpdate")
            try db.execute(sql: "DELETE FROM airtimeLog WHERE seq <= ?", arguments: [removed + 5])
            try db.execute(
                sql: "UPDATE logRetention SET removedThrough = ?, anchorHash = ?", arguments: [removed + 5, hashes[Int64(removed + 5)]!])
        }
        let result = try store.verify()
        #expect(result.firstBadSeq == 41 && result.problem == "retention record 41 was edited or forged (its content no longer matches its hash)")
    }

    @Test func aPublishedHeadAfterTheRetentionCoversItsAnchor() throws {
        let (store, queue, hashes) = try fortyRows()
        let removed = try store.prune(before: cutoff)
        let published = try #require(try store.latestHash())
        #expect(published.seq == 41)
        #expect(try store.verify(expecting: published).isIntact)
        #expect(try store.verify(expecting: published).notice == nil)

        // A forger who can write the file removes five more rows and rewrites the record with a fresh, valid hash: the chain
        // alone cannot tell, the published head can.
        try queue.write { db in
            try db.execute(sql: "DROP TRIGGER airtimeLog_noDelete")
            try db.execute(sql: "DROP TRIGGER logRetention_noDelete")
            try db.execute(sql: "DELETE FROM airtimeLog WHERE seq <= ?", arguments: [removed + 5])
            try db.execute(sql: "DELETE FROM logRetention")
            _ = try StationStore.appendRetention(
                madeAt: Date(), cutoff: nil, removedFrom: 1, removedThrough: Int64(removed + 5), removedRows: removed + 5,
                anchorHash: hashes[Int64(removed + 5)]!, madeBy: "retention", db)
            try ReportTotals.rebuild(timeZone: shanghai, db)
        }
        #expect(try store.verify().isIntact, "a rewrite with fresh hashes is invisible to the chain alone")
        let checked = try store.verify(expecting: published)
        #expect(!checked.isIntact && checked.firstBadSeq == 41, "\(checked)")
        #expect(checked.problem?.contains("does not match the published head \(published)") == true)
    }

    @Test func aRetentionAfterThePublishedHeadIsSaidExplicitly() throws {
        let (store, _, hashes) = try fortyRows()
        let beforeRetention = try #require(try store.latestHash())
        let early = ChainHead(seq: 3, hash: hashes[3]!)
        let removed = try store.prune(before: cutoff, policy: "keep 1 day")

        // The published row is still there: its hash is checked, and the retention after it is named.
        let kept = try store.verify(expecting: beforeRetention)
        #expect(kept.isIntact, "\(kept)")
        let notice = try #require(kept.notice)
        #expect(notice.hasPrefix("rows 1–\(removed) removed by retention after the published head 40 (retention record 41, "), "\(notice)")
        #expect(notice.hasSuffix(", keep 1 day)"))
        let wrong = try store.verify(expecting: ChainHead(seq: 40, hash: String(repeating: "b", count: 64)))
        #expect(!wrong.isIntact && wrong.firstBadSeq == 40)

        // The published row was removed: it cannot be checked any more, and the result says so.
        let gone = try store.verify(expecting: early)
        #expect(gone.isIntact)
        #expect(gone.notice?.contains("rows 1–\(removed) removed by retention after the published head 3") == true)
        #expect(gone.notice?.hasSuffix("cannot vouch for the anchor: publish the new head") == true, "\(gone.notice ?? "")")

        // The published row is the anchor itself: its hash must be the anchor's.
        let anchorRow = ChainHead(seq: Int64(removed), hash: hashes[Int64(removed)]!)
        #expect(try store.verify(expecting: anchorRow).isIntact)
        let badAnchor = try store.verify(expecting: ChainHead(seq: Int64(removed), hash: String(repeating: "c", count: 64)))
        #expect(!badAnchor.isIntact && badAnchor.problem?.contains("the anchor was rewritten") == true, "\(badAnchor)")
    }

    @Test func aSecondRetentionKeepsAnOlderRecordThatIsStillInTheKeptRange() throws {
        let (store, _, _) = try fortyRows()
        let first = try store.prune(before: cutoff)
        // Five later rows, seq 42–46, after the record at 41.
        try store.append(contentsOf: (40..<45).map { SyntheticLog.record($0, start: instant("2023-01-01T00:00:00+08:00"), spacing: 5_400) })
        let second = try store.prune(before: instant("2023-01-03T00:00:00+08:00"))
        #expect(second > 0)
        let result = try store.verify()
        #expect(result.isIntact, "\(result)")
        #expect(result.anchor?.retentionSeq == 47 && result.anchor?.firstKeptSeq == Int64(first + second + 1))
        // Everything but the newest row (46): the record at 41 goes with the rows, the one at 47 (after row 46) stays.
        let all = try store.prune(before: instant("2099-01-01T00:00:00+08:00"))
        #expect(all > 0)
        let last = try store.verify()
        #expect(last.isIntact && last.anchor?.firstKeptSeq == 46 && last.anchor?.retentionSeq == 48, "\(last)")
    }

    @Test func anAnchorKeptOutsideTheChainByAnEarlierVersionIsAdoptedOnceAndSaysSo() throws {
        let (store, queue, hashes) = try fortyRows()
        // The database as the previous version left it: no retention records, rows 1–10 pruned, the anchor in the settings.
        try queue.write { db in
            try db.execute(sql: "DROP TABLE logRetention")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v3-retention-records'")
            try db.execute(sql: "DROP TRIGGER airtimeLog_noDelete")
            try db.execute(sql: "DELETE FROM airtimeLog WHERE seq <= 10")
            try db.execute(sql: StationStore.airtimeDeleteTrigger)
            try db.execute(
                sql: "INSERT INTO storeSetting(key, value) VALUES ('airtimeLog.anchorSeq', 10), ('airtimeLog.anchorHash', ?)", arguments: [hashes[10]!])
            try ReportTotals.rebuild(timeZone: shanghai, db)
        }
        _ = store
        let upgraded = try StationStore(queue, timeZone: shanghai)
        let result = try upgraded.verify()
        #expect(result.isIntact, "\(result)")
        #expect(result.anchor?.firstKeptSeq == 11 && result.anchor?.retentionSeq == 41 && result.anchor?.cutoff == nil)
        #expect(result.anchor?.madeBy.hasPrefix("upgrade: ") == true)
        #expect(try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM storeSetting WHERE key LIKE 'airtimeLog.anchor%'") } == 0)
    }
}
