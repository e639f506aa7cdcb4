import DalabaCore
import DalabaLink
import Foundation
import PostgresNIO

extension CountyStore {
    /// The villages table: every village in `region`, in code order.
    public func villages(in region: RegionCode) async throws -> [CountyAPI.Village] {
        let rows = try await client.query(
            """
            SELECT v.code, v.name, v.township, v.online, v.online_since, v.last_heartbeat, v.device_up, v.on_air, v.queue_length, v.underruns,
                v.version, (SELECT count(*) FROM airtime_row a WHERE a.village = v.code), v.confirmed_seq, v.chain_fault
            FROM village v WHERE v.code LIKE \(region.digits + "%") ORDER BY v.code
            """, logger: logger)
        var out: [CountyAPI.Village] = []
        for try await row in rows {
            let (code, name, township, online, since, heartbeat, deviceUp) = try row.decode((String, String, String, Bool, Date?, Date?, Bool?).self)
            var cells = row.makeRandomAccess()
            let onAir = try cells[7].decode(String?.self)
            let queue = try cells[8].decode(Int32?.self)
            let underruns = try cells[9].decode(Int64?.self)
            let version = try cells[10].decode(String?.self)
            let count = try cells[11].decode(Int64.self)
            let confirmed = try cells[12].decode(Int64.self)
            let fault = try cells[13].decode(String?.self)
            _ = cells
            out.append(
                .init(
                    code: code, name: name, township: township, online: online, since: since, lastHeartbeat: heartbeat, deviceUp: deviceUp, onAir: onAir,
                    queueLength: queue.map(Int.init), underruns: underruns, version: version, rows: count, confirmedSeq: confirmed, chainFault: fault))
        }
        return out
    }

    /// Coverage of announcement `id` among the villages it targeted (those within `region` only); nil when unknown.
    public func coverage(id: String, within region: RegionCode) async throws -> CountyAPI.Coverage? {
        guard let a = try await announcement(id: id) else { return nil }
        var villages: [(code: String, name: String, online: Bool)] = []
        for try await (code, name, online) in try await client.query(
            """
            SELECT t.village, coalesce(v.name, t.village), coalesce(v.online, false) FROM announcement_village t
            LEFT JOIN village v ON v.code = t.village WHERE t.announcement_id = \(id) AND t.village LIKE \(region.digits + "%") ORDER BY t.village
            """, logger: logger
        ).decode((String, String, Bool).self) {
            villages.append((code, name, online))
        }
        var receipts: [String: [CoverageTally.ReceiptValue]] = [:]
        for try await (village, stage, at, frames, rate, reason) in try await client.query(
            "SELECT village, stage, at, frames, rate, reason FROM receipt WHERE announcement_id = \(id) ORDER BY at", logger: logger
        ).decode((String, String, Date, Int64?, Int32?, String?).self) {
            receipts[village, default: []].append(.init(stage: stage, at: at, frames: frames, rate: rate.map(Int.init), reason: reason))
        }
        let volumes = try await playedVolumes(id: id, within: region)
        let lines = villages.map { v in
            var line = CoverageTally.village(code: v.code, name: v.name, online: v.online, acceptedAt: a.acceptedAt, receipts: receipts[v.code] ?? [])
            line.volume = volumes[v.code]
            return line
        }
        return .init(
            id: id, title: a.title, kind: a.kind, level: a.level, acceptedAt: a.acceptedAt, cancelledAt: a.cancelledAt, targets: a.targets.map(\.digits),
            villages: lines)
    }

    /// The levels each village in `region` played announcement `id` at, from its airtime rows that reached the device and
    /// carry a volume: aggregated in PostgreSQL, so a village's answer is three numbers however many rows it sent.
    func playedVolumes(id: String, within region: RegionCode) async throws -> [String: CountyAPI.Coverage.PlayedVolume] {
        var out: [String: CountyAPI.Coverage.PlayedVolume] = [:]
        for try await (village, lowest, highest, last) in try await client.query(
            """
            SELECT village, min(volume), max(volume), (array_agg(volume ORDER BY seq DESC))[1] FROM airtime_row
            WHERE announcement_id = \(id) AND village LIKE \(region.digits + "%") AND started_ms IS NOT NULL AND volume IS NOT NULL
            GROUP BY village
            """, logger: logger
        ).decode((String, Int64, Int64, Int64).self) {
            out[village] = .init(lowestHundredths: lowest, highestHundredths: highest, lastHundredths: last)
        }
        return out
    }

    /// How a report groups rows.
    public enum Grouping: String, Sendable, CaseIterable {
        case village, township, kind, level, day

        /// The SQL of the group key (`tz` is bound as the first parameter of the zone).
        func key(zone: String) -> String {
            switch self {
            case .village: "village"
            case .township: "substr(village, 1, 9)"
            case .kind: "kind"
            case .level: "coalesce(level::text, 'none')"
            case .day: "to_char(at AT TIME ZONE '\(zone)', 'YYYY-MM-DD')"
            }
        }
    }

    /// Airtime of the villages in `region`, grouped, over [from, to): plays (rows that reached the device), frames and
    /// seconds (each row's frames ÷ its rate, summed exactly in numeric), real broadcasts and drills apart.
    public func report(by grouping: Grouping, region: RegionCode, from: Date?, to: Date?, timeZone: TimeZone) async throws -> [CountyAPI.AirtimeGroup] {
        // The zone is an identifier Foundation knows, checked to hold only the characters of IANA names before it goes into SQL.
        let zone = timeZone.identifier
        guard zone.utf8.allSatisfy({ $0 < 0x80 && (isalnum(Int32($0)) != 0 || "/_-+".utf8.contains($0)) }) else {
            throw CountyStoreError("time zone \(zone) cannot be used in a report")
        }
        let key = grouping.key(zone: zone)
        let sql = """
            SELECT \(key) AS k,
                count(*) FILTER (WHERE NOT is_test AND started_ms IS NOT NULL),
                coalesce(sum(frames) FILTER (WHERE NOT is_test), 0)::bigint,
                coalesce(sum(frames::numeric / nullif(rate, 0)) FILTER (WHERE NOT is_test), 0)::float8,
                count(*) FILTER (WHERE is_test AND started_ms IS NOT NULL),
                coalesce(sum(frames) FILTER (WHERE is_test), 0)::bigint,
                coalesce(sum(frames::numeric / nullif(rate, 0)) FILTER (WHERE is_test), 0)::float8
            FROM airtime_row
            WHERE village LIKE $1 AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
            GROUP BY k ORDER BY k
            """
        var bindings = PostgresBindings()
        bindings.append(region.digits + "%")
        bindings.append(from)
        bindings.append(to)
        var out: [CountyAPI.AirtimeGroup] = []
        for try await (k, plays, frames, seconds, drills, drillFrames, drillSeconds) in try await client.query(
            PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger
        ).decode((String, Int64, Int64, Double, Int64, Int64, Double).self) {
            out.append(
                .init(key: k, plays: Int(plays), frames: frames, seconds: seconds, drillPlays: Int(drills), drillFrames: drillFrames, drillSeconds: drillSeconds))
        }
        return out
    }

    /// One page of the county's copy of the villages' airtime rows, newest first, with the total matching.
    public func log(region: RegionCode, from: Date?, to: Date?, limit: Int, offset: Int) async throws -> (total: Int, rows: [(village: String, row: LinkRow)]) {
        let prefix = region.digits + "%"
        var total = 0
        for try await count in try await client.query(
            """
            SELECT count(*) FROM airtime_row WHERE village LIKE \(prefix) AND (\(from)::timestamptz IS NULL OR at >= \(from))
                AND (\(to)::timestamptz IS NULL OR at < \(to))
            """, logger: logger
        ).decode(Int64.self) {
            total = Int(count)
        }
        var rows: [(String, LinkRow)] = []
        var bindings = PostgresBindings()
        bindings.append(prefix)
        bindings.append(from)
        bindings.append(to)
        bindings.append(Int64(limit))
        bindings.append(Int64(offset))
        let result = try await client.query(
            PostgresQuery(
                unsafeSQL: """
                    SELECT village, \(storedRowColumns)
                    FROM airtime_row WHERE village LIKE $1 AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3)
                    ORDER BY at DESC, village, seq DESC LIMIT $4 OFFSET $5
                    """, binds: bindings), logger: logger)
        for try await row in result {
            let village = try row.makeRandomAccess()[0].decode(String.self)
            let link = try storedRow(row, offset: 1)
            rows.append((village, link))
        }
        return (total, rows)
    }
}

public struct CountyStoreError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
