import Foundation

/// The result of walking the airtime log's hash chain: intact, or the first row found edited, missing or inserted.
public struct Verification: Sendable, Codable, Hashable {
    /// Rows walked.
    public var rowCount: Int
    /// The first row at fault, or the first missing seq.
    public var firstBadSeq: Int64?
    /// What is wrong, in one sentence: "row 123 was edited (its content no longer matches its hash)".
    public var problem: String?
    /// The newest link, to print or publish.
    public var head: ChainHead?

    public init(rowCount: Int, firstBadSeq: Int64? = nil, problem: String? = nil, head: ChainHead? = nil) {
        self.rowCount = rowCount
        self.firstBadSeq = firstBadSeq
        self.problem = problem
        self.head = head
    }

    public var isIntact: Bool { problem == nil }
}
