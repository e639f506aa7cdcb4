import DalabaAudio
import DalabaCore
import DalabaStore
import Foundation
import Logging
import Synchronization

/// The one owner of the queue: it asks the pure Arbiter what to do for every event (a request, a player report,
/// a wake time), performs the actions (player, store, timer), and records every decision in the store.
///
/// Events are taken one at a time, in arrival order (`EventGate`), and each event's store changes are one transaction,
/// written by the `StoreWriter` off Swift's cooperative pool: a crash leaves the state before the event or after it.
/// Player orders go out at once, before their commit, so an emergency is not kept waiting for an fsync. A request
/// whose changes cannot be written is undone and refused, unless it already changed what is on air.
public actor Station {
    /// Why a request was not accepted.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// The store could not keep it (a full disk, a read-only database): nothing was queued.
        case notStored(String)
        /// The queue holds `limit` waiting items already.
        case queueFull(limit: Int)

        public var description: String {
            switch self {
            case .notStored(let reason): "the station could not store the request, so it was not queued: \(reason)"
            case .queueFull(let limit): "the queue is full (\(limit) waiting items, http.max-queue): wait or cancel something"
            }
        }
    }

    var arbiter: Arbiter
    let player: Player
    let store: StationStore
    private let writer: StoreWriter
    let configuration: Configuration
    let logger: Logger
    let clock: @Sendable () -> Date
    let metrics: StationMetrics
    /// Loudness gains at air time (cache lookups only); nil plays everything at unity gain.
    private let preparation: AudioPreparation?

    private var wake: Date?
    private var startedAt: [String: Date] = [:]
    /// Who cancelled what, so the log row says it.
    private var cancelledBy: [String: String] = [:]
    /// When each play was ordered, for the preemption-latency histogram.
    private var orderedAt: [String: Date] = [:]
    private var shuttingDown = false
    private var gateBusy = false
    private var gateWaiters: [CheckedContinuation<Void, Never>] = []
    /// Which event holds the gate and since when: an event that never lets go silences the station (the player's
    /// reports wait behind it), so the timer names it in the log (`watchGate`).
    private var gateHolder: (event: String, since: Date)?
    private var gateStuckReported = false
    private var shutdownWaiter: CheckedContinuation<Void, Never>?
    public private(set) var scheduleProblems: [String] = []
    /// The amplifier's power switch, its volume levels and the dead-air alarm (Station+Hardware.swift).
    let amplifier: AmplifierControl?
    var volumeLevels: VolumeLevels
    var playedVolume: [String: Double] = [:]
    var deadAir: StationAPI.DeadAir?
    /// Since when an item is on air that the player holds no position of (Station+Hardware.swift).
    var unheardSince: Date?
    /// The base level an admin set, kept in the store; nil while the configuration's `[volume] base` applies.
    var baseVolumeSet: StationStore.BaseVolume?
    /// What a play's log row says beyond its outcome (a live item's loudspeaker lost and found mid-talk), until it is recorded.
    var reportNotes: [String: String] = [:]

    /// Restores the persistent queue, turns plays that were cut off by a crash into `interrupted` log rows,
    /// and hands the Arbiter what was queued so each item follows its policy.
    public init(
        configuration: Configuration, store: StationStore, player: Player, metrics: StationMetrics, logger: Logger,
        preparation: AudioPreparation? = nil, amplifier: AmplifierControl? = nil, clock: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.preparation = preparation
        self.amplifier = amplifier
        self.volumeLevels = configuration.volume.levels
        self.configuration = configuration
        self.store = store
        self.player = player
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
        writer = StoreWriter(store: store, logger: logger, metrics: metrics)
        if let stored = try store.baseVolume() {
            if VolumeLevels.range.contains(stored.decibels) {
                volumeLevels.base = stored.decibels
                baseVolumeSet = stored
                logger.info("base volume as an admin set it", metadata: ["dB": "\(stored.decibels)", "by": "\(stored.setBy)"])
            } else {
                // Not written by this daemon (the API refuses such a level): the configuration's stands.
                logger.warning("stored base volume out of range; the configuration's applies", metadata: ["dB": "\(stored.decibels)"])
            }
        }
        let now = clock()
        let recovered = try store.recoverCheckpoints(now: now)
        for row in recovered {
            logger.warning(
                "play cut off by a restart recorded", metadata: ["id": "\(row.record.announcementID)", "frames": "\(row.record.frames)"])
        }
        let entries = try store.loadQueue()
        var arbiterConfiguration = Arbiter.Configuration(
            policies: configuration.policies, quietHours: configuration.quietHours, timeZone: configuration.timeZone,
            deviceRetry: .init(initial: configuration.deviceRetryInitial, maximum: configuration.deviceRetryMaximum))
        arbiterConfiguration.signals = Arbiter.Configuration.defaultSignals
        arbiter = Arbiter(configuration: arbiterConfiguration, restoring: entries, now: now)
        if !entries.isEmpty { logger.info("queue restored", metadata: ["entries": "\(entries.count)"]) }
    }

    // MARK: Running

    /// Plays until graceful shutdown: consumes the player's reports and keeps the one timer.
    public func run(until shutdown: @escaping @Sendable () async -> Void) async {
        await tick()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.consumePlayerEvents() }
            group.addTask { await self.keepTime() }
            group.addTask {
                await shutdown()
                await self.beginShutdown()
            }
            await group.waitForAll()
        }
    }

    private func consumePlayerEvents() async {
        for await event in player.events { await handle(event) }
    }

    // MARK: One event at a time

    /// Events wait here for the one before them to finish, including its commit when it is a request, so a request can be
    /// undone exactly by restoring the arbiter as it was.
    func enterGate(_ event: String = #function) async {
        if gateBusy {
            await withCheckedContinuation { gateWaiters.append($0) }
        } else {
            gateBusy = true
        }
        gateHolder = (event, Date())
    }

    func leaveGate() {
        if gateStuckReported, let holder = gateHolder {
            logger.notice("station event gate free again", metadata: ["held-by": "\(holder.event)", "seconds": "\(Int(Date().timeIntervalSince(holder.since)))"])
        }
        gateHolder = nil
        gateStuckReported = false
        if gateWaiters.isEmpty { gateBusy = false } else { gateWaiters.removeFirst().resume() }
    }

    /// An event holding the gate for seconds is a defect (each one takes milliseconds, a commit included): it is logged
    /// once, with its name and how many events wait behind it, so a silent station says why.
    private func watchGate() {
        guard let holder = gateHolder, !gateStuckReported, Date().timeIntervalSince(holder.since) > Station.gateStuckSeconds else { return }
        gateStuckReported = true
        metrics.gateStalls.increment()
        logger.critical(
            "station event gate held too long: player reports and requests wait",
            metadata: ["held-by": "\(holder.event)", "seconds": "\(Int(Date().timeIntervalSince(holder.since)))", "waiting": "\(gateWaiters.count)"])
    }

    /// Longer than any honest event: a commit on a slow disk takes well under a second.
    static let gateStuckSeconds = 5.0

    /// Sleeps until the Arbiter's next wake time in short slices, so a wake that moves earlier is honoured promptly
    /// and a wall-clock jump is noticed.
    private func keepTime() async {
        while !shuttingDown {
            let delay = wake.map { max(0, $0.timeIntervalSince(clock())) } ?? 0.1
            try? await Task.sleep(for: .milliseconds(Int(min(delay, 0.1) * 1000)))
            checkAir()
            watchGate()
            if let wake, clock() >= wake, !shuttingDown { await tick() }
        }
    }

    /// A wake time was reached (or a test advanced its clock).
    public func tick() async {
        await enterGate()
        defer { leaveGate() }
        performAndSubmit(arbiter.tick(now: clock()))
        updateGauges()
    }

    /// Shutdown is the Arbiter's event: it stops what plays, and the item's report concludes it as the state machine says
    /// (interrupted and kept under its policy; completed or cancelled if that is how it ended). Then every change still in
    /// memory is written, and the player thread ends.
    private func beginShutdown() async {
        await enterGate()
        shuttingDown = true
        await withCheckedContinuation { continuation in
            shutdownWaiter = continuation
            performAndSubmit(arbiter.shutdown(now: clock()))
            leaveGate()
        }
        if !(await writer.flush(timeout: 5)) {
            logger.critical("shutdown with changes the store would not take", metadata: ["kept": "\(writer.health.backlog)"])
        }
        player.shutdown()
        amplifier?.shutdown()
    }

    /// Waits until every change made so far is on disk (tests, and callers that must know).
    public func flush(timeout: Double = 5) async -> Bool { await writer.flush(timeout: timeout) }

    // MARK: Player reports

    func handle(_ event: Player.Event) async {
        let label =
            switch event {
            case .started(let id, _, _): "player report: \(id) started"
            case .progress(let id, _, _): "player report: \(id) progressed"
            case .finished(let id, _): "player report: \(id) finished"
            }
        await enterGate(label)
        defer { leaveGate() }
        var changes: [StoreChange] = []
        switch event {
        case .started(let id, let at, _):
            startedAt[id] = at
            if let ordered = orderedAt.removeValue(forKey: id) {
                // From the order to the player's own timestamp of its first write, not to when this report was read.
                let nanoseconds = Int64((at.timeIntervalSince(ordered) * 1e9).rounded())
                metrics.startLatency.recordNanoseconds(nanoseconds)
                // And from intake (the announcement's `queuedAt`), which includes any wait for loudness or the store.
                let sinceIntake = arbiter.nowPlaying.flatMap { $0.entry.id == id ? $0.entry.announcement.queuedAt : nil }
                    .map { Int64((at.timeIntervalSince($0) * 1e6).rounded()) }
                logger.debug(
                    "first frame", metadata: ["id": "\(id)", "latency-us": "\(nanoseconds / 1_000)", "since-intake-us": "\(sinceIntake ?? -1)"])
            }
        case .progress(let id, let frames, let signalFrames):
            let rate = player.health.format.rate
            let performed = perform(arbiter.progressed(id: id, frames: frames, rate: rate))
            send(performed.playerOrders)
            changes = performed.changes
            if let checkpoint = checkpoint(id: id, frames: frames, signalFrames: signalFrames, rate: rate) { changes.append(checkpoint) }
        case .finished(let id, let report):
            metrics.count(report.ending)
            let ending: PlayReport.Ending =
                switch report.ending {
                case .completed: .completed
                case .stopped: .stopped
                case .deviceFailed(let reason): .deviceFailed(reason)
                case .audioFailed(let reason): .audioFailed(reason)
                }
            let playReport = PlayReport(
                frames: report.frames, signalFrames: report.signalFrames, rate: report.rate, startedAt: report.startedAt ?? startedAt[id],
                ending: ending)
            startedAt[id] = nil
            orderedAt[id] = nil
            if let note = report.note { reportNotes[id] = note }
            let performed = perform(arbiter.finished(id: id, report: playReport, now: clock()))
            send(performed.playerOrders)
            changes = performed.changes
        }
        // One transaction per event, and at most one a second while a play goes on: a progress report carries both the
        // queue entry's resume point and the checkpoint.
        writer.submit(changes)
        updateGauges()
    }

    // MARK: Requests

    /// Queues an announcement for `who` (an operator's name, a schedule, a CAP sender). Answers only once its entry is
    /// on disk; what the store cannot keep is refused and leaves the station as it was.
    public func enqueue(_ announcement: Announcement) async throws(Refusal) -> StationAPI.QueueReceipt {
        await enterGate()
        defer { leaveGate() }
        // The authoritative check (HTTP intake checks early too, before reading an upload): emergencies have headroom.
        let limit = configuration.maxQueue + (announcement.kind == .emergency ? configuration.queueEmergencyHeadroom : 0)
        if arbiter.queueCount >= limit, !arbiter.contains(id: announcement.id) {
            metrics.queueRefusals.increment()
            logger.warning("queue full; refused", metadata: ["id": "\(announcement.id)", "limit": "\(limit)"])
            throw .queueFull(limit: limit)
        }
        let before = arbiter
        let (result, actions) = arbiter.enqueue(announcement, now: clock())
        let performed = perform(actions)
        // An emergency goes on air before its commit, so no fsync stands between the request and the loudspeaker; if the
        // store then fails it still plays, and its changes are kept and written when the store recovers. Anything else
        // is on disk before it is acted on, and undone if it cannot be.
        let urgent = announcement.kind == .emergency
        if urgent { send(performed.playerOrders) }
        if case .failure(let error) = await writer.commit(performed.changes, required: !urgent) {
            if urgent {
                logger.critical("emergency on air but not yet stored", metadata: ["id": "\(announcement.id)", "error": "\(error)"])
            } else {
                arbiter = before
                metrics.queueRefusals.increment()
                logger.error("not queued: the store refused it", metadata: ["id": "\(announcement.id)", "error": "\(error)"])
                updateGauges()
                throw .notStored("\(error)")
            }
        }
        if !urgent { send(performed.playerOrders) }
        updateGauges()
        switch result {
        case .queued(let position):
            logger.info(
                "queued",
                metadata: [
                    "id": "\(announcement.id)", "kind": "\(announcement.kind.rawValue)", "source": "\(announcement.source)",
                    "position": "\(position)",
                ])
            return .init(id: announcement.id, status: .queued, position: position)
        case .duplicate:
            return .init(id: announcement.id, status: .duplicate, position: nil)
        case .expired:
            return .init(id: announcement.id, status: .expired, position: nil)
        }
    }

    /// Cancels a queued or playing announcement; false when the id is unknown. A cancel always takes effect, even while
    /// the store fails (stopping a wrong broadcast matters more): its changes are then kept and written on recovery.
    public func cancel(id: String, by who: String) async -> Bool {
        await enterGate()
        defer { leaveGate() }
        guard arbiter.contains(id: id) else { return false }
        cancelledBy[id] = who
        guard let actions = arbiter.cancel(id: id, now: clock()) else { return false }
        logger.info("cancelled", metadata: ["id": "\(id)", "by": "\(who)"])
        let performed = perform(actions)
        send(performed.playerOrders)
        _ = await writer.commit(performed.changes, required: false)
        updateGauges()
        return true
    }

    public func stopAll(by who: String) async -> Int {
        await enterGate()
        defer { leaveGate() }
        var ids = arbiter.queue.map(\.id)
        if let playing = arbiter.nowPlaying { ids.append(playing.entry.id) }
        for id in ids { cancelledBy[id] = who }
        logger.warning("stop-all", metadata: ["by": "\(who)", "items": "\(ids.count)"])
        let performed = perform(arbiter.stopAll(now: clock()))
        send(performed.playerOrders)
        _ = await writer.commit(performed.changes, required: false)
        updateGauges()
        // The emptied queue's memory goes back to the system, so a flood leaves no lasting footprint.
        releaseFreeMemory()
        return ids.count
    }

    /// Ends the live item (the speaker has finished): on air, it ends as completed with the frames heard; still waiting,
    /// it is cancelled. Returns its id, or nil when no live item is on air or queued.
    public func endLive(by who: String) async -> String? {
        if let playing = arbiter.nowPlaying, playing.entry.announcement.live != nil {
            logger.info("live item ended", metadata: ["id": "\(playing.entry.id)", "by": "\(who)"])
            player.endLive()
            return playing.entry.id
        }
        guard let waiting = arbiter.queue.first(where: { $0.announcement.live != nil }) else { return nil }
        return await cancel(id: waiting.id, by: who) ? waiting.id : nil
    }

    public func contains(id: String) -> Bool { arbiter.contains(id: id) }

    /// Every audio file a queued, playing or stopping item needs: what the cache sweeper must leave alone.
    public func referencedAudio() -> Set<String> { arbiter.referencedAudio }

    public func status() -> StationAPI.Status {
        let health = player.health
        var nowPlaying: StationAPI.NowPlaying?
        if let order = arbiter.nowPlaying {
            let position = player.position.flatMap { $0.id == order.entry.id ? $0 : nil }
            let rate = Double(position?.rate ?? health.format.rate)
            let base = Double(order.startFrame) / Double(max(order.entry.resumeRate, 1))
            nowPlaying = .init(
                item: .init(order.entry), playNumber: order.playNumber, signal: order.signal.rawValue, startedAt: startedAt[order.entry.id],
                position: base + Double(position?.frames ?? 0) / rate, duration: Double(position?.totalFrames ?? 0) / rate,
                inSignal: (position?.frames ?? 0) == 0 && order.signal != .none)
        }
        let down = arbiter.deviceDownUntil.map { $0 > clock() } ?? false
        let device = StationAPI.Device(
            name: health.format.device, up: !down && health.lastError == nil, open: health.isOpen, rate: health.format.rate,
            channels: health.format.channels, periodFrames: health.format.periodFrames, bufferFrames: health.format.bufferFrames,
            underruns: health.underruns, lastError: health.lastError, retryAt: down ? arbiter.deviceDownUntil : nil)
        var status = StationAPI.Status(
            now: clock(), nowPlaying: nowPlaying, queue: arbiter.queue.map(StationAPI.Item.init), device: device, storeFault: writer.health.fault,
            scheduleProblems: scheduleProblems, amplifier: amplifier?.status, deadAir: deadAir, volume: volumeStatus,
            live: liveStatus)
        status.relay = player.relay.map {
            .init(
                url: $0.url, connected: $0.connected, reconnects: $0.reconnects, deadAir: $0.deadAir, lastError: $0.lastError,
                bufferedSeconds: $0.bufferedSeconds, deadAirSeconds: $0.deadAirSeconds, driftPPM: $0.driftPPM)
        }
        return status
    }

    public func setScheduleProblems(_ problems: [String]) {
        scheduleProblems = problems
        metrics.scheduleProblems.set(to: Double(problems.count))
    }

    // MARK: Actions

    /// An event's outcome: the store changes for its one commit, in the arbiter's order, and the orders for the player,
    /// which the caller sends before the commit (an emergency, a player report) or after it (a request that must be
    /// stored before it is acted on).
    private struct Performed {
        var changes: [StoreChange] = []
        var playerOrders: [PlayerOrder] = []
    }

    private enum PlayerOrder {
        case play(Player.Item, title: String, playNumber: Int, signal: Signal)
        case stop
    }

    /// Takes the timer and shutdown actions at once and turns the rest into store changes and player orders.
    private func perform(_ actions: [Arbiter.Action]) -> Performed {
        var performed = Performed()
        for action in actions {
            switch action {
            case .play(let order):
                guard !shuttingDown else { continue }
                let (item, checkpoint) = prepare(order)
                performed.playerOrders.append(.play(item, title: order.entry.announcement.title, playNumber: order.playNumber, signal: order.signal))
                if let checkpoint { performed.changes.append(checkpoint) }
            case .stop:
                performed.playerOrders.append(.stop)
            case .record(var record):
                if record.outcome == .cancelled, let who = cancelledBy[record.announcementID] {
                    record.error = record.error ?? "cancelled by \(who)"
                }
                if record.startedAt != nil { record.volume = playedVolume[record.announcementID] }
                if let note = reportNotes.removeValue(forKey: record.announcementID) { record.error = record.error.map { "\($0); \(note)" } ?? note }
                metrics.recordAirtime(record)
                performed.changes.append(.record(record))
            case .save(let entry):
                performed.changes.append(.save(entry))
            case .remove(let id):
                cancelledBy[id] = nil
                playedVolume[id] = nil
                performed.changes.append(.remove(id: id))
            case .wake(let at):
                wake = at
            case .shutdownComplete:
                shutdownWaiter?.resume()
                shutdownWaiter = nil
            }
        }
        return performed
    }

    /// Performs an event's actions: player orders now, store changes submitted for one commit.
    private func performAndSubmit(_ actions: [Arbiter.Action]) {
        let performed = perform(actions)
        send(performed.playerOrders)
        writer.submit(performed.changes)
    }

    /// Performs a request's actions as `enqueue` does for all but an emergency, for the request extensions (`Station+Amend`):
    /// the event's changes in one commit before the player hears of them, and the arbiter put back as `before` when the
    /// store refuses them. Call inside the gate.
    func commitRequest(_ actions: [Arbiter.Action], undoingTo before: Arbiter) async throws(Refusal) {
        let performed = perform(actions)
        if case .failure(let error) = await writer.commit(performed.changes, required: true) {
            arbiter = before
            updateGauges()
            throw .notStored("\(error)")
        }
        send(performed.playerOrders)
        updateGauges()
    }

    private func send(_ orders: [PlayerOrder]) {
        for order in orders {
            switch order {
            case .play(let item, let title, let playNumber, let signal):
                orderedAt[item.id] = Date()
                if let amplifier { amplifier.play(item, emergency: isEmergency(item.id)) } else { player.play(item) }
                logger.info("on air", metadata: ["id": "\(item.id)", "title": "\(title)", "play": "\(playNumber)", "signal": "\(signal)"])
            case .stop:
                player.stop()
            }
        }
    }

    /// The player's item for an order, and the checkpoint that says it is on air.
    private func prepare(_ order: Arbiter.PlayOrder) -> (Player.Item, StoreChange?) {
        let announcement = order.entry.announcement
        var segments: [Player.Segment] = []
        let levels = preparation?.levels ?? AudioPreparation.Levels()
        switch order.signal {
        case .chime:
            let path = configuration.audioPath(configuration.chime)
            segments.append(.init(path: path, role: .signal, gain: preparation?.gain(path, target: levels.chime) ?? 1))
        case .attention:
            let path = configuration.audioPath(configuration.attention)
            segments.append(.init(path: path, role: .signal, gain: preparation?.gain(path, target: levels.attention) ?? 1))
        case .none: break
        }
        let deviceRate = player.health.format.rate
        let start =
            order.entry.resumeRate > 0 && order.entry.resumeRate != deviceRate
            ? order.startFrame * Int64(deviceRate) / Int64(order.entry.resumeRate) : order.startFrame
        if let live = announcement.live, let url = live.url {
            let fallback = configuration.relayFallback.map { configuration.audioPath($0) }
            let relay = Player.Relay(
                url: url, deadAirSeconds: configuration.relayDeadAirSeconds, fallback: fallback,
                fallbackGain: fallback.flatMap { preparation?.gain($0) } ?? 1, followsRedirects: configuration.relayHosts.isEmpty)
            segments.append(
                .init(live: .init(device: url, silenceThreshold: configuration.liveSilenceThreshold, maximumSeconds: live.maximumSeconds, relay: relay)))
        } else if let live = announcement.live {
            segments.append(
                .init(live: .init(device: live.input, silenceSeconds: live.silenceSeconds, silenceThreshold: configuration.liveSilenceThreshold,
                    maximumSeconds: live.maximumSeconds)))
        } else {
            segments.append(.init(path: announcement.audio, role: .programme, gain: preparation?.gain(announcement.audio) ?? 1, startFrame: start))
        }
        // A live item waits for a lost loudspeaker as long as it may wait in the queue; an emergency as long as it takes.
        if announcement.live != nil, announcement.kind != .emergency, !segments.isEmpty {
            segments[segments.count - 1].live?.outputWaitSeconds = configuration.liveWaitSeconds
        }
        let volume = volumeLevels.volume(kind: announcement.kind, level: announcement.level)
        playedVolume[announcement.id] = volume
        return (.init(id: announcement.id, segments: segments, volume: volume), checkpoint(id: announcement.id, frames: 0, signalFrames: 0, rate: deviceRate))
    }

    /// The play in progress as a log row that will be kept if the daemon dies now.
    private func checkpoint(id: String, frames: Int64, signalFrames: Int64, rate: Int) -> StoreChange? {
        guard let order = arbiter.nowPlaying, order.entry.id == id else { return nil }
        var record = AirtimeRecord(unplayed: order.entry, at: clock(), outcome: .interrupted, error: "daemon stopped while playing")
        record.playNumber = order.playNumber
        record.startedAt = startedAt[id] ?? clock()
        record.frames = frames
        record.signalFrames = signalFrames
        record.rate = rate
        record.volume = playedVolume[id]
        return .checkpoint(PlayCheckpoint(record: record, updatedAt: clock()))
    }

    /// SQLite's caches and glibc's arenas keep what a flood used; after it is cancelled this hands it back.
    private func releaseFreeMemory() { writer.releaseMemory() }

    private func updateGauges() {
        metrics.queueLength.set(to: Double(arbiter.queueCount))
        metrics.playing.set(to: arbiter.nowPlaying == nil ? 0 : 1)
        let health = player.health
        metrics.underruns.set(to: Double(health.underruns))
        let relay = player.relay
        metrics.relayConnected.set(to: relay?.connected == true ? 1 : 0)
        metrics.relayReconnects.set(to: Double(relay?.reconnects ?? 0))
        metrics.relayDeadAir.set(to: relay?.deadAir == true ? 1 : 0)
        let down = arbiter.deviceDownUntil.map { $0 > clock() } ?? false
        metrics.deviceUp.set(to: down || health.lastError != nil ? 0 : 1)
        amplifier?.stationIdle(arbiter.nowPlaying == nil)
        checkAir()
    }

    /// Logs an announcement that never reached the queue, such as a schedule slot missed while the daemon was down, through
    /// the same path as every other row (metrics, and kept for a retry while the store fails).
    public func recordUnplayed(_ record: AirtimeRecord) async {
        await enterGate()
        defer { leaveGate() }
        metrics.recordAirtime(record)
        writer.submit([.record(record)])
    }
}
