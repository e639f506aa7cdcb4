import Foundation

/// Switches the loudspeaker amplifier on before an item's first frame and off after the station has been idle a while.
///
/// A pure state machine like the `Arbiter`: events come in with the time as a value, actions come out, and the caller
/// performs them (runs the switch, holds the item in the player until the given time, calls `tick` at `wake`). So the
/// warm-up, the idle timeout and back-to-back items are plain unit tests with no sleeps.
///
/// A failed power-on never silences an item: it is reported and the item starts at once (a cold or dead amplifier is a
/// fault to show, not a reason to hold an emergency). Warm-up is waiting, not airtime: the player holds the item, so the
/// first frame (and the log's `startedAt`) comes after it.
public struct AmplifierSequencer: Sendable, Equatable {
    public struct Configuration: Sendable, Equatable {
        /// Seconds between the amplifier switching on and the first frame.
        public var warmUp: Double
        /// The warm-up for emergencies; a cold amplifier is better than a late alert, so stations may set 0.
        public var emergencyWarmUp: Double
        /// Seconds of idle station after which the amplifier switches off.
        public var idleOff: Double

        public init(warmUp: Double = 1.5, emergencyWarmUp: Double? = nil, idleOff: Double = 60) {
            self.warmUp = warmUp
            self.emergencyWarmUp = emergencyWarmUp ?? warmUp
            self.idleOff = idleOff
        }
    }

    /// Where the amplifier is, as status pages show it.
    public enum Phase: String, Sendable, Equatable, Codable {
        case off
        /// The switch was asked for and has not answered yet.
        case switchingOn = "switching-on"
        case warmingUp = "warming-up"
        case on
    }

    public enum Action: Sendable, Equatable {
        /// Run the switch; answer with `poweredOn(error:now:)`.
        case powerOn
        /// Let the player start this item's first frame at `at` (it already holds the item).
        case start(id: String, at: Date)
        /// Run the switch off; answer with `poweredOff(error:now:)`.
        case powerOff
        /// Log and show this failure of the switch.
        case reportFailure(String)
        /// Call `tick(now:)` then; nil cancels. Replaces any earlier wake.
        case wake(at: Date?)
    }

    public let configuration: Configuration
    public private(set) var phase: Phase = .off
    /// Times the amplifier was switched on and off.
    public private(set) var switchedOn = 0
    public private(set) var switchedOff = 0
    /// Switch operations that failed.
    public private(set) var failures = 0
    /// The last failure of the switch, until a later switch-on succeeds.
    public private(set) var fault: String?
    /// When the warm-up ends (while warming up).
    public private(set) var warmUpUntil: Date?
    /// Since when nothing has been on air; nil while something is.
    public private(set) var idleSince: Date?
    private var poweredAt: Date?
    /// The item waiting for the switch to answer, and whether it is an emergency.
    private var pending: (id: String, emergency: Bool)?
    private var announcedWake: Date?
    private var isShutDown = false

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public static func == (lhs: AmplifierSequencer, rhs: AmplifierSequencer) -> Bool {
        lhs.phase == rhs.phase && lhs.switchedOn == rhs.switchedOn && lhs.switchedOff == rhs.switchedOff && lhs.failures == rhs.failures
            && lhs.fault == rhs.fault && lhs.warmUpUntil == rhs.warmUpUntil && lhs.idleSince == rhs.idleSince
            && lhs.pending?.id == rhs.pending?.id
    }

    /// True when the amplifier should be carrying sound now but is not known to be: its last switch-on failed.
    public var isOffWhenItShouldBeOn: Bool { idleSince == nil && fault != nil && phase == .off }

    /// An item is about to go on air (the player holds it until told when to start).
    public mutating func wantsToStart(id: String, emergency: Bool, now: Date) -> [Action] {
        idleSince = nil
        var actions: [Action] = []
        switch phase {
        case .off:
            guard !isShutDown else { return [.start(id: id, at: now)] }
            phase = .switchingOn
            pending = (id, emergency)
            actions.append(.powerOn)
        case .switchingOn:
            pending = (id, emergency)
        case .warmingUp:
            var until = warmUpUntil ?? now
            if emergency, let poweredAt { until = min(until, poweredAt.addingTimeInterval(configuration.emergencyWarmUp)) }
            warmUpUntil = until
            actions.append(.start(id: id, at: max(until, now)))
        case .on:
            actions.append(.start(id: id, at: now))
        }
        return actions + wake(now: now)
    }

    /// The switch answered a `powerOn`: nil when the amplifier is on.
    public mutating func poweredOn(error: String?, now: Date) -> [Action] {
        guard phase == .switchingOn else { return wake(now: now) }
        var actions: [Action] = []
        let waiting = pending
        pending = nil
        if let error {
            failures += 1
            fault = error
            phase = .off
            actions.append(.reportFailure(error))
            if let waiting { actions.append(.start(id: waiting.id, at: now)) }
            return actions + wake(now: now)
        }
        switchedOn += 1
        fault = nil
        poweredAt = now
        let warmUp = waiting?.emergency == true ? configuration.emergencyWarmUp : configuration.warmUp
        let until = now.addingTimeInterval(warmUp)
        if warmUp > 0 {
            phase = .warmingUp
            warmUpUntil = until
        } else {
            phase = .on
            warmUpUntil = nil
        }
        if let waiting { actions.append(.start(id: waiting.id, at: until)) }
        return actions + wake(now: now)
    }

    /// The switch answered a `powerOff`.
    public mutating func poweredOff(error: String?, now: Date) -> [Action] {
        guard let error else { return wake(now: now) }
        failures += 1
        fault = error
        return [.reportFailure(error)] + wake(now: now)
    }

    /// Nothing is on air now (an item ended, was stopped, or never started). Calling it again changes nothing.
    public mutating func idle(now: Date) -> [Action] {
        if idleSince == nil { idleSince = now }
        // An item cancelled while the switch is still answering is not started when it answers.
        pending = nil
        return wake(now: now)
    }

    /// A wake time was reached: the warm-up is over, or the idle time is up.
    public mutating func tick(now: Date) -> [Action] {
        var actions: [Action] = []
        if phase == .warmingUp, let until = warmUpUntil, until <= now {
            phase = .on
            warmUpUntil = nil
        }
        if let idleSince, phase == .on || phase == .warmingUp, idleSince.addingTimeInterval(configuration.idleOff) <= now {
            actions += switchOff()
        }
        return actions + wake(now: now)
    }

    /// The station is stopping: the amplifier goes off, and stays off.
    public mutating func shutdown(now: Date) -> [Action] {
        isShutDown = true
        pending = nil
        var actions: [Action] = []
        if phase != .off { actions += switchOff() }
        return actions + wake(now: now)
    }

    private mutating func switchOff() -> [Action] {
        phase = .off
        warmUpUntil = nil
        poweredAt = nil
        switchedOff += 1
        return [.powerOff]
    }

    /// The next moment a `tick` could change something.
    private mutating func wake(now: Date) -> [Action] {
        var times: [Date] = []
        if phase == .warmingUp, let warmUpUntil { times.append(warmUpUntil) }
        if let idleSince, phase == .on || phase == .warmingUp { times.append(idleSince.addingTimeInterval(configuration.idleOff)) }
        let next = times.min()
        guard next != announcedWake else { return [] }
        announcedWake = next
        return [.wake(at: next)]
    }
}
