import DalabaCore
import Foundation
import Testing

/// Ranks, queue order and preemption.
@Suite struct ArbiterTests: ArbiterFixtures {
    @Test func ranksFromHighestToLowest() {
        let ranked = [
            emergency("e1", level: 1), emergency("e2", level: 2), emergency("e3", level: 3), emergency("e4", level: 4),
            emergency("d1", level: 1, test: true), item("rumor", .rumorRebuttal), item("policy", .policy), item("routine", .routine),
        ].map(\.rank)
        let expected: [Rank] = [
            .emergency(level: 1), .emergency(level: 2), .emergency(level: 3), .emergency(level: 4), .drill, .rumorRebuttal, .policy, .routine,
        ]
        #expect(ranked == expected)
        for (higher, lower) in zip(ranked, ranked.dropFirst()) { #expect(higher > lower) }
        #expect(emergency("d4", level: 4, test: true).rank == emergency("d1", level: 1, test: true).rank)
    }

    @Test func anIdleStationPlaysAnArrivalAtOnce() {
        var arbiter = Arbiter.make()
        let (result, actions) = arbiter.enqueue(item("notice"), now: morning)
        #expect(result == .queued(position: 0))
        #expect(actions.saves.first?.isPlaying == false)
        #expect(actions.playedIDs == ["notice"])
        #expect(actions.saves.last?.isPlaying == true)
        #expect(arbiter.nowPlaying?.playNumber == 1)
        #expect(arbiter.nowPlaying?.startFrame == 0)
    }

    @Test func waitingItemsOrderByRankThenTierThenArrival() {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("alert", level: 1))
        arbiter.add(item("routine-county", .routine, tier: .county))
        arbiter.add(item("policy-village-1", .policy, tier: .village))
        arbiter.add(item("policy-county", .policy, tier: .county))
        arbiter.add(item("policy-village-2", .policy, tier: .village))
        arbiter.add(item("policy-township", .policy, tier: .township))
        arbiter.add(item("rumor-village", .rumorRebuttal, tier: .village))
        #expect(arbiter.playingID == "alert")
        #expect(
            arbiter.queuedIDs == [
                "rumor-village", "policy-county", "policy-township", "policy-village-1", "policy-village-2", "routine-county",
            ])
    }

    @Test func drillsOrderByLevelAmongThemselves() {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("alert", level: 4))
        arbiter.add(emergency("drill-3", level: 3, test: true, tier: .county))
        arbiter.add(emergency("drill-1", level: 1, test: true, tier: .village))
        arbiter.add(item("rumor", .rumorRebuttal, tier: .county))
        #expect(arbiter.queuedIDs == ["drill-1", "drill-3", "rumor"])
    }

    @Test func enqueueReportsThePositionInLine() {
        var arbiter = Arbiter.make()
        #expect(arbiter.enqueue(item("first"), now: morning).0 == .queued(position: 0))
        #expect(arbiter.enqueue(item("second"), now: morning).0 == .queued(position: 0))
        #expect(arbiter.enqueue(item("third"), now: morning).0 == .queued(position: 1))
        #expect(arbiter.enqueue(item("rumor", .rumorRebuttal), now: morning).0 == .queued(position: 0))
    }

    @Test func aDuplicateIDIsNotQueuedTwice() {
        var arbiter = Arbiter.make()
        arbiter.add(item("on-air"))
        arbiter.add(item("waiting"))
        let playing = arbiter.enqueue(item("on-air", .rumorRebuttal), now: morning)
        let waiting = arbiter.enqueue(item("waiting"), now: morning)
        #expect(playing.0 == .duplicate && playing.1.isEmpty)
        #expect(waiting.0 == .duplicate && waiting.1.isEmpty)
        #expect(arbiter.queuedIDs == ["waiting"])
    }

    @Test func aStrictlyHigherRankPreemptsAtOnce() {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        let actions = arbiter.add(item("notice", .policy))
        #expect(actions.playedIDs == ["notice"])
        #expect(actions.stops.isEmpty, "a play order itself switches the player")
        #expect(arbiter.playingID == "notice")
        #expect(arbiter.contains(id: "weather"))
        #expect(arbiter.queue.isEmpty, "the interrupted item is stopping, not yet back in line")
    }

    @Test func tierDoesNotPreempt() {
        var arbiter = Arbiter.make()
        arbiter.add(item("village-notice", .policy, tier: .village))
        let actions = arbiter.add(item("county-notice", .policy, tier: .county))
        #expect(actions.plays.isEmpty)
        #expect(arbiter.playingID == "village-notice")
        #expect(arbiter.queuedIDs == ["county-notice"])
    }

    @Test func theInterruptedItemIsLoggedWhenItsLateReportArrives() {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        arbiter.add(item("notice", .policy))
        let actions = arbiter.finished(id: "weather", report: .stopped(96_000), now: at(2))
        #expect(actions.records.map(\.outcome) == [.interrupted])
        #expect(actions.records.first?.announcementID == "weather")
        #expect(actions.records.first?.frames == 96_000)
        #expect(actions.plays.isEmpty)
        #expect(arbiter.playingID == "notice", "the late report must not touch what plays now")
        #expect(arbiter.queuedIDs == ["weather"])
    }

    @Test func resumePolicyContinuesWhereItStoppedWithoutASignal() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        _ = arbiter.progressed(id: "weather", frames: 48_000, rate: 48_000)
        arbiter.add(item("notice", .policy))
        let requeued = arbiter.finished(id: "weather", report: .stopped(96_000), now: at(2))
        let saved = try #require(requeued.saves.last)
        #expect(saved.resumeFrame == 96_000 && saved.resumeRate == 48_000 && !saved.isPlaying)

        let next = arbiter.finished(id: "notice", report: .completed(480_000), now: at(12))
        let order = try #require(next.plays.first)
        #expect(order.entry.id == "weather")
        #expect(order.startFrame == 96_000)
        #expect(order.signal == Signal.none)
        #expect(order.playNumber == 1, "a continuation is the same play, not a repeat")

        // A second interruption adds to what was heard before.
        arbiter.add(item("notice-2", .policy), now: at(13))
        let again = arbiter.finished(id: "weather", report: .stopped(48_000), now: at(14))
        #expect(again.saves.last?.resumeFrame == 144_000)
    }

    @Test func restartPolicyPlaysFromTheStartAheadOfLaterArrivals() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("notice", .policy))
        arbiter.add(emergency("flood", level: 2))
        arbiter.add(item("later-notice", .policy))
        let requeued = arbiter.finished(id: "notice", report: .stopped(100_000), now: at(3))
        #expect(requeued.saves.last?.resumeFrame == 0)
        #expect(arbiter.queuedIDs == ["notice", "later-notice"], "it keeps its original sequence")

        let next = arbiter.finished(id: "flood", report: .completed(200_000), now: at(10))
        let order = try #require(next.plays.first)
        #expect(order.entry.id == "notice" && order.startFrame == 0 && order.signal == .chime)
    }

    @Test func dropPolicyAbandonsTheInterruptedItem() {
        var arbiter = Arbiter.make(policies: [.routine: .drop])
        arbiter.add(item("music", .routine))
        arbiter.add(item("rumor", .rumorRebuttal))
        let actions = arbiter.finished(id: "music", report: .stopped(10), now: at(1))
        #expect(actions.records.map(\.outcome) == [.interrupted])
        #expect(actions.removes == ["music"])
        #expect(!arbiter.contains(id: "music"))
    }

    @Test func anEmergencyArrivingDuringAnothersSignalPreemptsIt() throws {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("storm", level: 3))
        #expect(arbiter.nowPlaying?.signal == .attention)
        let actions = arbiter.add(emergency("earthquake", level: 1), now: at(1))
        #expect(actions.playedIDs == ["earthquake"])

        // Only the attention signal had gone out: no programme frames.
        let report = PlayReport(frames: 0, signalFrames: 24_000, rate: 48_000, startedAt: morning, ending: .stopped)
        let logged = arbiter.finished(id: "storm", report: report, now: at(1))
        let record = try #require(logged.records.first)
        #expect(record.outcome == .interrupted && record.frames == 0 && record.signalFrames == 24_000)

        let next = arbiter.finished(id: "earthquake", report: .completed(48_000), now: at(20))
        let order = try #require(next.plays.first)
        #expect(order.entry.id == "storm" && order.signal == .attention && order.startFrame == 0)
    }

    @Test func aHigherEmergencyPreemptsALowerOneAndNotTheOtherWayRound() {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("level-3", level: 3))
        #expect(arbiter.add(emergency("level-1", level: 1)).playedIDs == ["level-1"])

        var other = Arbiter.make()
        other.add(emergency("level-1", level: 1))
        let (result, actions) = other.enqueue(emergency("level-3", level: 3), now: morning)
        #expect(actions.plays.isEmpty)
        #expect(result == .queued(position: 0))
        #expect(other.playingID == "level-1")
    }

    @Test func aRealEmergencyPreemptsADrill() {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("drill", level: 1, test: true))
        #expect(arbiter.add(emergency("real", level: 4)).playedIDs == ["real"])
    }

    @Test func aDrillNeverPreemptsARealEmergency() {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("real", level: 4, tier: .village))
        let actions = arbiter.add(emergency("drill", level: 1, test: true, tier: .county))
        #expect(actions.plays.isEmpty)
        #expect(arbiter.playingID == "real")
    }

    @Test func aDrillPreemptsRumorRebuttalsButNotAnotherDrill() {
        var arbiter = Arbiter.make()
        arbiter.add(item("rumor", .rumorRebuttal))
        #expect(arbiter.add(emergency("drill-4", level: 4, test: true)).playedIDs == ["drill-4"])
        #expect(arbiter.add(emergency("drill-1", level: 1, test: true)).plays.isEmpty)
    }

    @Test func eachPlayGetsItsKindsSignal() {
        let expected: [Kind: Signal] = [.emergency: .attention, .rumorRebuttal: .chime, .policy: .chime, .routine: .none]
        for (kind, signal) in expected {
            var arbiter = Arbiter.make()
            let order = arbiter.add(item("x", kind)).plays.first
            #expect(order?.signal == signal, "\(kind)")
        }
    }

    @Test func aNaturalEndIsLoggedRemovedAndTheNextStarts() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("first"))
        arbiter.add(item("second"))
        let actions = arbiter.finished(id: "first", report: .completed(480_000, signal: 20_000), now: at(11))
        let record = try #require(actions.records.first)
        #expect(record.outcome == .completed && record.frames == 480_000 && record.signalFrames == 20_000 && record.rate == 48_000)
        #expect(record.playNumber == 1 && record.startedAt == morning && record.endedAt == at(11))
        #expect(actions.removes == ["first"])
        #expect(actions.playedIDs == ["second"])
        #expect(arbiter.playingID == "second")
    }

    @Test func aPlayerCheckpointSavesTheResumePosition() {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        let saved = arbiter.progressed(id: "weather", frames: 48_000, rate: 48_000).saves
        #expect(saved.count == 1)
        #expect(saved.first?.resumeFrame == 48_000 && saved.first?.isPlaying == true)
        #expect(arbiter.progressed(id: "unknown", frames: 1, rate: 48_000).isEmpty)
    }

    @Test func aCheckpointFromAStoppingItemIsIgnored() {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        arbiter.add(emergency("fire", level: 2))
        #expect(arbiter.progressed(id: "weather", frames: 48_000, rate: 48_000).isEmpty)
    }

    @Test func aResumePositionTakenAtAnotherRateIsConverted() {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine))
        arbiter.add(item("notice", .policy))
        _ = arbiter.finished(id: "weather", report: .stopped(44_100, rate: 44_100), now: at(1))
        _ = arbiter.finished(id: "notice", report: .completed(1), now: at(5))
        #expect(arbiter.nowPlaying?.startFrame == 44_100)
        let saved = arbiter.progressed(id: "weather", frames: 48_000, rate: 48_000).saves
        #expect(saved.first?.resumeFrame == 96_000 && saved.first?.resumeRate == 48_000)
    }
}
