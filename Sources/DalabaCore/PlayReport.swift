import Foundation

/// What the player says about one play when it stops, for whatever reason; the arbiter turns it into an airtime record.
public struct PlayReport: Sendable, Equatable {
    /// Programme frames that reached the device in this play, not counting the signal: airtime comes from these.
    public var frames: Int64
    /// Chime or attention-signal frames, counted apart from the programme.
    public var signalFrames: Int64
    /// The device rate the frames were played at.
    public var rate: Int
    /// When the first frame went out; nil if nothing did.
    public var startedAt: Date?
    public var ending: Ending

    /// Why the play stopped.
    public enum Ending: Sendable, Equatable {
        /// The programme played to its end.
        case completed
        /// The arbiter asked: preempted, cancelled, expired, stop-all.
        case stopped
        /// The sound device failed; the item is not at fault and is tried again after a backoff.
        case deviceFailed(String)
        /// The audio could not be decoded or converted; playing it again would fail again.
        case audioFailed(String)
    }

    public init(frames: Int64, signalFrames: Int64 = 0, rate: Int, startedAt: Date?, ending: Ending) {
        self.frames = frames
        self.signalFrames = signalFrames
        self.rate = rate
        self.startedAt = startedAt
        self.ending = ending
    }
}
