import DalabaCore
import DalabaSchedule
import Foundation
import Testing

/// A schedule file of `count` generated programmes: daily, weekday, day-of-month and lunar rules at spread-out times.
func generatedSchedule(count: Int) -> String {
    var yaml = "programmes:\n"
    var seed: UInt64 = 0x2545_F491_4F6C_DD1D
    func next(_ bound: Int) -> Int {
        seed ^= seed << 13
        seed ^= seed >> 7
        seed ^= seed << 17
        return Int(seed % UInt64(bound))
    }
    func time(_ hours: Range<Int>) -> String {
        let hour = hours.lowerBound + next(hours.count)
        let minute = next(60)
        return (hour < 10 ? "0" : "") + "\(hour):" + (minute < 10 ? "0" : "") + "\(minute)"
    }
    for index in 0..<count {
        let rule: String
        switch index % 4 {
        case 0: rule = "days: daily"
        case 1: rule = "weekdays: [mon, wed, fri]"
        case 2: rule = "days-of-month: [1, 15, -1]"
        default: rule = "lunar-days: [1, 5, 11, 15, 21, 25]"
        }
        yaml += """
              - name: generated-\(index)
                kind: \(index % 3 == 0 ? "routine" : "policy")
                audio: demo-announcement.wav
                times: ['\(time(5..<13))', '\(time(13..<22))']
                \(rule)
                except: [2026-10-01]

            """
    }
    return yaml
}

/// Measurements for the design's goal (schedule next --count 1000 and a wake-up under 10 ms at 10,000 entries).
/// Run with `DALABA_BENCH=1 swift test -c release --filter ScheduleBenchmark`; skipped otherwise.
@Suite("ScheduleBenchmark", .enabled(if: ProcessInfo.processInfo.environment["DALABA_BENCH"] == "1"))
struct ScheduleBenchmarkTests {
    @Test("nextSlots(count: 1000) and Scheduler.tick over 10,000 programmes")
    func tenThousandProgrammes() throws {
        let clock = ContinuousClock()
        let text = generatedSchedule(count: 10_000)
        var book: ScheduleBook?
        let parse = try clock.measure {
            book = try ScheduleBook.parse([ScheduleFile(name: "generated.yaml", contents: text)], defaults: ScheduleDefaults(audioDirectory: "/a"))
        }
        let schedule = try #require(book)
        let start = Date(timeIntervalSince1970: 1_772_380_800)  // 2026-03-02T00:00:00+08:00
        var next: [Slot] = []
        let nextCost = clock.measure { next = schedule.nextSlots(after: start, count: 1000) }
        #expect(next.count == 1000)

        var scheduler = Scheduler(book: schedule, fired: [], now: start)
        var ticks = 0
        var worst = Duration.zero
        var slots = 0
        let end = start.addingTimeInterval(7 * 86400)
        let total = clock.measure {
            while let wake = scheduler.nextWake, wake <= end {
                var actions: [Scheduler.Action] = []
                let one = clock.measure { actions = scheduler.tick(now: wake) }
                worst = max(worst, one)
                slots += actions.count { if case .markFired = $0 { true } else { false } }
                ticks += 1
            }
        }
        print("parse 10,000 programmes: \(parse)")
        print("nextSlots(count: 1000): \(nextCost)")
        print("a week: \(ticks) wake-ups, \(slots) slots, \(total / ticks) per wake-up on average, worst \(worst)")
        #expect(total / ticks < .milliseconds(10))
    }
}
