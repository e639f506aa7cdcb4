import DalabaCore
import Foundation
import GRDB

/// The station's durable state in one SQLite database: the persistent queue, the hash-chained airtime log, the checkpoints of
/// plays in progress, and the daily totals that make reports fast.
///
/// Modelled on GRDB's `AppDatabase`: a `Sendable` value holding a `DatabaseWriter`, migrated in `init`, so tests run it in
/// memory and the daemon on a WAL `DatabasePool` (readers such as reports never block the Station's writes).
public struct StationStore: Sendable {
    /// Where report days, weeks and months begin unless the station says otherwise.
    public static let defaultTimeZone = TimeZone(identifier: "Asia/Shanghai")!

    let writer: any DatabaseWriter
    /// The zone of the stored daily totals; reports asked in another zone are computed from the log rows instead.
    public let timeZone: TimeZone
    let clock: @Sendable () -> Date

    /// Wraps an open database and brings its schema up to date.
    ///
    /// - Parameters:
    ///   - writer: a `DatabaseQueue` or `DatabasePool`; a read-only one must already be migrated.
    ///   - timeZone: the station's zone, in which the daily report totals are kept. Opening with a different zone than last time
    ///     recomputes those totals from the log (the log itself is UTC and never changes).
    ///   - clock: the time stamped on rows as `recordedAt`; tests pass a fixed one.
    public init(_ writer: any DatabaseWriter, timeZone: TimeZone = StationStore.defaultTimeZone, clock: @escaping @Sendable () -> Date = { Date() })
        throws
    {
        self.writer = writer
        self.timeZone = timeZone
        self.clock = clock
        let path = writer.path
        do {
            if writer.configuration.readonly {
                let migrated = try writer.read { db in try Self.migrator.hasCompletedMigrations(db) }
                guard migrated else {
                    throw StoreError(
                        operation: "open the station database", path: path, reason: .readOnly,
                        message: "the database is read-only and has not been set up by this version of Dalaba")
                }
            } else {
                try Self.migrator.migrate(writer)
                try writer.write { db in try ReportTotals.adopt(timeZone: timeZone, db) }
            }
        } catch {
            throw StoreError(operation: "open the station database", path: path, wrapping: error)
        }
    }

    /// Opens (creating if needed) the station database at `path` as a WAL `DatabasePool`, creating its directory first.
    public static func open(path: String, timeZone: TimeZone = StationStore.defaultTimeZone) throws -> StationStore {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(
                operation: "open the station database", path: path, reason: .cannotOpen,
                message: "cannot create the directory \(directory.path): \(error.localizedDescription)")
        }
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: makeConfiguration())
            // GRDB sets `synchronous = NORMAL` when it turns WAL on, after `prepareDatabase` ran: in WAL that syncs only at
            // checkpoints, so a power cut could lose the last commits. Every commit is synced again here.
            try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        } catch {
            throw StoreError(operation: "open the station database", path: path, wrapping: error)
        }
        return try StationStore(pool, timeZone: timeZone)
    }

    /// An empty store in memory, for tests and for `dalaba play` runs that keep no state.
    public static func inMemory(timeZone: TimeZone = StationStore.defaultTimeZone) throws -> StationStore {
        do {
            return try StationStore(DatabaseQueue(configuration: makeConfiguration()), timeZone: timeZone)
        } catch {
            throw StoreError(operation: "open an in-memory database", path: ":memory:", wrapping: error)
        }
    }

    /// The configuration every station database is opened with: wait for a busy database (the CLI may read while the daemon
    /// writes) rather than failing at once, and sync every commit to disk (`synchronous = FULL`), so a power cut, common in a
    /// village, loses no appended row; at one checkpoint a second that is one fsync a second.
    public static func makeConfiguration(_ base: Configuration = Configuration()) -> Configuration {
        var config = base
        config.busyMode = .timeout(10)
        config.label = "DalabaStore"
        config.prepareDatabase { db in
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
        }
        return config
    }

    /// The database file, for messages.
    public var path: String { writer.path }

    // MARK: - Access with clear errors

    func write<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try writer.write(body)
        } catch {
            throw StoreError(operation: operation, path: writer.path, wrapping: error)
        }
    }

    func read<T>(_ operation: String, _ body: (Database) throws -> T) throws -> T {
        do {
            return try writer.read(body)
        } catch {
            throw StoreError(operation: operation, path: writer.path, wrapping: error)
        }
    }

    // MARK: - Schema

    /// The schema, one named migration per shipped version. A shipped migration is never edited: changes go in a new one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE storeSetting (
                        key TEXT PRIMARY KEY NOT NULL,
                        value ANY
                    ) STRICT;

                    CREATE TABLE queueEntry (
                        id TEXT PRIMARY KEY NOT NULL,
                        sequence INTEGER NOT NULL,
                        entry TEXT NOT NULL
                    ) STRICT;
                    CREATE INDEX queueEntry_sequence ON queueEntry(sequence);

                    CREATE TABLE airtimeLog (
                        seq INTEGER PRIMARY KEY,
                        recordedAt INTEGER NOT NULL,
                        announcementID TEXT NOT NULL,
                        title TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        level INTEGER,
                        isTest INTEGER NOT NULL,
                        tier TEXT NOT NULL,
                        source TEXT NOT NULL,
                        audio TEXT NOT NULL,
                        text TEXT,
                        playNumber INTEGER NOT NULL,
                        scheduledAt INTEGER,
                        startedAt INTEGER,
                        endedAt INTEGER NOT NULL,
                        frames INTEGER NOT NULL,
                        signalFrames INTEGER NOT NULL,
                        rate INTEGER NOT NULL,
                        outcome TEXT NOT NULL,
                        error TEXT,
                        at INTEGER NOT NULL,
                        previousHash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    ) STRICT;
                    CREATE INDEX airtimeLog_at ON airtimeLog(at);
                    CREATE TRIGGER airtimeLog_noUpdate BEFORE UPDATE ON airtimeLog
                    BEGIN SELECT RAISE(ABORT, '\(AirtimeLogSchema.appendOnlyMessage)'); END;
                    CREATE TRIGGER airtimeLog_noDelete BEFORE DELETE ON airtimeLog
                    BEGIN SELECT RAISE(ABORT, '\(AirtimeLogSchema.appendOnlyMessage)'); END;

                    CREATE TABLE playCheckpoint (
                        announcementID TEXT PRIMARY KEY NOT NULL,
                        record TEXT NOT NULL,
                        updatedAt INTEGER NOT NULL
                    ) STRICT;

                    CREATE TABLE airtimeDailyTotal (
                        localDay INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        level INTEGER NOT NULL,
                        source TEXT NOT NULL,
                        isTest INTEGER NOT NULL,
                        rate INTEGER NOT NULL,
                        plays INTEGER NOT NULL,
                        frames INTEGER NOT NULL,
                        PRIMARY KEY (localDay, kind, level, source, isTest, rate)
                    ) WITHOUT ROWID, STRICT;
                    -- Covering indexes in the order of each report's GROUP BY, so SQLite aggregates in one pass without sorting.
                    CREATE INDEX airtimeDailyTotal_byDay ON airtimeDailyTotal(localDay, isTest, rate, plays, frames);
                    CREATE INDEX airtimeDailyTotal_byKind ON airtimeDailyTotal(kind, isTest, rate, localDay, plays, frames);
                    CREATE INDEX airtimeDailyTotal_byLevel ON airtimeDailyTotal(level, isTest, rate, localDay, plays, frames);
                    CREATE INDEX airtimeDailyTotal_bySource ON airtimeDailyTotal(source, isTest, rate, localDay, plays, frames);
                    """)
        }
        registerScheduleMigration(&migrator)
        registerRetentionMigration(&migrator)
        registerCountyLinkMigration(&migrator)
        registerVolumeMigration(&migrator)
        registerCountyFetchMigration(&migrator)
        return migrator
    }
}

/// Names shared by the schema, the writers and the error mapping.
enum AirtimeLogSchema {
    static let appendOnlyMessage = "airtime log is append-only"
}

extension Date {
    /// Milliseconds since 1970 UTC, the form every time takes in the database and in the hash.
    var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded()) }

    init(millisecondsSince1970 ms: Int64) { self.init(timeIntervalSince1970: Double(ms) / 1000) }
}
