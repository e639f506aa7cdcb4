import DalabaCore
import Foundation

/// Identifies one slot for good: the programme's name and the slot's instant (UTC).
///
/// The store keeps the keys of slots already handled, so nothing plays twice after a restart, a reload or a clock jump.
public struct SlotKey: Hashable, Sendable, Codable, CustomStringConvertible {
    public var programme: String
    public var time: Date

    public init(programme: String, time: Date) {
        self.programme = programme
        self.time = time
    }

    public var description: String { "\(programme)@\(isoTimestamp(time))" }
}

/// One time a programme is due to play.
public struct Slot: Hashable, Sendable {
    public var programme: String
    public var time: Date
    /// The rule that produced it in words, e.g. "lunar days 1, 5, 11, 15, 21, 25 at 08:00", for `schedule next`.
    public var rule: String
    /// What the slot queues, one per audio file; `queuedAt` is the slot time until the Scheduler queues them.
    public var announcements: [Announcement]

    public init(programme: String, time: Date, rule: String, announcements: [Announcement]) {
        self.programme = programme
        self.time = time
        self.rule = rule
        self.announcements = announcements
    }

    public var key: SlotKey { SlotKey(programme: programme, time: time) }
}

/// Every programme's next slot in a min-heap, so the earliest slot is found in O(1) and only fired programmes advance.
struct SlotQueue: Sendable {
    struct Entry: Sendable {
        var time: Date
        var index: Int

        func precedes(_ other: Entry) -> Bool { time < other.time || (time == other.time && index < other.index) }
    }

    private var heap: [Entry]

    /// The first slot of each programme at or after `start` (strictly after when `inclusive` is false).
    init(rules: [FireRule], from start: Date, inclusive: Bool) {
        heap = []
        heap.reserveCapacity(rules.count)
        for (index, rule) in rules.enumerated() {
            if let time = rule.firstFire(from: start, inclusive: inclusive) { heap.append(Entry(time: time, index: index)) }
        }
        var parent = heap.count / 2 - 1
        while parent >= 0 {
            siftDown(parent)
            parent -= 1
        }
    }

    var first: Entry? { heap.first }

    var count: Int { heap.count }

    /// Takes the earliest slot and puts its programme's following slot in its place.
    mutating func popAndAdvance(rules: [FireRule]) -> Entry? {
        guard let top = heap.first else { return nil }
        if let next = rules[top.index].firstFire(from: top.time, inclusive: false) {
            heap[0].time = next
        } else {
            heap[0] = heap[heap.count - 1]
            heap.removeLast()
        }
        if !heap.isEmpty { siftDown(0) }
        return top
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < heap.count else { return }
            var child = left
            if left + 1 < heap.count && heap[left + 1].precedes(heap[left]) { child = left + 1 }
            guard heap[child].precedes(heap[parent]) else { return }
            heap.swapAt(parent, child)
            parent = child
        }
    }
}
