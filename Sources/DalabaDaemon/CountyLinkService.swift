import DalabaCore
import DalabaLink
import DalabaStation
import DalabaStore
import Foundation
import Logging
import ServiceLifecycle

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The village's link to its county, when the TOML has `[county]`: it takes signed head-end messages from the broker and
/// queues, cancels and stops through the station's normal path, and reports back receipts, airtime rows and state.
///
/// Everything it reports goes through the store first (receipts in the outbox, rows from the airtime log, the confirmed
/// mark), so a broker outage or a restart loses nothing; the station plays on alone while the broker or county is down.
/// The rules live in `VillageLink` (pure); this service performs its actions.
struct CountyLinkService: Service {
    /// 0.11: receipts kept until the head-end confirms them; a re-published announcement already here is answered, not queued.
    /// 0.12: an announcement whose audio is being fetched is kept in the store, so a kill -9 or a stop mid-fetch resumes it.
    static let version = "0.12.0"

    let settings: Configuration.CountyLink
    let station: Station
    let store: StationStore
    let stateDirectory: String
    let logger: Logger

    /// What the loop takes, one at a time: broker events, acknowledgements of outbox entries, ticks, and the end of an
    /// audio fetch (the announcement's id, and why it failed if it did).
    enum Input: Sendable {
        case broker(BrokerClient.Event)
        case acked(Int64)
        case tick
        case fetched(String, failure: String?)
    }

    func run() async throws {
        let village: RegionCode
        let key: CountyKey
        do {
            village = try RegionCode(settings.region)
            key = try CountyKey(base64: settings.countyKey)
        } catch {
            logger.critical("county link not started", metadata: ["error": "\(error)"])
            try? await gracefulShutdown()
            return
        }
        let cache = stateDirectory + "/county-audio"
        try? FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        var options = BrokerClient.Options(
            host: settings.brokerHost, port: settings.brokerPort, clientID: settings.clientID, username: settings.username,
            password: settings.password, caFile: settings.caFile)
        options.subscriptions = LinkTopic.subscriptions(for: village)
        options.will = .init(topic: LinkTopic.state(village), payload: (try? LinkJSON.encode(VillageState.offline(village, version: Self.version))) ?? Data())
        let (inputs, feed) = AsyncStream.makeStream(of: Input.self)
        let client: BrokerClient
        let runner: Runner
        do {
            client = try BrokerClient(options: options, logger: logger)
            runner = try Runner(
                village: village, key: key, settings: settings, station: station, store: store, cache: cache, client: client, feed: feed, logger: logger)
        } catch {
            // The station plays on alone: a link that cannot start must not stop the daemon.
            logger.critical("county link not started", metadata: ["error": "\(error)"])
            try? await gracefulShutdown()
            return
        }
        // Before the first message: a cancel or update the broker kept for this village finds what it names.
        await runner.resumeFetches()
        client.start()
        logger.info(
            "county link starting",
            metadata: ["region": "\(village)", "broker": "\(settings.brokerHost):\(settings.brokerPort)", "county-key": "\(key.id)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in client.events { feed.yield(.broker(event)) }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    feed.yield(.tick)
                }
            }
            group.addTask {
                for await input in inputs { await runner.handle(input) }
            }
            try? await gracefulShutdown()
            await runner.stopFetches()
            await runner.goOffline()
            await client.stop()
            feed.finish()
            group.cancelAll()
        }
        logger.info("county link stopped")
    }

    /// The link's state and the actions' performer; an actor so the inputs and shutdown never overlap.
    actor Runner {
        let village: RegionCode
        let settings: Configuration.CountyLink
        let station: Station
        let store: StationStore
        let cache: String
        let client: BrokerClient
        let feed: AsyncStream<Input>.Continuation
        let logger: Logger
        var link: VillageLink
        /// Receipts published and not yet confirmed by the head-end (`ReceiptOutbox` says when each goes again).
        var outbox = ReceiptOutbox()
        /// Outbox ids done with (confirmed, or acknowledged to an older head-end), deleted at the next tick.
        var done: [Int64] = []
        /// Whether the store may hold receipts not yet published: spares a read of the outbox at every tick.
        var outboxMayHaveNew = true
        /// Receipts dropped from a full outbox since start.
        var droppedReceipts = 0
        /// The last (announcement, play) reported on air.
        var lastOnAir: (id: String, play: Int)?
        /// Announcements whose audio is fetched from the head-end, in the order they came; the first few run (`maximumFetches`,
        /// never two of one digest), the rest wait their turn. Off the loop, so a slow head-end holds back no later message.
        /// Each is kept in the store too (`StationStore.PendingFetch`) until its outcome is in the station's log or queue.
        var fetches: [PendingFetch] = []
        /// The running fetches by announcement id.
        var fetchTasks: [String: Task<Void, Never>] = [:]
        /// Set at shutdown: a fetch ended by it is neither queued nor recorded, and stays in the store for the next start.
        var stopping = false
        static let maximumFetches = 2

        /// An announcement waiting for its audio, and what the county said of it meanwhile.
        ///
        /// A cancel or stop-all while it waits: its fetch is cancelled and it is recorded as a county item cancelled before
        /// it played (`cancelled`, "cancelled by county", no start), so its receipt is `interrupted` as for a waiting item.
        /// An update: its title and expiry are applied to what will be queued once the audio is here (an expiry then past
        /// makes the station record it expired). Both are stored as they happen, so a restart meanwhile keeps them.
        typealias PendingFetch = StationStore.PendingFetch

        init(
            village: RegionCode, key: CountyKey, settings: Configuration.CountyLink, station: Station, store: StationStore, cache: String,
            client: BrokerClient, feed: AsyncStream<Input>.Continuation, logger: Logger
        ) throws {
            self.village = village
            self.settings = settings
            self.station = station
            self.store = store
            self.cache = cache
            self.client = client
            self.feed = feed
            self.logger = logger
            let now = Date()
            link = VillageLink(
                settings: .init(village: village, key: key), seen: try store.linkSeenMessages(now: now), confirmedSeq: try store.linkConfirmedSeq(),
                now: now)
        }

        func handle(_ input: Input) async {
            switch input {
            case .broker(.connected):
                outbox.connected()
                outboxMayHaveNew = true
                await perform(link.connected(now: Date(), state: await currentState()))
            case .broker(.disconnected), .broker(.refused):
                link.disconnected()
            case .broker(.message(let message)):
                await perform(link.received(message.payload, now: Date()))
            case .acked(let id):
                if outbox.acknowledged(id) { done.append(id) }
            case .fetched(let id, let failure):
                await fetched(id, failure: failure)
            case .tick:
                await reportOnAir()
                makeReceiptsFromRows()
                flushDone()
                let head = (try? store.latestHash())?.seq ?? 0
                await perform(link.tick(now: Date(), headSeq: head, state: await currentState()))
            }
        }

        // MARK: Actions

        func perform(_ actions: [VillageLink.Action]) async {
            for action in actions {
                switch action {
                case .refuse(let refused, let receipt):
                    logger.warning(
                        "county message refused",
                        metadata: ["reason": "\(refused.reason.rawValue)", "message": "\(refused.messageID ?? "?")", "detail": "\(refused.detail)"])
                    if let receipt { queue([receipt]) }
                case .act(let message, let late, let keepUntil):
                    // Only the first announce of an announcement is remembered as what brought it (receipts name it, and a
                    // re-publish is answered with its time); every message id is remembered, so a replay is refused. A cancel
                    // or update names no message for it: one for an announcement not yet here would make its re-publish look
                    // like one already here.
                    var first: (message: String, receivedAt: Date)?
                    if case .announce(let a) = message.body { first = try? store.linkAnnouncement(a.announcement) }
                    let names: Bool = if case .announce = message.body { first == nil } else { false }
                    // A whole millisecond, as the store keeps it: the `received` receipt answered to a re-publish is then the
                    // same bytes as the first, and one row at the head-end.
                    let receivedAt = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000)
                    await act(message, late: late, first: first, receivedAt: receivedAt, keepUntil: keepUntil)
                    do {
                        try store.rememberLinkMessage(
                            message.id, keepUntil: keepUntil, announcement: names ? message.body.announcementID : nil, now: receivedAt)
                    } catch {
                        logger.error("cannot remember a county message id", metadata: ["message": "\(message.id)", "error": "\(error)"])
                    }
                case .storeConfirmed(let seq):
                    do { try store.setLinkConfirmedSeq(seq) } catch { logger.error("cannot store the confirmed row", metadata: ["error": "\(error)"]) }
                case .sendRows(let after, let limit):
                    sendRows(after: after, limit: limit)
                case .publishState(let state):
                    publish(topic: LinkTopic.state(village), state, retain: true)
                case .drainOutbox:
                    drainOutbox()
                }
            }
        }

        /// Queues, cancels, stops or updates through the station, as a local operator would.
        func act(
            _ message: CountyMessage, late: Bool, first: (message: String, receivedAt: Date)? = nil, receivedAt: Date = Date(),
            keepUntil: Date? = nil
        ) async {
            switch message.body {
            case .announce(let a):
                if let first {
                    // Queued once, ever (the station's own check covers only what it still holds): the head-end re-publishes
                    // to a village it has no receipt from, so the answer is the first `received` receipt again, the same
                    // bytes, which it stores once and which stops the re-publishing.
                    logger.info("county announcement already here", metadata: ["id": "\(a.announcement)", "message": "\(message.id)"])
                    queue([
                        VillageReceipt(village: village, announcement: a.announcement, message: first.message, stage: .received, at: first.receivedAt)
                    ])
                    return
                }
                await announce(a, message: message, late: late, receivedAt: receivedAt, keepUntil: keepUntil ?? message.expires)
            case .cancel(let id):
                // Only a county item: a county id never reaches a village's own announcement of the same name.
                guard (try? store.linkMessage(forAnnouncement: id)) != nil else { return }
                if await cancelFetch(id, by: "county") { return }
                let cancelled = await station.cancel(id: id, by: "county")
                logger.info("county cancel", metadata: ["id": "\(id)", "acted": "\(cancelled)"])
            case .stopAll:
                for id in fetches.map(\.announcement.id) { _ = await cancelFetch(id, by: "county") }
                let stopped = await station.stopAll(by: "county")
                logger.warning("county stop-all", metadata: ["message": "\(message.id)", "items": "\(stopped)"])
            case .update(let u):
                await update(u)
            case .confirm(let confirm):
                guard confirm.village == village else { return }
                done += outbox.confirm(confirm.receipts, now: Date())
                outboxMayHaveNew = true
            }
        }

        /// `keepUntil`: how long the message id is remembered (`VillageLink` says), stored with a pending fetch.
        func announce(_ a: CountyMessage.Announce, message: CountyMessage, late: Bool, receivedAt: Date = Date(), keepUntil: Date) async {
            let now = Date()
            let received = VillageReceipt(village: village, announcement: a.announcement, message: message.id, stage: .received, at: receivedAt)
            let path = cache + "/" + a.audio.sha256 + ".ogg"
            let announcement = Announcement(
                id: a.announcement, title: a.title, kind: a.kind, level: a.level, tier: a.queueTier, isTest: a.isTest, audio: path, text: a.text,
                source: "county", repeatCount: a.repeatCount, repeatInterval: a.repeatInterval, notBefore: a.notBefore,
                expires: late ? message.expires : a.expires, queuedAt: now)
            if !late, let url = a.audio.url, a.audio.embedded == nil {
                let pending = PendingFetch(announcement: announcement, message: message.id, url: url, sha256: a.audio.sha256, bytes: a.audio.bytes)
                keep(pending, received: received, keepUntil: keepUntil, now: receivedAt)
                fetches.append(pending)
                startFetches()
                return
            }
            queue([received])
            if !late {
                do {
                    try await fetchAudio(a.audio, to: path)
                } catch {
                    logger.error("county audio unusable", metadata: ["id": "\(a.announcement)", "error": "\(error)"])
                    await station.recordUnplayed(AirtimeRecord(unplayed: QueueEntry(announcement: announcement, sequence: 0), at: Date(), outcome: .failed, error: "\(error)"))
                    return
                }
            }
            await enqueue(announcement, message: message.id)
        }

        /// Keeps a pending fetch with its `received` receipt, in one transaction. A store that refuses it still gets the fetch
        /// tried in memory (the station may still play it), but no receipt says it is here.
        func keep(_ pending: PendingFetch, received: VillageReceipt, keepUntil: Date, now: Date) {
            do {
                let receipt = (topic: LinkTopic.receipts(village), payload: try LinkJSON.encode(received))
                try store.keepPendingFetch(pending, receipt: receipt, keepMessageUntil: keepUntil, now: now)
            } catch {
                logger.error(
                    "cannot keep a county announcement whose audio is fetched; a restart before it is queued loses it",
                    metadata: ["id": "\(pending.announcement.id)", "error": "\(error)"])
                return
            }
            outboxMayHaveNew = true
            trimOutbox()
            if link.isConnected { drainOutbox() }
        }

        /// Validates and queues an announcement whose audio is here, with its `queued` receipt or its failure row.
        func enqueue(_ announcement: Announcement, message: String) async {
            var announcement = announcement
            let id = announcement.id
            do {
                try announcement.validate()
            } catch {
                announcement.expires = nil
                logger.error("county announcement invalid", metadata: ["id": "\(id)", "error": "\(error)"])
                await station.recordUnplayed(AirtimeRecord(unplayed: QueueEntry(announcement: announcement, sequence: 0), at: Date(), outcome: .failed, error: "\(error)"))
                return
            }
            do {
                let receipt = try await station.enqueue(announcement)
                logger.info("county announcement", metadata: ["id": "\(id)", "status": "\(receipt.status.rawValue)", "message": "\(message)"])
                if receipt.status == .queued {
                    queue([VillageReceipt(village: village, announcement: id, message: message, stage: .queued, at: Date())])
                }
            } catch {
                logger.error("county announcement not queued", metadata: ["id": "\(id)", "error": "\(error)"])
                await station.recordUnplayed(AirtimeRecord(unplayed: QueueEntry(announcement: announcement, sequence: 0), at: Date(), outcome: .failed, error: "\(error)"))
            }
        }

        /// A new title or expiry for a county item, in one step (`Station.amend`): waiting, it becomes the new version in its
        /// place; on air, the next play is the new version, and an expiry already past stops it now (as the county asks).
        func update(_ u: CountyMessage.Update) async {
            guard (try? store.linkMessage(forAnnouncement: u.announcement)) != nil else { return }
            if let i = fetches.firstIndex(where: { $0.announcement.id == u.announcement }) {
                if let title = u.title { fetches[i].announcement.title = title }
                if let expires = u.expires { fetches[i].announcement.expires = expires }
                storeChange(fetches[i])
                logger.info("county update of an announcement whose audio is being fetched", metadata: ["id": "\(u.announcement)"])
                return
            }
            let status = await station.status()
            if status.nowPlaying?.item.id == u.announcement, let expires = u.expires, expires <= Date() {
                _ = await station.cancel(id: u.announcement, by: "county: expired by an update")
                return
            }
            do {
                let result = try await station.amend(id: u.announcement, Amendment(title: u.title, expires: u.expires), by: "county")
                logger.info(
                    "county update",
                    metadata: [
                        "id": "\(u.announcement)", "result": "\(result)", "title": "\(u.title ?? "-")",
                        "expires": "\(u.expires.map { "\($0)" } ?? "-")",
                    ])
            } catch {
                // Unknown here (already finished or never queued): a cancel or update after the item ended changes nothing.
                logger.notice("county update not applied", metadata: ["id": "\(u.announcement)", "reason": "\(error)"])
            }
        }

        /// Who cancelled the waiting copy an update replaced before updates were one step (`Station.amend`): such rows, in a
        /// log written by an older dalabad, still make no receipt.
        static let updateCanceller = "county update"

        /// Starts the fetches that may run: the oldest waiting first, at most `maximumFetches`, never two of one digest.
        func startFetches() {
            guard !stopping else { return }
            for pending in fetches where fetchTasks.count < Self.maximumFetches && fetchTasks[pending.announcement.id] == nil {
                let running = Set(fetches.filter { fetchTasks[$0.announcement.id] != nil }.map(\.audio.sha256))
                guard !running.contains(pending.audio.sha256) else { continue }
                let id = pending.announcement.id
                let audio = pending.audio
                logger.debug("county audio fetch started", metadata: ["id": "\(id)", "url": "\(pending.url)"])
                let path = pending.announcement.audio
                let fetch = CountyAudioFetch(settings: settings, logger: logger)
                let feed = self.feed
                fetchTasks[id] = Task.detached {
                    var failure: String?
                    do { try await fetch.fetch(audio, to: path) } catch { failure = "\(error)" }
                    feed.yield(.fetched(id, failure: failure))
                }
            }
        }

        /// The rest of an announcement once its audio fetch has ended, back on the loop: queued, or recorded as failed or as
        /// cancelled by the county meanwhile.
        func fetched(_ id: String, failure: String?) async {
            fetchTasks[id] = nil
            guard !stopping, let i = fetches.firstIndex(where: { $0.announcement.id == id }) else { return }
            let pending = fetches.remove(at: i)
            defer { startFetches() }
            if let who = pending.cancelledBy {
                await recordCancelled(pending, by: who)
                return
            }
            if let failure {
                logger.error("county audio unusable", metadata: ["id": "\(id)", "error": "\(failure)"])
                await station.recordUnplayed(
                    AirtimeRecord(unplayed: QueueEntry(announcement: pending.announcement, sequence: 0), at: Date(), outcome: .failed, error: failure))
            } else {
                await enqueue(pending.announcement, message: pending.message)
            }
            await settled(pending)
        }

        /// Forgets a pending fetch whose outcome the station has (queued, or a row), once that is on disk: a crash before the
        /// forget is caught at the next start by `resumeFetches`, which finds the outcome and queues nothing again.
        func settled(_ pending: PendingFetch) async {
            let id = pending.announcement.id
            guard await station.flush() else {
                logger.warning("county fetch's outcome not yet on disk; it stays pending for the next start to check", metadata: ["id": "\(id)"])
                return
            }
            do {
                try store.removePendingFetch(id)
            } catch {
                logger.error(
                    "cannot forget a settled county fetch (the next start finds its outcome)", metadata: ["id": "\(id)", "error": "\(error)"])
            }
        }

        /// Stores what the county changed of a pending fetch (an update, a cancel while its fetch runs).
        func storeChange(_ pending: PendingFetch) {
            do {
                try store.updatePendingFetch(pending)
            } catch {
                logger.error(
                    "cannot store the county's change to an announcement whose audio is fetched; a restart before it ends forgets the change",
                    metadata: ["id": "\(pending.announcement.id)", "error": "\(error)"])
            }
        }

        /// At start, before any message: the fetches a kill -9 or a stop cut off, in the order they came. One whose outcome
        /// the station already has (the crash came between its row or queue entry and the forget) is forgotten, one the county
        /// cancelled is recorded cancelled, one past its expiry is recorded expired as the station records such an item, and
        /// the rest are fetched as now (a file complete in the cache with its digest needs no new fetch).
        func resumeFetches() async {
            let kept: [PendingFetch]
            do {
                kept = try store.pendingFetches()
            } catch {
                logger.error("cannot read the county announcements whose audio was being fetched", metadata: ["error": "\(error)"])
                return
            }
            guard !kept.isEmpty else { return }
            let status = await station.status()
            let held = Set((status.queue + (status.nowPlaying.map { [$0.item] } ?? [])).filter { $0.source == "county" }.map(\.id))
            let now = Date()
            var resumed: [String] = []
            for pending in kept {
                let id = pending.announcement.id
                if held.contains(id) || (try? store.hasCountyRow(forAnnouncement: id)) == true {
                    logger.notice("county fetch settled before the restart; forgotten", metadata: ["id": "\(id)"])
                    await settled(pending)
                } else if let who = pending.cancelledBy {
                    await recordCancelled(pending, by: who)
                } else if let expires = pending.announcement.expires, expires <= now {
                    logger.notice("county announcement expired while its audio was being fetched", metadata: ["id": "\(id)"])
                    await station.recordUnplayed(
                        AirtimeRecord(unplayed: QueueEntry(announcement: pending.announcement, sequence: 0), at: now, outcome: .expired))
                    await settled(pending)
                } else {
                    fetches.append(pending)
                    resumed.append(id)
                }
            }
            if !resumed.isEmpty { logger.notice("county audio fetches resumed", metadata: ["ids": "\(resumed)"]) }
            startFetches()
        }

        /// Cancels an announcement whose audio is fetched or waits to be: false when it has none.
        func cancelFetch(_ id: String, by who: String) async -> Bool {
            guard let i = fetches.firstIndex(where: { $0.announcement.id == id }) else { return false }
            logger.info("county cancel of an announcement whose audio is being fetched", metadata: ["id": "\(id)"])
            if let task = fetchTasks[id] {
                // Its row is written when the fetch task ends (`fetched`), which frees its place for the next; stored first, so a
                // restart before then records it cancelled rather than fetching it again.
                fetches[i].cancelledBy = who
                storeChange(fetches[i])
                task.cancel()
            } else {
                await recordCancelled(fetches.remove(at: i), by: who)
            }
            return true
        }

        func recordCancelled(_ pending: PendingFetch, by who: String) async {
            await station.recordUnplayed(
                AirtimeRecord(
                    unplayed: QueueEntry(announcement: pending.announcement, sequence: 0), at: Date(), outcome: .cancelled, error: "cancelled by \(who)"))
            await settled(pending)
        }

        /// At shutdown: the running fetches are cancelled and awaited; they and the waiting ones stay in the store, and the next
        /// start resumes them (`resumeFetches`).
        func stopFetches() async {
            stopping = true
            let tasks = Array(fetchTasks.values)
            if !fetches.isEmpty {
                logger.notice("county audio fetches stopped; resumed at the next start", metadata: ["ids": "\(fetches.map(\.announcement.id))"])
            }
            for task in tasks { task.cancel() }
            for task in tasks { await task.value }
            fetchTasks.removeAll()
            fetches.removeAll()
        }

        /// The audio into the cache by its digest (`CountyAudioFetch`: embedded, or fetched from the head-end within limits).
        func fetchAudio(_ audio: CountyMessage.Audio, to path: String) async throws {
            try await CountyAudioFetch(settings: settings, logger: logger).fetch(audio, to: path)
        }

        // MARK: Reporting

        func currentState() async -> VillageState {
            let status = await station.status()
            return VillageState(
                village: village, online: true, at: Date(), deviceUp: status.device.up,
                onAir: status.nowPlaying.map { .init(id: $0.item.id, title: $0.item.title) }, queueLength: status.queue.count,
                underruns: status.device.underruns, version: CountyLinkService.version)
        }

        /// An `on-air` receipt when a county item's play has started.
        func reportOnAir() async {
            guard let playing = await station.status().nowPlaying, let started = playing.startedAt else { return }
            if let last = lastOnAir, last.id == playing.item.id, last.play == playing.playNumber { return }
            lastOnAir = (playing.item.id, playing.playNumber)
            guard playing.item.source == "county", let message = try? store.linkMessage(forAnnouncement: playing.item.id) else { return }
            queue([VillageReceipt(village: village, announcement: playing.item.id, message: message, stage: .onAir, at: started)])
        }

        /// Every new log row of a county item becomes its end receipt (completed, interrupted, failed, expired), in the same
        /// transaction as the mark, so none is made twice or lost.
        func makeReceiptsFromRows() {
            let topic = LinkTopic.receipts(village)
            var onAir = lastOnAir
            do {
                let made = try store.receiptsFromNewRows(now: Date()) { row, message in
                    guard let message else { return [] }
                    let r = row.record
                    // An update re-queues a waiting item under its id: the row of the copy it replaced is no outcome.
                    if r.outcome == .cancelled, r.startedAt == nil, r.error == "cancelled by \(Self.updateCanceller)" { return [] }
                    var receipts: [VillageReceipt] = []
                    // A play shorter than a tick (or on a device that is not paced) is seen on air only in its row.
                    if let started = r.startedAt, onAir.map({ $0.id != r.announcementID || $0.play != r.playNumber }) ?? true {
                        receipts.append(VillageReceipt(village: village, announcement: r.announcementID, message: message, stage: .onAir, at: started))
                        onAir = (r.announcementID, r.playNumber)
                    }
                    let stage: ReceiptStage
                    var reason = r.error
                    switch r.outcome {
                    case .completed: stage = .completed
                    case .interrupted: stage = .interrupted
                    case .cancelled:
                        stage = .interrupted
                        reason = reason ?? "cancelled"
                    case .failed: stage = .failed
                    case .expired, .missed: stage = .expired
                    }
                    receipts.append(
                        VillageReceipt(
                            village: village, announcement: r.announcementID, message: message, stage: stage, at: r.endedAt, frames: r.frames,
                            rate: r.rate, reason: reason))
                    return receipts.compactMap { receipt in (try? LinkJSON.encode(receipt)).map { (topic: topic, payload: $0) } }
                }
                if made > 0 {
                    outboxMayHaveNew = true
                    trimOutbox()
                }
            } catch {
                logger.error("cannot turn log rows into receipts", metadata: ["error": "\(error)"])
            }
            lastOnAir = onAir
        }

        func queue(_ receipts: [VillageReceipt]) {
            let topic = LinkTopic.receipts(village)
            let messages = receipts.compactMap { r in (try? LinkJSON.encode(r)).map { (topic: topic, payload: $0) } }
            do {
                try store.addToOutbox(messages, now: Date())
            } catch {
                logger.error("cannot keep a receipt for the county", metadata: ["error": "\(error)"])
            }
            outboxMayHaveNew = true
            trimOutbox()
            if link.isConnected { drainOutbox() }
        }

        /// A week offline must not grow the outbox without limit: past its capacity the oldest receipts that are no final
        /// stage (received, queued, on air, refused) are dropped, counted and logged; ends of plays and expiries never are
        /// (there is one per airtime row, so they grow only as the log does).
        func trimOutbox() {
            let finalStages = ReceiptStage.allCases.filter(\.isFinal).map(\.rawValue)
            do {
                let dropped = try store.trimOutbox(capacity: outbox.settings.capacity, finalStages: finalStages)
                guard !dropped.isEmpty else { return }
                outbox.forget(dropped)
                droppedReceipts += dropped.count
                logger.warning(
                    "county outbox full: oldest receipts that are no final stage dropped",
                    metadata: ["dropped": "\(dropped.count)", "dropped-since-start": "\(droppedReceipts)", "capacity": "\(outbox.settings.capacity)"])
            } catch {
                logger.error("cannot trim the county outbox", metadata: ["error": "\(error)"])
            }
        }

        /// Publishes what the outbox holds that is neither in flight nor within its patience; a receipt goes out with its
        /// outbox id as `seq`, which the head-end confirms once it is in PostgreSQL.
        func drainOutbox() {
            let now = Date()
            let room = outbox.settings.maximumInFlight - outbox.inFlight
            guard link.isConnected, room > 0, outboxMayHaveNew || outbox.nextDue.map({ $0 <= now }) == true else { return }
            let entries: [StationStore.OutboxEntry]
            do {
                // Entries done with stay in the store until the next flush: they are not sent again meanwhile.
                entries = try store.outbox(limit: room, excluding: outbox.holding(now: now).union(done))
            } catch {
                logger.error("cannot read the county outbox", metadata: ["error": "\(error)"])
                return
            }
            outboxMayHaveNew = entries.count == room
            let feed = self.feed
            for entry in entries {
                let id = entry.id
                var payload = entry.payload
                if var receipt = try? LinkJSON.decode(VillageReceipt.self, from: payload) {
                    receipt.seq = id
                    payload = (try? LinkJSON.encode(receipt)) ?? payload
                }
                do {
                    try client.publish(topic: entry.topic, payload: payload, qos: 1) { result in
                        if case .success = result { feed.yield(.acked(id)) }
                    }
                    outbox.published(id, now: now)
                } catch {
                    logger.warning("receipt not handed to the broker yet", metadata: ["error": "\(error)"])
                    outboxMayHaveNew = true
                    return
                }
            }
        }

        func flushDone() {
            guard !done.isEmpty else { return }
            do {
                try store.removeFromOutbox(done)
                done.removeAll()
            } catch {
                logger.error("cannot remove confirmed receipts", metadata: ["error": "\(error)"])
            }
        }

        func sendRows(after: Int64, limit: Int) {
            do {
                let rows = try store.rows(after: after, limit: limit)
                guard let last = rows.last else { return }
                let batch = VillageRows(
                    village: village,
                    rows: rows.map { LinkRow(seq: $0.seq, recordedAt: $0.recordedAt, record: $0.record, previousHash: $0.previousHash, hash: $0.hash) })
                try client.publish(topic: LinkTopic.rows(village), payload: try LinkJSON.encode(batch), qos: 1)
                link.rowsSent(through: last.seq)
            } catch {
                logger.warning("rows not sent yet", metadata: ["after": "\(after)", "error": "\(error)"])
            }
        }

        func publish(topic: String, _ value: some Encodable, retain: Bool) {
            do {
                try client.publish(topic: topic, payload: try LinkJSON.encode(value), qos: 1, retain: retain)
            } catch {
                logger.debug("not published", metadata: ["topic": "\(topic)", "error": "\(error)"])
            }
        }

        /// A clean disconnect does not fire the will, so the offline state is published (and awaited, briefly) first.
        func goOffline() async {
            flushDone()
            guard link.isConnected else { return }
            var state = await currentState()
            state.online = false
            guard let payload = try? LinkJSON.encode(state) else { return }
            let client = self.client
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await client.publish(topic: LinkTopic.state(self.village), payload: payload, qos: 1, retain: true) }
                group.addTask { try? await Task.sleep(for: .seconds(2)) }
                await group.next()
                group.cancelAll()
            }
        }
    }
}

struct LinkFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension StationStore.PendingFetch {
    /// The audio as the message named it, for `CountyAudioFetch`.
    var audio: CountyMessage.Audio {
        var audio = CountyMessage.Audio.url(url, sha256: sha256, bytes: bytes ?? 0)
        audio.bytes = bytes
        return audio
    }
}
