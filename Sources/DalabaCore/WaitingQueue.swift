import Foundation

/// The arbiter's waiting entries, kept in play order and indexed by the times that can change a decision, so that
/// arrival, departure, "what plays next" and "when to look again" cost O(log n) comparisons in the queue's length
/// instead of a sort of the whole queue at every event (a flood of 2,000 requests made each one slower than the last).
struct WaitingQueue: Sendable {
    /// Play order as a comparable value: rank, then drill level among drills, then the higher tier, then first come.
    struct Key: Comparable, Sendable {
        var height: Int
        var drillLevel: Int
        var tier: Int
        var sequence: Int64
        var id: String

        init(_ entry: QueueEntry) {
            let a = entry.announcement
            // Higher goes first, so negate what sorts high.
            height = -a.rank.height
            drillLevel = a.rank == .drill ? Rank.clamped(a.level) : 0
            tier = -a.tier.rawValue
            sequence = entry.sequence
            id = entry.id
        }

        static func < (lhs: Key, rhs: Key) -> Bool {
            (lhs.height, lhs.drillLevel, lhs.tier, lhs.sequence, lhs.id) < (rhs.height, rhs.drillLevel, rhs.tier, rhs.sequence, rhs.id)
        }
    }

    /// One instant at which an entry's eligibility changes (not-before, earliest start, expiry).
    struct Moment: Comparable, Sendable {
        var at: Date
        var id: String
        static func < (lhs: Moment, rhs: Moment) -> Bool { (lhs.at, lhs.id) < (rhs.at, rhs.id) }
    }

    private(set) var entries: [String: QueueEntry] = [:]
    private(set) var order = SortedArray<Key>()
    private var expiries = SortedArray<Moment>()
    private var moments = SortedArray<Moment>()
    /// Routine and policy entries, which quiet hours hold.
    private(set) var quietHoldable = 0

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }
    subscript(id: String) -> QueueEntry? { entries[id] }

    /// Adds or replaces the entry with this id.
    mutating func insert(_ entry: QueueEntry) {
        remove(id: entry.id)
        entries[entry.id] = entry
        order.insert(Key(entry))
        if let expires = entry.announcement.expires { expiries.insert(Moment(at: expires, id: entry.id)) }
        for time in Self.times(entry) { moments.insert(Moment(at: time, id: entry.id)) }
        if Self.isQuietHoldable(entry) { quietHoldable += 1 }
    }

    @discardableResult
    mutating func remove(id: String) -> QueueEntry? {
        guard let entry = entries.removeValue(forKey: id) else { return nil }
        order.remove(Key(entry))
        if let expires = entry.announcement.expires { expiries.remove(Moment(at: expires, id: id)) }
        for time in Self.times(entry) { moments.remove(Moment(at: time, id: id)) }
        if Self.isQuietHoldable(entry) { quietHoldable -= 1 }
        // An emptied queue gives its storage back, so a flood that was cancelled leaves nothing behind.
        if entries.isEmpty { self = WaitingQueue() }
        return entry
    }

    /// Entries in play order.
    var sorted: [QueueEntry] { order.elements.map { entries[$0.id]! } }

    /// Ids of the entries expired at `now`, soonest first.
    func expired(at now: Date) -> [String] {
        var ids: [String] = []
        for moment in expiries.elements {
            guard moment.at <= now else { break }
            ids.append(moment.id)
        }
        return ids
    }

    /// The first entry in play order that satisfies `isEligible`; it walks from the head, which is eligible unless the
    /// best items are held (not-before, repeat interval, quiet hours).
    func first(where isEligible: (QueueEntry) -> Bool) -> QueueEntry? {
        for key in order.elements {
            if let entry = entries[key.id], isEligible(entry) { return entry }
        }
        return nil
    }

    /// Position in play order.
    func position(of id: String) -> Int? {
        guard let entry = entries[id] else { return nil }
        return order.index(of: Key(entry))
    }

    /// The earliest not-before, earliest start or expiry after `now`.
    func nextMoment(after now: Date) -> Date? {
        moments.first(after: Moment(at: now, id: "\u{10FFFF}"))?.at
    }

    private static func times(_ entry: QueueEntry) -> [Date] {
        [entry.announcement.notBefore, entry.earliestStart, entry.announcement.expires].compactMap { $0 }
    }

    private static func isQuietHoldable(_ entry: QueueEntry) -> Bool {
        entry.announcement.kind == .routine || entry.announcement.kind == .policy
    }
}

/// An array kept sorted, with binary search for insertion, removal and lookup.
struct SortedArray<Element: Comparable & Sendable>: Sendable {
    private(set) var elements: [Element] = []

    /// The index of the first element not less than `value`.
    func lowerBound(_ value: Element) -> Int {
        var low = 0
        var high = elements.count
        while low < high {
            let mid = (low + high) / 2
            if elements[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    mutating func insert(_ value: Element) { elements.insert(value, at: lowerBound(value)) }

    mutating func remove(_ value: Element) {
        let index = lowerBound(value)
        if index < elements.count, elements[index] == value { elements.remove(at: index) }
    }

    func index(of value: Element) -> Int? {
        let index = lowerBound(value)
        return index < elements.count && elements[index] == value ? index : nil
    }

    /// The first element greater than `value`.
    func first(after value: Element) -> Element? {
        var low = 0
        var high = elements.count
        while low < high {
            let mid = (low + high) / 2
            if value < elements[mid] { high = mid } else { low = mid + 1 }
        }
        return low < elements.count ? elements[low] : nil
    }
}
