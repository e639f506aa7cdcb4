/// Walks a village's airtime chain forward from the last row the county confirmed: pure, so every fault it names is a unit
/// test. Rows are (seq, previousHash, hash) in seq order, as stored.
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
        public init(seq: Int64, previousHash: String, hash: String) {
            self.seq = seq
            self.previousHash = previousHash
            self.hash = hash
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

        public var description: String {
            switch self {
            case .brokenLink(let seq): "row \(seq) does not link to row \(seq - 1): the village's log was edited"
            case .gap(let from, let to): from == to ? "row \(from) is missing" : "rows \(from)–\(to) are missing"
            case .edited(let seq): "row \(seq) was edited: its content no longer matches its hash"
            case .changed(let seq): "row \(seq) was sent again with other content: the village's log was edited"
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
            if link.previousHash != confirmedHash {
                faults.append(.brokenLink(seq: link.seq))
            }
            confirmedSeq = link.seq
            confirmedHash = link.hash
        }
    }
}
