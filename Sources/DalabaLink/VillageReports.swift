import Crypto
import DalabaCore
import Foundation

/// Where a county announcement has got at a village, or why a message was refused (`refused`, with the reason).
public enum ReceiptStage: String, Codable, Sendable, CaseIterable {
    case received, queued
    case onAir = "on-air"
    case completed, interrupted, failed, expired, refused
}

/// One receipt, on `dalaba/up/<village>/receipts` at QoS 1: `{village, announcement, message, stage, at, frames, rate, reason}`.
/// A play's end (completed, interrupted, failed, expired) carries the frames that reached the device and their rate.
public struct VillageReceipt: Codable, Sendable, Hashable {
    public var village: RegionCode
    /// The county announcement id; nil for a refused message whose body could not be read.
    public var announcement: String?
    /// The county message id that caused it, when one is known.
    public var message: String?
    public var stage: ReceiptStage
    public var at: Date
    public var frames: Int64?
    public var rate: Int?
    /// For `refused`, the `RefusalReason` raw value; otherwise a short reason where one helps ("cancelled by county").
    public var reason: String?
    /// The village's outbox id, set as it is published: the head-end confirms it once the receipt is in PostgreSQL, and only
    /// then does the village forget it. Absent from a village older than receipt confirmation (the head-end just writes it).
    public var seq: Int64?

    public init(
        village: RegionCode, announcement: String?, message: String?, stage: ReceiptStage, at: Date, frames: Int64? = nil, rate: Int? = nil,
        reason: String? = nil, seq: Int64? = nil
    ) {
        self.village = village
        self.announcement = announcement
        self.message = message
        self.stage = stage
        self.at = at
        self.frames = frames
        self.rate = rate
        self.reason = reason
        self.seq = seq
    }
}

extension ReceiptStage {
    /// Where an announcement ended at a village (a play's end or its expiry): never dropped from a full outbox. `refused` is
    /// not, since a flood of forged messages makes them.
    public var isFinal: Bool {
        switch self {
        case .completed, .interrupted, .failed, .expired: true
        case .received, .queued, .onAir, .refused: false
        }
    }
}

/// The village's receipts between its SQLite outbox and the head-end's confirmation, as a state machine: events in (published,
/// acknowledged by the broker, confirmed by the head-end, connected), answers out (what to hold back, what to delete); time
/// comes in as values.
///
/// libmosquitto acknowledges a message to the broker before the head-end has stored it, so the broker's PUBACK to the village
/// proves nothing: a receipt leaves the outbox only when the head-end confirms its `seq` after the PostgreSQL write, the way
/// rows are kept until the county confirms their seq. What a kill -9 at each step leaves:
/// * village, before or after publishing: the receipt is in the outbox (written in the transaction that made it) and goes
///   again after the restart, since nothing is held back then; a copy the broker already had is one row at the head-end,
///   whose insert is idempotent by (village, announcement, stage, at) and the bytes are the same.
/// * head-end, with the receipt acknowledged but not written (in libmosquitto's buffer, the stream, a failed transaction):
///   nothing confirms it, so the village publishes it again after `patience` (doubling to `maximumPatience`), at once on
///   reconnecting, and soon after any confirm from a head-end that answers (its restart confirms every village) without it.
/// * head-end, after the write and before its confirm reached the broker: the village publishes it again as above, the
///   insert changes nothing, and that copy is confirmed.
/// * village, after the confirm arrived and before the outbox row was deleted: published again after the restart; same.
/// * the broker, restarted from a save older than the receipt or the confirm: the same as a lost head-end.
/// An older head-end confirms rows only (its confirms have no `receipts`): from the first such confirm the village forgets a
/// receipt at the broker's acknowledgement, as it did before.
public struct ReceiptOutbox: Sendable {
    public struct Settings: Sendable {
        /// Seconds to wait for the head-end's confirmation before publishing a receipt again; doubles for each attempt.
        public var patience: TimeInterval = 60
        public var maximumPatience: TimeInterval = 3_600
        /// A confirm from a head-end that answers but lacks receipts sent this long ago means it lost them: they go again
        /// at once (at most once per `promptInterval`).
        public var promptGrace: TimeInterval = 5
        public var promptInterval: TimeInterval = 5
        /// Receipts handed to the broker client and not yet acknowledged, at most.
        public var maximumInFlight = 200
        /// Receipts the outbox keeps at most: beyond, the oldest that are not a final stage are dropped (counted, logged).
        public var capacity = 10_000
        public init() {}
    }

    /// What the head-end has shown it does with receipts.
    public enum HeadEnd: Sendable, Equatable {
        /// No confirm seen since start: receipts are kept until confirmed.
        case unknown
        case confirmsReceipts
        /// An older head-end: a receipt is done once the broker acknowledged it.
        case acknowledgesOnly
    }

    struct Sent: Sendable {
        var at: Date
        var attempts: Int
        /// No longer in flight: acknowledged, or its connection is gone.
        var acknowledged: Bool
    }

    public let settings: Settings
    public private(set) var headEnd = HeadEnd.unknown
    private var sent: [Int64: Sent] = [:]
    private var lastPrompt = Date.distantPast

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// Receipts published and not yet acknowledged by the broker.
    public var inFlight: Int { sent.values.count { !$0.acknowledged } }

    /// The outbox ids not to publish now: in flight, or published and still within their patience.
    public func holding(now: Date) -> Set<Int64> {
        Set(sent.compactMap { id, s in !s.acknowledged || now.timeIntervalSince(s.at) < wait(s.attempts) ? id : nil })
    }

    func wait(_ attempts: Int) -> TimeInterval {
        min(settings.patience * pow(2, Double(max(attempts - 1, 0))), settings.maximumPatience)
    }

    /// When the next receipt held back for its patience is due again; nil when none is.
    public var nextDue: Date? {
        sent.values.filter(\.acknowledged).map { $0.at.addingTimeInterval(wait($0.attempts)) }.min()
    }

    /// Deleted from the outbox without a confirm (dropped from a full outbox).
    public mutating func forget(_ ids: [Int64]) {
        for id in ids { sent[id] = nil }
    }

    /// Handed to the broker client.
    public mutating func published(_ id: Int64, now: Date) {
        sent[id] = Sent(at: now, attempts: (sent[id]?.attempts ?? 0) + 1, acknowledged: false)
    }

    /// The broker acknowledged it; true when that is the end of it (an older head-end), so the caller deletes it.
    public mutating func acknowledged(_ id: Int64) -> Bool {
        guard sent[id] != nil else { return headEnd == .acknowledgesOnly }
        if headEnd == .acknowledgesOnly {
            sent[id] = nil
            return true
        }
        sent[id]!.acknowledged = true
        return false
    }

    /// Connected again: what the head-end has not confirmed goes again now (libmosquitto retries only what it had in flight).
    public mutating func connected() {
        for id in sent.keys {
            sent[id]!.at = .distantPast
            sent[id]!.acknowledged = true
        }
    }

    /// A confirm from the head-end, with its receipt sequences (nil from an older head-end); returns the outbox ids to delete.
    public mutating func confirm(_ receipts: [Int64]?, now: Date) -> [Int64] {
        guard let receipts else {
            headEnd = .acknowledgesOnly
            let done = sent.filter(\.value.acknowledged).map(\.key).sorted()
            for id in done { sent[id] = nil }
            return done
        }
        headEnd = .confirmsReceipts
        for id in receipts { sent[id] = nil }
        if now.timeIntervalSince(lastPrompt) >= settings.promptInterval {
            var prompted = false
            for (id, s) in sent where s.acknowledged && now.timeIntervalSince(s.at) >= settings.promptGrace {
                sent[id]!.at = .distantPast
                prompted = true
            }
            if prompted { lastPrompt = now }
        }
        return receipts
    }
}

/// A batch of airtime rows, on `dalaba/up/<village>/rows` at QoS 1, in seq order: `{village, rows: [LinkRow]}`.
public struct VillageRows: Codable, Sendable, Hashable {
    /// Most rows in one batch.
    public static let maximumRows = 200

    public var village: RegionCode
    public var rows: [LinkRow]

    public init(village: RegionCode, rows: [LinkRow]) {
        self.village = village
        self.rows = rows
    }
}

/// One airtime-log row exactly as the village's store keeps it (times as integer milliseconds since 1970 UTC, enums as
/// their stored names), with its seq and chain hashes, so the head-end recomputes each hash with `computedHash()` and
/// checks the links with `AirtimeChain.follows` the same way `dalaba log verify` does.
public struct LinkRow: Codable, Sendable, Hashable {
    public var seq: Int64
    public var recordedAt: Int64
    public var announcementID: String
    public var title: String
    public var kind: String
    public var level: Int64?
    public var isTest: Bool
    public var tier: String
    public var source: String
    public var audio: String
    public var text: String?
    public var playNumber: Int64
    public var scheduledAt: Int64?
    public var startedAt: Int64?
    public var endedAt: Int64
    public var frames: Int64
    public var signalFrames: Int64
    public var rate: Int64
    public var outcome: String
    public var error: String?
    /// The volume the row played at, in hundredths of a dB; absent in rows logged before volumes were recorded (and then
    /// not in the hash either).
    public var volume: Int64?
    public var previousHash: String
    public var hash: String

    public init(
        seq: Int64, recordedAt: Int64, announcementID: String, title: String, kind: String, level: Int64?, isTest: Bool, tier: String,
        source: String, audio: String, text: String?, playNumber: Int64, scheduledAt: Int64?, startedAt: Int64?, endedAt: Int64,
        frames: Int64, signalFrames: Int64, rate: Int64, outcome: String, error: String?, volume: Int64? = nil, previousHash: String, hash: String
    ) {
        self.seq = seq
        self.recordedAt = recordedAt
        self.announcementID = announcementID
        self.title = title
        self.kind = kind
        self.level = level
        self.isTest = isTest
        self.tier = tier
        self.source = source
        self.audio = audio
        self.text = text
        self.playNumber = playNumber
        self.scheduledAt = scheduledAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.frames = frames
        self.signalFrames = signalFrames
        self.rate = rate
        self.outcome = outcome
        self.error = error
        self.volume = volume
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The row from a village's typed record (what `StationStore` hands out), times rounded to the millisecond as stored.
    public init(seq: Int64, recordedAt: Date, record r: AirtimeRecord, previousHash: String, hash: String) {
        func ms(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        self.init(
            seq: seq, recordedAt: ms(recordedAt), announcementID: r.announcementID, title: r.title, kind: r.kind.rawValue,
            level: r.level.map(Int64.init), isTest: r.isTest, tier: r.tier.name, source: r.source, audio: r.audio, text: r.text,
            playNumber: Int64(r.playNumber), scheduledAt: r.scheduledAt.map(ms), startedAt: r.startedAt.map(ms), endedAt: ms(r.endedAt),
            frames: r.frames, signalFrames: r.signalFrames, rate: Int64(r.rate), outcome: r.outcome.rawValue, error: r.error,
            volume: r.volume.map { Int64(($0 * 100).rounded()) }, previousHash: previousHash, hash: hash)
    }

    /// The time the row is filed under in reports: when it started, or when it ended if it never started.
    public var at: Int64 { startedAt ?? endedAt }

    /// Seconds of airtime of the announcement itself (from frames, never from clocks).
    public var airtime: Double { rate > 0 ? Double(frames) / Double(rate) : 0 }

    /// Lowercase hex SHA-256 of `previousHash` followed by the row's canonical encoding: the village store's own chain hash
    /// (`AirtimeLogChain` in DalabaStore; a test holds the two equal).
    public func computedHash() -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(512)
        bytes.append(contentsOf: previousHash.utf8)
        AirtimeRowEncoding.append(
            into: &bytes, seq: seq, recordedAt: recordedAt, announcementID: announcementID, title: title, kind: kind, level: level,
            isTest: isTest ? 1 : 0, tier: tier, source: source, audio: audio, text: text, playNumber: playNumber, scheduledAt: scheduledAt,
            startedAt: startedAt, endedAt: endedAt, frames: frames, signalFrames: signalFrames, rate: rate, outcome: outcome, error: error,
            volume: volume)
        return SHA256.hash(data: bytes).hexString
    }

    /// True when the row's content matches its hash (it was not edited after it was chained).
    public var isIntact: Bool { computedHash() == hash }
}

/// The airtime-log chain rules both sides share.
public enum AirtimeChain {
    /// The `previousHash` of row 1.
    public static let genesis = String(repeating: "0", count: 64)

    /// Why `row` does not continue the chain after `previous` (nil: the first row, which must start from `genesis`), or nil
    /// when it does. A seq gap is reported as such: rows may be missing, or retention removed them.
    public static func problem(_ row: LinkRow, after previous: (seq: Int64, hash: String)?) -> String? {
        guard row.isIntact else { return "row \(row.seq) was edited (its content no longer matches its hash)" }
        if let previous {
            if row.seq != previous.seq + 1 { return "row \(row.seq) does not follow row \(previous.seq) (rows \(previous.seq + 1)–\(row.seq - 1) missing)" }
            if row.previousHash != previous.hash { return "row \(row.seq) does not link to row \(previous.seq) (a row was replaced or inserted)" }
        } else if row.seq == 1, row.previousHash != genesis {
            return "row 1 does not start from the genesis hash"
        }
        return nil
    }
}

/// A village's state, retained on `dalaba/up/<village>/state`, every 30 s and on change; the last will is this with
/// `online: false`.
public struct VillageState: Codable, Sendable, Hashable {
    public struct OnAir: Codable, Sendable, Hashable {
        public var id: String
        public var title: String
        public init(id: String, title: String) {
            self.id = id
            self.title = title
        }
    }

    public var village: RegionCode
    public var online: Bool
    public var at: Date
    public var deviceUp: Bool
    public var onAir: OnAir?
    public var queueLength: Int
    public var underruns: Int
    /// The dalabad version.
    public var version: String

    public init(
        village: RegionCode, online: Bool, at: Date, deviceUp: Bool, onAir: OnAir?, queueLength: Int, underruns: Int, version: String
    ) {
        self.village = village
        self.online = online
        self.at = at
        self.deviceUp = deviceUp
        self.onAir = onAir
        self.queueLength = queueLength
        self.underruns = underruns
        self.version = version
    }

    /// The last will: offline, nothing known beyond that.
    public static func offline(_ village: RegionCode, version: String) -> VillageState {
        VillageState(
            village: village, online: false, at: Date(timeIntervalSince1970: 0), deviceUp: false, onAir: nil, queueLength: 0, underruns: 0,
            version: version)
    }
}
