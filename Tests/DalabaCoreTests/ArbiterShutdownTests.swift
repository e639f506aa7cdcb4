import DalabaCore
import Foundation
import Testing

/// Shutdown is an event of the state machine: what the station does at SIGTERM follows from here, not from actor code.
@Suite struct ArbiterShutdownTests: ArbiterFixtures {
    @Test func idleShutdownCompletesAtOnce() {
        var arbiter = Arbiter.make()
        let actions = arbiter.shutdown(now: morning)
        #expect(actions.contains(.shutdownComplete))
        #expect(actions.plays.isEmpty && actions.stops.isEmpty)
    }

    @Test func theItemOnAirIsStoppedThenLoggedInterruptedAndKeptUnderItsPolicy() {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice"))
        arbiter.add(item("next"))
        let actions = arbiter.shutdown(now: at(5))
        #expect(actions.stops == ["notice"])
        #expect(!actions.contains(.shutdownComplete), "complete only once the player has reported")
        let finished = arbiter.finished(id: "notice", report: .stopped(96_000), now: at(5))
        #expect(finished.records.map(\.outcome) == [.interrupted])
        #expect(finished.records.first?.frames == 96_000)
        #expect(finished.records.first?.error == "station stopped while playing")
        // A policy notice restarts: it is kept, not on air, from the start.
        #expect(finished.saves.map(\.id) == ["notice"])
        #expect(finished.saves.first?.isPlaying == false && finished.saves.first?.resumeFrame == 0)
        #expect(finished.plays.isEmpty, "nothing new starts while stopping")
        #expect(finished.last == .shutdownComplete)
        #expect(arbiter.queuedIDs == ["notice", "next"])
    }

    @Test func anItemThatCompletedJustBeforeShutdownIsLoggedCompletedAndNotBroadcastAgain() {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice"))
        _ = arbiter.shutdown(now: at(5))
        let finished = arbiter.finished(id: "notice", report: .completed(240_000), now: at(5))
        #expect(finished.records.map(\.outcome) == [.completed])
        #expect(finished.removes == ["notice"])
        #expect(finished.saves.isEmpty)
        #expect(finished.contains(.shutdownComplete))
        #expect(!arbiter.contains(id: "notice"))
    }

    @Test func anItemCancelledJustBeforeShutdownIsLoggedCancelled() {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice"))
        let cancel = arbiter.cancel(id: "notice", now: at(2)) ?? []
        #expect(cancel.stops == ["notice"])
        let shutdown = arbiter.shutdown(now: at(2))
        #expect(!shutdown.contains(.shutdownComplete))
        let finished = arbiter.finished(id: "notice", report: .stopped(1_000), now: at(2))
        #expect(finished.records.map(\.outcome) == [.cancelled])
        #expect(finished.removes == ["notice"])
        #expect(finished.contains(.shutdownComplete))
    }

    @Test func aResumableProgrammeKeepsItsPositionAcrossShutdown() {
        var arbiter = Arbiter.make()
        arbiter.add(item("music", .routine))
        _ = arbiter.shutdown(now: at(10))
        let finished = arbiter.finished(id: "music", report: .stopped(480_000), now: at(10))
        #expect(finished.saves.first?.resumeFrame == 480_000)
        #expect(finished.saves.first?.resumeRate == 48_000)
    }

    @Test func nothingStartsAfterShutdownEvenWhenQueued() {
        var arbiter = Arbiter.make()
        _ = arbiter.shutdown(now: morning)
        let (result, actions) = arbiter.enqueue(emergency("flood", level: 1), now: at(1))
        #expect(result == .queued(position: 0))
        #expect(actions.plays.isEmpty)
        #expect(actions.saves.map(\.id) == ["flood"], "kept for the restart")
        #expect(!actions.contains(.shutdownComplete), "announced once")
    }
}
