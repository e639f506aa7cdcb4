import DalabaAudio
import DalabaCore
import DalabaHardware
import Foundation
import Logging
import Synchronization

/// Performs the `AmplifierSequencer`'s decisions: hands items to the player held for the warm-up, runs the switch on a
/// serial queue of its own (a relay command blocks for as long as it runs, so never on Swift's pool or the Station's
/// actor), and keeps the sequencer's one timer. Every decision is taken under one lock, in event order.
public final class AmplifierControl: Sendable {
    private let sequencer: Mutex<AmplifierSequencer>
    private let hardware: (any AmplifierSwitch)?
    private let player: Player
    private let metrics: StationMetrics
    private let logger: Logger
    private let clock: @Sendable () -> Date
    private let queue = DispatchQueue(label: "dalaba-amplifier")
    /// The wake last scheduled; an older one that fires finds it replaced and does nothing.
    private let scheduledWake = Mutex<Date?>(nil)

    /// The backend named by `[amplifier]`, or nil for none (the amplifier is always on).
    public static func hardware(for configuration: Configuration.Amplifier) -> (any AmplifierSwitch)? {
        switch configuration.backend {
        case .none: nil
        case .gpio: GPIOAmplifier(chip: configuration.chip, line: configuration.line, activeLow: configuration.activeLow)
        case .command: CommandAmplifier(onCommand: configuration.onCommand, offCommand: configuration.offCommand)
        }
    }

    public init(
        configuration: Configuration.Amplifier, hardware: (any AmplifierSwitch)?, player: Player, metrics: StationMetrics, logger: Logger,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.sequencer = Mutex(AmplifierSequencer(configuration: configuration.sequencing))
        self.hardware = hardware
        self.player = player
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        if let gpio = hardware as? GPIOAmplifier {
            // A chip or line that is not there shows at start-up, with its name; each switch tries again.
            do {
                try gpio.open()
            } catch {
                logger.error("amplifier switch unavailable", metadata: ["switch": "\(gpio.name)", "error": "\(error)"])
            }
        }
    }

    /// True when a switch is configured; without one the player is driven directly.
    public var isConfigured: Bool { hardware != nil }

    /// Puts `item` on the player, held until the amplifier is on and warm.
    public func play(_ item: Player.Item, emergency: Bool) {
        guard hardware != nil else { return player.play(item) }
        let now = clock()
        sequencer.withLock { amp in
            let actions = amp.wantsToStart(id: item.id, emergency: emergency, now: now)
            var held = item
            held.holdUntil = .distantFuture
            if case .start(let id, let at) = actions.first(where: { if case .start = $0 { true } else { false } }), id == item.id {
                held.holdUntil = at > now ? at : nil
            }
            // The item reaches the player before any switch answers, so a release is never ahead of its item.
            player.play(held)
            perform(actions.filter { if case .start = $0 { false } else { true } }, amp)
        }
    }

    /// Nothing is on air (called after every station event; repeats change nothing).
    public func stationIdle(_ idle: Bool) {
        guard hardware != nil, idle else { return }
        let now = clock()
        sequencer.withLock { amp in perform(amp.idle(now: now), amp) }
    }

    /// Switches the amplifier off as the station stops, waiting for the switch.
    public func shutdown() {
        guard hardware != nil else { return }
        let now = clock()
        sequencer.withLock { amp in perform(amp.shutdown(now: now), amp) }
        queue.sync {}
    }

    /// The amplifier as status pages show it; nil without a switch.
    public var status: StationAPI.Amplifier? {
        guard let hardware else { return nil }
        return sequencer.withLock { amp in
            StationAPI.Amplifier(
                backend: hardware.name, state: amp.phase.rawValue, switchedOn: amp.switchedOn, switchedOff: amp.switchedOff, failures: amp.failures,
                lastError: amp.fault, warmUpUntil: amp.warmUpUntil)
        }
    }

    /// True while something is on air with the amplifier off because its switch failed.
    public var isOffWhenItShouldBeOn: Bool { hardware != nil && sequencer.withLock { $0.isOffWhenItShouldBeOn } }

    /// True while an item waits for the switch or the warm-up: silence then is expected, not dead air.
    public var isWarmingUp: Bool {
        hardware != nil && sequencer.withLock { [.switchingOn, .warmingUp].contains($0.phase) && $0.idleSince == nil }
    }

    /// Called with the lock held, with the sequencer as it is after the event.
    private func perform(_ actions: [AmplifierSequencer.Action], _ amp: AmplifierSequencer) {
        for action in actions {
            switch action {
            case .powerOn:
                queue.async { self.switchOn() }
            case .powerOff:
                queue.async { self.switchOff() }
            case .start(let id, let at):
                player.release(id: id, at: at)
            case .reportFailure(let message):
                metrics.amplifierFailures.increment()
                logger.error("amplifier switch failed; playing anyway", metadata: ["error": "\(message)"])
            case .wake(let at):
                schedule(at)
            }
        }
        metrics.amplifierOn.set(to: amp.phase == .on || amp.phase == .warmingUp ? 1 : 0)
        metrics.amplifierSwitches.set(to: Double(amp.switchedOn + amp.switchedOff))
    }

    private func switchOn() {
        guard let hardware else { return }
        var failure: String?
        do {
            try hardware.switchOn()
            logger.info("amplifier on", metadata: ["switch": "\(hardware.name)"])
        } catch {
            failure = error.description
        }
        let now = clock()
        sequencer.withLock { amp in perform(amp.poweredOn(error: failure, now: now), amp) }
    }

    private func switchOff() {
        guard let hardware else { return }
        var failure: String?
        do {
            try hardware.switchOff()
            logger.info("amplifier off", metadata: ["switch": "\(hardware.name)"])
        } catch {
            failure = error.description
        }
        let now = clock()
        sequencer.withLock { amp in perform(amp.poweredOff(error: failure, now: now), amp) }
    }

    private func schedule(_ at: Date?) {
        scheduledWake.withLock { $0 = at }
        guard let at else { return }
        let delay = max(0, at.timeIntervalSince(clock()))
        queue.asyncAfter(deadline: .now() + delay) {
            guard self.scheduledWake.withLock({ $0 == at }) else { return }
            let now = self.clock()
            self.sequencer.withLock { amp in self.perform(amp.tick(now: now), amp) }
        }
    }
}
