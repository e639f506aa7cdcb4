import Foundation

/// An announcement waiting in (or playing from) the station's queue, with what is needed to carry on
/// after a preemption or a restart. This is what the store persists.
public struct QueueEntry: Codable, Sendable, Hashable, Identifiable {
    public var announcement: Announcement
    /// Arrival order, for first come, first served within a rank and tier.
    public var sequence: Int64
    /// Plays already finished (completed or given up), counting towards `announcement.repeatCount`.
    public var playsDone: Int
    /// Frames of the programme already heard, at `resumeRate`, where a `resume` item continues.
    public var resumeFrame: Int64
    public var resumeRate: Int
    /// Not started before this (the repeat interval after the previous play).
    public var earliestStart: Date?
    /// True while the player has it; after a crash this tells the restart what was on air.
    public var isPlaying: Bool

    public var id: String { announcement.id }

    public init(
        announcement: Announcement, sequence: Int64, playsDone: Int = 0, resumeFrame: Int64 = 0, resumeRate: Int = 0,
        earliestStart: Date? = nil, isPlaying: Bool = false
    ) {
        self.announcement = announcement
        self.sequence = sequence
        self.playsDone = playsDone
        self.resumeFrame = resumeFrame
        self.resumeRate = resumeRate
        self.earliestStart = earliestStart
        self.isPlaying = isPlaying
    }
}
