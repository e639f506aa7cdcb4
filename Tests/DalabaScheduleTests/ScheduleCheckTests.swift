import DalabaCore
import Foundation
import Testing

@testable import DalabaSchedule

/// A broken file and the problems `check` must report for it, as `line: message`.
struct BrokenFile: Sendable, CustomTestStringConvertible {
    var name: String
    var yaml: String
    var expected: [String]
    var testDescription: String { name }
}

private let header = "programmes:\n  - name: p\n    kind: routine\n    audio: chime.wav\n"

let brokenFiles: [BrokenFile] = [
    BrokenFile(
        name: "unknown key, with a suggestion", yaml: header + "    time: ['08:00']\n    days: daily\n",
        expected: ["5: unknown key 'time' (did you mean 'times'?)", "2: missing 'times' (a list of HH:MM)"]),
    BrokenFile(
        name: "bad times", yaml: header + "    times: ['25:00', '7:5x', '08:00', '08:00']\n    days: daily\n",
        expected: [
            "5: times: '25:00' is not a time of day (HH:MM, from 00:00 to 23:59)",
            "5: times: '7:5x' is not a time of day (HH:MM, from 00:00 to 23:59)",
            "5: times: 08:00 is listed twice",
        ]),
    BrokenFile(
        name: "bad kind", yaml: "programmes:\n  - name: p\n    kind: emergncy\n    audio: a.wav\n    times: ['08:00']\n    days: daily\n",
        expected: ["3: kind: 'emergncy' is not one of emergency, rumor-rebuttal, policy, routine"]),
    BrokenFile(
        name: "emergency without level",
        yaml: "programmes:\n  - name: p\n    kind: emergency\n    audio: a.wav\n    times: ['08:00']\n    days: daily\n",
        expected: ["3: an emergency needs 'level' (1 to 4)"]),
    BrokenFile(
        name: "level out of range and level on a routine programme",
        yaml: header + "    level: 5\n    times: ['08:00']\n    days: daily\n",
        expected: ["5: level: '5' is not a whole number from 1 to 4", "5: level: only an emergency has a level, not routine"]),
    BrokenFile(
        name: "day of month 32", yaml: header + "    times: ['08:00']\n    days-of-month: [1, 32]\n",
        expected: ["6: days-of-month: 32 is not a day of the month (1 to 31, or -1 for the last day)"]),
    BrokenFile(
        name: "lunar day 31", yaml: header + "    times: ['08:00']\n    lunar-days:\n      - 1\n      - 31\n",
        expected: ["8: lunar-days: 31 is not a lunar day: lunar months have 29 or 30 days"]),
    BrokenFile(
        name: "from after until", yaml: header + "    times: ['08:00']\n    days: daily\n    from: 2026-05-01\n    until: 2026-04-01\n",
        expected: ["8: until: 2026-04-01 is before from 2026-05-01: the programme would never run"]),
    BrokenFile(
        name: "bad except dates", yaml: header + "    times: ['08:00']\n    days: daily\n    except: [2026-02-30, 17 Feb, 2026-13-01]\n",
        expected: [
            "7: except: 2026-02-30 does not exist: 2026-02 has 28 days",
            "7: except: '17 Feb' is not a date (YYYY-MM-DD)",
            "7: except: 2026-13-01 does not exist: there is no month 13",
        ]),
    BrokenFile(
        name: "no times, no days rule", yaml: header + "    times: []\n",
        expected: [
            "5: times: is empty",
            "2: missing a days rule: one of 'days: daily', 'weekdays', 'days-of-month' or 'lunar-days'",
        ]),
    BrokenFile(
        name: "two days rules", yaml: header + "    times: ['08:00']\n    days: daily\n    weekdays: [mon]\n",
        expected: ["7: only one days rule per programme, but both 'days' and 'weekdays' are given"]),
    BrokenFile(
        name: "bad weekday, bad days value", yaml: header + "    times: ['08:00']\n    weekdays: [mon, funday]\n",
        expected: ["6: weekdays: 'funday' is not a weekday (mon, tue, wed, thu, fri, sat, sun)"]),
    BrokenFile(
        name: "missing audio and text, name, kind",
        yaml: "programmes:\n  - title: 无名\n    times: ['08:00']\n    days: daily\n",
        expected: [
            "2: missing 'name'", "2: missing 'kind' (emergency, rumor-rebuttal, policy or routine)", "2: missing 'audio' or 'text'",
        ]),
    BrokenFile(
        name: "bad timezone, tier, repeat, grace",
        yaml: header
            + "    times: ['08:00']\n    days: daily\n    timezone: Mars/Olympus\n    tier: province\n    repeat: 0\n    grace: -5\n",
        expected: [
            "7: timezone: 'Mars/Olympus' is not a time zone name such as Asia/Shanghai",
            "8: tier: 'province' is not one of village, township, county",
            "9: repeat: '0' is not a whole number from 1 to 1000",
            "10: grace: '-5' is not a number of seconds (from 0 to 86400)",
        ]),
    BrokenFile(
        name: "unknown top-level key", yaml: "timezone: Asia/Shanghai\nprogrammez: []\n",
        expected: ["2: unknown key 'programmez' (did you mean 'programmes'?)", "1: missing the top-level 'programmes:' list"]),
    BrokenFile(
        name: "YAML syntax error, at the line of the unclosed bracket",
        yaml: "programmes:\n  - name: p\n    times: ['08:00'\n    days: daily\n",
        expected: ["3: not valid YAML: did not find expected ',' or ']' (the '[' list that starts here; noticed at line 4)"]),
    BrokenFile(
        name: "name with a colon", yaml: "programmes:\n  - name: 'a:b'\n    kind: routine\n    audio: a.wav\n    times: ['08:00']\n    days: daily\n",
        expected: ["2: name: 'a:b' may hold only letters, digits, '-', '_' and '.' (at most 120), as it names every slot"]),
]

@Suite("schedule check")
struct ScheduleCheckTests {
    @Test("each broken file gives its messages at its lines", arguments: brokenFiles)
    func brokenFile(_ broken: BrokenFile) {
        let problems = ScheduleBook.check([ScheduleFile(name: "broken.yaml", contents: broken.yaml)], defaults: defaults)
        #expect(problems.map { "\($0.line): \($0.message)" }.sorted() == broken.expected.sorted())
        #expect(problems.allSatisfy { $0.file == "broken.yaml" })
    }

    @Test("all problems of all files are collected, with file and line, including duplicate names across files")
    func collectsEverything() {
        let first = ScheduleFile(name: "a.yaml", contents: header + "    times: ['08:00']\n    days: daily\n")
        let second = ScheduleFile(
            name: "b.yaml",
            contents: """
                programmes:
                  - name: ok
                    kind: policy
                    audio: chime.wav
                    times: ['25:00']
                    days: daily
                  - name: p
                    kind: policy
                    audio: missing.wav
                    times: ['08:00']
                    days-of-month: [0]
                """)
        let problems = ScheduleBook.check([first, second], defaults: defaults) { path in
            path.hasSuffix("missing.wav") ? .missing : nil
        }
        #expect(
            problems.map(\.description) == [
                "b.yaml:5: times: '25:00' is not a time of day (HH:MM, from 00:00 to 23:59)",
                "b.yaml:7: name: 'p' is already used at a.yaml:2; names must be unique",
                "b.yaml:9: audio: 'missing.wav' (/srv/dalaba/audio/missing.wav) does not exist",
                "b.yaml:11: days-of-month: 0 is not a day of the month (1 to 31, or -1 for the last day)",
            ])
        #expect(problems[0].column == 13)
        #expect(throws: ScheduleProblems.self) { try ScheduleBook.parse([first, second], defaults: defaults) }
    }

    @Test("the audio checker is asked about each name as written and its reason is reported")
    func unreadableAudio() {
        var asked: [String] = []
        let file = ScheduleFile(
            name: "c.yaml",
            contents: header.replacingOccurrences(of: "chime.wav", with: "[chime.wav, /opt/x.wav]") + "    times: ['08:00']\n    days: daily\n")
        let problems = ScheduleBook.check([file], defaults: defaults) { path in
            asked.append(path)
            return path == "/opt/x.wav" ? .unreadable("permission denied") : nil
        }
        #expect(asked == ["chime.wav", "/opt/x.wav"])
        #expect(problems.map(\.description) == ["c.yaml:4: audio: '/opt/x.wav' (/opt/x.wav) cannot be read: permission denied"])
    }

    @Test("duplicate keys in one mapping are an error at their line")
    func duplicateKeys() {
        let problems = ScheduleBook.check(
            [ScheduleFile(name: "d.yaml", contents: header + "    times: ['08:00']\n    times: ['09:00']\n    days: daily\n")], defaults: defaults)
        #expect(problems.count == 1)
        #expect(problems.first?.message.contains("'times' given twice") == true)
    }

    @Test("the demo schedules in Schedules/ are valid")
    func demoSchedules() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Schedules").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        try #require(!names.isEmpty)
        let files = try names.map { ScheduleFile(name: $0, contents: try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)) }
        #expect(ScheduleBook.check(files, defaults: defaults).map(\.description) == [])
    }
}
