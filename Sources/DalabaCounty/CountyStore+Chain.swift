import DalabaLink
import Foundation
import PostgresNIO

/// Every stored field of an airtime row, in `LinkRow`'s order, as `storedRow(_:)` reads them back.
let storedRowColumns = """
    seq, recorded_ms, announcement_id, title, kind, level, is_test, tier, source, audio, text, play_number, scheduled_ms, started_ms, ended_ms,
    frames, signal_frames, rate, outcome, error, volume, previous_hash, hash
    """

/// The row as PostgreSQL holds it: `storedRowColumns` from `offset` on, so its hash can be recomputed from what is stored.
func storedRow(_ row: PostgresRow, offset: Int = 0) throws -> LinkRow {
    let c = row.makeRandomAccess()
    func at<T: PostgresDecodable>(_ index: Int, _: T.Type = T.self) throws -> T { try c[offset + index].decode(T.self) }
    return LinkRow(
        seq: try at(0), recordedAt: try at(1), announcementID: try at(2), title: try at(3), kind: try at(4), level: try at(5, Int64?.self),
        isTest: try at(6), tier: try at(7), source: try at(8), audio: try at(9), text: try at(10, String?.self), playNumber: try at(11),
        scheduledAt: try at(12, Int64?.self), startedAt: try at(13, Int64?.self), endedAt: try at(14), frames: try at(15), signalFrames: try at(16),
        rate: try at(17), outcome: try at(18), error: try at(19, String?.self), volume: try at(20, Int64?.self), previousHash: try at(21),
        hash: try at(22))
}

/// Bindings for a query of `unsafeSQL` with a village code and a seq.
func bindings(_ code: String, _ seq: Int64) -> PostgresBindings {
    var bindings = PostgresBindings()
    bindings.append(code)
    bindings.append(seq)
    return bindings
}

extension CountyStore {
    /// One village's chain as PostgreSQL holds it, walked from the first row with every hash recomputed from the stored
    /// fields: what `GET /v1/log/verify` answers. Unlike the ingest walk it starts at genesis, so a row confirmed long ago and
    /// edited since (its volume, frames, title…) is found.
    public struct ChainCheck: Sendable, Equatable, Codable {
        public var village: String
        public var rows: Int64
        /// The last row of the unbroken run from row 1.
        public var lastSeq: Int64
        public var faults: [String]
        /// The lowest row any fault concerns (nil when intact).
        public var firstBadSeq: Int64?
        public var intact: Bool { faults.isEmpty }
    }

    /// Re-verifies every village in `region` from PostgreSQL alone, in code order, reading each village's rows in pages.
    public func verifyChains(region: RegionCode) async throws -> [ChainCheck] {
        var codes: [String] = []
        for try await code in try await client.query(
            "SELECT code FROM village WHERE code LIKE \(region.digits + "%") ORDER BY code", logger: logger
        ).decode(String.self) {
            codes.append(code)
        }
        var checks: [ChainCheck] = []
        for code in codes { checks.append(try await verifyChain(village: code)) }
        return checks
    }

    /// Re-verifies one village's chain from PostgreSQL alone.
    public func verifyChain(village code: String, pageSize: Int64 = 10_000) async throws -> ChainCheck {
        var walk = ChainWalk()
        var rows: Int64 = 0
        var after: Int64 = 0
        var walking = true
        while true {
            var page: [LinkRow] = []
            var binds = bindings(code, after)
            binds.append(pageSize)
            for try await row in try await client.query(
                PostgresQuery(
                    unsafeSQL: "SELECT \(storedRowColumns) FROM airtime_row WHERE village = $1 AND seq > $2 ORDER BY seq LIMIT $3", binds: binds),
                logger: logger
            ) {
                page.append(try storedRow(row))
            }
            guard let last = page.last else { break }
            rows += Int64(page.count)
            after = last.seq
            if walking {
                let before = walk.faults.count
                walk.advance(over: page.map(ChainWalk.Link.init))
                // A gap ends the walk (nothing after it can be linked), and is the one fault reported after it.
                if walk.faults.count > before, case .gap = walk.faults.last { walking = false }
            }
        }
        return ChainCheck(
            village: code, rows: rows, lastSeq: walk.confirmedSeq, faults: walk.faults.map(\.description), firstBadSeq: walk.faults.map(\.seq).min())
    }
}
