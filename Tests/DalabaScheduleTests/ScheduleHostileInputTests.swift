import DalabaCore
import Foundation
import Synchronization
import Testing

@testable import DalabaSchedule

/// A clock that moves on by `step` each time it is read: a parse that reads it often enough runs out of any budget, at a
/// point the test controls, without the test waiting on real time.
final class SteppingClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let elapsed = Mutex(Duration.zero)
    let step: Duration

    init(step: Duration) { self.step = step }

    var now: Instant {
        elapsed.withLock { elapsed in
            elapsed += step
            return Instant(offset: elapsed)
        }
    }

    var minimumResolution: Duration { .nanoseconds(1) }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {}
}

/// CPU time of the calling thread: what a parse costs, whatever else the machine is doing.
func threadCPUTime() -> Duration {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return .seconds(Int64(time.tv_sec)) + .nanoseconds(Int64(time.tv_nsec))
}

func measureCPU(_ body: () -> Void) -> Duration {
    let start = threadCPUTime()
    body()
    return threadCPUTime() - start
}

/// The reproducers of issue 13 against the pure parser: findings 3 (alias bomb, limits), 5 (audio names are the edge's to
/// judge) and 8 (lines, and the cost of a large file).
@Suite("hostile schedules")
struct ScheduleHostileInputTests {
    /// Anchors `a`…`i`, each a list of nine aliases to the one before, and a programme whose key is `*i` (finding 3).
    static let aliasBomb: String = {
        var yaml = "anchors:\n  a: &a [x, x, x, x, x, x, x, x, x]\n"
        var previous = "a"
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            yaml += "  \(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
            previous = name
        }
        return yaml + "programmes:\n  - name: p\n    kind: routine\n    audio: chime.wav\n    times: ['08:00']\n    days: daily\n    ? *i\n    : 1\n"
    }()

    @Test("finding 3: the alias bomb is refused in milliseconds, at the line where its expansion passes the limit")
    func aliasBomb() {
        var problems: [ScheduleProblem] = []
        let cost = measureCPU { problems = ScheduleBook.check([ScheduleFile(name: "bomb.yaml", contents: Self.aliasBomb)], defaults: defaults) }
        #expect(cost < .milliseconds(100), "\(cost)")
        #expect(problems.count == 1)
        #expect(problems.first?.file == "bomb.yaml")
        #expect(problems.first?.line == 8, "anchor g, whose nine *f stand for 597,871 nodes each")
        #expect(problems.first?.message.contains("alias bomb") == true, "\(problems)")
    }

    @Test("finding 3: an alias used as a key costs nothing, even when it stands for a large list")
    func aliasAsKey() {
        let yaml = Self.aliasBomb.replacingOccurrences(of: "? *i", with: "? *e")
            .split(separator: "\n").filter { !["  f:", "  g:", "  h:", "  i:"].contains(where: $0.hasPrefix) }.joined(separator: "\n")
        var problems: [ScheduleProblem] = []
        let cost = measureCPU { problems = ScheduleBook.check([ScheduleFile(name: "key.yaml", contents: yaml)], defaults: defaults) }
        #expect(cost < .milliseconds(200), "\(cost)")
        #expect(problems.map(\.description) == ["key.yaml:1: unknown key 'anchors'", "key.yaml:13: unknown key 'a list'"])
    }

    @Test("finding 3: each limit refuses with its own message, and can be raised")
    func limits() throws {
        let good = programme("times: ['08:00']\ndays: daily")
        let big = good + "# " + String(repeating: "x", count: 1 << 20) + "\n"
        let tooBig = ScheduleBook.check([ScheduleFile(name: "big.yaml", contents: big)], defaults: defaults)
        #expect(
            tooBig.map(\.description) == [
                "big.yaml:1: is \(big.utf8.count) bytes, more than the 1 MiB a schedule file may hold: split it into several files"
            ])
        #expect(ScheduleBook.check([ScheduleFile(name: "big.yaml", contents: big)], defaults: defaults, limits: .init(maxFileBytes: 2 << 20)) == [])

        let aliases = "x: &x 1\nlist: [*x, *x, *x]\n" + good
        let fewAliases = ScheduleBook.check([ScheduleFile(name: "a.yaml", contents: aliases)], defaults: defaults, limits: .init(maxAliases: 2))
        #expect(fewAliases.contains { $0.line == 2 && $0.message.contains("more than 2 aliases") }, "\(fewAliases)")

        let nested = "programmes: [[[[[[[[[]]]]]]]]]\n"
        let deep = ScheduleBook.check([ScheduleFile(name: "d.yaml", contents: nested)], defaults: defaults, limits: .init(maxDepth: 4))
        #expect(deep.map(\.description) == ["d.yaml:1: lists and mappings nested deeper than 4 levels: refused"])

        let nodes = ScheduleBook.check([ScheduleFile(name: "n.yaml", contents: good)], defaults: defaults, limits: .init(maxNodes: 5))
        #expect(nodes.first?.message == "more than 5 nodes in one file: refused")
    }

    @Test("finding 3: the time budget stops a file that takes too long, on an injected clock")
    func timeBudget() {
        let yaml = generatedSchedule(count: 200)
        // Each read of this clock is a second later: the budget of 2 s is gone at the third look.
        let problems = ScheduleBook.check(
            [ScheduleFile(name: "slow.yaml", contents: yaml)], defaults: defaults, clock: SteppingClock(step: .seconds(1)))
        #expect(problems.count == 1)
        #expect(problems.first?.message.hasPrefix("took longer than 2.0 seconds to read: refused") == true, "\(problems)")
        #expect(ScheduleBook.check([ScheduleFile(name: "slow.yaml", contents: yaml)], defaults: defaults, clock: SteppingClock(step: .zero)) == [])
    }

    @Test("finding 3: a cancelled read stops at its next check and says so")
    func cancelled() throws {
        let yaml = generatedSchedule(count: 2_000)
        let looks = Mutex(0)
        let problems = ScheduleBook.check([ScheduleFile(name: "c.yaml", contents: yaml)], defaults: defaults) { _ in nil }
        #expect(problems.isEmpty)
        do {
            _ = try ScheduleBook.parse(
                [ScheduleFile(name: "c.yaml", contents: yaml)], defaults: defaults,
                isCancelled: {
                    looks.withLock {
                        $0 += 1; return $0 > 3
                    }
                })
            Issue.record("a cancelled read returned a book")
        } catch {
            #expect(error.problems.map(\.message) == ["reading was cancelled (the daemon is stopping)"])
        }
        #expect(looks.withLock { $0 } == 4, "the read stopped at the first check after cancellation")
    }

    @Test("finding 8: an unclosed [ on line 7 is reported at line 7, a control character on line 4 at line 4")
    func lines() {
        let unclosed = """
            programmes:
              - name: p
                title: 早间新闻
                kind: routine
                audio: chime.wav
                days: daily
                times: ['06:30', '18:00'
                grace: 300

            """
        let bracket = ScheduleBook.check([ScheduleFile(name: "b.yaml", contents: unclosed)], defaults: defaults)
        #expect(bracket.map(\.line) == [7], "\(bracket)")
        #expect(bracket.first?.column == 12)
        #expect(bracket.first?.message.contains("'[' list that starts here; noticed at line 8") == true, "\(bracket)")

        let control =
            "programmes:\n  - name: p\n    kind: routine\n    title: 早间\u{07}新闻\n    audio: chime.wav\n    times: ['08:00']\n    days: daily\n"
        let bell = ScheduleBook.check([ScheduleFile(name: "c.yaml", contents: control)], defaults: defaults)
        #expect(bell.map(\.description) == ["c.yaml:4: control character U+0007 is not allowed in a schedule file (write it out, or remove it)"])
        #expect(bell.first?.column == 14)
    }

    @Test("finding 8: a 5 MB schedule is checked in well under a second, and the cost grows with the size, not its square")
    func largeFile() throws {
        let quarter = generatedSchedule(count: 7_900)
        let whole = generatedSchedule(count: 31_600)
        #expect(whole.utf8.count > 5_000_000)
        let limits = ScheduleLimits(maxFileBytes: 8 << 20, timeBudget: .seconds(60))
        var count = 0
        let small = measureCPU { _ = ScheduleBook.check([ScheduleFile(name: "q.yaml", contents: quarter)], defaults: defaults, limits: limits) }
        let large = measureCPU {
            count =
                (try? ScheduleBook.parse([ScheduleFile(name: "w.yaml", contents: whole)], defaults: defaults, limits: limits))?.programmes.count ?? 0
        }
        print("check: \(quarter.utf8.count) bytes in \(small) CPU, \(whole.utf8.count) bytes in \(large) CPU")
        #expect(count == 31_600)
        #expect(large < small * 6, "four times the file may cost about four times as much: \(small) → \(large)")
        #if !DEBUG
            #expect(large < .milliseconds(700))
        #endif
    }

    @Test("finding 5: audio names reach the edge as written, and its refusal is reported in the API's words")
    func audioOutside() {
        let yaml = programme("times: ['08:00']\ndays: daily").replacingOccurrences(of: "chime.wav", with: "[chime.wav, ../outside/real.wav]")
        var asked: [String] = []
        let problems = ScheduleBook.check([ScheduleFile(name: "o.yaml", contents: yaml)], defaults: defaults) { name in
            asked.append(name)
            return name.contains("..") ? .outside("\(name) is outside the audio directory /srv/dalaba/audio") : nil
        }
        #expect(asked == ["chime.wav", "../outside/real.wav"])
        #expect(problems.map(\.description) == ["o.yaml:4: audio: ../outside/real.wav is outside the audio directory /srv/dalaba/audio"])
        #expect(problems.first?.field == "audio")
    }

    @Test("finding 4: a file name with an escape sequence is escaped in every message")
    func fileNameEscaped() {
        let problems = ScheduleBook.check([ScheduleFile(name: "/s/\u{1B}[2J.yaml", contents: "programmes: 1\n")], defaults: defaults)
        #expect(problems.map(\.description) == ["/s/\\u{1B}[2J.yaml:1: programmes: expected a list of programmes"])
    }

    @Test("finding 4: text of any script passes; only control and format characters are refused")
    func goodText() throws {
        let yaml = """
            programmes:
              - name: 通知-1.早间
                title: "防汛通知 🌧 Ünïcode — «quoted» 'single'"
                kind: policy
                text: |
                  各位村民请注意：
                  明天有暴雨。
                times: ['08:00']
                days: daily
                repeat: 1000
                repeat-interval: 86400
                grace: 0.5
                from: 2000-01-01
                until: 2199-12-31

            """
        let book = try book(yaml)
        #expect(book.programmes.first?.title == "防汛通知 🌧 Ünïcode — «quoted» 'single'")
        #expect(book.programmes.first?.text == "各位村民请注意：\n明天有暴雨。\n")
        #expect(book.programmes.first?.repeatInterval == 86400)
    }
}
