import DalabaCore
import Foundation
import Testing

/// Cancelling, stop-all, player failures and restoring after a crash.
@Suite struct ArbiterRecoveryTests: ArbiterFixtures {
    @Test func cancellingAWaitingItemRemovesAndLogsIt() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("first"))
        arbiter.add(item("second"))
        let cancelled = arbiter.cancel(id: "second", now: at(5))
        let actions = try #require(cancelled)
        let record = try #require(actions.records.first)
        #expect(record.outcome == .cancelled && record.frames == 0 && record.endedAt == at(5))
        #expect(actions.removes == ["second"])
        #expect(actions.plays.isEmpty && actions.stops.isEmpty)
        #expect(!arbiter.contains(id: "second"))
    }

    @Test func cancellingThePlayingItemStopsItAndLogsItsFrames() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("wrong-notice"))
        arbiter.add(item("next"))
        let cancelled = arbiter.cancel(id: "wrong-notice", now: at(3))
        let actions = try #require(cancelled)
        #expect(actions.stops == ["wrong-notice"])
        #expect(actions.records.isEmpty, "the record waits for the player's frames")
        #expect(actions.playedIDs == ["next"])

        let ended = arbiter.finished(id: "wrong-notice", report: .stopped(144_000, signal: 48_000), now: at(3))
        let record = try #require(ended.records.first)
        #expect(record.outcome == .cancelled && record.frames == 144_000 && record.signalFrames == 48_000)
        #expect(ended.removes == ["wrong-notice"])
        #expect(ended.saves.isEmpty, "a cancelled item is not requeued")
        #expect(!arbiter.contains(id: "wrong-notice"))
        #expect(arbiter.playingID == "next")
    }

    @Test func cancellingDuringTheSignalWorks() throws {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("false-alarm", level: 2))
        #expect(arbiter.cancel(id: "false-alarm", now: at(1))?.stops == ["false-alarm"])
        let report = PlayReport(frames: 0, signalFrames: 30_000, rate: 48_000, startedAt: morning, ending: .stopped)
        let ended = arbiter.finished(id: "false-alarm", report: report, now: at(1))
        #expect(ended.records.map(\.outcome) == [.cancelled])
        #expect(ended.removes == ["false-alarm"])
    }

    @Test func cancellingAnInterruptedItemWaitingToResumeRemovesIt() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        arbiter.add(emergency("flood", level: 2))
        _ = arbiter.finished(id: "weather", report: .stopped(96_000), now: at(2))
        let cancelled = arbiter.cancel(id: "weather", now: at(3))
        let actions = try #require(cancelled)
        #expect(actions.records.map(\.outcome) == [.cancelled])
        #expect(actions.records.first?.frames == 0)
        #expect(actions.removes == ["weather"])
        #expect(arbiter.finished(id: "flood", report: .completed(1), now: at(10)).plays.isEmpty)
    }

    @Test func cancellingAnInterruptedItemBeforeItsReportArrivesDoesNotRequeueIt() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        arbiter.add(emergency("flood", level: 2))
        let cancelled = arbiter.cancel(id: "weather", now: at(1))
        let actions = try #require(cancelled)
        #expect(actions.stops.isEmpty && actions.records.isEmpty)
        let ended = arbiter.finished(id: "weather", report: .stopped(96_000), now: at(1))
        #expect(ended.records.map(\.outcome) == [.cancelled])
        #expect(ended.removes == ["weather"])
        #expect(!arbiter.contains(id: "weather"))
    }

    @Test func cancellingAnUnknownIDSaysSo() {
        var arbiter = Arbiter.make()
        #expect(arbiter.cancel(id: "nobody", now: morning) == nil)
    }

    @Test func stopAllCancelsEverything() {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        arbiter.add(item("notice", .policy))
        arbiter.add(item("notice-2", .policy))
        arbiter.add(item("music", .routine))
        let actions = arbiter.stopAll(now: at(1))
        #expect(actions.stops == ["notice"])
        #expect(Set(actions.removes) == ["notice-2", "music"])
        #expect(actions.plays.isEmpty)
        #expect(arbiter.queue.isEmpty && arbiter.nowPlaying == nil)

        let weather = arbiter.finished(id: "weather", report: .stopped(10), now: at(1))
        let notice = arbiter.finished(id: "notice", report: .stopped(20), now: at(1))
        #expect(weather.records.map(\.outcome) == [.cancelled] && weather.removes == ["weather"])
        #expect(notice.records.map(\.outcome) == [.cancelled] && notice.removes == ["notice"])
        #expect(!["weather", "notice", "notice-2", "music"].contains { arbiter.contains(id: $0) })
    }

    @Test func aCancelledItemThatFinishedFirstIsLoggedAsCompletedAndNotRepeated() {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice", repeatCount: 3))
        _ = arbiter.cancel(id: "notice", now: at(5))
        let ended = arbiter.finished(id: "notice", report: .completed(240_000), now: at(5))
        #expect(ended.records.map(\.outcome) == [.completed])
        #expect(ended.removes == ["notice"])
    }

    @Test func anAudioFailureIsLoggedAndTheItemRemoved() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("corrupt", repeatCount: 5))
        arbiter.add(item("next"))
        let report = PlayReport(frames: 0, rate: 48_000, startedAt: nil, ending: .audioFailed("not a WAV file"))
        let actions = arbiter.finished(id: "corrupt", report: report, now: at(1))
        let record = try #require(actions.records.first)
        #expect(record.outcome == .failed && record.error == "not a WAV file")
        #expect(actions.removes == ["corrupt"])
        #expect(actions.playedIDs == ["next"])
        #expect(arbiter.deviceDownUntil == nil)
    }

    @Test func aDeviceFailureRequeuesTheItemAndBacksOff() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice"))
        let failed = PlayReport(frames: 9_600, rate: 48_000, startedAt: morning, ending: .deviceFailed("snd_pcm_writei: EIO"))
        let first = arbiter.finished(id: "notice", report: failed, now: at(5))
        let record = try #require(first.records.first)
        #expect(record.outcome == .failed && record.error == "snd_pcm_writei: EIO" && record.frames == 9_600)
        #expect(first.saves.last?.isPlaying == false && first.saves.last?.resumeFrame == 0 && first.saves.last?.playsDone == 0)
        #expect(first.removes.isEmpty && first.plays.isEmpty)
        #expect(arbiter.deviceDownUntil == at(6))
        #expect(first.wakes == [at(6)])

        // Nothing starts while the device rests, not even an emergency.
        #expect(arbiter.add(emergency("fire", level: 1), now: at(5.5)).plays.isEmpty)
        #expect(arbiter.tick(now: at(6)).playedIDs == ["fire"])

        _ = arbiter.finished(id: "fire", report: failed, now: at(7))
        #expect(arbiter.deviceDownUntil == at(9))
        #expect(arbiter.tick(now: at(9)).playedIDs == ["fire"])
        _ = arbiter.finished(id: "fire", report: failed, now: at(10))
        #expect(arbiter.deviceDownUntil == at(14))

        // A play that completes shows the device works again: the next failure starts the backoff afresh.
        _ = arbiter.tick(now: at(14))
        _ = arbiter.finished(id: "fire", report: .completed(1), now: at(20))
        #expect(arbiter.playingID == "notice")
        _ = arbiter.finished(id: "notice", report: failed, now: at(21))
        #expect(arbiter.deviceDownUntil == at(22))
    }

    @Test func theBackoffDoublesUpToItsMaximum() {
        let retry = Arbiter.DeviceRetry()
        #expect((1...7).map { retry.delay(afterFailures: $0) } == [1, 2, 4, 8, 16, 30, 30])
        #expect(Arbiter.DeviceRetry(initial: 0.5, maximum: 3).delay(afterFailures: 4) == 3)
    }

    @Test func aDeviceFailureKeepsAResumeItemsPosition() {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        let failed = PlayReport(frames: 48_000, rate: 48_000, startedAt: morning, ending: .deviceFailed("unplugged"))
        let actions = arbiter.finished(id: "weather", report: failed, now: at(1))
        #expect(actions.saves.last?.resumeFrame == 48_000)
        #expect(arbiter.tick(now: at(2)).plays.first?.startFrame == 48_000)
    }

    func restored(_ announcement: Announcement, resumeFrame: Int64, policies: [Kind: InterruptPolicy] = [:]) -> (Arbiter, [Arbiter.Action]) {
        var configuration = Arbiter.Configuration(timeZone: shanghai)
        configuration.policies.merge(policies) { $1 }
        let onAir = QueueEntry(announcement: announcement, sequence: 7, resumeFrame: resumeFrame, resumeRate: 48_000, isPlaying: true)
        let waiting = QueueEntry(announcement: item("waiting", .routine), sequence: 9)
        var arbiter = Arbiter(configuration: configuration, restoring: [waiting, onAir], now: morning)
        let actions = arbiter.tick(now: morning)
        return (arbiter, actions)
    }

    @Test func aRestartItemOnAirAtACrashPlaysAgainFromTheStart() throws {
        let (arbiter, actions) = restored(item("notice"), resumeFrame: 96_000)
        let saved = try #require(actions.saves.first)
        #expect(saved.id == "notice" && !saved.isPlaying && saved.resumeFrame == 0)
        let order = try #require(actions.plays.first)
        #expect(order.entry.id == "notice" && order.startFrame == 0 && order.signal == .chime)
        #expect(arbiter.queuedIDs == ["waiting"])
    }

    @Test func aResumeItemOnAirAtACrashContinues() throws {
        let (_, actions) = restored(item("weather", .routine), resumeFrame: 96_000)
        #expect(actions.saves.first?.resumeFrame == 96_000 && actions.saves.first?.isPlaying == false)
        let order = try #require(actions.plays.first)
        #expect(order.entry.id == "weather" && order.startFrame == 96_000 && order.signal == Signal.none)
    }

    @Test func aDropItemOnAirAtACrashIsRemoved() {
        let (arbiter, actions) = restored(item("music", .routine), resumeFrame: 96_000, policies: [.routine: .drop])
        #expect(actions.removes == ["music"])
        #expect(actions.playedIDs == ["waiting"])
        #expect(!arbiter.contains(id: "music"))
    }

    @Test func restoringContinuesTheSequenceAndGivesItsActionsOnce() {
        var (arbiter, _) = restored(item("notice"), resumeFrame: 0)
        #expect(arbiter.tick(now: morning).isEmpty)
        let saved = arbiter.add(item("new", .routine)).saves
        #expect(saved.first?.sequence == 10)
    }
}
