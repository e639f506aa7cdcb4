import DalabaCore
import Foundation

/// What `dalaba log` and `GET /v1/log` ask for: a time range, optional filters, and a page.
public struct LogQuery: Sendable, Hashable {
    public enum Order: String, Sendable, Codable {
        case newestFirst
        case oldestFirst
    }

    /// Rows filed at or after this instant (started, or ended if never started).
    public var from: Date?
    /// Rows filed before this instant.
    public var to: Date?
    public var kind: Kind?
    public var outcome: Outcome?
    /// true for drills and tests only, false for real broadcasts only, nil for both.
    public var isTest: Bool?
    /// The page size; nil for every matching row.
    public var limit: Int?
    /// Rows skipped before the page.
    public var offset: Int
    public var order: Order

    public init(
        from: Date? = nil, to: Date? = nil, kind: Kind? = nil, outcome: Outcome? = nil, isTest: Bool? = nil, limit: Int? = nil,
        offset: Int = 0, order: Order = .newestFirst
    ) {
        self.from = from
        self.to = to
        self.kind = kind
        self.outcome = outcome
        self.isTest = isTest
        self.limit = limit
        self.offset = offset
        self.order = order
    }
}
