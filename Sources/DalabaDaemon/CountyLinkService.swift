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
    static let version = "0.10.0"

    let settings: Configuration.CountyLink
    let station: Station
    let store: StationStore
    let stateDirectory: String
    let logger: Logger

    /// What the loop takes, one at a time: broker events, acknowledgements of outbox entries, ticks.
    enum Input: Sendable {
        case broker(BrokerClient.Event)
        case acked(Int64)
        case tick
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
        /// Outbox entries handed to the client and not yet acknowledged.
        var inFlight: Set<Int64> = []
        var acked: [Int64] = []
        /// The last (announcement, play) reported on air.
        var lastOnAir: (id: String, play: Int)?

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
                await perform(link.connected(now: Date(), state: await currentState()))
            case .broker(.disconnected), .broker(.refused):
                link.disconnected()
            case .broker(.message(let message)):
                await perform(link.received(message.payload, now: Date()))
            case .acked(let id):
                inFlight.remove(id)
                acked.append(id)
            case .tick:
                await reportOnAir()
                makeReceiptsFromRows()
                flushAcked()
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
                    await act(message, late: late)
                    do {
                        try store.rememberLinkMessage(message.id, keepUntil: keepUntil, announcement: message.body.announcementID, now: Date())
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
        func act(_ message: CountyMessage, late: Bool) async {
            switch message.body {
            case .announce(let a):
                await announce(a, message: message, late: late)
            case .cancel(let id):
                // Only a county item: a county id never reaches a village's own announcement of the same name.
                guard (try? store.linkMessage(forAnnouncement: id)) != nil else { return }
                let cancelled = await station.cancel(id: id, by: "county")
                logger.info("county cancel", metadata: ["id": "\(id)", "acted": "\(cancelled)"])
            case .stopAll:
                let stopped = await station.stopAll(by: "county")
                logger.warning("county stop-all", metadata: ["message": "\(message.id)", "items": "\(stopped)"])
            case .update(let u):
                await update(u)
            case .confirm:
                break
            }
        }

        func announce(_ a: CountyMessage.Announce, message: CountyMessage, late: Bool) async {
            let now = Date()
            queue([VillageReceipt(village: village, announcement: a.announcement, message: message.id, stage: .received, at: now)])
            let path = cache + "/" + a.audio.sha256 + ".ogg"
            var announcement = Announcement(
                id: a.announcement, title: a.title, kind: a.kind, level: a.level, tier: a.queueTier, isTest: a.isTest, audio: path, text: a.text,
                source: "county", repeatCount: a.repeatCount, repeatInterval: a.repeatInterval, notBefore: a.notBefore,
                expires: late ? message.expires : a.expires, queuedAt: now)
            if !late {
                do {
                    try await fetchAudio(a.audio, to: path)
                } catch {
                    logger.error("county audio unusable", metadata: ["id": "\(a.announcement)", "error": "\(error)"])
                    await station.recordUnplayed(AirtimeRecord(unplayed: QueueEntry(announcement: announcement, sequence: 0), at: Date(), outcome: .failed, error: "\(error)"))
                    return
                }
            }
            do {
                try announcement.validate()
            } catch {
                announcement.expires = nil
                logger.error("county announcement invalid", metadata: ["id": "\(a.announcement)", "error": "\(error)"])
                await station.recordUnplayed(AirtimeRecord(unplayed: QueueEntry(announcement: announcement, sequence: 0), at: Date(), outcome: .failed, error: "\(error)"))
                return
            }
            do {
                let receipt = try await station.enqueue(announcement)
                logger.info("county announcement", metadata: ["id": "\(a.announcement)", "status": "\(receipt.status.rawValue)", "message": "\(message.id)"])
                if receipt.status == .queued {
                    queue([VillageReceipt(village: village, announcement: a.announcement, message: message.id, stage: .queued, at: Date())])
                }
            } catch {
                logger.error("county announcement not queued", metadata: ["id": "\(a.announcement)", "error": "\(error)"])
                await station.recordUnplayed(AirtimeRecord(unplayed: QueueEntry(announcement: announcement, sequence: 0), at: Date(), outcome: .failed, error: "\(error)"))
            }
        }

        /// A new title or expiry for a county item still waiting: it is queued again with the change (same id); one on air
        /// is stopped only when its new expiry has passed.
        func update(_ u: CountyMessage.Update) async {
            guard (try? store.linkMessage(forAnnouncement: u.announcement)) != nil else { return }
            let status = await station.status()
            if status.nowPlaying?.item.id == u.announcement {
                if let expires = u.expires, expires <= Date() { _ = await station.cancel(id: u.announcement, by: "county update") }
                return
            }
            guard let item = status.queue.first(where: { $0.id == u.announcement }) else { return }
            let announcement = Announcement(
                id: item.id, title: u.title ?? item.title, kind: item.kind, level: item.level, tier: Tier(name: item.tier) ?? .county, isTest: item.test,
                audio: item.audio, source: item.source, repeatCount: max(1, item.repeat - item.playsDone), notBefore: item.notBefore,
                expires: u.expires ?? item.expires, queuedAt: item.queuedAt)
            _ = await station.cancel(id: u.announcement, by: "county update")
            _ = try? await station.enqueue(announcement)
        }

        /// Embedded audio is checked and written; a URL is fetched with the village's token, within the size limit.
        /// Either way the file is cached by its digest, so the same audio is fetched once.
        func fetchAudio(_ audio: CountyMessage.Audio, to path: String) async throws {
            if FileManager.default.fileExists(atPath: path) { return }
            let data: Data
            if let embedded = audio.embedded {
                guard embedded.utf8.count <= settings.maxAudioBytes * 4 / 3 + 4, let decoded = Data(base64Encoded: embedded) else {
                    throw LinkFailure("embedded audio is not base64 or is larger than county.max-audio-bytes")
                }
                data = decoded
            } else if let url = audio.url, let target = URL(string: url) {
                if let base = settings.headEndURL, !url.hasPrefix(base) { throw LinkFailure("audio URL \(url.prefix(80)) is not on the head-end \(base)") }
                if let bytes = audio.bytes, bytes > settings.maxAudioBytes { throw LinkFailure("audio of \(bytes) bytes is over county.max-audio-bytes") }
                var request = URLRequest(url: target, timeoutInterval: 30)
                if let token = settings.fetchToken { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
                let (body, response) = try await URLSession.shared.data(for: request)
                guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
                    throw LinkFailure("audio fetch answered \((response as? HTTPURLResponse)?.statusCode ?? 0)")
                }
                data = body
            } else {
                throw LinkFailure("no audio")
            }
            guard data.count <= settings.maxAudioBytes else { throw LinkFailure("audio of \(data.count) bytes is over county.max-audio-bytes") }
            if let bytes = audio.bytes, bytes != data.count { throw LinkFailure("audio is \(data.count) bytes, the message says \(bytes)") }
            guard linkSHA256(data) == audio.sha256 else { throw LinkFailure("audio digest does not match the message's sha256") }
            let temporary = path + ".part"
            guard FileManager.default.createFile(atPath: temporary, contents: data) else { throw LinkFailure("cannot write \(temporary)") }
            // rename(2): atomic, and replaces a file another fetch of the same digest wrote meanwhile.
            guard rename(temporary, path) == 0 else { throw LinkFailure("cannot move \(temporary) to \(path): \(String(cString: strerror(errno)))") }
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
                try store.receiptsFromNewRows(now: Date()) { row, message in
                    guard let message else { return [] }
                    let r = row.record
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
            if link.isConnected { drainOutbox() }
        }

        func drainOutbox() {
            guard link.isConnected, inFlight.count < 200 else { return }
            let entries: [StationStore.OutboxEntry]
            do {
                // Acknowledged entries stay in the store until the next flush: they are not sent again meanwhile.
                entries = try store.outbox(limit: 200 - inFlight.count, excluding: inFlight.union(acked))
            } catch {
                logger.error("cannot read the county outbox", metadata: ["error": "\(error)"])
                return
            }
            let feed = self.feed
            for entry in entries {
                let id = entry.id
                do {
                    try client.publish(topic: entry.topic, payload: entry.payload, qos: 1) { result in
                        if case .success = result { feed.yield(.acked(id)) }
                    }
                    inFlight.insert(id)
                } catch {
                    logger.warning("receipt not handed to the broker yet", metadata: ["error": "\(error)"])
                    return
                }
            }
        }

        func flushAcked() {
            guard !acked.isEmpty else { return }
            do {
                try store.removeFromOutbox(acked)
                acked.removeAll()
            } catch {
                logger.error("cannot remove acknowledged receipts", metadata: ["error": "\(error)"])
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
            flushAcked()
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
