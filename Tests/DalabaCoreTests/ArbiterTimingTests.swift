import DalabaCore
import Foundation
import Testing

/// Not-before, repeats, expiry, quiet hours and wake times.
@Suite struct ArbiterTimingTests: ArbiterFixtures {
    @Test func notBeforeHoldsAnItemAndAsksForAWake() {
        var arbiter = Arbiter.make()
        let actions = arbiter.add(item("noon-notice", notBefore: at(60)))
        #expect(actions.plays.isEmpty)
        #expect(actions.wakes == [at(60)])
        #expect(arbiter.tick(now: at(30)).isEmpty)
        let due = arbiter.tick(now: at(60))
        #expect(due.playedIDs == ["noon-notice"])
        #expect(due.wakes == [nil])
    }

    @Test func aWakeIsEmittedOnlyWhenItChanges() {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("alert", level: 1))
        #expect(arbiter.add(item("b", notBefore: at(120))).wakes == [at(120)])
        #expect(arbiter.add(item("c", notBefore: at(300))).wakes.isEmpty)
        #expect(arbiter.add(item("d", notBefore: at(30))).wakes == [at(30)])
        #expect(arbiter.cancel(id: "d", now: at(1))?.wakes == [at(120)])
    }

    @Test func repeatsPlayAgainAfterTheInterval() throws {
        var arbiter = Arbiter.make()
        arbiter.add(item("vaccination", repeatCount: 3, repeatInterval: 60))
        let first = arbiter.finished(id: "vaccination", report: .completed(480_000), now: at(10))
        #expect(first.records.map(\.outcome) == [.completed])
        #expect(first.removes.isEmpty)
        let saved = try #require(first.saves.last)
        #expect(saved.playsDone == 1 && saved.earliestStart == at(70) && saved.resumeFrame == 0 && !saved.isPlaying)
        #expect(first.plays.isEmpty)
        #expect(first.wakes == [at(70)])

        // Another item uses the gap.
        #expect(arbiter.add(item("other"), now: at(20)).playedIDs == ["other"])
        _ = arbiter.finished(id: "other", report: .completed(1), now: at(30))

        let second = try #require(arbiter.tick(now: at(70)).plays.first)
        #expect(second.entry.id == "vaccination" && second.playNumber == 2 && second.signal == .chime)
        let secondEnd = arbiter.finished(id: "vaccination", report: .completed(480_000), now: at(80))
        #expect(secondEnd.records.first?.playNumber == 2)
        #expect(arbiter.tick(now: at(140)).plays.first?.playNumber == 3)
        let last = arbiter.finished(id: "vaccination", report: .completed(480_000), now: at(150))
        #expect(last.removes == ["vaccination"])
        #expect(!arbiter.contains(id: "vaccination"))
    }

    @Test func anItemExpiringWhileWaitingBehindAnEmergencyIsNeverStarted() {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("typhoon", level: 1))
        let queued = arbiter.add(item("market-day", expires: at(30)))
        #expect(queued.wakes == [at(30)])
        let expired = arbiter.tick(now: at(30))
        #expect(expired.records.map(\.outcome) == [.expired])
        #expect(expired.records.first?.frames == 0 && expired.records.first?.startedAt == nil)
        #expect(expired.removes == ["market-day"])
        #expect(expired.wakes == [nil])
        #expect(arbiter.finished(id: "typhoon", report: .completed(1), now: at(40)).plays.isEmpty)
    }

    @Test func anExpiredWaitingItemIsSweptOnAnyEvent() {
        var arbiter = Arbiter.make()
        arbiter.add(emergency("typhoon", level: 1))
        arbiter.add(item("market-day", expires: at(30)))
        let actions = arbiter.add(item("later"), now: at(45))
        #expect(actions.records.map(\.announcementID) == ["market-day"])
        #expect(actions.removes == ["market-day"])
    }

    @Test func anArrivalAlreadyPastItsExpiryIsRecordedNotQueued() {
        var arbiter = Arbiter.make()
        let (result, actions) = arbiter.enqueue(item("stale", expires: at(-1)), now: morning)
        #expect(result == .expired)
        #expect(actions.records.map(\.outcome) == [.expired])
        #expect(actions.saves.isEmpty && actions.plays.isEmpty)
        #expect(!arbiter.contains(id: "stale"))
    }

    @Test func aPlayingEmergencyIsStoppedAtItsEnd() throws {
        var arbiter = Arbiter.make()
        let started = arbiter.add(emergency("heat", level: 3, expires: at(60)))
        #expect(started.wakes == [at(60)])
        let due = arbiter.tick(now: at(60))
        #expect(due.stops == ["heat"])
        #expect(arbiter.nowPlaying == nil)
        let ended = arbiter.finished(id: "heat", report: .stopped(2_880_000), now: at(60))
        let record = try #require(ended.records.first)
        #expect(record.outcome == .expired && record.frames == 2_880_000)
        #expect(ended.removes == ["heat"])
        #expect(!arbiter.contains(id: "heat"))
    }

    @Test func aPlayingNoticePastItsExpiryFinishes() {
        var arbiter = Arbiter.make()
        let started = arbiter.add(item("notice", expires: at(60)))
        #expect(started.wakes.isEmpty, "no timer is needed for a notice that will not be cut off")
        #expect(arbiter.tick(now: at(61)).stops.isEmpty)
        let ended = arbiter.finished(id: "notice", report: .completed(3_000_000), now: at(62))
        #expect(ended.records.map(\.outcome) == [.completed])
    }

    @Test func anInterruptedItemDoesNotResumeAfterItExpired() {
        var arbiter = Arbiter.make()
        arbiter.add(item("weather", .routine, expires: at(30)))
        arbiter.add(emergency("flood", level: 2))
        _ = arbiter.finished(id: "weather", report: .stopped(48_000), now: at(1))
        let actions = arbiter.finished(id: "flood", report: .completed(1), now: at(40))
        #expect(actions.records.map(\.outcome) == [.completed, .expired])
        #expect(actions.plays.isEmpty)
        #expect(actions.removes == ["flood", "weather"])
    }

    // 2025-06-02 23:00 and 2025-06-03 06:00 in Asia/Shanghai.
    var lateEvening: Date { at(13 * 3600) }
    var nextDawn: Date { at(20 * 3600) }
    let quiet = QuietHours(startHour: 22, endHour: 6)

    @Test func quietHoursHoldRoutineAndPolicyUntilTheyEnd() {
        var arbiter = Arbiter.make(quietHours: quiet)
        let routine = arbiter.add(item("music", .routine), now: lateEvening)
        #expect(routine.plays.isEmpty)
        #expect(routine.wakes == [nextDawn])
        #expect(arbiter.add(item("notice", .policy), now: lateEvening).plays.isEmpty)
        #expect(arbiter.tick(now: at(-1, from: nextDawn)).isEmpty)
        #expect(arbiter.tick(now: nextDawn).playedIDs == ["notice"])
    }

    @Test func emergenciesAndRumorRebuttalsPlayInQuietHours() {
        var arbiter = Arbiter.make(quietHours: quiet)
        #expect(arbiter.add(item("rumor", .rumorRebuttal), now: lateEvening).playedIDs == ["rumor"])
        #expect(arbiter.add(emergency("fire", level: 2), now: lateEvening).playedIDs == ["fire"])
    }

    @Test func anItemPlayingWhenQuietHoursBeginFinishes() {
        var arbiter = Arbiter.make(quietHours: quiet)
        let beforeTen = at(12 * 3600 - 30)
        arbiter.add(item("long-notice"), now: beforeTen)
        arbiter.add(item("next-notice"), now: beforeTen)
        let ten = arbiter.tick(now: at(12 * 3600))
        #expect(ten.stops.isEmpty && ten.plays.isEmpty)
        #expect(ten.wakes == [nextDawn], "the waiting notice is now held until dawn")
        let ended = arbiter.finished(id: "long-notice", report: .completed(4_320_000), now: at(12 * 3600 + 60))
        #expect(ended.records.map(\.outcome) == [.completed])
        #expect(ended.plays.isEmpty)
    }

    @Test func quietHoursWrapMidnight() {
        func local(_ hour: Int, _ minute: Int) -> Date { at(Double((hour - 10) * 3600 + minute * 60)) }
        #expect(quiet.contains(local(22, 0), in: shanghai))
        #expect(quiet.contains(local(23, 30), in: shanghai))
        #expect(quiet.contains(local(29, 59), in: shanghai))  // 05:59 the next day
        #expect(!quiet.contains(local(30, 0), in: shanghai))
        #expect(!quiet.contains(local(21, 59), in: shanghai))
        #expect(quiet.end(after: local(23, 30), in: shanghai) == local(30, 0))
        #expect(quiet.end(after: local(29, 0), in: shanghai) == local(30, 0))
        #expect(quiet.end(after: local(12, 0), in: shanghai) == nil)

        let lunch = QuietHours(startHour: 12, endHour: 14)
        #expect(lunch.contains(local(13, 0), in: shanghai))
        #expect(!lunch.contains(local(14, 0), in: shanghai))
        #expect(!lunch.contains(local(11, 59), in: shanghai))
        #expect(lunch.end(after: local(12, 30), in: shanghai) == local(14, 0))
        #expect(!QuietHours(start: 600, end: 600).contains(local(10, 0), in: shanghai))
    }

    @Test func quietHoursAreReadOnTheLocalClock() {
        // 23:00 in Shanghai is 15:00 UTC: quiet there, not in UTC.
        #expect(quiet.contains(lateEvening, in: shanghai))
        #expect(!quiet.contains(lateEvening, in: TimeZone(identifier: "UTC")!))
    }
}
