import Foundation
import Logging
import Prometheus

/// Keeps the state directory's audio caches bounded: uploads, CAP alert audio and the speech cache would otherwise grow
/// with every request until the disk is full. A file a queued or playing item needs is never removed.
public struct CacheSweeper: Sendable {
    /// How one cache directory is kept.
    public struct Policy: Sendable, Equatable {
        public var name: String
        public var directory: String
        /// Unreferenced files older than this are removed (seconds since last modification).
        public var maxAge: Double
        /// Beyond this many bytes, the oldest unreferenced files go first, however young.
        public var maxBytes: Int64
        /// Files younger than this are never removed: an upload is stored a moment before its item is queued.
        public var grace: Double

        public init(name: String, directory: String, maxAge: Double, maxBytes: Int64, grace: Double = 600) {
            self.name = name
            self.directory = directory
            self.maxAge = maxAge
            self.maxBytes = maxBytes
            self.grace = grace
        }
    }

    public struct File: Sendable, Equatable {
        public var path: String
        public var bytes: Int64
        public var modified: Date
        public init(path: String, bytes: Int64, modified: Date) {
            self.path = path
            self.bytes = bytes
            self.modified = modified
        }
    }

    /// The files to remove from one cache: unreferenced, past the grace, and either too old or, oldest first, beyond the size cap.
    public static func plan(_ files: [File], referenced: Set<String>, policy: Policy, now: Date) -> [File] {
        var total = files.reduce(Int64(0)) { $0 + $1.bytes }
        var removed: [File] = []
        for file in files.sorted(by: { ($0.modified, $0.path) < ($1.modified, $1.path) }) {
            let age = now.timeIntervalSince(file.modified)
            guard !referenced.contains(file.path), age >= policy.grace else { continue }
            if age >= policy.maxAge || total > policy.maxBytes {
                removed.append(file)
                total -= file.bytes
            }
        }
        return removed
    }

    public let policies: [Policy]
    private let logger: Logger
    private let bytes: [String: Gauge]
    private let removals: Counter

    /// Uploads and CAP audio go a day after their item left the queue; the speech cache keeps what it may say again, up to
    /// 256 MiB and 30 days.
    public static func defaultPolicies(stateDirectory: String) -> [Policy] {
        [
            Policy(name: "uploads", directory: stateDirectory + "/uploads", maxAge: 86_400, maxBytes: 1 << 30),
            Policy(name: "alerts", directory: stateDirectory + "/alerts", maxAge: 86_400, maxBytes: 256 << 20),
            Policy(name: "speech", directory: stateDirectory + "/speech", maxAge: 30 * 86_400, maxBytes: 256 << 20),
        ]
    }

    public init(policies: [Policy], metrics: StationMetrics, logger: Logger) {
        self.policies = policies
        self.logger = logger
        var bytes: [String: Gauge] = [:]
        for policy in policies {
            bytes[policy.name] = metrics.registry.makeGauge(
                name: "dalaba_cache_bytes", labels: [("cache", policy.name)], help: "Bytes held in each audio cache of the state directory.")
        }
        self.bytes = bytes
        removals = metrics.registry.makeCounter(name: "dalaba_cache_removals_total", help: "Cached audio files removed by the sweeper.")
    }

    /// Sweeps every cache once; blocking file I/O, so call it off the cooperative pool.
    public func sweep(referenced: Set<String>, now: Date) {
        for policy in policies {
            let files = Self.list(policy.directory)
            var kept = files.reduce(Int64(0)) { $0 + $1.bytes }
            for file in Self.plan(files, referenced: referenced, policy: policy, now: now) {
                do {
                    try FileManager.default.removeItem(atPath: file.path)
                    kept -= file.bytes
                    removals.increment()
                } catch {
                    logger.warning("cannot remove cached audio", metadata: ["file": "\(file.path)", "error": "\(error.localizedDescription)"])
                }
            }
            bytes[policy.name]?.set(to: Double(kept))
        }
    }

    static func list(_ directory: String) -> [File] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap { name in
            let path = directory + "/" + name
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular
            else { return nil }
            return File(
                path: path, bytes: (attributes[.size] as? NSNumber)?.int64Value ?? 0, modified: attributes[.modificationDate] as? Date ?? .distantPast)
        }
    }
}
