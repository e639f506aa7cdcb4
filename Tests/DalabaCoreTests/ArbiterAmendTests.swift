import DalabaCore
import Foundation
import Testing

/// `amend`: an update is one event, so the item is always the old version or the new one, never missing.
@Suite struct ArbiterAmendTests: ArbiterFixtures {
    @Test func aWaitingItemBecomesTheNewVersionInOneSaveAndKeepsItsPlace() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("first"))
        arbiter.add(item("notice"))
        arbiter.add(item("later"))
        let (result, actions) = try arbiter.amendKnown(id: "notice", Amendment(title: "corrected", expires: at(3_600)), now: at(5))
        #expect(result == .amended(position: 0))
        #expect(actions.saves.map(\.id) == ["notice"])
        #expect(actions.saves.first?.announcement.title == "corrected")
        #expect(actions.saves.first?.announcement.expires == at(3_600))
        #expect(actions.saves.first?.sequence == 2, "its first-come place is kept")
        #expect(actions.records.isEmpty && actions.removes.isEmpty && actions.plays.isEmpty, "nothing is cancelled or re-queued")
        #expect(arbiter.queuedIDs == ["notice", "later"])
        #expect(arbiter.queue.first?.announcement.title == "corrected")
    }

    @Test func anEarlierExpiryWakesTheArbiterAndThenExpiresTheItem() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("first"))
        arbiter.add(item("notice", expires: at(7_200)))
        let (_, actions) = try arbiter.amendKnown(id: "notice", Amendment(expires: at(60)), now: at(1))
        #expect(actions.wakes == [at(60)])
        let due = arbiter.tick(now: at(60))
        #expect(due.records.map(\.outcome) == [.expired])
        #expect(due.removes == ["notice"])
    }

    @Test func anExpiryAlreadyPastLogsTheWaitingItemExpired() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("first"))
        arbiter.add(item("notice"))
        let (result, actions) = try arbiter.amendKnown(id: "notice", Amendment(expires: at(-1)), now: at(10))
        #expect(result == .expired)
        #expect(actions.records.map(\.outcome) == [.expired])
        #expect(actions.records.first?.title == "title of notice")
        #expect(actions.removes == ["notice"])
        #expect(!arbiter.contains(id: "notice"))
    }

    @Test func onAirThePlayGoesOnAsItStartedAndTheRepeatIsTheNewVersion() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice", repeatCount: 2))
        let (result, actions) = try arbiter.amendKnown(id: "notice", Amendment(title: "corrected"), now: at(1))
        #expect(result == .nextPlay)
        #expect(actions.stops.isEmpty && actions.plays.isEmpty, "what is on air is not interrupted")
        #expect(actions.saves.map(\.announcement.title) == ["corrected"])
        #expect(actions.saves.first?.isPlaying == true, "a crash now restores the new version")
        #expect(arbiter.nowPlaying?.entry.announcement.title == "title of notice")
        let done = arbiter.finished(id: "notice", report: .completed(48_000), now: at(2))
        #expect(done.records.map(\.title) == ["title of notice"], "the log row says what aired")
        #expect(done.plays.map(\.entry.announcement.title) == ["corrected"])
    }

    @Test func anEmergencyOnAirWhoseNewEndHasPassedStopsAsExpired() throws {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("flood", level: 2))
        let (result, actions) = try arbiter.amendKnown(id: "flood", Amendment(expires: at(2)), now: at(3))
        #expect(result == .nextPlay)
        #expect(actions.stops == ["flood"])
        let done = arbiter.finished(id: "flood", report: .stopped(96_000), now: at(3))
        #expect(done.records.map(\.outcome) == [.expired])
        #expect(done.removes == ["flood"])
    }

    @Test func aPreemptedItemGoesBackInLineAsTheNewVersion() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice"))
        arbiter.add(emergency("flood", level: 1), now: at(1))
        let (result, _) = try arbiter.amendKnown(id: "notice", Amendment(title: "corrected"), now: at(1))
        #expect(result == .nextPlay)
        let requeued = arbiter.finished(id: "notice", report: .stopped(1_000), now: at(1))
        #expect(requeued.records.map(\.title) == ["title of notice"])
        #expect(arbiter.queue.map(\.announcement.title) == ["corrected"])
    }

    @Test func aCancelledItemStillStoppingAndAnUnknownIdAreNotAmended() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice"))
        _ = arbiter.cancel(id: "notice", now: at(1))
        let (result, actions) = try arbiter.amendKnown(id: "notice", Amendment(title: "too late"), now: at(1))
        #expect(result == .stopping)
        #expect(actions.saves.isEmpty)
        #expect(arbiter.amend(id: "nobody", Amendment(title: "x"), now: at(1)) == nil)
        let done = arbiter.finished(id: "notice", report: .stopped(10), now: at(2))
        #expect(done.records.map(\.outcome) == [.cancelled])
    }

    @Test func restoredAfterACrashTheStoreHoldsExactlyOneVersion() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("first"))
        arbiter.add(item("notice"))
        var stored: [String: QueueEntry] = [:]
        func apply(_ actions: [Arbiter.Action]) {
            for action in actions {
                if case .save(let entry) = action { stored[entry.id] = entry }
                if case .remove(let id) = action { stored[id] = nil }
            }
        }
        apply(arbiter.queue.map { .save($0) })
        let (_, actions) = try arbiter.amendKnown(id: "notice", Amendment(title: "corrected"), now: at(1))
        // Before the event's commit the store has the old version, after it the new one: never neither.
        #expect(stored["notice"]?.announcement.title == "title of notice")
        apply(actions)
        #expect(stored["notice"]?.announcement.title == "corrected")
        let restored = Arbiter(configuration: arbiter.configuration, restoring: Array(stored.values), now: at(2))
        #expect(stored.count == 1)
        #expect(restored.queue.map(\.announcement.title) + [restored.nowPlaying?.entry.announcement.title] == ["corrected"])
    }
}

extension Arbiter {
    /// `amend` for an id the test knows is there.
    mutating func amendKnown(id: String, _ change: Amendment, now: Date) throws -> (AmendResult, [Action]) {
        let result = amend(id: id, change, now: now)
        return try #require(result, "\(id) is unknown to the arbiter")
    }
}
