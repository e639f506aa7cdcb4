import DalabaCore
import Foundation

/// Times and builders shared by the arbiter's suites. They are members of a protocol the suites adopt, not globals, so
/// they cannot clash with names other suites in this module declare.
enum ArbiterFixture {
    /// 2025-06-02 10:00 in Asia/Shanghai (02:00 UTC): a Monday morning, outside any quiet hours.
    static let morning = Date(timeIntervalSince1970: 1_748_829_600)
    static let shanghai = TimeZone(identifier: "Asia/Shanghai")!
}

protocol ArbiterFixtures {}

extension ArbiterFixtures {
    var morning: Date { ArbiterFixture.morning }
    var shanghai: TimeZone { ArbiterFixture.shanghai }

    /// `seconds` after `base` (default: `morning`).
    func at(_ seconds: Double, from base: Date? = nil) -> Date { (base ?? morning).addingTimeInterval(seconds) }

    func item(
        _ id: String, _ kind: Kind = .policy, level: Int? = nil, tier: Tier = .village, test: Bool = false, repeatCount: Int = 1,
        repeatInterval: Double = 0, notBefore: Date? = nil, expires: Date? = nil
    ) -> Announcement {
        Announcement(
            id: id, title: "title of \(id)", kind: kind, level: kind == .emergency ? (level ?? 1) : level, tier: tier, isTest: test,
            audio: "/srv/dalaba/\(id).wav", source: "test", repeatCount: repeatCount, repeatInterval: repeatInterval,
            notBefore: notBefore, expires: expires, queuedAt: morning)
    }

    func emergency(_ id: String, level: Int, test: Bool = false, tier: Tier = .county, expires: Date? = nil) -> Announcement {
        item(id, .emergency, level: level, tier: tier, test: test, expires: expires)
    }
}

extension PlayReport {
    static func completed(_ frames: Int64, signal: Int64 = 0, rate: Int = 48_000, startedAt: Date? = ArbiterFixture.morning) -> PlayReport {
        PlayReport(frames: frames, signalFrames: signal, rate: rate, startedAt: startedAt, ending: .completed)
    }

    static func stopped(_ frames: Int64, signal: Int64 = 0, rate: Int = 48_000, startedAt: Date? = ArbiterFixture.morning) -> PlayReport {
        PlayReport(frames: frames, signalFrames: signal, rate: rate, startedAt: startedAt, ending: .stopped)
    }
}

extension Array where Element == Arbiter.Action {
    var plays: [Arbiter.PlayOrder] { compactMap { if case .play(let order) = $0 { order } else { nil } } }
    var playedIDs: [String] { plays.map(\.entry.id) }
    var stops: [String] { compactMap { if case .stop(let id) = $0 { id } else { nil } } }
    var records: [AirtimeRecord] { compactMap { if case .record(let record) = $0 { record } else { nil } } }
    var saves: [QueueEntry] { compactMap { if case .save(let entry) = $0 { entry } else { nil } } }
    var removes: [String] { compactMap { if case .remove(let id) = $0 { id } else { nil } } }
    var wakes: [Date?] { compactMap { if case .wake(let date) = $0 { date } else { nil } } }
}

extension Arbiter {
    /// An arbiter with the defaults but the test's quiet hours and retry, started at `morning`.
    static func make(quietHours: QuietHours? = nil, policies: [Kind: InterruptPolicy] = [:], now: Date = ArbiterFixture.morning) -> Arbiter {
        var configuration = Configuration(quietHours: quietHours, timeZone: ArbiterFixture.shanghai)
        configuration.policies.merge(policies) { $1 }
        return Arbiter(configuration: configuration, now: now)
    }

    /// Enqueues and returns the actions, for tests that do not care about the position.
    @discardableResult
    mutating func add(_ announcement: Announcement, now: Date = ArbiterFixture.morning) -> [Action] {
        enqueue(announcement, now: now).1
    }

    var playingID: String? { nowPlaying?.entry.id }
    var queuedIDs: [String] { queue.map(\.id) }
}
