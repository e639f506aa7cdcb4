import DalabaLink

/// One village's rows made ready for the store before the database is touched: in seq order, one per seq, each checked
/// against its own hash. The uplink reader prepares batches while the writer's transaction runs, so the SHA-256 work is off
/// the database path.
public struct PreparedRows: Sendable, Equatable {
    public var village: RegionCode
    public private(set) var rows: [LinkRow]
    /// Rows whose content no longer matches their hash, and a seq sent twice with different content (the first copy is kept).
    public private(set) var faults: [ChainWalk.Fault]

    public init(village: RegionCode, rows: [LinkRow] = []) {
        self.village = village
        self.rows = []
        faults = []
        merge(rows: rows, faults: [], checked: false)
    }

    /// Adds a later batch of the same village (sent before this one was stored).
    public mutating func merge(_ other: PreparedRows) {
        precondition(other.village == village, "merging rows of \(other.village) into \(village)")
        merge(rows: other.rows, faults: other.faults, checked: true)
    }

    private mutating func merge(rows incoming: [LinkRow], faults incomingFaults: [ChainWalk.Fault], checked: Bool) {
        var edited = incomingFaults
        var valid = incoming
        if !checked {
            valid = []
            for row in incoming {
                if let reason = Self.problem(with: row) {
                    edited.append(.invalid(seq: row.seq, reason: reason))
                    continue
                }
                if !row.isIntact { edited.append(.edited(seq: row.seq)) }
                valid.append(row)
            }
        }
        // Stable: among rows with the same seq, the one that came first stays first.
        let all = (rows + valid).enumerated().sorted { ($0.element.seq, $0.offset) < ($1.element.seq, $1.offset) }.map(\.element)
        var kept: [LinkRow] = []
        kept.reserveCapacity(all.count)
        for row in all {
            if let last = kept.last, last.seq == row.seq {
                if last.hash != row.hash, !edited.contains(.changed(seq: row.seq)), !faults.contains(.changed(seq: row.seq)) {
                    edited.append(.changed(seq: row.seq))
                }
                continue
            }
            kept.append(row)
        }
        rows = kept
        faults += edited
    }

    /// Why PostgreSQL would refuse `row` (and with it every other row of its transaction), or nil. The village's own store
    /// never writes such a row, so one that arrives was written by someone else.
    static func problem(with row: LinkRow) -> String? {
        if row.seq <= 0 { return "seq \(row.seq) is not positive" }
        if row.frames < 0 { return "frames \(row.frames) is negative" }
        let texts = [row.announcementID, row.title, row.kind, row.tier, row.source, row.audio, row.text ?? "", row.outcome, row.error ?? "",
            row.previousHash, row.hash]
        if texts.contains(where: { $0.utf8.contains(0) }) { return "a text holds a NUL character" }
        return nil
    }
}
