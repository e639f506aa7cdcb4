import DalabaCore
import Foundation

/// Turns a ScheduleBook into announcements as time passes: events in, actions out, and no clock of its own.
///
/// Shaped like postgres-nio's `PoolStateMachine`: the daemon passes `now`, performs the returned actions (queue,
/// log, persist, set a timer) and calls `tick` again at the `.wake` time, on SIGHUP (`reload`) or after any
/// clock change. Because every slot it handles is remembered by `SlotKey`, nothing plays twice; because it walks
/// forward from the last instant it handled, a slot skipped by downtime or a clock jump is played late (within
/// the programme's grace) or reported missed, never dropped in silence.
public struct Scheduler: Sendable {
    public enum Action: Sendable, Hashable {
        /// Queue this announcement for this slot; a slot with several audio files yields several, in order.
        case enqueue(Announcement, Slot)
        /// The slot is older than its grace allows: log it as missed, do not play it.
        case missed(Slot)
        /// Persist the key, so a restart or reload never handles this slot again; follows `.enqueue` or `.missed`.
        case markFired(SlotKey)
        /// Call `tick` again at this instant; the last action of every call, when any slot remains.
        case wake(at: Date)
    }

    public private(set) var book: ScheduleBook
    /// Keys of slots handled at or after `handledThrough`; older keys cannot come back and are let go.
    private var fired: Set<SlotKey>
    /// Every slot up to this instant has been handled; it only moves forward, even when the clock goes back.
    public private(set) var handledThrough: Date
    /// Whether slots at exactly `handledThrough` may still be due: true after a restart, until a tick reaches it.
    private var handledThroughIsOpen = true
    private var queue: SlotQueue
    private var keysAfterPrune = 0

    /// Restores the scheduler after a start: `fired` are the keys the store kept, `lastFired` the instant it last ran.
    ///
    /// Slots from the latest of those instants onwards that are not in `fired` are handled by the first `tick`:
    /// this is how downtime turns into late plays and missed entries. With no history at all it starts at `now`.
    public init(book: ScheduleBook, fired: Set<SlotKey>, lastFired: Date? = nil, now: Date) {
        let latestKey = fired.lazy.map(\.time).max()
        let start = [lastFired, latestKey].compactMap { $0 }.max() ?? now
        self.book = book
        self.fired = fired
        self.handledThrough = start
        self.queue = SlotQueue(rules: book.rules, from: start, inclusive: true)
    }

    /// When `tick` should next be called, if any programme still has a slot.
    public var nextWake: Date? { queue.first?.time }

    /// Handles every slot due at or before `now`, in time order.
    public mutating func tick(now: Date) -> [Action] {
        var actions: [Action] = []
        while let entry = queue.first, entry.time <= now {
            _ = queue.popAndAdvance(rules: book.rules)
            let programme = book.programmes[entry.index]
            let key = SlotKey(programme: programme.name, time: entry.time)
            if fired.contains(key) { continue }
            let slot = book.slot(entry)
            if now.timeIntervalSince(entry.time) > programme.grace {
                actions.append(.missed(slot))
            } else {
                for var announcement in slot.announcements {
                    announcement.queuedAt = now
                    actions.append(.enqueue(announcement, slot))
                }
            }
            fired.insert(key)
            actions.append(.markFired(key))
        }
        if now >= handledThrough {
            handledThrough = now
            handledThroughIsOpen = false
        }
        pruneFired()
        if let next = queue.first { actions.append(.wake(at: next.time)) }
        return actions
    }

    /// Takes a new version of the schedule files and handles what is due under it.
    ///
    /// Slots already handled are not handled again, and what is playing is left alone. A slot the new version puts
    /// at or before the last instant handled is not played: that time had passed when the change arrived.
    public mutating func reload(book: ScheduleBook, now: Date) -> [Action] {
        self.book = book
        queue = SlotQueue(rules: book.rules, from: handledThrough, inclusive: handledThroughIsOpen)
        return tick(now: now)
    }

    /// Lets go of keys older than `handledThrough` now and then; the queue never goes back to them.
    private mutating func pruneFired() {
        guard fired.count > max(1024, keysAfterPrune * 2) else { return }
        let limit = handledThrough
        fired = fired.filter { $0.time >= limit }
        keysAfterPrune = fired.count
    }
}
