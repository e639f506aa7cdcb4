import Foundation
import Logging
import Synchronization

/// Plays one item at a time on its own thread (blocking libsndfile and ALSA calls never run on Swift's cooperative
/// pool). It can be told to stop or to switch to another item at any moment and does so within one period, and it
/// reports for every item the exact number of frames handed to the device.
public final class Player: Sendable {
    /// Something to play: an optional signal (chime or attention tone) and then the programme, back to back.
    public struct Item: Sendable, Equatable {
        public var id: String
        public var segments: [Segment]
        /// The level it plays at, in dB below full scale: set on the mixer when the player has one, else applied as gain to
        /// every segment.
        public var volume: Double
        /// Its first frame waits until then (the amplifier's warm-up, which is not airtime); `.distantFuture` holds it
        /// until `release(id:at:)`. A held item can be stopped or switched away like any other.
        public var holdUntil: Date?
        public init(id: String, segments: [Segment], volume: Double = 0, holdUntil: Date? = nil) {
            self.id = id
            self.segments = segments
            self.volume = volume
            self.holdUntil = holdUntil
        }
    }

    public struct Segment: Sendable, Equatable {
        public enum Role: Sendable, Equatable {
            /// A chime or attention signal: its frames are counted apart, and a bad signal file is skipped, not fatal.
            case signal
            case programme
        }
        public var path: String
        public var role: Role
        public var gain: Float
        /// Frames to skip at the device rate, to resume.
        public var startFrame: Int64
        /// A live input played in place of the file at `path` (which then only names it).
        public var live: LiveInput?
        public init(path: String, role: Role = .programme, gain: Float = 1, startFrame: Int64 = 0) {
            self.path = path
            self.role = role
            self.gain = gain
            self.startFrame = startFrame
        }

        /// A live programme: what `input` records goes to the device, period by period, until the item is ended.
        public init(live input: LiveInput, gain: Float = 1) {
            self.init(path: input.device, role: .programme, gain: gain)
            live = input
        }
    }

    /// A live input (a microphone or line-in on an ALSA capture PCM). It has no natural end: it ends on `endLive()`, after
    /// `silenceSeconds` of continuous silence (VOX), or after `maximumSeconds` on air, each reported as completed.
    public struct LiveInput: Sendable, Equatable {
        public var device: String
        public var silenceSeconds: Double?
        /// Below this level (dBFS, the RMS of a period) the input counts as silent.
        public var silenceThreshold: Double
        public var maximumSeconds: Double?
        /// A relayed stream in place of the capture PCM (then `device` only names it): dead air, not VOX, ends it.
        public var relay: Relay?
        /// How long the item keeps listening while its loudspeaker is gone, waiting for it to come back; then it ends as
        /// failed. nil waits for as long as it takes (an emergency).
        public var outputWaitSeconds: Double?
        public init(
            device: String, silenceSeconds: Double? = nil, silenceThreshold: Double = -45, maximumSeconds: Double? = nil, relay: Relay? = nil
        ) {
            self.device = device
            self.silenceSeconds = silenceSeconds
            self.silenceThreshold = silenceThreshold
            self.maximumSeconds = maximumSeconds
            self.relay = relay
        }
    }

    public struct Report: Sendable, Equatable {
        public enum Ending: Sendable, Equatable {
            case completed
            /// Stopped or switched away on request.
            case stopped
            case deviceFailed(String)
            case audioFailed(String)
        }
        /// Programme frames handed to the device (after `startFrame`).
        public var frames: Int64
        public var signalFrames: Int64
        public var rate: Int
        public var startedAt: Date?
        public var ending: Ending
        /// What the log row should say beyond the outcome: a live item's loudspeaker lost and found again mid-talk.
        public var note: String?
    }

    public enum Event: Sendable, Equatable {
        /// The first frame of the item went to the device. `totalFrames` is the programme's length at the device rate.
        case started(id: String, at: Date, totalFrames: Int64)
        /// Every second of audio: frames so far, for checkpoints and progress lines.
        case progress(id: String, frames: Int64, signalFrames: Int64)
        case finished(id: String, report: Report)
    }

    /// What the device is doing, for status pages and metrics.
    public struct Health: Sendable, Equatable {
        public var isOpen: Bool
        public var underruns: Int
        public var lastError: String?
        public var format: OutputFormat
    }

    /// The item on air and how far it has got, updated after every period handed to the device.
    public struct Position: Sendable, Equatable {
        public var id: String
        public var frames: Int64
        public var signalFrames: Int64
        public var totalFrames: Int64
        public var rate: Int
        /// When the device last took frames of it (or it was released to play): the dead-air alarm's clock.
        public var handedAt: Date = .distantPast
        /// A live item's input level, the RMS of its last period in dBFS.
        public var inputLevel: Double?
        /// Since when a live item's loudspeaker is gone while its input is still listened to.
        public var outputLostSince: Date?
    }

    public let events: AsyncStream<Event>
    private let mailbox: Mailbox
    private let healthState: HealthState

    /// - Parameter mixer: the card's playback element that sets each item's volume; nil applies it in software.
    public init(format: OutputFormat, mixer: Mixer.Target? = nil, logger: Logger) {
        let (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
        self.events = events
        let mailbox = Mailbox()
        self.mailbox = mailbox
        let health = HealthState(Health(isOpen: false, underruns: 0, lastError: nil, format: format))
        self.healthState = health
        let loop = PlayerLoop(format: format, mailbox: mailbox, events: continuation, health: health, logger: logger, mixer: mixer)
        let thread = Thread { loop.run() }
        thread.name = "dalaba-player"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Plays `item`, cutting off whatever plays now (reported as `.stopped`) within one period.
    public func play(_ item: Item) { mailbox.post(.play(item)) }

    /// Stops the current item within one period; the device stays open.
    public func stop() { mailbox.post(.stop) }

    /// Lets the held item `id` start its first frame at `at` (now, if that has passed); any other item is left alone.
    public func release(id: String, at: Date) { mailbox.post(.release(id: id, at: at)) }

    /// Ends a live item as completed (the speaker has finished) within one period; a file item plays on.
    public func endLive() { mailbox.post(.endLive) }

    /// Stops the current item and ends the thread; `events` finishes after the last report.
    public func shutdown() { mailbox.post(.shutdown) }

    public var health: Health { healthState.value.withLock { $0 } }

    /// What plays now, exact to the last period written; nil when idle.
    public var position: Position? { healthState.position.withLock { $0 } }

    /// The relay on air (connection, reconnects, dead air); nil when no relay plays.
    public var relay: RelayStatus? { healthState.relay.withLock { $0 } }
}

/// The device's health and the position on air, written by the player thread and read by status pages.
final class HealthState: Sendable {
    let value: Mutex<Player.Health>
    let position = Mutex<Player.Position?>(nil)
    let relay = Mutex<Player.RelayStatus?>(nil)
    init(_ initial: Player.Health) { value = Mutex(initial) }
}

enum PlayerCommand: Sendable {
    case play(Player.Item)
    case stop
    case endLive
    case release(id: String, at: Date)
    case shutdown
}

/// The one place the control side and the player thread meet. A condition variable rather than a bare mutex,
/// because the idle thread must sleep until there is something to do.
final class Mailbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var pending: [PlayerCommand] = []
    /// A pipe that is readable while a command waits, so the player can poll it together with the device.
    let wakeDescriptor: Int32
    private let wakeWriter: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        // Without its pipe the player cannot be woken: at start-up that is fatal, not something to play on without.
        precondition(pipe(&fds) == 0, "cannot create the player's wake pipe: \(String(cString: strerror(errno)))")
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        wakeDescriptor = fds[0]
        wakeWriter = fds[1]
    }

    deinit {
        close(wakeDescriptor)
        close(wakeWriter)
    }

    /// Empties the pipe once no command is left, so poll() sleeps again.
    private func drainWake() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while read(wakeDescriptor, &bytes, bytes.count) > 0 {}
    }

    /// The wake byte is written under the lock, and the pipe is drained under the lock only when no command is left,
    /// so the pipe is readable exactly while a command waits: a wake of the player always has a command behind it.
    func post(_ command: PlayerCommand) {
        condition.lock()
        defer { condition.unlock() }
        pending.append(command)
        var one: UInt8 = 1
        _ = write(wakeWriter, &one, 1)
        condition.signal()
    }

    /// The next command without waiting, or nil.
    func take() -> PlayerCommand? {
        condition.lock()
        defer { condition.unlock() }
        guard !pending.isEmpty else { return nil }
        let command = pending.removeFirst()
        if pending.isEmpty { drainWake() }
        return command
    }

    /// Waits for a command until `deadline` (nil: forever); nil when the deadline passed.
    func wait(until deadline: Date?) -> PlayerCommand? {
        condition.lock()
        defer { condition.unlock() }
        while pending.isEmpty {
            if let deadline {
                if !condition.wait(until: deadline) { return nil }
            } else {
                condition.wait()
            }
        }
        let command = pending.removeFirst()
        if pending.isEmpty { drainWake() }
        return command
    }
}
