import DalabaCore
import Foundation

/// A play in progress as last seen: the Station rewrites it at least once a second, so after a crash or `kill -9` the store turns
/// it into an `interrupted` log row that misses at most a second of airtime, and never loses the row.
public struct PlayCheckpoint: Codable, Sendable, Hashable {
    /// The row as it would be appended now: frames heard so far, `endedAt` the time of those frames. Its outcome is replaced by
    /// `interrupted` when recovered.
    public var record: AirtimeRecord
    /// When the Station last wrote this checkpoint.
    public var updatedAt: Date

    public init(record: AirtimeRecord, updatedAt: Date) {
        self.record = record
        self.updatedAt = updatedAt
    }

    public var announcementID: String { record.announcementID }
}
