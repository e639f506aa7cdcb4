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
    /// A failed attempt on a dead device has been logged; retries that fail the same way are not logged again.
    public var deviceFailureLogged: Bool

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
        self.deviceFailureLogged = false
    }

    enum CodingKeys: String, CodingKey {
        case announcement, sequence, playsDone, resumeFrame, resumeRate, earliestStart, isPlaying, deviceFailureLogged
    }

    /// Entries saved before `deviceFailureLogged` existed read as not logged.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        announcement = try c.decode(Announcement.self, forKey: .announcement)
        sequence = try c.decode(Int64.self, forKey: .sequence)
        playsDone = try c.decode(Int.self, forKey: .playsDone)
        resumeFrame = try c.decode(Int64.self, forKey: .resumeFrame)
        resumeRate = try c.decode(Int.self, forKey: .resumeRate)
        earliestStart = try c.decodeIfPresent(Date.self, forKey: .earliestStart)
        isPlaying = try c.decode(Bool.self, forKey: .isPlaying)
        deviceFailureLogged = try c.decodeIfPresent(Bool.self, forKey: .deviceFailureLogged) ?? false
    }
}
