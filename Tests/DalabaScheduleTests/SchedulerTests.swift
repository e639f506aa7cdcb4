import DalabaCore
import Foundation
import Testing

@testable import DalabaSchedule

/// 2026-03-02 is a Monday; times are China Standard Time.
private let villageDay = """
    programmes:
      - name: news
        title: 早间新闻转播
        kind: routine
        audio: demo-announcement.wav
        times: ['06:30', '18:00']
        days: daily
      - name: notice
        title: 政策宣传
        kind: policy
        audio: chime.wav
        times: ['08:00']
        weekdays: [mon, tue, wed, thu, fri]
      - name: drill
        kind: policy
        audio: chime.wav
        times: ['08:30', '08:55']
        weekdays: [mon]
    """

extension [Scheduler.Action] {
    var enqueued: [String] {
        compactMap { if case .enqueue(let announcement, _) = $0 { announcement.id } else { nil } }
    }
    var missed: [String] {
        compactMap { if case .missed(let slot) = $0 { slot.key.description } else { nil } }
    }
    var marked: [SlotKey] {
        compactMap { if case .markFired(let key) = $0 { key } else { nil } }
    }
    var wake: Date? {
        guard case .wake(let at) = last else { return nil }
        return at
    }
}

/// Plays the daemon's part: ticks at every wake-up up to `end`, as if the clock were right.
private func run(_ scheduler: inout Scheduler, through end: Date) -> [Scheduler.Action] {
    var actions: [Scheduler.Action] = []
    while let wake = scheduler.nextWake, wake <= end { actions += scheduler.tick(now: wake) }
    return actions
}

@Suite("Scheduler state machine")
struct SchedulerTests {
    let book: ScheduleBook

    init() throws {
        book = try DalabaScheduleTests.book(villageDay)
    }

    @Test("a day of slots fires in order, each enqueue followed by its markFired, a wake last")
    func dayInOrder() {
        var scheduler = Scheduler(book: book, fired: [], now: cst(2026, 3, 2))
        let first = scheduler.tick(now: cst(2026, 3, 2))
        #expect(first == [.wake(at: cst(2026, 3, 2, 6, 30))])
        let actions = run(&scheduler, through: cst(2026, 3, 2, 23, 59))
        #expect(
            actions.enqueued == [
                "sched:news:2026-03-01T22:30:00Z", "sched:notice:2026-03-02T00:00:00Z", "sched:drill:2026-03-02T00:30:00Z",
                "sched:drill:2026-03-02T00:55:00Z", "sched:news:2026-03-02T10:00:00Z",
            ])
        #expect(actions.missed.isEmpty)
        let morning = scheduler.tick(now: cst(2026, 3, 2, 23, 59))
        #expect(morning == [.wake(at: cst(2026, 3, 3, 6, 30))])

        var again = Scheduler(book: book, fired: [], now: cst(2026, 3, 2, 7, 59))
        let atNotice = again.tick(now: cst(2026, 3, 2, 8))
        let slot = book.slots(after: cst(2026, 3, 2, 7, 59), through: cst(2026, 3, 2, 8))[0]
        var announcement = slot.announcements[0]
        announcement.queuedAt = cst(2026, 3, 2, 8)
        #expect(atNotice == [.enqueue(announcement, slot), .markFired(slot.key), .wake(at: cst(2026, 3, 2, 8, 30))])
    }

    @Test("the clock jumps forward an hour: skipped slots play within grace, the rest are missed, none vanish")
    func clockJumpsForward() {
        var scheduler = Scheduler(book: book, fired: [], now: cst(2026, 3, 2, 7, 50))
        _ = scheduler.tick(now: cst(2026, 3, 2, 7, 50))
        let actions = scheduler.tick(now: cst(2026, 3, 2, 9, 0))
        #expect(actions.missed == ["notice@2026-03-02T00:00:00Z", "drill@2026-03-02T00:30:00Z"])
        #expect(actions.enqueued == ["sched:drill:2026-03-02T00:55:00Z"])
        #expect(actions.marked.count == 3)
        #expect(actions.wake == cst(2026, 3, 2, 18))
    }

    @Test("the clock goes back an hour: nothing plays twice, and the next slot still comes")
    func clockJumpsBack() {
        var scheduler = Scheduler(book: book, fired: [], now: cst(2026, 3, 2, 7))
        let played = run(&scheduler, through: cst(2026, 3, 2, 8, 35)).enqueued
        #expect(played == ["sched:notice:2026-03-02T00:00:00Z", "sched:drill:2026-03-02T00:30:00Z"])
        let back = scheduler.tick(now: cst(2026, 3, 2, 7, 35))
        #expect(back == [.wake(at: cst(2026, 3, 2, 8, 55))])
        var replay: [Scheduler.Action] = []
        for minute in stride(from: 35, through: 115, by: 5) {
            replay += scheduler.tick(now: cst(2026, 3, 2, 7).addingTimeInterval(Double(minute * 60)))
        }
        #expect(replay.enqueued == ["sched:drill:2026-03-02T00:55:00Z"])
        #expect(replay.missed.isEmpty)
    }

    @Test("a reload mid-slot does not fire the slot again; a programme added for a passed time does not play")
    func reloadMidSlot() throws {
        var scheduler = Scheduler(book: book, fired: [], now: cst(2026, 3, 2, 7, 59))
        #expect(scheduler.tick(now: cst(2026, 3, 2, 8)).enqueued == ["sched:notice:2026-03-02T00:00:00Z"])
        let edited = try DalabaScheduleTests.book(
            villageDay.replacingOccurrences(of: "title: 政策宣传", with: "title: 政策宣传（修订）") + """

                  - name: late-addition
                    kind: policy
                    audio: chime.wav
                    times: ['08:00', '09:00']
                    days: daily
                """)
        let reloaded = scheduler.reload(book: edited, now: cst(2026, 3, 2, 8, 2))
        #expect(reloaded.enqueued.isEmpty && reloaded.missed.isEmpty)
        #expect(reloaded.wake == cst(2026, 3, 2, 8, 30))
        let later = run(&scheduler, through: cst(2026, 3, 2, 9))
        #expect(
            later.enqueued == ["sched:drill:2026-03-02T00:30:00Z", "sched:drill:2026-03-02T00:55:00Z", "sched:late-addition:2026-03-02T01:00:00Z"])
        #expect(scheduler.reload(book: edited, now: cst(2026, 3, 2, 9)).enqueued.isEmpty)
    }

    @Test("a restart with the persisted fired keys plays nothing twice")
    func restartWithFiredKeys() {
        var before = Scheduler(book: book, fired: [], now: cst(2026, 3, 2, 6))
        let keys = Set(run(&before, through: cst(2026, 3, 2, 8, 31)).marked)
        #expect(keys.count == 3)
        var after = Scheduler(book: book, fired: keys, now: cst(2026, 3, 2, 8, 32))
        let actions = after.tick(now: cst(2026, 3, 2, 8, 32))
        #expect(actions == [.wake(at: cst(2026, 3, 2, 8, 55))])
        // Restarting at the very instant of a slot that had already been queued does not queue it again.
        var sameInstant = Scheduler(book: book, fired: keys, now: cst(2026, 3, 2, 8, 30))
        #expect(sameInstant.tick(now: cst(2026, 3, 2, 8, 30)).enqueued.isEmpty)
    }

    @Test("downtime: slots within grace play late, older ones are reported missed, with the restored marker")
    func downtime() {
        var before = Scheduler(book: book, fired: [], now: cst(2026, 3, 2, 6))
        let keys = Set(run(&before, through: cst(2026, 3, 2, 7)).marked)
        #expect(keys.map(\.description) == ["news@2026-03-01T22:30:00Z"])
        // Down from 07:00 to 18:05: 18:00 is five minutes late, within the default grace of ten.
        var after = Scheduler(book: book, fired: keys, now: cst(2026, 3, 2, 18, 5))
        let actions = after.tick(now: cst(2026, 3, 2, 18, 5))
        #expect(
            actions.missed == ["notice@2026-03-02T00:00:00Z", "drill@2026-03-02T00:30:00Z", "drill@2026-03-02T00:55:00Z"])
        #expect(actions.enqueued == ["sched:news:2026-03-02T10:00:00Z"])
        guard case .enqueue(let late, _) = actions.first(where: { if case .enqueue = $0 { true } else { false } }) else { return }
        #expect(late.expires == cst(2026, 3, 2, 18, 10) && late.queuedAt == cst(2026, 3, 2, 18, 5))
        #expect(actions.marked.count == 4)
        // Beyond grace even the 18:00 news is missed.
        var longer = Scheduler(book: book, fired: [], lastFired: cst(2026, 3, 2, 7), now: cst(2026, 3, 2, 18, 11))
        let longerActions = longer.tick(now: cst(2026, 3, 2, 18, 11))
        #expect(longerActions.enqueued.isEmpty)
        #expect(longerActions.missed.count == 4)
    }

    @Test("a first start with no history reports nothing from before it")
    func freshStart() {
        var scheduler = Scheduler(book: book, fired: [], now: cst(2026, 3, 2, 12))
        #expect(scheduler.tick(now: cst(2026, 3, 2, 12)) == [.wake(at: cst(2026, 3, 2, 18))])
    }

    @Test("a month of wake-ups handles every slot exactly once")
    func monthOfWakeUps() {
        var scheduler = Scheduler(book: book, fired: [], now: cst(2026, 3, 1))
        let actions = run(&scheduler, through: cst(2026, 3, 31, 23, 59))
        let marked = actions.marked
        #expect(Set(marked).count == marked.count)
        // 31 days × 2 news, 22 weekdays of notices, 5 Mondays × 2 drills.
        #expect(marked.count == 62 + 22 + 10)
        #expect(book.slots(after: cst(2026, 3, 1), through: cst(2026, 3, 31, 23, 59)).map(\.key) == marked)
    }
}
