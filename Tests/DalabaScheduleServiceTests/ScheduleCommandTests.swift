import DalabaTestSupport
import Foundation
import Testing

/// `dalaba schedule check` and `dalaba schedule next` as an operator runs them: the real process, real files.
@Suite struct ScheduleCommandTests {
    /// A directory of broken files, each problem with the line an operator must look at.
    static let corpus: [(file: String, yaml: String, expected: [String])] = [
        (
            "a-keys.yaml",
            "programmes:\n  - name: p\n    kind: routine\n    audio: ok.wav\n    time: ['08:00']\n    days: daily\n",
            ["2: missing 'times' (a list of HH:MM)", "5: unknown key 'time' (did you mean 'times'?)"]
        ),
        (
            "b-times.yaml",
            "programmes:\n  - name: q\n    kind: routine\n    audio: ok.wav\n    times: ['25:00', '08:00']\n    days: daily\n",
            ["5: times: '25:00' is not a time of day (HH:MM, from 00:00 to 23:59)"]
        ),
        (
            "c-dates.yml",
            """
            programmes:
              - name: r
                kind: policy
                audio: ok.wav
                times: ['08:00']
                lunar-days: [1, 31]
                except: [2026-02-30]
            """,
            ["6: lunar-days: 31 is not a lunar day: lunar months have 29 or 30 days", "7: except: 2026-02-30 does not exist: 2026-02 has 28 days"]
        ),
        (
            "d-audio.yaml",
            """
            programmes:
              - name: s
                kind: routine
                audio:
                  - missing.wav
                  - empty.wav
                  - notes.wav
                times: ['08:00']
                days: daily
            """,
            [
                "5: audio: 'missing.wav' (AUDIO/missing.wav) does not exist",
                "6: audio: 'empty.wav' (AUDIO/empty.wav) cannot be read: file is empty (0 bytes)",
                "7: audio: 'notes.wav' (AUDIO/notes.wav) cannot be read: ",
            ]
        ),
        ("e-yaml.yaml", "programmes:\n  - name: t\n    kind: [routine\n", ["3: not valid YAML: "]),
        (
            "f-duplicate.yaml",
            "programmes:\n  - name: p\n    kind: routine\n    audio: ok.wav\n    times: ['08:00']\n    days-of-month: [31]\n    weekdays: [mon]\n",
            ["2: name: 'p' is already used at ", "6: only one days rule per programme, but both 'weekdays' and 'days-of-month' are given"]
        ),
    ]

    @Test("check on a corpus of broken files: every problem, in file and line order, exit 1")
    func checkBrokenCorpus() async throws {
        let dir = try Processes.temporaryDirectory("check")
        let schedules = dir.appendingPathComponent("Schedules")
        let audio = dir.appendingPathComponent("Audio")
        try FileManager.default.createDirectory(at: schedules, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: audio, withIntermediateDirectories: true)
        try writeTone(audio.appendingPathComponent("ok.wav").path, frequency: 440, seconds: 0.1)
        try Data().write(to: audio.appendingPathComponent("empty.wav"))
        try "not audio at all".write(to: audio.appendingPathComponent("notes.wav"), atomically: true, encoding: .utf8)
        for entry in Self.corpus { try entry.yaml.write(to: schedules.appendingPathComponent(entry.file), atomically: true, encoding: .utf8) }
        try "ignored".write(to: schedules.appendingPathComponent("README.txt"), atomically: true, encoding: .utf8)

        let result = try await Processes.run("dalaba", ["schedule", "check", schedules.path, "--audio", audio.path])
        #expect(result.status == 1)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let expected = Self.corpus.flatMap { entry in
            entry.expected.map { "\(schedules.path)/\(entry.file):" + $0.replacingOccurrences(of: "AUDIO", with: audio.path) }
        }
        #expect(lines.count == expected.count, "\(result.stdout)")
        for (line, prefix) in zip(lines, expected) { #expect(line.hasPrefix(prefix), "\(line)\nexpected: \(prefix)…") }
        #expect(result.stderr == "dalaba: \(expected.count) problems in \(Self.corpus.count) files\n")
    }

    @Test("check on good files prints the count and exits 0; the demo schedule is good")
    func checkGood() async throws {
        let demo = try await Processes.run(
            "dalaba",
            [
                "schedule", "check", Processes.packageRoot.appendingPathComponent("Schedules").path, "--audio",
                Processes.packageRoot.appendingPathComponent("Audio").path,
            ])
        #expect(demo.status == 0, "\(demo.stdout)\(demo.stderr)")
        #expect(demo.stdout.hasPrefix("5 programmes OK (1 file in "), "\(demo.stdout)")
        let missing = try await Processes.run("dalaba", ["schedule", "check", "/nonexistent/schedules"])
        #expect(missing.status == 1)
        #expect(missing.stdout == "/nonexistent/schedules:1: no such file or directory\n")
    }

    @Test("next lists slots in the programme's local time with the rule, across files, for a given instant")
    func next() async throws {
        let dir = try Processes.temporaryDirectory("next")
        try """
        programmes:
          - name: news
            title: 早间新闻转播
            kind: routine
            audio: news.wav
            times: ['06:30', '18:00']
            days: daily
        """.write(to: dir.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try """
        timezone: Asia/Urumqi
        programmes:
          - name: notice
            title: 政策宣传
            kind: policy
            audio: notice.wav
            times: ['08:00']
            weekdays: [mon]
        """.write(to: dir.appendingPathComponent("b.yml"), atomically: true, encoding: .utf8)
        // Monday 2026-03-02 07:00 in Beijing is 05:00 in Urumqi (UTC+6).
        let result = try await Processes.run("dalaba", ["schedule", "next", dir.path, "--after", "2026-03-02T07:00:00+08:00", "--count", "3"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout == """
                2026-03-02 08:00 mon  notice  policy   weekdays mon at 08:00 (Asia/Urumqi)  政策宣传
                2026-03-02 18:00 mon  news    routine  daily at 18:00  早间新闻转播
                2026-03-03 06:30 tue  news    routine  daily at 06:30  早间新闻转播

                """)
        let json = try await Processes.run(
            "dalaba", ["schedule", "next", dir.path, "--after", "2026-03-02T07:00:00+08:00", "--count", "1", "--format", "json"])
        #expect(json.stdout.contains("\"time\" : \"2026-03-02T02:00:00Z\""), "\(json.stdout)")
        #expect(json.stdout.contains("\"localTime\" : \"2026-03-02 08:00 mon\""))
    }
}
