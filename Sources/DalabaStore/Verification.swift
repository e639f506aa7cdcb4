import DalabaCore
import Foundation
import GRDB

/// The result of walking the airtime log's hash chain: intact, or the first row found edited, missing or inserted.
public struct Verification: Sendable, Codable, Hashable {
    /// Links walked: airtime rows and retention records.
    public var rowCount: Int
    /// The first row at fault, or the first missing seq.
    public var firstBadSeq: Int64?
    /// What is wrong, in one sentence: "row 123 was edited (its content no longer matches its hash)".
    public var problem: String?
    /// The newest link, to print or publish.
    public var head: ChainHead?
    /// Where the chain starts when retention removed its oldest rows, and which retention record made it so.
    public var anchor: RetentionAnchor?
    /// Something an official should know that is not a fault: rows removed by retention after the published head.
    public var notice: String?

    public init(
        rowCount: Int, firstBadSeq: Int64? = nil, problem: String? = nil, head: ChainHead? = nil, anchor: RetentionAnchor? = nil,
        notice: String? = nil
    ) {
        self.rowCount = rowCount
        self.firstBadSeq = firstBadSeq
        self.problem = problem
        self.head = head
        self.anchor = anchor
        self.notice = notice
    }

    public var isIntact: Bool { problem == nil }
}

/// The start of a chain whose oldest rows retention removed: the first kept row links to `anchorHash`, the hash of the last
/// removed row, and the retention record at `retentionSeq` (itself a link of the chain) says so.
public struct RetentionAnchor: Sendable, Codable, Hashable {
    /// The first row kept; rows 1 through `firstKeptSeq - 1` were removed.
    public var firstKeptSeq: Int64
    /// The hash of row `firstKeptSeq - 1`, which the first kept row links to.
    public var anchorHash: String
    /// The seq of the retention record that made the anchor.
    public var retentionSeq: Int64
    /// When that retention ran.
    public var madeAt: Date
    /// Who ran it, in words ("keep 90 days").
    public var madeBy: String
    /// Rows filed before this instant were due for removal; nil for an anchor adopted at upgrade.
    public var cutoff: Date?
    /// Airtime rows that retention removed.
    public var removedRows: Int

    public init(
        firstKeptSeq: Int64, anchorHash: String, retentionSeq: Int64, madeAt: Date, madeBy: String, cutoff: Date?, removedRows: Int
    ) {
        self.firstKeptSeq = firstKeptSeq
        self.anchorHash = anchorHash
        self.retentionSeq = retentionSeq
        self.madeAt = madeAt
        self.madeBy = madeBy
        self.cutoff = cutoff
        self.removedRows = removedRows
    }

    /// "rows 1–N" or "row 1".
    public var removedRange: String { firstKeptSeq == 2 ? "row 1" : "rows 1–\(firstKeptSeq - 1)" }
}

extension StationStore {
    /// Walks the whole chain, airtime rows and retention records in seq order, and names the first link that was edited (its
    /// content no longer matches its hash), deleted (a gap in seq), or inserted or replaced (a broken link to the one before).
    ///
    /// The walk starts at the anchor of the newest retention record, or at row 1 from the genesis hash. An anchor found
    /// anywhere else (the settings table of earlier versions) is forged. With `expecting`, a head printed or published
    /// earlier, it also detects the truncation or rewrite of the newest links that the chain alone cannot; a head published
    /// before a retention is checked as far as the rows it covers remain, and the result says that retention came after it.
    /// When the chain is intact it also checks the daily report totals against the log.
    public func verify(expecting published: ChainHead? = nil) throws -> Verification {
        try read("verify the airtime log") { db in
            var walk = ChainWalk(published: published)
            let records = try Row.fetchAll(db, sql: "SELECT \(RetentionRecord.columnList) FROM logRetention ORDER BY seq")
            var decoded: [RetentionRecord] = []
            for row in records {
                guard let record = RetentionRecord(row: row) else {
                    return walk.failure(row[0], "retention record \(row[0] as DatabaseValue) was edited or forged (it holds a value Dalaba never writes)")
                }
                decoded.append(record)
            }
            let latest = decoded.last
            walk.anchor = latest?.anchor

            if let seq = try Int64.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [Self.legacyAnchorSeqSetting]),
                let hash = try String.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [Self.legacyAnchorHashSetting]),
                latest?.removedThrough != seq || latest?.anchorHash != hash
            {
                let range = seq <= 1 ? "row 1" : "rows 1–\(seq)"
                return walk.failure(
                    1,
                    "the retention anchor in the settings table (row \(seq), \(hash.prefix(12))…) matches no retention record in the chain: "
                        + "it was forged, and \(range) deleted by hand")
            }
            let start: (seq: Int64, previousHash: String) = latest.map { ($0.removedThrough + 1, $0.anchorHash) } ?? (1, AirtimeLogChain.genesis)
            walk.expectedSeq = start.seq
            walk.previousHash = start.previousHash
            if let latest, latest.seq <= latest.removedThrough {
                return walk.failure(latest.seq, "retention record \(latest.seq) claims to have removed itself (rows 1–\(latest.removedThrough)): it was forged")
            }

            let totalsZone = try String.fetchOne(db, sql: "SELECT value FROM storeSetting WHERE key = ?", arguments: [ReportTotals.timeZoneSetting])
            var calendar = LocalCalendar(timeZone: totalsZone.flatMap(TimeZone.init(identifier:)) ?? timeZone)
            var totals: [ReportTotals.Key: ReportTotals.Amount] = [:]
            var buffer = [UInt8]()
            buffer.reserveCapacity(1024)
            var pending = decoded[...]

            // Retention records first when they come before the row, then the row.
            func walkRecords(before seq: Int64?) -> Verification? {
                while let record = pending.first, seq.map({ record.seq <= $0 }) ?? true {
                    pending = pending.dropFirst()
                    if record.seq == seq { return walk.failure(record.seq, "seq \(record.seq) is both a row and a retention record: one was inserted") }
                    if let problem = walk.step(
                        seq: record.seq, previousHash: record.previousHash, hash: record.hash, contentMatches: record.computedHash() == record.hash,
                        start: start.seq, what: "retention record")
                    {
                        return problem
                    }
                    if let latest, record.removedThrough > latest.removedThrough {
                        return walk.failure(record.seq, "retention record \(record.seq) removed more than the newest one says was removed: it was forged")
                    }
                }
                return nil
            }

            let rows = try Row.fetchCursor(db, sql: "SELECT \(ChainedContent.storedColumnList) FROM airtimeLog ORDER BY seq")
            while let row = try rows.next() {
                let seq: Int64 = row[0]
                if let problem = walkRecords(before: seq) { return problem }
                let content = ChainedContent(row: row)
                let storedPrevious: String? = if case .string(let v) = (row[21] as DatabaseValue).storage { v } else { nil }
                let storedHash: String? = if case .string(let v) = (row[22] as DatabaseValue).storage { v } else { nil }
                let matches =
                    if let content, let storedPrevious, let storedHash, row[20] as DatabaseValue == content.at.databaseValue {
                        content.hash(previousHash: storedPrevious, buffer: &buffer) == storedHash
                    } else { false }
                if let problem = walk.step(
                    seq: seq, previousHash: storedPrevious ?? "", hash: storedHash ?? "", contentMatches: matches, start: start.seq, what: "row")
                {
                    return problem
                }
                if let content { ReportTotals.add(content, calendar: &calendar, to: &totals) }
            }
            if let problem = walkRecords(before: nil) { return problem }

            if let problem = walk.checkPublished(latest: latest) { return problem }
            if totalsZone != nil, try ReportTotals.stored(db) != totals {
                return walk.failure(nil, "the chain is intact but the report totals do not match the log; rebuild them (rebuildReportTotals)")
            }
            return walk.result()
        }
    }
}

/// The state of one walk along the chain, and the sentences it ends with.
private struct ChainWalk {
    let published: ChainHead?
    var expectedSeq: Int64 = 1
    var previousHash = AirtimeLogChain.genesis
    var rowCount = 0
    var head: ChainHead?
    var anchor: RetentionAnchor?
    var notice: String?
    var publishedHashFound: String?

    init(published: ChainHead?) { self.published = published }

    func failure(_ bad: Int64?, _ problem: String) -> Verification {
        Verification(rowCount: rowCount, firstBadSeq: bad, problem: problem, head: head, anchor: anchor, notice: notice)
    }

    func result() -> Verification { Verification(rowCount: rowCount, head: head, anchor: anchor, notice: notice) }

    /// Takes the next link; returns the failure when it is not where, or what, the chain says it must be.
    mutating func step(seq: Int64, previousHash storedPrevious: String, hash storedHash: String, contentMatches: Bool, start: Int64, what: String)
        -> Verification?
    {
        rowCount += 1
        if seq < expectedSeq {
            return failure(seq, "\(what) \(seq) was inserted before row \(expectedSeq) (the log starts at \(start))")
        }
        if seq > expectedSeq {
            let missing = seq == expectedSeq + 1 ? "row \(expectedSeq) is missing" : "rows \(expectedSeq)–\(seq - 1) are missing"
            return failure(expectedSeq, "\(missing) (deleted)")
        }
        guard contentMatches else {
            return failure(seq, "\(what) \(seq) was edited or forged (its content no longer matches its hash)")
        }
        if storedPrevious != previousHash {
            if seq == start, start > 1 {
                return failure(seq, "\(what) \(seq) does not link to the retention anchor (row \(seq - 1), pruned)")
            }
            if seq == 1 {
                return failure(1, "\(what) 1 does not start from the genesis hash (the log was rewritten from its start)")
            }
            return failure(seq - 1, "row \(seq - 1) was replaced, or a row was inserted after row \(seq - 1) (\(what) \(seq) does not link to it)")
        }
        if seq == published?.seq { publishedHashFound = storedHash }
        previousHash = storedHash
        head = ChainHead(seq: seq, hash: storedHash)
        expectedSeq += 1
        return nil
    }

    /// Compares the walked chain with a head published earlier. The published link must still be there with its hash, or,
    /// when retention has removed it since, be the anchor itself or lie before it; either way a retention after the
    /// published head is said in `notice`.
    mutating func checkPublished(latest: RetentionRecord?) -> Verification? {
        guard let published else { return nil }
        let last = head?.seq ?? 0
        if published.seq > last {
            let removed = published.seq == last + 1 ? "row \(published.seq) was" : "rows \(last + 1)–\(published.seq) were"
            return failure(last + 1, "\(removed) removed: the log ends before the published head \(published)")
        }
        guard let latest, let anchor else {
            if publishedHashFound != published.hash {
                return failure(published.seq, "row \(published.seq) does not match the published head \(published): the log was rewritten up to it")
            }
            return nil
        }
        if published.seq >= anchor.firstKeptSeq {
            if publishedHashFound != published.hash {
                return failure(published.seq, "row \(published.seq) does not match the published head \(published): the log was rewritten up to it")
            }
        } else if published.seq == anchor.firstKeptSeq - 1, published.hash != anchor.anchorHash {
            return failure(
                published.seq,
                "the retention anchor (row \(published.seq), \(anchor.anchorHash.prefix(12))…) does not match the published head \(published): "
                    + "the anchor was rewritten")
        }
        if published.seq < latest.seq {
            let when = ISO8601DateFormatter().string(from: anchor.madeAt)
            var sentence =
                "\(anchor.removedRange) removed by retention after the published head \(published.seq) "
                + "(retention record \(latest.seq), \(when), \(anchor.madeBy))"
            if published.seq < anchor.firstKeptSeq - 1 {
                sentence += "; the published head is among the removed rows and cannot vouch for the anchor: publish the new head"
            }
            notice = sentence
        }
        return nil
    }
}
