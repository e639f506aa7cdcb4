import Foundation

/// Decides what the loudspeakers play: which item goes on air, which is preempted, queued, expired or logged.
///
/// A pure state machine in the style of postgres-nio's `PoolStateMachine`: every event comes in through a
/// `mutating func` with the time as a value, and what must happen comes out as `Action`s that the caller (the
/// `Station` actor) performs in order. Nothing here reads a clock or touches the store or the device, so every
/// preemption rule is a plain unit test.
public struct Arbiter: Sendable {
    /// The station's choices that shape the arbiter's decisions.
    public struct Configuration: Sendable {
        /// What happens to an item of each kind when a higher rank cuts in.
        public var policies: [Kind: InterruptPolicy]
        /// The sound before an item of each kind.
        public var signals: [Kind: Signal]
        /// Local hours that hold routine and policy items; nil for none.
        public var quietHours: QuietHours?
        /// The zone quiet hours are read in.
        public var timeZone: TimeZone
        /// How long to leave a failed sound device alone before trying again.
        public var deviceRetry: DeviceRetry

        /// Announcements restart (a half-heard notice is useless); routine programmes resume where they stopped.
        public static let defaultPolicies: [Kind: InterruptPolicy] = [
            .emergency: .restart, .rumorRebuttal: .restart, .policy: .restart, .routine: .resume,
        ]
        /// Emergencies get the attention signal, notices a chime, routine programmes nothing.
        public static let defaultSignals: [Kind: Signal] = [
            .emergency: .attention, .rumorRebuttal: .chime, .policy: .chime, .routine: .none,
        ]

        public init(
            policies: [Kind: InterruptPolicy] = Configuration.defaultPolicies,
            signals: [Kind: Signal] = Configuration.defaultSignals,
            quietHours: QuietHours? = nil,
            timeZone: TimeZone = TimeZone(identifier: "Asia/Shanghai") ?? .gmt,
            deviceRetry: DeviceRetry = DeviceRetry()
        ) {
            self.policies = policies
            self.signals = signals
            self.quietHours = quietHours
            self.timeZone = timeZone
            self.deviceRetry = deviceRetry
        }

        /// A live item is never restarted or resumed (a voice cannot be replayed); others follow their kind's policy.
        public func policy(for announcement: Announcement) -> InterruptPolicy {
            announcement.live != nil ? .drop : policy(for: announcement.kind)
        }

        /// A kind missing from `policies` falls back to the default, so a partial configuration stays sensible.
        public func policy(for kind: Kind) -> InterruptPolicy {
            policies[kind] ?? Configuration.defaultPolicies[kind] ?? .restart
        }

        public func signal(for kind: Kind) -> Signal { signals[kind] ?? .none }
    }

    /// Backoff after a device failure: `initial` seconds, doubling with each failure in a row, never above `maximum`.
    public struct DeviceRetry: Sendable, Equatable {
        public var initial: Double
        public var maximum: Double

        public init(initial: Double = 1, maximum: Double = 30) {
            self.initial = initial
            self.maximum = maximum
        }

        /// Seconds to wait after the `failures`-th failure in a row (1 for the first).
        public func delay(afterFailures failures: Int) -> Double {
            var delay = initial
            for _ in 1..<max(failures, 1) where delay < maximum { delay *= 2 }
            return min(delay, maximum)
        }
    }

    /// What the caller must do, in the order given.
    public enum Action: Sendable, Equatable {
        /// Switch the player to this item, stopping whatever plays at once.
        case play(PlayOrder)
        /// Stop the current item; nothing replaces it.
        case stop(id: String)
        /// Append to the airtime log.
        case record(AirtimeRecord)
        /// Persist (insert or update) this queue entry.
        case save(QueueEntry)
        /// Delete it from the persistent queue.
        case remove(id: String)
        /// Call `tick(now:)` at this time; nil cancels the timer. Replaces any earlier wake.
        case wake(at: Date?)
        /// Shutdown was asked for and nothing is on air or stopping any more: the caller may end the player and exit.
        case shutdownComplete
    }

    /// One instruction to the player.
    public struct PlayOrder: Sendable, Equatable {
        /// The entry as it went on air (`isPlaying` set).
        public var entry: QueueEntry
        public var signal: Signal
        /// Where the programme starts, in frames at `entry.resumeRate`; 0 plays from the start.
        public var startFrame: Int64
        /// 1 for the first play, 2 for the first repeat, …; goes into the airtime record.
        public var playNumber: Int

        public init(entry: QueueEntry, signal: Signal, startFrame: Int64, playNumber: Int) {
            self.entry = entry
            self.signal = signal
            self.startFrame = startFrame
            self.playNumber = playNumber
        }
    }

    /// What became of an announcement handed to `enqueue`.
    public enum EnqueueResult: Sendable, Equatable {
        /// Queued: 0 when it went on air at once or is first in line, else its place in `queue`.
        case queued(position: Int)
        /// An item with the same id is already queued or playing; nothing changed.
        case duplicate
        /// Already past its expiry on arrival: recorded as expired and not queued.
        case expired
    }

    /// Why the arbiter told an item to stop; decides what its report becomes.
    enum StopReason: Sendable, Equatable {
        case preempted
        case cancelled
        case expired
        /// The station is stopping: the item follows its interrupt policy, as after a crash.
        case shutdown
    }

    /// An item on air: the order as given, and the entry kept up to date with the resume position.
    struct Play: Sendable {
        var order: PlayOrder
        var entry: QueueEntry
        var id: String { entry.id }
    }

    /// An item told to stop whose report has not come yet; kept by id so a late report is attributed correctly.
    struct Stopping: Sendable {
        var play: Play
        var reason: StopReason
    }

    /// Read at every event, so a reloaded configuration (new quiet hours, policies) applies from the next one.
    public var configuration: Configuration
    var waiting = WaitingQueue()
    /// Set by `shutdown(now:)`: nothing new goes on air, and `.shutdownComplete` follows the last report.
    public internal(set) var isShuttingDown = false
    var shutdownAnnounced = false
    var playing: Play?
    var stopping: [String: Stopping] = [:]
    var nextSequence: Int64 = 1
    /// Until then nothing is started: the device failed and is given time to recover.
    public internal(set) var deviceDownUntil: Date?
    var deviceFailures = 0
    /// The wake last handed to the caller, so a `.wake` is emitted only when it changes.
    var announcedWake: Date?
    /// Actions decided in `init` that no caller has taken yet; they lead the next event's actions.
    var pending: [Action] = []

    /// Starts the arbiter, after a restart with the persisted queue.
    ///
    /// An entry with `isPlaying` was on air when the daemon died: its kind's policy applies (restart from the
    /// start, resume from `resumeFrame`, or drop). The caller logs the interrupted play itself. The resulting
    /// store updates, the first play and the wake are returned by the next event: call `tick(now:)` at once.
    public init(configuration: Configuration = Configuration(), restoring entries: [QueueEntry] = [], now: Date) {
        self.configuration = configuration
        for var entry in entries {
            nextSequence = max(nextSequence, entry.sequence + 1)
            if entry.isPlaying {
                entry.isPlaying = false
                switch configuration.policy(for: entry.announcement) {
                case .restart:
                    entry.resumeFrame = 0
                    entry.resumeRate = 0
                case .resume:
                    break
                case .drop:
                    pending.append(.remove(id: entry.id))
                    continue
                }
                pending.append(.save(entry))
            }
            waiting.insert(entry)
        }
        pending += settle(now: now)
    }

    /// The item on air, as ordered; nil when the player is idle or only finishing a stopped item.
    public var nowPlaying: PlayOrder? { playing?.order }

    /// Waiting entries in the order they would play, held ones (not-before, repeat interval, quiet hours) included.
    public var queue: [QueueEntry] { waiting.sorted }

    /// The audio of every entry waiting, on air or stopping.
    public var referencedAudio: Set<String> {
        var paths = Set(waiting.entries.values.map(\.announcement.audio))
        if let playing { paths.insert(playing.entry.announcement.audio) }
        for stopped in stopping.values { paths.insert(stopped.play.entry.announcement.audio) }
        return paths
    }

    /// How many entries wait (held ones included), without building the list.
    public var queueCount: Int { waiting.count }

    /// Whether the arbiter still has this id: waiting, on air, or stopping until its report arrives.
    public func contains(id: String) -> Bool {
        waiting[id] != nil || playing?.id == id || stopping[id] != nil
    }

    /// Queues an announcement, assigning its first-come-first-served sequence, and starts it if it should play now.
    public mutating func enqueue(_ announcement: Announcement, now: Date) -> (EnqueueResult, [Action]) {
        guard !contains(id: announcement.id) else { return (.duplicate, []) }
        let entry = QueueEntry(announcement: announcement, sequence: nextSequence)
        nextSequence += 1
        var actions = takePending()
        if let expires = announcement.expires, expires <= now {
            actions.append(.record(AirtimeRecord(unplayed: entry, at: now, outcome: .expired)))
            actions += settle(now: now)
            return (.expired, actions)
        }
        waiting.insert(entry)
        actions.append(.save(entry))
        actions += settle(now: now)
        let position = playing?.id == entry.id ? 0 : waiting.position(of: entry.id) ?? 0
        return (.queued(position: position), actions)
    }

    /// Cancels one item, even mid-play or during its signal; nil when the id is unknown.
    /// A waiting item is logged and removed at once; one on air is stopped, and logged when its report arrives.
    public mutating func cancel(id: String, now: Date) -> [Action]? {
        guard contains(id: id) else { return nil }
        var actions = takePending()
        actions += withdraw(id: id, now: now)
        actions += settle(now: now)
        return actions
    }

    /// Cancels everything queued and playing, as `cancel(id:now:)` does for each.
    public mutating func stopAll(now: Date) -> [Action] {
        var actions = takePending()
        var ids = queue.map(\.id)
        if let playing { ids.insert(playing.id, at: 0) }
        ids += stopping.keys.sorted()
        for id in ids { actions += withdraw(id: id, now: now) }
        actions += settle(now: now)
        return actions
    }

    /// A player checkpoint (about once a second): `frames` of the programme heard so far in this play.
    /// The resume position is saved so a crash loses at most a second.
    public mutating func progressed(id: String, frames: Int64, rate: Int) -> [Action] {
        var actions = takePending()
        // A checkpoint from an item already told to stop is superseded by its final report.
        guard var play = playing, play.id == id else { return actions }
        play.entry.resumeFrame = Arbiter.convert(play.order.startFrame, from: play.order.entry.resumeRate, to: rate) + frames
        play.entry.resumeRate = rate
        playing = play
        actions.append(.save(play.entry))
        return actions
    }

    /// The player says an item stopped, for whatever reason: log it, decide what becomes of it, and start what is next.
    public mutating func finished(id: String, report: PlayReport, now: Date) -> [Action] {
        var actions = takePending()
        if let play = playing, play.id == id {
            playing = nil
            actions += conclude(play, reason: nil, report: report, now: now)
        } else if let stopped = stopping.removeValue(forKey: id) {
            actions += conclude(stopped.play, reason: stopped.reason, report: report, now: now)
        }
        actions += settle(now: now)
        return actions
    }

    /// A wake time was reached: expire, start, or stop what is due.
    public mutating func tick(now: Date) -> [Action] {
        takePending() + settle(now: now)
    }

    /// The station is stopping (SIGTERM): the item on air is stopped and, when its report comes, logged with the frames
    /// heard and kept in the queue under its interrupt policy, exactly as a crash would leave it; an item that completed or
    /// was cancelled just before is concluded as such. Nothing new starts. `.shutdownComplete` comes once nothing is on
    /// air or stopping, in this event's actions or a later `finished`'s.
    public mutating func shutdown(now: Date) -> [Action] {
        var actions = takePending()
        isShuttingDown = true
        actions += stopPlaying(reason: .shutdown)
        actions += settle(now: now)
        return actions
    }
}
