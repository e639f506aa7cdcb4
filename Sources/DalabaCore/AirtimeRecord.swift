import Foundation

/// One play attempt as the airtime log keeps it. Airtime comes from frames handed to the device and
/// their rate, never from wall clocks or file lengths.
public struct AirtimeRecord: Codable, Sendable, Hashable {
    public var announcementID: String
    public var title: String
    public var kind: Kind
    public var level: Int?
    public var isTest: Bool
    public var tier: Tier
    /// Operator name, schedule name or CAP sender.
    public var source: String
    public var audio: String
    public var text: String?
    /// 1 for the first play, 2 for the first repeat, …
    public var playNumber: Int
    public var scheduledAt: Date?
    public var startedAt: Date?
    public var endedAt: Date
    /// Frames of the announcement itself that reached the device.
    public var frames: Int64
    /// Frames of the chime or attention signal before it, counted apart.
    public var signalFrames: Int64
    /// The device rate the frames were played at.
    public var rate: Int
    public var outcome: Outcome
    /// What went wrong, for `failed` (and a reason for other outcomes where one helps).
    public var error: String?
    /// The level it played at, in dB below full scale (0 is full); nil for rows that never reached the device and rows
    /// written before volumes were recorded.
    public var volume: Double?

    public init(
        announcementID: String, title: String, kind: Kind, level: Int?, isTest: Bool, tier: Tier, source: String, audio: String,
        text: String?, playNumber: Int, scheduledAt: Date?, startedAt: Date?, endedAt: Date, frames: Int64, signalFrames: Int64,
        rate: Int, outcome: Outcome, error: String?, volume: Double? = nil
    ) {
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
    }

    /// A record for an announcement that never reached the device (cancelled or expired while waiting, missed, failed to start).
    public init(unplayed entry: QueueEntry, at time: Date, outcome: Outcome, error: String? = nil) {
        let a = entry.announcement
        self.init(
            announcementID: a.id, title: a.title, kind: a.kind, level: a.level, isTest: a.isTest, tier: a.tier, source: a.source,
            audio: a.audio, text: a.text, playNumber: entry.playsDone + 1, scheduledAt: a.scheduledAt, startedAt: nil, endedAt: time,
            frames: 0, signalFrames: 0, rate: 0, outcome: outcome, error: error)
    }

    /// Seconds of airtime of the announcement itself.
    public var airtime: Double { rate > 0 ? Double(frames) / Double(rate) : 0 }
}
