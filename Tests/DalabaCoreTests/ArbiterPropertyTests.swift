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
            simulation.checkPlays()
            #expect(simulation.violations.isEmpty, "\(simulation.violations)")
        }
    }

    /// The store refuses some commits (a full disk) and the station dies at random moments, losing what it kept in
    /// memory. Each event's changes are one transaction; a refused request is undone. Then: never two on air, nothing
    /// acknowledged is lost, nothing completed or cancelled is broadcast again, the log and the queue never disagree,
    /// every play has at most one row (exactly one when no commit was refused), and each row's frames are the player's.
    @Test func commitsAreAtomicAcrossFailingStoresAndCrashes() async {
        await propertyCheck(count: 300, input: Self.setup, Self.steps) { setup, steps in
            var simulation = ArbiterSimulation(startHour: setup.0, quiet: setup.1, policySeed: setup.2)
            simulation.faults = setup.2 % 2 == 0
            for step in steps {
                simulation.storeRefuses = simulation.faults && (step.1 + step.2) % 5 == 0
                if step.0 % 10 == 9 { simulation.crash() } else { simulation.perform(step) }
            }
            simulation.storeRefuses = false
            simulation.drain()
            simulation.checkPlays()
            #expect(simulation.violations.isEmpty, "\(simulation.violations)")
        }
    }

    /// The case the property once found (shrunk): a8 queued and stored; a stop-all the store refuses; a8 queued again as an
    /// emergency of two plays, on air unstored; a crash. The disk's a8 (its first life, one play) comes back and plays once:
    /// the station is right, and the check must follow the disk's life, not the lost one.
    @Test func aLifeLostInACrashGivesBackTheDisksEarlierLife() {
        var simulation = ArbiterSimulation(startHour: 0, quiet: false, policySeed: 0)
        simulation.faults = true
        for step in [(0, 0, 378), (33, 0, 0), (0, 872, 908), (9, 0, 0)] {
            simulation.storeRefuses = (step.1 + step.2) % 5 == 0
            if step.0 % 10 == 9 { simulation.crash() } else { simulation.perform(step) }
        }
        simulation.storeRefuses = false
        simulation.drain()
        simulation.checkPlays()
        #expect(simulation.violations.isEmpty, "\(simulation.violations)")
        #expect(simulation.durableLog.map { "\($0.announcementID) \($0.outcome)" } == ["a8 completed"])
    }

    @Test func noItemIsLostAcrossCrashes() async {
        await propertyCheck(count: 200, input: Self.setup, Self.steps) { setup, steps in
            var simulation = ArbiterSimulation(startHour: setup.0, quiet: setup.1, policySeed: setup.2)
            for step in steps {
                if step.0 % 10 == 9 { simulation.crash() } else { simulation.perform(step) }
            }
            simulation.drain()
            simulation.checkPlays()
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
        /// The life of its id this play belongs to (an id can be queued again once its life ended).
        var life: Int
        var key: PlayKey { PlayKey(id: order.entry.id, startedAt: startedAt, playNumber: order.playNumber, life: life) }
    }

    let configuration: Arbiter.Configuration
    var arbiter: Arbiter
    var now: Date
    var onAir: OnAir?
    /// Reports the player owes for items it was told to stop, delivered later in any order.
    var owed: [(id: String, report: PlayReport, key: PlayKey)] = []
    /// The queue as the station means it to be: the durable store with the unwritten backlog applied.
    var store: [String: QueueEntry] = [:]
    /// What is on disk: the queue and the log, changed only by whole commits.
    var durable: [String: QueueEntry] = [:]
    var durableLog: [AirtimeRecord] = []
    /// The life of its id each row of `durableLog` belongs to.
    var durableLogLives: [Int] = []
    /// The life of its id each entry of `durable` belongs to.
    var durableLife: [String: Int] = [:]
    /// Changes the store refused, kept in memory and written first by the next commit; lost in a crash.
    var backlog: [Change] = []
    /// Whether this run has a failing store at all, and whether the store refuses the next commit.
    var faults = false
    var storeRefuses = false
    var refusedCommits = 0
    /// Every play the player was given, the frames it reported for each, and those a crash cut off.
    var plays: Set<PlayKey> = []
    var reported: [PlayKey: Int64] = [:]
    var cutByCrash: Set<PlayKey> = []
    var silentRetries: Set<PlayKey> = []
    /// Each id's life number (one per acknowledged enqueue) and how many rows of its current life are on disk.
    var generation: [String: Int] = [:]
    var lifeCommitted: [String: Int] = [:]
    /// Emergencies answered while the store refused them: on air at once, on disk only once the store recovers.
    var unstored: Set<String> = []
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

    enum Change {
        /// An entry, with the life of its id it belongs to.
        case save(QueueEntry, life: Int)
        case remove(String)
        /// A row, with the life of its id it belongs to.
        case record(AirtimeRecord, life: Int)
    }

    /// A play is known by its item and the moment it went on air.
    struct PlayKey: Hashable {
        var id: String
        var startedAt: Date
        var playNumber: Int
        var life: Int
    }

    mutating func perform(_ step: ArbiterPropertyTests.Step) {
        let (op, a, b) = step
        // Time passes first, with the timer firing on the way; then the event happens at the new time. At least a
        // millisecond: events of a real station never share an instant, and two plays of one item begun at the same instant
        // (a preempted item restarted in the very moment it was stopped) would share the key by which rows are matched.
        let seconds: Double =
            switch op {
            case 35..<50: Double(a % 900)
            case 50..<65: Double(a % 5)
            case 65..<80: Double(a % 120)
            case 88...: 1
            default: Double(a % 20)
            }
        advance(by: max(seconds, 0.001))
        let containedBefore = known()
        switch op {
        case 0..<25:
            let announcement = makeAnnouncement(a, b)
            let before = self
            let (result, actions) = arbiter.enqueue(announcement, now: now)
            // A request the store refuses is undone and answered with an error; only an emergency goes on air first, and
            // plays on unstored.
            if storeRefuses, result != .duplicate, announcement.kind != .emergency {
                let refused = refusedCommits + 1
                self = before
                refusedCommits = refused
                if arbiter.contains(id: announcement.id) != containedBefore.contains(announcement.id) { violations.append("undo changed the queue") }
                return
            }
            if storeRefuses, announcement.kind == .emergency { unstored.insert(announcement.id) }
            if result != .duplicate {
                generation[announcement.id, default: 0] += 1
                lifeCommitted[announcement.id] = 0
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
            let (id, report, key) = owed.remove(at: b % owed.count)
            reported[key] = report.frames
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
        if let playing = onAir { cutByCrash.insert(playing.key) }
        for owedReport in owed { cutByCrash.insert(owedReport.key) }
        onAir = nil
        owed = []
        // A cancel waits for the stopped item's report before it reaches the store; a crash in between brings the
        // item back, which the station's restart accepts.
        cancelled = []
        // What was only in memory is gone; the station comes back with what is on disk.
        backlog = []
        store = durable
        for entry in durable.values where entry.isPlaying {
            var record = AirtimeRecord(unplayed: entry, at: now, outcome: .interrupted, error: "daemon restarted")
            record.playNumber = entry.playsDone + 1
            record.startedAt = now
            life[entry.id, default: []] = Array(life[entry.id, default: []].prefix(lifeCommitted[entry.id, default: 0])) + [record]
            lifeCommitted[entry.id, default: 0] += 1
            durableLog.append(record)
            durableLogLives.append(durableLife[entry.id] ?? generation[entry.id, default: 0])
        }
        // The log and the queue agree on disk: an id whose last row ended its life is not queued any more.
        for id in ArbiterSimulation.ids {
            guard let entry = durable[id], let last = life[id]?.prefix(lifeCommitted[id, default: 0]).last else { continue }
            if last.outcome == .cancelled || (last.outcome == .completed && entry.playsDone >= entry.announcement.repeatCount) {
                violations.append("crash: \(id) is queued on disk after its row \(last.outcome)")
            }
        }
        // Lives go on from what the disk says: rows lost with the backlog never happened.
        for (id, records) in life { life[id] = Array(records.prefix(lifeCommitted[id, default: 0])) }
        // A later life that never reached the disk (an emergency queued unstored while the store refused, over an entry whose
        // cancel was refused too) is gone; the disk's earlier life of that id is the one that comes back, with its rows.
        for (id, entry) in durable {
            guard let entryLife = durableLife[id], entryLife != generation[id, default: 0] else { continue }
            generation[id] = entryLife
            lifeAnnouncement[id] = entry.announcement
            life[id] = zip(durableLog, durableLogLives).filter { $0.0.announcementID == id && $0.1 == entryLife }.map(\.0)
            lifeCommitted[id] = life[id]?.count ?? 0
            unstored.remove(id)
        }
        // The one thing a crash may lose: an emergency that went on air while the store refused it, before it recovered.
        for id in unstored where durable[id] == nil && (life[id]?.isEmpty ?? true) {
            guard let announcement = lifeAnnouncement[id] else { continue }
            life[id] = [AirtimeRecord(unplayed: QueueEntry(announcement: announcement, sequence: 0), at: now, outcome: .failed, error: "lost unstored")]
        }
        unstored = []
        now += 5
        arbiter = Arbiter(configuration: configuration, restoring: Array(durable.values), now: now)
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
                let (id, report, key) = owed.removeFirst()
                reported[key] = report.frames
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
        reported[playing.key] = report.frames
        // A retry on a device still down puts nothing on air: only the item's first failed attempt is logged.
        if case .deviceFailed = ending, report.frames == 0, report.signalFrames == 0,
            life[playing.order.entry.id]?.contains(where: { $0.outcome == .failed }) == true
        {
            silentRetries.insert(playing.key)
        }
        apply(arbiter.finished(id: playing.order.entry.id, report: report, now: now), event: "finished \(playing.order.entry.id)")
        if case .audioFailed = ending, arbiter.contains(id: playing.order.entry.id) {
            violations.append("\(playing.order.entry.id) kept after its audio failed")
        }
    }

    /// Performs the actions as the station would, checking each against the rules.
    mutating func apply(_ actions: [Arbiter.Action], event: String) {
        var changes: [Change] = []
        defer { commit(changes, event: event) }
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
                    owed.append((current.order.entry.id, stoppedReport(current), current.key))
                }
                onAir = OnAir(order: order, startedAt: now, life: generation[id, default: 0])
                plays.insert(PlayKey(id: id, startedAt: now, playNumber: order.playNumber, life: generation[id, default: 0]))
            case .stop(let id):
                guard let current = onAir, current.order.entry.id == id else {
                    violations.append("\(event): stop \(id) which is not on air")
                    continue
                }
                owed.append((id, stoppedReport(current), current.key))
                onAir = nil
            case .record(let record):
                life[record.announcementID, default: []].append(record)
                changes.append(.record(record, life: generation[record.announcementID, default: 0]))
            case .save(let entry):
                store[entry.id] = entry
                changes.append(.save(entry, life: generation[entry.id, default: 0]))
            case .remove(let id):
                if store.removeValue(forKey: id) == nil { violations.append("\(event): removed \(id) that was never saved") }
                changes.append(.remove(id))
            case .shutdownComplete:
                violations.append("\(event): shutdown complete without a shutdown")
            case .wake(let date):
                if let date, date <= now { violations.append("\(event): wake \(date) is not in the future") }
                wake = date
            }
        }
    }

    /// One event's changes, written with the backlog in one transaction, or kept in memory when the store refuses.
    mutating func commit(_ changes: [Change], event: String) {
        let all = backlog + changes
        guard !all.isEmpty else { return }
        if storeRefuses {
            refusedCommits += 1
            backlog = all
            return
        }
        backlog = []
        for change in all {
            switch change {
            case .save(let entry, let entryLife):
                durable[entry.id] = entry
                durableLife[entry.id] = entryLife
            case .remove(let id): durable[id] = nil
            case .record(let record, let recordLife):
                durableLog.append(record)
                durableLogLives.append(recordLife)
                if recordLife == generation[record.announcementID, default: 0] { lifeCommitted[record.announcementID, default: 0] += 1 }
            }
        }
        // Whatever one event removes from the queue on disk, the same commit logs (a drop at restart is logged by the
        // station from the checkpoint, as `crash()` does).
        for case .remove(let id) in changes where !changes.contains(where: { if case .record(let r, _) = $0 { r.announcementID == id } else { false } }) {
            if !event.hasPrefix("restart") { violations.append("\(event): \(id) removed without its row in the same commit") }
        }
    }

    /// Each play has at most one row in the log on disk, exactly one when the store never refused and no crash cut it
    /// off, and its row has the frames the player reported.
    mutating func checkPlays() {
        var rows: [PlayKey: [AirtimeRecord]] = [:]
        for (record, life) in zip(durableLog, durableLogLives) where record.error != "daemon restarted" {
            guard let startedAt = record.startedAt else { continue }
            rows[PlayKey(id: record.announcementID, startedAt: startedAt, playNumber: record.playNumber, life: life), default: []].append(record)
        }
        for (key, records) in rows {
            if records.count > 1 { violations.append("\(key.id) play at \(key.startedAt) has \(records.count) rows") }
            if let frames = reported[key], let record = records.first, record.frames != frames {
                violations.append("\(key.id): row has \(record.frames) frames, the player handed \(frames)")
            }
        }
        guard refusedCommits == 0 else { return }
        for key in plays where !cutByCrash.contains(key) && !silentRetries.contains(key) && rows[key] == nil {
            violations.append("\(key.id) play at \(key.startedAt) has no row")
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
