import DalabaCore
import Foundation

/// Where an announcement got to in one village, from that village's receipts: pure, so the arithmetic is a unit test.
public enum CoverageTally {
    public struct ReceiptValue: Sendable, Equatable {
        public var stage: String
        public var at: Date
        public var frames: Int64?
        public var rate: Int?
        public var reason: String?
        public init(stage: String, at: Date, frames: Int64? = nil, rate: Int? = nil, reason: String? = nil) {
            self.stage = stage
            self.at = at
            self.frames = frames
            self.rate = rate
            self.reason = reason
        }
    }

    /// The village's line of the coverage: the furthest stage any receipt reached (played in full beats partly beats
    /// failed, and every end beats on air, queued and received), frames summed over every play's end.
    public static func village(
        code: String, name: String, online: Bool, acceptedAt: Date, receipts: [ReceiptValue]
    ) -> CountyAPI.Coverage.VillageCoverage {
        let stages = Set(receipts.map(\.stage))
        let status: CountyAPI.Coverage.Status =
            if stages.contains("completed") { .played }
            else if stages.contains("interrupted") { .partly }
            else if stages.contains("failed") { .failed }
            else if stages.contains("expired") { .expired }
            else if stages.contains("refused") { .refused }
            else if stages.contains("on-air") { .onAir }
            else if stages.contains("queued") { .queued }
            else if stages.contains("received") { .received }
            else { online ? .pending : .offline }
        let ends = receipts.filter { ["completed", "interrupted", "failed"].contains($0.stage) }
        let firstAudio = receipts.filter { $0.stage == "on-air" }.map(\.at).min()
        let reason = receipts.filter { ["failed", "expired", "refused", "interrupted"].contains($0.stage) }.max { $0.at < $1.at }?.reason
        return .init(
            code: code, name: name, status: status, online: online, receivedAt: receipts.map(\.at).min(), firstAudioAt: firstAudio,
            timeToFirstAudio: firstAudio.map { $0.timeIntervalSince(acceptedAt) }, frames: ends.compactMap(\.frames).reduce(0, +),
            rate: ends.compactMap(\.rate).first, reason: reason)
    }
}
