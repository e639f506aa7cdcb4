import DalabaCore
import Foundation
import PropertyBased
import Testing

/// Random event sequences against a simulated player and store that do faithfully what they are told.
@Suite struct ArbiterPropertyTests {
    /// One random event: which kind of event, and two numbers it draws its details from.
    typealias Step = (Int, Int, Int)

    static let steps = zip(Gen.int(in: 0...99), Gen.int(in: 0...999), Gen.int(in: 0...999)).array(of: 1...80)
    /// Start hour, quiet hours on or off, and the per-kind interrupt policies.
    static let setup = zip(Gen.int(in: 0...23), Gen.bool, Gen.int(in: 0...80))

    @Test func noItemIsLostPlayedTwiceOrStartedAfterItsExpiry() async {
        await propertyCheck(count: 300, input: Self.setup, Self.steps) { setup, steps in
            var simulation = ArbiterSimulation(startHour: setup.0, quiet: setup.1, policySeed: setup.2)
            for step in steps { simulation.perform(step) }
            simulation.drain()
            #expect(simulation.violations.isEmpty, "\(simulation.violations)")
        }
    }

    @Test func noItemIsLostAcrossCrashes() async {
        await propertyCheck(count: 200, input: Self.setup, Self.steps) { setup, steps in
            var simulation = ArbiterSimulation(startHour: setup.0, quiet: setup.1, policySeed: setup.2)
            for step in steps {
                if step.0 % 10 == 9 { simulation.crash() } else { simulation.perform(step) }
            }
            simulation.drain()
            #expect(simulation.violations.isEmpty, "\(simulation.violations)")
        }
    }
}

/// The station around the arbiter: a player that plays what it is told and reports back, a store that keeps what it is
/// told, and the bookkeeping that checks every announcement's life from enqueue to its terminal record.
struct ArbiterSimulation {
    struct OnAir {
        var order: Arbiter.PlayOrder
        var heard: Int64 = 0
        var startedAt: Date
    }

    let configuration: Arbiter.Configuration
    var arbiter: Arbiter
    var now: Date
    var onAir: OnAir?
    /// Reports the player owes for items it was told to stop, delivered later in any order.
    var owed: [(id: String, report: PlayReport)] = []
    var store: [String: QueueEntry] = [:]
    var wake: Date?
    /// The records of each id's current life, from its enqueue on.
    var life: [String: [AirtimeRecord]] = [:]
    var lifeAnnouncement: [String: Announcement] = [:]
    /// Ids cancelled in their current life: they must never go on air again.
    var cancelled: Set<String> = []
    var violations: [String] = []

    init(startHour: Int, quiet: Bool, policySeed: Int) {
        var policies: [Kind: InterruptPolicy] = [:]
        var seed = policySeed
        for kind in Kind.allCases {
            policies[kind] = InterruptPolicy.allCases[seed % 3]
            seed /= 3
        }
        configuration = Arbiter.Configuration(
            policies: policies, quietHours: quiet ? QuietHours(startHour: 22, endHour: 6) : nil, timeZone: ArbiterFixture.shanghai,
            deviceRetry: .init(initial: 1, maximum: 8))
        now = ArbiterFixture.morning.addingTimeInterval(Double((startHour - 10) * 3600))
        arbiter = Arbiter(configuration: configuration, now: now)
        apply(arbiter.tick(now: now), event: "start")
    }

    static let ids = (0..<10).map { "a\($0)" }

    mutating func perform(_ step: ArbiterPropertyTests.Step) {
        let (op, a, b) = step
        // Time passes first, with the timer firing on the way; then the event happens at the new time.
        switch op {
        case 35..<50: advance(by: Double(a % 900))
        case 50..<65: advance(by: Double(a % 5))
        case 65..<80: advance(by: Double(a % 120))
        case 88...: advance(by: 1)
        default: advance(by: Double(a % 20))
        }
        let containedBefore = known()
        switch op {
        case 0..<25:
            let announcement = makeAnnouncement(a, b)
            let (result, actions) = arbiter.enqueue(announcement, now: now)
            if result != .duplicate {
                if containedBefore.contains(announcement.id) { violations.append("\(announcement.id) queued twice") }
                life[announcement.id] = []
                cancelled.remove(announcement.id)
                lifeAnnouncement[announcement.id] = announcement
            } else if !actions.isEmpty || !containedBefore.contains(announcement.id) {
                violations.append("duplicate \(announcement.id) with actions \(actions) or unknown")
            }
            apply(actions, event: "enqueue \(announcement.id)")
            if result == .expired, life[announcement.id]?.last?.outcome != .expired {
                violations.append("\(announcement.id) refused as expired without a record")
            }
        case 25..<33:
            let id = ArbiterSimulation.ids[b % ArbiterSimulation.ids.count]
            let actions = arbiter.cancel(id: id, now: now)
            if (actions == nil) == containedBefore.contains(id) { violations.append("cancel \(id): known \(containedBefore.contains(id))") }
            if actions != nil { cancelled.insert(id) }
            apply(actions ?? [], event: "cancel \(id)")
        case 33..<35:
            cancelled.formUnion(containedBefore)
            apply(arbiter.stopAll(now: now), event: "stop-all")
            if arbiter.nowPlaying != nil || !arbiter.queue.isEmpty { violations.append("stop-all left something") }
        case 35..<50:
            // A tick with nothing due must do no harm.
            apply(arbiter.tick(now: now), event: "tick")
        case 50..<65 where !owed.isEmpty:
            let (id, report) = owed.remove(at: b % owed.count)
            apply(arbiter.finished(id: id, report: report, now: now), event: "late report \(id)")
        case 50..<80:
            finishOnAir(.completed)
        case 80..<85:
            finishOnAir(.deviceFailed("EIO"))
        case 85..<88:
            finishOnAir(.audioFailed("bad file"))
        default:
            if var playing = onAir {
                playing.heard += Int64(1 + a)
                onAir = playing
                apply(arbiter.progressed(id: playing.order.entry.id, frames: playing.heard, rate: 48_000), event: "progress")
            }
        }
        checkLives(containedBefore: containedBefore)
    }

    func known() -> Set<String> { Set(ArbiterSimulation.ids.filter { arbiter.contains(id: $0) }) }

    /// The daemon dies and restarts from its store: the player and owed reports are gone; the station logs every
    /// entry that was on air as interrupted, as the real one does, then the arbiter restores the rest.
    mutating func crash() {
        let containedBefore = known()
        onAir = nil
        owed = []
        // A cancel waits for the stopped item's report before it reaches the store; a crash in between brings the
        // item back, which the station's restart accepts.
        cancelled = []
        for entry in store.values where entry.isPlaying {
            life[entry.id, default: []].append(
                AirtimeRecord(unplayed: entry, at: now, outcome: .interrupted, error: "daemon restarted"))
        }
        now += 5
        arbiter = Arbiter(configuration: configuration, restoring: Array(store.values), now: now)
        wake = nil
        apply(arbiter.tick(now: now), event: "restart")
        checkLives(containedBefore: containedBefore)
    }

    /// Lets everything run to its end: reports delivered, programmes completed, timers honoured.
    mutating func drain() {
        for _ in 0..<2_000 {
            if onAir != nil { advance(by: 30) }
            let containedBefore = known()
            if !owed.isEmpty {
                let (id, report) = owed.removeFirst()
                apply(arbiter.finished(id: id, report: report, now: now), event: "drain report \(id)")
            } else if onAir != nil {
                finishOnAir(.completed)
            } else if containedBefore.isEmpty {
                return
            } else if let wake {
                now = wake
                apply(arbiter.tick(now: now), event: "drain tick")
            } else {
                violations.append("stuck with \(containedBefore.sorted()) and no wake")
                return
            }
            checkLives(containedBefore: containedBefore)
        }
        violations.append("did not drain")
    }

    /// Moves the clock on, firing the station's timer at every wake passed on the way, as the real one would.
    mutating func advance(by seconds: Double) {
        let target = now + seconds
        while let wake, wake <= target {
            let containedBefore = known()
            now = wake
            apply(arbiter.tick(now: now), event: "timer")
            checkLives(containedBefore: containedBefore)
        }
        now = target
    }

    func makeAnnouncement(_ a: Int, _ b: Int) -> Announcement {
        let kind = Kind.allCases[a % 4]
        let notBefore = (b / 30) % 4 == 0 ? now + Double(b % 200) : nil
        let expires = (b / 10) % 3 == 0 ? (notBefore ?? now) + Double((b * 7) % 400 + 1) : nil
        return Announcement(
            id: ArbiterSimulation.ids[b % ArbiterSimulation.ids.count], title: "t", kind: kind, level: kind == .emergency ? 1 + (a / 4) % 4 : nil,
            tier: Tier.allCases[(a / 64) % 3], isTest: (a / 16) % 4 == 0, audio: "/a.wav", source: "property",
            repeatCount: 1 + (a / 192) % 3, repeatInterval: Double((b / 100) % 3 * 30), notBefore: notBefore, expires: expires,
            queuedAt: now)
    }

    mutating func finishOnAir(_ ending: PlayReport.Ending) {
        guard let playing = onAir else { return }
        onAir = nil
        let frames = ending == .completed ? playing.heard + 48_000 : playing.heard
        let report = PlayReport(
            frames: frames, signalFrames: playing.order.signal == .none ? 0 : 1_000, rate: 48_000, startedAt: playing.startedAt,
            ending: ending)
        apply(arbiter.finished(id: playing.order.entry.id, report: report, now: now), event: "finished \(playing.order.entry.id)")
        if case .audioFailed = ending, arbiter.contains(id: playing.order.entry.id) {
            violations.append("\(playing.order.entry.id) kept after its audio failed")
        }
    }

    /// Performs the actions as the station would, checking each against the rules.
    mutating func apply(_ actions: [Arbiter.Action], event: String) {
        for action in actions {
            switch action {
            case .play(let order):
                let id = order.entry.id
                let announcement = order.entry.announcement
                if cancelled.contains(id) { violations.append("\(event): \(id) played after it was cancelled") }
                if onAir?.order.entry.id == id || owed.contains(where: { $0.id == id }) {
                    violations.append("\(event): \(id) played twice")
                }
                if let expires = announcement.expires, now >= expires { violations.append("\(event): \(id) started after expiry") }
                if let notBefore = announcement.notBefore, now < notBefore { violations.append("\(event): \(id) started early") }
                if let start = order.entry.earliestStart, now < start { violations.append("\(event): \(id) repeated early") }
                if isHeldByQuietHours(announcement) { violations.append("\(event): \(id) started in quiet hours") }
                if order.startFrame > 0, order.signal != .none { violations.append("\(event): \(id) resumed with a signal") }
                if let current = onAir {
                    if !(announcement.rank > current.order.entry.announcement.rank) {
                        violations.append("\(event): \(id) preempted \(current.order.entry.id) without a higher rank")
                    }
                    owed.append((current.order.entry.id, stoppedReport(current)))
                }
                onAir = OnAir(order: order, startedAt: now)
            case .stop(let id):
                guard let current = onAir, current.order.entry.id == id else {
                    violations.append("\(event): stop \(id) which is not on air")
                    continue
                }
                owed.append((id, stoppedReport(current)))
                onAir = nil
            case .record(let record):
                life[record.announcementID, default: []].append(record)
            case .save(let entry):
                store[entry.id] = entry
            case .remove(let id):
                if store.removeValue(forKey: id) == nil { violations.append("\(event): removed \(id) that was never saved") }
            case .wake(let date):
                if let date, date <= now { violations.append("\(event): wake \(date) is not in the future") }
                wake = date
            }
        }
    }

    func stoppedReport(_ playing: OnAir) -> PlayReport {
        PlayReport(frames: playing.heard, signalFrames: 0, rate: 48_000, startedAt: playing.startedAt, ending: .stopped)
    }

    func isHeldByQuietHours(_ announcement: Announcement) -> Bool {
        guard let quietHours = configuration.quietHours, announcement.kind == .routine || announcement.kind == .policy else { return false }
        return quietHours.contains(now, in: configuration.timeZone)
    }

    func isEligible(_ entry: QueueEntry) -> Bool {
        let announcement = entry.announcement
        if let notBefore = announcement.notBefore, notBefore > now { return false }
        if let start = entry.earliestStart, start > now { return false }
        if let expires = announcement.expires, expires <= now { return false }
        return !isHeldByQuietHours(announcement)
    }

    /// After every event: the store mirrors the arbiter, the player mirrors `nowPlaying`, the best eligible item is on
    /// air, and an item the arbiter let go of ended its life with a terminal record.
    mutating func checkLives(containedBefore: Set<String>) {
        if arbiter.nowPlaying?.entry.id != onAir?.order.entry.id {
            violations.append("arbiter plays \(arbiter.nowPlaying?.entry.id ?? "nothing"), player \(onAir?.order.entry.id ?? "nothing")")
        }
        for id in ArbiterSimulation.ids where arbiter.contains(id: id) != (store[id] != nil) {
            violations.append("\(id): known to the arbiter \(arbiter.contains(id: id)), in the store \(store[id] != nil)")
        }
        for entry in arbiter.queue where store[entry.id]?.isPlaying != false {
            violations.append("\(entry.id) waits but the store says it plays")
        }
        if let playing = arbiter.nowPlaying, store[playing.entry.id]?.isPlaying != true {
            violations.append("\(playing.entry.id) plays but the store says it does not")
        }
        if let playing = arbiter.nowPlaying?.entry.announcement, playing.kind == .emergency, let expires = playing.expires, expires <= now {
            violations.append("emergency \(playing.id) still on air after its end")
        }
        if arbiter.deviceDownUntil == nil, let best = arbiter.queue.first(where: isEligible) {
            if let playing = arbiter.nowPlaying {
                if best.announcement.rank > playing.entry.announcement.rank { violations.append("\(best.id) should have preempted") }
            } else {
                violations.append("\(best.id) is eligible but the station is idle")
            }
        }
        for id in containedBefore where !arbiter.contains(id: id) {
            let records = life[id] ?? []
            guard let last = records.last else {
                violations.append("\(id) vanished without a record")
                continue
            }
            let kind = lifeAnnouncement[id]?.kind ?? .routine
            if cancelled.remove(id) != nil, last.outcome != .cancelled, last.outcome != .expired {
                violations.append("\(id) was cancelled but ended \(last.outcome)")
            }
            switch last.outcome {
            case .completed:
                let completed = records.filter { $0.outcome == .completed }.count
                if completed != lifeAnnouncement[id]?.repeatCount { violations.append("\(id) completed \(completed) plays") }
            case .cancelled, .expired, .failed:
                break
            case .interrupted:
                if configuration.policy(for: kind) != .drop { violations.append("\(id) ended interrupted under \(configuration.policy(for: kind))") }
            case .missed:
                violations.append("\(id) ended missed")
            }
        }
    }
}
