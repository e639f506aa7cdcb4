import Foundation

/// How urgent an announcement is; a strictly higher rank preempts what is playing.
///
/// Real emergencies rank by level (1 highest), then drills of any level, then rumor rebuttals, policy and routine.
/// Drills share one rank so a drill never preempts a real emergency nor another drill.
public enum Rank: Sendable, Hashable, Comparable, CustomStringConvertible {
    case routine
    case policy
    case rumorRebuttal
    case drill
    case emergency(level: Int)

    public init(_ announcement: Announcement) {
        switch announcement.kind {
        case .emergency: self = announcement.isTest ? .drill : .emergency(level: Rank.clamped(announcement.level))
        case .rumorRebuttal: self = .rumorRebuttal
        case .policy: self = .policy
        case .routine: self = .routine
        }
    }

    /// An emergency without a valid level is treated as the least severe one rather than refused here:
    /// validation belongs to the edges, and the arbiter must still place whatever reaches it.
    static func clamped(_ level: Int?) -> Int { min(max(level ?? 4, 1), 4) }

    /// Larger preempts smaller; also the queue's sort key.
    var height: Int {
        switch self {
        case .routine: 0
        case .policy: 1
        case .rumorRebuttal: 2
        case .drill: 3
        case .emergency(let level): 8 - Rank.clamped(level)
        }
    }

    public static func < (lhs: Rank, rhs: Rank) -> Bool { lhs.height < rhs.height }

    public var description: String {
        switch self {
        case .routine: "routine"
        case .policy: "policy"
        case .rumorRebuttal: "rumor-rebuttal"
        case .drill: "drill"
        case .emergency(let level): "emergency level \(Rank.clamped(level))"
        }
    }
}

extension Announcement {
    /// The rank that decides preemption; see `Rank`.
    public var rank: Rank { Rank(self) }
}
