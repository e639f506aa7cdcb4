import DalabaCounty
import DalabaLink
import DalabaTestSupport
import Foundation
import Logging
import PostgresNIO

/// A PostgreSQL cluster of the test's own with the county schema, and a running client on it.
func withCountyStore<T: Sendable>(
    _ name: String = "county", _ body: @Sendable (CountyStore, PostgresCluster) async throws -> T
) async throws -> T {
    let cluster = try await PostgresCluster(name: name)
    let client = PostgresClient(configuration: CountyStore.clientConfiguration(cluster.databaseConfiguration), backgroundLogger: testLogger)
    // Destroyed after the body, also when it throws, without a defer: pg_ctl's shutdown must not hold a pool thread.
    do {
        let result = try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await Task.sleep(for: .milliseconds(20))
            let store = CountyStore(client: client, logger: testLogger)
            try await store.migrate()
            return try await body(store, cluster)
        }
        await cluster.destroy()
        return result
    } catch {
        await cluster.destroy()
        throw error
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "county-test")
    logger.logLevel = .warning
    return logger
}()

extension PostgresCluster {
    var databaseConfiguration: CountyConfiguration.Database {
        var database = CountyConfiguration.Database()
        database.port = port
        database.user = user
        database.database = self.database
        return database
    }
}

/// `count` chained rows of one village starting at `from` after `previous`: each row's hash is its real chain hash.
func chainedRows(
    from first: Int64 = 1, count: Int, after previous: String = AirtimeChain.genesis, kind: String = "policy", level: Int64? = nil,
    frames: Int64 = 48_000, rate: Int64 = 48_000, startMs: Int64 = 1_764_547_200_000, isTest: Bool = false, announcement: String? = nil,
    volume: Int64? = nil
) -> [LinkRow] {
    var rows: [LinkRow] = []
    var hash = previous
    for seq in first..<(first + Int64(count)) {
        let started = startMs + (seq - 1) * 60_000
        var row = LinkRow(
            seq: seq, recordedAt: started + 1_000, announcementID: announcement ?? "a-\(seq)", title: "通知 \(seq)", kind: kind, level: level,
            isTest: isTest, tier: "county", source: "county", audio: "/a/\(seq).opus", text: nil, playNumber: 1, scheduledAt: nil,
            startedAt: started, endedAt: started + frames * 1000 / rate, frames: frames + seq, signalFrames: 100, rate: rate,
            outcome: "completed", error: nil, volume: volume, previousHash: hash, hash: "")
        row.hash = row.computedHash()
        hash = row.hash
        rows.append(row)
    }
    return rows
}

func region(_ text: String) -> RegionCode { try! RegionCode(text) }
