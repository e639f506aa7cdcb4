import DalabaLink

/// Walks a village's airtime chain forward from the last row the county confirmed: pure, so every fault it names is a unit
/// test. Rows are (seq, previousHash, hash, and whether the stored fields still give that hash) in seq order, as stored.
///
/// A row whose fields no longer give its own hash (its volume, frames or any field edited in PostgreSQL or before it came)
/// is flagged as edited; the walk goes on over it.
///
/// A row that does not link to the row before (its `previousHash` is not that row's hash) means the village's log was edited
/// or rewritten: it is flagged and the walk goes on, since the row is what the village holds now. A missing seq stops the
/// walk: rows may still be on their way (PostgreSQL was down when they first came), and the village re-sends from the
/// confirmed seq, so the gap closes by itself unless the village no longer has the row, which stays flagged.
public struct ChainWalk: Sendable, Equatable {
    public struct Link: Sendable, Equatable {
        public var seq: Int64
        public var previousHash: String
        public var hash: String
        /// The row's stored fields recompute to `hash` (`LinkRow.isIntact`).
        public var isIntact: Bool
        public init(seq: Int64, previousHash: String, hash: String, isIntact: Bool = true) {
            self.seq = seq
            self.previousHash = previousHash
            self.hash = hash
            self.isIntact = isIntact
        }

        /// The link of `row`, with its hash recomputed from its fields.
        public init(_ row: LinkRow) {
            self.init(seq: row.seq, previousHash: row.previousHash, hash: row.hash, isIntact: row.isIntact)
        }
    }

    public enum Fault: Sendable, Equatable, CustomStringConvertible {
        /// Row `seq` does not link to the row before it.
        case brokenLink(seq: Int64)
        /// Rows `from`…`to` are missing while later rows are stored.
        case gap(from: Int64, to: Int64)
        /// Row `seq`'s content no longer matches its own hash.
        case edited(seq: Int64)
        /// Row `seq` arrived again with different content (another hash) than the copy stored first.
        case changed(seq: Int64)
        /// Row `seq` cannot be a row of any village's log (negative frames, a NUL in a text): not stored, flagged.
        case invalid(seq: Int64, reason: String)

        public var description: String {
            switch self {
            case .brokenLink(let seq): "row \(seq) does not link to row \(seq - 1): the village's log was edited"
            case .gap(let from, let to): from == to ? "row \(from) is missing" : "rows \(from)–\(to) are missing"
            case .edited(let seq): "row \(seq) was edited: its content no longer matches its hash"
            case .changed(let seq): "row \(seq) was sent again with other content: the village's log was edited"
            case .invalid(let seq, let reason): "row \(seq) cannot be stored (\(reason)): the village's log was edited"
            }
        }

        /// The first row it concerns: where an official starts to look.
        public var seq: Int64 {
            switch self {
            case .brokenLink(let seq), .edited(let seq), .changed(let seq), .invalid(let seq, _): seq
            case .gap(let from, _): from
            }
        }

        /// A gap may still close; an edit never does.
        public var isEdit: Bool {
            if case .gap = self { return false }
            return true
        }
    }

    /// The newest row of the unbroken run from the start: every row up to it is stored.
    public var confirmedSeq: Int64
    public var confirmedHash: String
    public var faults: [Fault] = []

    public static let genesis = String(repeating: "0", count: 64)

    public init(confirmedSeq: Int64 = 0, confirmedHash: String = ChainWalk.genesis) {
        self.confirmedSeq = confirmedSeq
        self.confirmedHash = confirmedHash
    }

    /// Advances over `links` (stored rows after `confirmedSeq`, ascending), recording faults.
    public mutating func advance(over links: [Link]) {
        for link in links where link.seq > confirmedSeq {
            if link.seq != confirmedSeq + 1 {
                faults.append(.gap(from: confirmedSeq + 1, to: link.seq - 1))
                return
            }
            if !link.isIntact {
                faults.append(.edited(seq: link.seq))
            }
            if link.previousHash != confirmedHash {
                faults.append(.brokenLink(seq: link.seq))
            }
            confirmedSeq = link.seq
            confirmedHash = link.hash
        }
    }
}

/// Where each village's chain stood after the head-end's last committed batch, kept in memory by the one task that writes rows,
/// so a batch that simply continues a village's chain is walked without reading its rows back from PostgreSQL.
///
/// A mark is kept only while no stored row lies beyond it (a gap, or rows stored before a restart, send the village back to
/// the read-back walk), is set only after its transaction committed, and is dropped when a transaction fails, since its
/// commit may or may not have happened. PostgreSQL keeps the truth: the store's update is conditional on the mark, so a
/// mark that went stale (another head-end, an edit by hand) falls back to the read-back walk as well.
public struct ChainMarks: Sendable, Equatable {
    public struct Mark: Sendable, Equatable {
        public var seq: Int64
        public var hash: String
        public init(seq: Int64, hash: String) {
            self.seq = seq
            self.hash = hash
        }
    }

    private var marks: [String: Mark] = [:]

    public init() {}

    public subscript(village: String) -> Mark? { marks[village] }

    public var count: Int { marks.count }

    /// The walk over `links` (ascending, one per seq) from the remembered mark, when they continue it without a gap; nil
    /// when nothing is remembered or they do not start right after it.
    public func walk(village: String, over links: [ChainWalk.Link]) -> ChainWalk? {
        guard let mark = marks[village], let first = links.first, let last = links.last, first.seq == mark.seq + 1,
            last.seq == mark.seq + Int64(links.count)
        else { return nil }
        var walk = ChainWalk(confirmedSeq: mark.seq, confirmedHash: mark.hash)
        walk.advance(over: links)
        return walk
    }

    /// After a commit: remembers where `walk` ended, or forgets the village when rows are stored beyond it (`clean` false).
    public mutating func remember(village: String, walk: ChainWalk, clean: Bool) {
        marks[village] = clean ? Mark(seq: walk.confirmedSeq, hash: walk.confirmedHash) : nil
    }

    public mutating func forget(village: String) { marks[village] = nil }
}
