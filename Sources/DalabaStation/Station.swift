import DalabaAudio
import DalabaCore
import DalabaStore
import Foundation
import Logging
import Synchronization

/// The one owner of the queue: it asks the pure Arbiter what to do for every event (a request, a player report,
/// a wake time), performs the actions (player, store, timer), and records every decision in the store.
public actor Station {
    private var arbiter: Arbiter
    private let player: Player
    private let store: StationStore
    private let configuration: Configuration
    private let logger: Logger
    private let clock: @Sendable () -> Date
    let metrics: StationMetrics
    /// Loudness gains at air time (cache lookups only); nil plays everything at unity gain.
    private let preparation: AudioPreparation?

    private var wake: Date?
    private var startedAt: [String: Date] = [:]
    /// Who cancelled what, so the log row says it.
    private var cancelledBy: [String: String] = [:]
    /// When each play was ordered, for the preemption-latency histogram.
    private var orderedAt: [String: Date] = [:]
    private var pendingRecords: [AirtimeRecord] = []
    private var storeFault: String?
    private var shuttingDown = false
    private var shutdownWaiter: CheckedContinuation<Void, Never>?
    public private(set) var scheduleProblems: [String] = []

    /// Restores the persistent queue, turns plays that were cut off by a crash into `interrupted` log rows,
    /// and hands the Arbiter what was queued so each item follows its policy.
    public init(
        configuration: Configuration, store: StationStore, player: Player, metrics: StationMetrics, logger: Logger,
        preparation: AudioPreparation? = nil, clock: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        self.preparation = preparation
        self.configuration = configuration
        self.store = store
        self.player = player
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
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
        perform(arbiter.tick(now: clock()))
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
        for await event in player.events { handle(event) }
    }

    /// Sleeps until the Arbiter's next wake time in short slices, so a wake that moves earlier is honoured promptly
    /// and a wall-clock jump is noticed.
    private func keepTime() async {
        while !shuttingDown {
            let delay = wake.map { max(0, $0.timeIntervalSince(clock())) } ?? 0.1
            try? await Task.sleep(for: .milliseconds(Int(min(delay, 0.1) * 1000)))
            if let wake, clock() >= wake, !shuttingDown { tick() }
        }
    }

    /// A wake time was reached (or a test advanced its clock).
    public func tick() {
        retryPendingRecords()
        perform(arbiter.tick(now: clock()))
    }

    /// Stops the current item, records its partial play, and lets the player thread end.
    private func beginShutdown() async {
        shuttingDown = true
        guard arbiter.nowPlaying != nil || player.position != nil else {
            player.shutdown()
            return
        }
        await withCheckedContinuation { continuation in
            shutdownWaiter = continuation
            player.stop()
        }
        player.shutdown()
    }

    // MARK: Player reports

    func handle(_ event: Player.Event) {
        switch event {
        case .started(let id, let at, _):
            startedAt[id] = at
            if let ordered = orderedAt.removeValue(forKey: id) {
                // From the order to the player's own timestamp of its first write, not to when this report was read.
                let nanoseconds = Int64((at.timeIntervalSince(ordered) * 1e9).rounded())
                metrics.startLatency.recordNanoseconds(nanoseconds)
                logger.debug("first frame", metadata: ["id": "\(id)", "latency-us": "\(nanoseconds / 1_000)"])
            }
        case .progress(let id, let frames, let signalFrames):
            let rate = player.health.format.rate
            perform(arbiter.progressed(id: id, frames: frames, rate: rate))
            checkpoint(id: id, frames: frames, signalFrames: signalFrames, rate: rate)
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
            if shuttingDown {
                // Keep the entry as on air with its exact position: the restart applies its interrupt policy.
                perform(arbiter.progressed(id: id, frames: report.frames, rate: report.rate).filter { if case .save = $0 { true } else { false } })
                checkpoint(id: id, frames: report.frames, signalFrames: report.signalFrames, rate: report.rate)
                do {
                    for row in try store.recoverCheckpoints(now: clock()) {
                        logger.info("partial play recorded at shutdown", metadata: ["id": "\(row.record.announcementID)"])
                    }
                } catch {
                    storeFailed(error, "recording the partial play at shutdown")
                }
                shutdownWaiter?.resume()
                shutdownWaiter = nil
                return
            }
            perform(arbiter.finished(id: id, report: playReport, now: clock()))
        }
        updateGauges()
    }

    // MARK: Requests

    /// Queues an announcement for `who` (an operator's name, a schedule, a CAP sender).
    public func enqueue(_ announcement: Announcement) -> StationAPI.QueueReceipt {
        let (result, actions) = arbiter.enqueue(announcement, now: clock())
        perform(actions)
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

    /// Cancels a queued or playing announcement; false when the id is unknown.
    public func cancel(id: String, by who: String) -> Bool {
        guard arbiter.contains(id: id) else { return false }
        cancelledBy[id] = who
        guard let actions = arbiter.cancel(id: id, now: clock()) else { return false }
        logger.info("cancelled", metadata: ["id": "\(id)", "by": "\(who)"])
        perform(actions)
        updateGauges()
        return true
    }

    public func stopAll(by who: String) -> Int {
        var ids = arbiter.queue.map(\.id)
        if let playing = arbiter.nowPlaying { ids.append(playing.entry.id) }
        for id in ids { cancelledBy[id] = who }
        logger.warning("stop-all", metadata: ["by": "\(who)", "items": "\(ids.count)"])
        perform(arbiter.stopAll(now: clock()))
        updateGauges()
        return ids.count
    }

    public func contains(id: String) -> Bool { arbiter.contains(id: id) }

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
        return .init(
            now: clock(), nowPlaying: nowPlaying, queue: arbiter.queue.map(StationAPI.Item.init), device: device, storeFault: storeFault,
            scheduleProblems: scheduleProblems)
    }

    public func setScheduleProblems(_ problems: [String]) {
        scheduleProblems = problems
        metrics.scheduleProblems.set(to: Double(problems.count))
    }

    // MARK: Actions

    private func perform(_ actions: [Arbiter.Action]) {
        for action in actions {
            switch action {
            case .play(let order):
                guard !shuttingDown else { continue }
                play(order)
            case .stop:
                player.stop()
            case .record(var record):
                if record.outcome == .cancelled, let who = cancelledBy[record.announcementID] {
                    record.error = record.error ?? "cancelled by \(who)"
                }
                append(record)
            case .save(let entry):
                storeWrite("saving \(entry.id)") { try store.save(entry) }
            case .remove(let id):
                cancelledBy[id] = nil
                storeWrite("removing \(id)") { try store.remove(id: id) }
            case .wake(let at):
                wake = at
            }
        }
    }

    private func play(_ order: Arbiter.PlayOrder) {
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
        segments.append(.init(path: announcement.audio, role: .programme, gain: preparation?.gain(announcement.audio) ?? 1, startFrame: start))
        orderedAt[announcement.id] = Date()
        player.play(.init(id: announcement.id, segments: segments))
        logger.info(
            "on air",
            metadata: ["id": "\(announcement.id)", "title": "\(announcement.title)", "play": "\(order.playNumber)", "signal": "\(order.signal)"])
        checkpoint(id: announcement.id, frames: 0, signalFrames: 0, rate: deviceRate)
    }

    /// The play in progress as a log row that will be kept if the daemon dies now.
    private func checkpoint(id: String, frames: Int64, signalFrames: Int64, rate: Int) {
        guard let order = arbiter.nowPlaying, order.entry.id == id else { return }
        var record = AirtimeRecord(unplayed: order.entry, at: clock(), outcome: .interrupted, error: "daemon stopped while playing")
        record.playNumber = order.playNumber
        record.startedAt = startedAt[id] ?? clock()
        record.frames = frames
        record.signalFrames = signalFrames
        record.rate = rate
        storeWrite("checkpointing \(id)") { try store.checkpoint(PlayCheckpoint(record: record, updatedAt: clock())) }
    }

    private func append(_ record: AirtimeRecord) {
        metrics.recordAirtime(record)
        do {
            try store.append(record, clearingCheckpoint: true)
            if storeFault != nil, pendingRecords.isEmpty { clearStoreFault() }
        } catch {
            pendingRecords.append(record)
            storeFailed(error, "appending the log row of \(record.announcementID)")
        }
    }

    private func retryPendingRecords() {
        guard !pendingRecords.isEmpty else { return }
        var still: [AirtimeRecord] = []
        for record in pendingRecords {
            do { try store.append(record, clearingCheckpoint: true) } catch { still.append(record) }
        }
        pendingRecords = still
        if still.isEmpty { clearStoreFault() }
    }

    private func storeWrite(_ what: String, _ operation: () throws -> Void) {
        do {
            try operation()
        } catch {
            storeFailed(error, what)
        }
    }

    private func storeFailed(_ error: any Error, _ what: String) {
        let message = "\(what): \(error)"
        if storeFault != message { logger.critical("store failure; playing on from memory", metadata: ["error": "\(message)"]) }
        storeFault = message
        metrics.storeFaults.increment()
        metrics.storeHealthy.set(to: 0)
    }

    private func clearStoreFault() {
        logger.notice("store healthy again")
        storeFault = nil
        metrics.storeHealthy.set(to: 1)
    }

    private func updateGauges() {
        metrics.queueLength.set(to: Double(arbiter.queue.count))
        metrics.playing.set(to: arbiter.nowPlaying == nil ? 0 : 1)
        let health = player.health
        metrics.underruns.set(to: Double(health.underruns))
        let down = arbiter.deviceDownUntil.map { $0 > clock() } ?? false
        metrics.deviceUp.set(to: down || health.lastError != nil ? 0 : 1)
    }

    /// Logs an announcement that never reached the queue, such as a schedule slot missed while the daemon was down, through
    /// the same path as every other row (metrics, and kept for a retry while the store fails).
    public func recordUnplayed(_ record: AirtimeRecord) {
        append(record)
    }
}
