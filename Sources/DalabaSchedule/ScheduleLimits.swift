/// How much one schedule file may ask of the parser, so that no file (an alias bomb, a runaway generator, a deep nest)
/// can hold a core or the daemon's schedule: every limit is checked on libyaml's event stream, before a tree exists.
///
/// The defaults are far above any schedule a village writes by hand (a few hundred programmes are some 100 KB, a depth of 5
/// and no aliases) and far below what would take a noticeable time to read.
public struct ScheduleLimits: Sendable, Hashable {
    /// Largest file, in bytes of UTF-8; a larger one is refused before it is parsed (the daemon does not even read it).
    public var maxFileBytes: Int
    /// Most aliases (`*name`) in one file.
    public var maxAliases: Int
    /// Most nodes in one file once every alias is expanded: what stops a "billion laughs" file, whose few aliases each stand
    /// for millions of nodes.
    public var maxNodes: Int
    /// Deepest nesting of lists and mappings.
    public var maxDepth: Int
    /// Longest time one file may take to read; checked every few hundred events and between programmes.
    public var timeBudget: Duration

    public init(
        maxFileBytes: Int = 1 << 20, maxAliases: Int = 1_000, maxNodes: Int = 1_000_000, maxDepth: Int = 64, timeBudget: Duration = .seconds(2)
    ) {
        self.maxFileBytes = maxFileBytes
        self.maxAliases = maxAliases
        self.maxNodes = maxNodes
        self.maxDepth = maxDepth
        self.timeBudget = timeBudget
    }

    /// 1 MiB per file, 1,000 aliases, 1,000,000 expanded nodes, depth 64, 2 seconds.
    public static let standard = ScheduleLimits()

    /// Why a file of `bytes` bytes is refused, or nil when its size is allowed; the daemon and the CLI ask before they read it.
    public func sizeProblem(bytes: Int) -> String? {
        guard bytes > maxFileBytes else { return nil }
        return "is \(bytes) bytes, more than the \(Self.size(maxFileBytes)) a schedule file may hold: split it into several files"
    }

    /// `1048576` as `1 MiB`, `1536` as `1.5 KiB`: the limit as an operator reads it, exact bytes when it is no round size.
    static func size(_ bytes: Int) -> String {
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}

/// Asked by the parser whether to give up: the time budget of one file, and the caller's cancellation (a daemon stopping).
struct ReadingBudget {
    private let expired: () -> Bool
    private let cancelled: () -> Bool
    let limit: Duration

    init<C: Clock>(clock: C, limit: Duration, cancelled: @escaping () -> Bool) where C.Duration == Duration {
        let start = clock.now
        self.expired = { start.duration(to: clock.now) > limit }
        self.cancelled = cancelled
        self.limit = limit
    }

    /// Why reading must stop now, or nil to go on.
    func stopReason() -> String? {
        if cancelled() { return "reading was cancelled (the daemon is stopping)" }
        if expired() { return "took longer than \(limit) to read: refused (split the file, or look for aliases that multiply)" }
        return nil
    }
}
