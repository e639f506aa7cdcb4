import DalabaCore
import DalabaStore
import Dispatch
import Foundation

/// What the officials' endpoints read: the airtime log, its reports and its verification. `StationStore` is the real one; tests
/// pass one that fails, to see the 503 an official gets when the database cannot be read.
public protocol AirtimeLogSource: Sendable {
    func log(_ query: LogQuery) throws -> [LogRow]
    func logCount(_ query: LogQuery) throws -> Int
    func report(_ query: ReportQuery) throws -> Report
    func verify(expecting published: ChainHead?) throws -> Verification
}

extension StationStore: AirtimeLogSource {}

/// Store reads are blocking SQLite calls (a `verify` of a million rows takes seconds); they run on a Dispatch queue so they
/// never hold one of the cooperative pool's threads, of which a two-core station box has two.
enum StoreReads {
    private static let queue = DispatchQueue(label: "dalaba.store-reads", qos: .utility, attributes: .concurrent)

    /// Runs `body` off the cooperative pool; a store failure becomes the API's 503 (see `unavailable`).
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                queue.async { continuation.resume(with: Result { try body() }) }
            }
        } catch let error as StoreError {
            throw unavailable(error)
        }
    }

    /// A store that cannot be read answers 503 with the cause in words (read-only file, full disk, not a database, …); a row only
    /// a hand edit could have produced answers 500, pointing at `dalaba log verify`.
    static func unavailable(_ error: StoreError) -> APIError {
        if error.reason == .invalidData { return APIError(.internalServerError, "the airtime log holds a row it cannot read: \(error.description)") }
        return APIError(.serviceUnavailable, "the airtime log cannot be read: \(error.description)")
    }
}

/// Runs one chain verification at a time: officials reloading the page while a million-row walk is under way wait for that walk
/// instead of starting more, so verification never takes both cores from the station.
actor VerificationRunner {
    private let source: any AirtimeLogSource
    private var running: Task<Verification, any Error>?

    init(source: any AirtimeLogSource) {
        self.source = source
    }

    func verify(expecting head: ChainHead?) async throws -> Verification {
        if let head {
            let source = source
            return try await StoreReads.run { try source.verify(expecting: head) }
        }
        if let running { return try await running.value }
        let source = source
        let task = Task { try await StoreReads.run { try source.verify(expecting: nil) } }
        running = task
        defer { running = nil }
        return try await task.value
    }
}

extension StationAPI.LogEntry {
    init(_ row: LogRow) {
        let r = row.record
        self.init(
            seq: row.seq, id: r.announcementID, title: r.title, kind: r.kind, level: r.level, test: r.isTest, tier: r.tier.name, source: r.source,
            audio: r.audio, text: r.text, playNumber: r.playNumber, scheduledAt: r.scheduledAt, startedAt: r.startedAt, endedAt: r.endedAt,
            frames: r.frames, signalFrames: r.signalFrames, rate: r.rate, outcome: r.outcome, error: r.error, hash: row.hash,
            volume: r.volume)
    }
}

extension StationAPI.AirtimeReport {
    init(_ report: Report, query: ReportQuery) {
        self.init(
            by: report.by.rawValue, timeZone: query.timeZone.identifier, from: query.from, to: query.to,
            groups: report.groups, total: report.total)
    }
}

extension StationAPI.LogVerification {
    init(_ verification: Verification, checkedAt: Date) {
        self.init(
            intact: verification.isIntact, rows: verification.rowCount, firstBadSeq: verification.firstBadSeq, problem: verification.problem,
            head: verification.head?.description, checkedAt: checkedAt,
            anchor: verification.anchor.map {
                StationAPI.LogAnchor(
                    firstKeptSeq: $0.firstKeptSeq, anchorHash: $0.anchorHash, retentionSeq: $0.retentionSeq, madeAt: $0.madeAt, madeBy: $0.madeBy,
                    cutoff: $0.cutoff, removedRows: $0.removedRows)
            }, notice: verification.notice)
    }
}
