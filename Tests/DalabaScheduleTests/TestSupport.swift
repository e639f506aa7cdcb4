import DalabaCore
import Foundation
import Testing

@testable import DalabaSchedule

let audioDirectory = "/srv/dalaba/audio"
let defaults = ScheduleDefaults(audioDirectory: audioDirectory)

/// An instant written as UTC, e.g. `utc("2026-03-01T23:00:00Z")`.
func utc(_ text: String) -> Date {
    guard let date = ISO8601DateFormatter().date(from: text) else { fatalError("bad test date \(text)") }
    return date
}

/// An instant on the wall clock of China Standard Time (UTC+8, no daylight saving since 1991).
func cst(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0) -> Date {
    utc(String(format: "%04d-%02d-%02dT%02d:%02d:00+08:00", year, month, day, hour, minute))
}

/// A book from YAML that must be valid; the test fails with the problems otherwise.
func book(_ yaml: String, file: String = "test.yaml", sourceLocation: SourceLocation = #_sourceLocation) throws -> ScheduleBook {
    do {
        return try ScheduleBook.parse([ScheduleFile(name: file, contents: yaml)], defaults: defaults)
    } catch {
        Issue.record("unexpected problems:\n\(error)", sourceLocation: sourceLocation)
        throw error
    }
}

/// One programme in a file, its body given as YAML lines under `- name: p`.
func programme(_ body: String) -> String {
    "programmes:\n  - name: p\n    kind: routine\n    audio: chime.wav\n" + body.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        + "\n"
}

/// The local dates (China Standard Time) of the next `count` slots after `start`, as `YYYY-MM-DD HH:MM`.
func nextLocal(_ book: ScheduleBook, after start: Date, count: Int) -> [String] {
    let format = DateFormatter()
    format.locale = Locale(identifier: "en_US_POSIX")
    format.timeZone = ScheduleDefaults.shanghai
    format.dateFormat = "yyyy-MM-dd HH:mm"
    return book.nextSlots(after: start, count: count).map { format.string(from: $0.time) }
}
