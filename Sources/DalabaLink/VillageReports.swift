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

    public init(
        village: RegionCode, announcement: String?, message: String?, stage: ReceiptStage, at: Date, frames: Int64? = nil, rate: Int? = nil,
        reason: String? = nil
    ) {
        self.village = village
        self.announcement = announcement
        self.message = message
        self.stage = stage
        self.at = at
        self.frames = frames
        self.rate = rate
        self.reason = reason
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
        bytes.append(contentsOf: AirtimeChain.encodingVersion.utf8)
        func field(_ name: String, _ body: (inout [UInt8]) -> Void) {
            bytes.append(contentsOf: name.utf8)
            bytes.append(UInt8(ascii: "="))
            body(&bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        func int(_ name: String, _ value: Int64?) {
            field(name) { b in
                if let value {
                    b.append(UInt8(ascii: "i"))
                    b.append(contentsOf: String(value).utf8)
                } else {
                    b.append(UInt8(ascii: "-"))
                }
            }
        }
        func string(_ name: String, _ value: String?) {
            field(name) { b in
                if let value {
                    b.append(UInt8(ascii: "s"))
                    b.append(contentsOf: String(value.utf8.count).utf8)
                    b.append(UInt8(ascii: ":"))
                    b.append(contentsOf: value.utf8)
                } else {
                    b.append(UInt8(ascii: "-"))
                }
            }
        }
        int("seq", seq)
        int("recordedAt", recordedAt)
        string("announcementID", announcementID)
        string("title", title)
        string("kind", kind)
        int("level", level)
        int("isTest", isTest ? 1 : 0)
        string("tier", tier)
        string("source", source)
        string("audio", audio)
        string("text", text)
        int("playNumber", playNumber)
        int("scheduledAt", scheduledAt)
        int("startedAt", startedAt)
        int("endedAt", endedAt)
        int("frames", frames)
        int("signalFrames", signalFrames)
        int("rate", rate)
        string("outcome", outcome)
        string("error", error)
        if let volume { int("volume", volume) }
        return SHA256.hash(data: bytes).hexString
    }

    /// True when the row's content matches its hash (it was not edited after it was chained).
    public var isIntact: Bool { computedHash() == hash }
}

/// The airtime-log chain rules both sides share.
public enum AirtimeChain {
    /// The `previousHash` of row 1.
    public static let genesis = String(repeating: "0", count: 64)
    static let encodingVersion = "dalaba.airtime.v1\n"

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
