import Crypto
import DalabaCore
import Foundation
import GRDB

/// One row of the airtime log as stored: the play attempt, its place in the chain and the hashes that link it.
public struct LogRow: Sendable, Codable, Hashable {
    /// The row's place in the chain: 1, 2, 3, … with no gaps but the seqs of retention records (which `verify` reports); any
    /// other gap is a deleted row.
    public var seq: Int64
    /// The play attempt, with its times as stored (to the millisecond).
    public var record: AirtimeRecord
    /// When the store appended the row.
    public var recordedAt: Date
    /// The `hash` of the row before, or `AirtimeLogChain.genesis` for the first row.
    public var previousHash: String
    /// Lowercase hex SHA-256 of `previousHash` followed by the row's canonical encoding (see `AirtimeLogChain`).
    public var hash: String

    public init(seq: Int64, record: AirtimeRecord, recordedAt: Date, previousHash: String, hash: String) {
        self.seq = seq
        self.record = record
        self.recordedAt = recordedAt
        self.previousHash = previousHash
        self.hash = hash
    }
}

/// The newest link of the chain, "seq:hash": print or publish it (`dalaba log verify` is the natural place) so that a later
/// rewrite or truncation of the log can be detected with `StationStore.verify(expecting:)`.
public struct ChainHead: Sendable, Codable, Hashable, CustomStringConvertible {
    public var seq: Int64
    public var hash: String

    public init(seq: Int64, hash: String) {
        self.seq = seq
        self.hash = hash
    }

    public var description: String { "\(seq):\(hash)" }
}

/// How airtime-log rows are chained.
///
/// Each row stores `hash = SHA-256(previousHash ‖ canonical encoding of the row)`, where the encoding covers every stored field
/// including `seq` and `recordedAt`, in a fixed order, with times as integer milliseconds since 1970 UTC and strings
/// length-prefixed (so no two different rows encode alike). The first row's `previousHash` is `genesis`.
///
/// What this protects against: any edit, deletion or insertion in the middle of the log, by the daemon (SQLite triggers refuse
/// UPDATE and DELETE on the table) or by someone editing the file with the triggers dropped (`verify()` names the first row
/// whose content no longer matches its hash, whose seq leaves a gap, or whose link to the row before is broken).
/// What it does not protect against on its own: removing the newest rows (the shorter chain is still valid), or rewriting the
/// whole chain from some row on with freshly computed hashes, by someone who can write the file; the algorithm is public and
/// there is no secret key. Both are caught only by comparing with a `ChainHead` kept elsewhere (printed in a report, sent to
/// the county, written on paper) using `verify(expecting:)`. (A truncation that leaves the daily report totals untouched also
/// shows, as totals that no longer match the log; a careful forger rebuilds those too.) Nor does it stop anyone from deleting
/// or replacing the whole database file: backups and a published head are the answer to that.
public enum AirtimeLogChain {
    /// The `previousHash` of the first row.
    public static let genesis = String(repeating: "0", count: 64)
}

/// The fields of a row that its hash covers, as the raw values stored in the database, so that verification never depends on
/// decoding (an edited row with an unknown kind is still reported as edited, not as a crash).
struct ChainedContent: Equatable {
    var seq: Int64
    var recordedAt: Int64
    var announcementID: String
    var title: String
    var kind: String
    var level: Int64?
    var isTest: Int64
    var tier: String
    var source: String
    var audio: String
    var text: String?
    var playNumber: Int64
    var scheduledAt: Int64?
    var startedAt: Int64?
    var endedAt: Int64
    var frames: Int64
    var signalFrames: Int64
    var rate: Int64
    var outcome: String
    var error: String?
    /// The volume in hundredths of a dB (alsa-lib's unit); NULL in rows written before volumes were recorded.
    var volume: Int64?

    /// The database columns in the order of `arguments` and `init(row:)`; `at`, `previousHash` and `hash` follow.
    static let columns = [
        "seq", "recordedAt", "announcementID", "title", "kind", "level", "isTest", "tier", "source", "audio", "text", "playNumber",
        "scheduledAt", "startedAt", "endedAt", "frames", "signalFrames", "rate", "outcome", "error",
    ]
    static let columnList = (columns + ["at", "previousHash", "hash"]).joined(separator: ", ")
    /// `columnList` and the columns added since, which follow `hash` so the positions above stay as they were.
    static let storedColumnList = columnList + ", volume"

    init(seq: Int64, recordedAt: Date, record r: AirtimeRecord) {
        self.seq = seq
        self.recordedAt = recordedAt.millisecondsSince1970
        announcementID = r.announcementID
        title = r.title
        kind = r.kind.rawValue
        level = r.level.map(Int64.init)
        isTest = r.isTest ? 1 : 0
        tier = r.tier.name
        source = r.source
        audio = r.audio
        text = r.text
        playNumber = Int64(r.playNumber)
        scheduledAt = r.scheduledAt?.millisecondsSince1970
        startedAt = r.startedAt?.millisecondsSince1970
        endedAt = r.endedAt.millisecondsSince1970
        frames = r.frames
        signalFrames = r.signalFrames
        rate = Int64(r.rate)
        outcome = r.outcome.rawValue
        error = r.error
        volume = r.volume.map { Int64(($0 * 100).rounded()) }
    }

    /// Reads the columns listed in `columns` from the start of `row`; nil when a value has a type no append could have
    /// written (which only a hand edit can cause).
    init?(row: Row) {
        func int(_ i: Int) -> Int64?? {
            switch (row[i] as DatabaseValue).storage {
            case .null: return .some(nil)
            case .int64(let v): return .some(v)
            default: return nil
            }
        }
        func string(_ i: Int) -> String?? {
            switch (row[i] as DatabaseValue).storage {
            case .null: return .some(nil)
            case .string(let v): return .some(v)
            default: return nil
            }
        }
        guard let seq = int(0) ?? nil, let recordedAt = int(1) ?? nil, let announcementID = string(2) ?? nil, let title = string(3) ?? nil,
            let kind = string(4) ?? nil, let level = int(5), let isTest = int(6) ?? nil, let tier = string(7) ?? nil,
            let source = string(8) ?? nil, let audio = string(9) ?? nil, let text = string(10), let playNumber = int(11) ?? nil,
            let scheduledAt = int(12), let startedAt = int(13), let endedAt = int(14) ?? nil, let frames = int(15) ?? nil,
            let signalFrames = int(16) ?? nil, let rate = int(17) ?? nil, let outcome = string(18) ?? nil, let error = string(19)
        else { return nil }
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
        // Read with `storedColumnList`; a row read with `columnList` alone has no volume.
        if row.count > 23 {
            guard let volume = int(23) else { return nil }
            self.volume = volume
        }
    }

    /// The time a row is filed under in queries and reports: when it started, or when it ended if it never started.
    var at: Int64 { startedAt ?? endedAt }

    var arguments: StatementArguments {
        [
            seq, recordedAt, announcementID, title, kind, level, isTest, tier, source, audio, text, playNumber, scheduledAt, startedAt,
            endedAt, frames, signalFrames, rate, outcome, error,
        ]
    }

    /// The deterministic byte form the hash covers: a version line, then one `name=value` line per field in a fixed order, with
    /// `-` for nil, `i<decimal>` for integers and `s<byte count>:<UTF-8 bytes>` for strings.
    func canonicalEncoding(into bytes: inout [UInt8]) {
        AirtimeRowEncoding.append(
            into: &bytes, seq: seq, recordedAt: recordedAt, announcementID: announcementID, title: title, kind: kind, level: level,
            isTest: isTest, tier: tier, source: source, audio: audio, text: text, playNumber: playNumber, scheduledAt: scheduledAt,
            startedAt: startedAt, endedAt: endedAt, frames: frames, signalFrames: signalFrames, rate: rate, outcome: outcome, error: error,
            volume: volume)
    }

    /// Lowercase hex SHA-256 of `previousHash` followed by the canonical encoding.
    func hash(previousHash: String, buffer: inout [UInt8]) -> String {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: previousHash.utf8)
        canonicalEncoding(into: &buffer)
        return SHA256.hash(data: buffer).hexString
    }

    /// The record this content describes; throws when a stored value is not one Dalaba writes.
    func record() throws -> AirtimeRecord {
        func bad(_ field: String, _ value: String) -> StoreError {
            StoreError(operation: "read the airtime log", path: "", reason: .invalidData, message: "row \(seq) has an unknown \(field) '\(value)'")
        }
        guard let kind = Kind(rawValue: kind) else { throw bad("kind", self.kind) }
        guard let tier = Tier(name: tier) else { throw bad("tier", self.tier) }
        guard let outcome = Outcome(rawValue: outcome) else { throw bad("outcome", self.outcome) }
        return AirtimeRecord(
            announcementID: announcementID, title: title, kind: kind, level: level.map { Int($0) }, isTest: isTest != 0, tier: tier,
            source: source, audio: audio, text: text, playNumber: Int(playNumber), scheduledAt: scheduledAt.map(Date.init(millisecondsSince1970:)),
            startedAt: startedAt.map(Date.init(millisecondsSince1970:)), endedAt: Date(millisecondsSince1970: endedAt), frames: frames,
            signalFrames: signalFrames, rate: Int(rate), outcome: outcome, error: error, volume: volume.map { Double($0) / 100 })
    }
}

extension SHA256.Digest {
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
