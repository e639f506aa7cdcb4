import Foundation
import Testing

@testable import DalabaSchedule

/// One file of the malformed corpus (`Malformed/`, described by `Malformed/manifest.tsv`) and the problem it must give.
struct MalformedSchedule: Sendable, CustomTestStringConvertible {
    var file: String
    var line: Int
    /// nil for a problem of the file as a whole (YAML syntax, limits).
    var field: String?
    var fragment: String
    /// Needs the real audio directory (an escape through `..`, an absolute path or a symlink): checked by the CLI and
    /// service tests, which have one.
    var needsAudioDirectory: Bool
    var testDescription: String { file }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Malformed")

    /// The manifest's rows: `file⇥line⇥field⇥fragment⇥tags`, `-` for no field, `#` lines are comments.
    static let corpus: [MalformedSchedule] = {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("manifest.tsv"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { row in
            let columns = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return MalformedSchedule(
                file: columns[0], line: Int(columns[1]) ?? 0, field: columns[2] == "-" ? nil : columns[2], fragment: columns[3],
                needsAudioDirectory: columns.count > 4 && columns[4] == "audio")
        }
    }()

    var contents: String {
        get throws { try String(contentsOf: Self.directory.appendingPathComponent(file), encoding: .utf8) }
    }

    /// Whether `problems` hold this file's expected problem.
    func isFound(in problems: [ScheduleProblem]) -> Bool {
        problems.contains { $0.line == line && $0.field == field && $0.message.contains(fragment) }
    }
}

@Suite("malformed schedules")
struct MalformedScheduleTests {
    @Test("the corpus has at least 60 files, each named in the manifest")
    func corpusIsComplete() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: MalformedSchedule.directory.path).filter { $0.hasSuffix(".yaml") }
        #expect(MalformedSchedule.corpus.count >= 60)
        #expect(Set(files) == Set(MalformedSchedule.corpus.map(\.file)))
    }

    @Test("each malformed file is refused with its line, field and message", arguments: MalformedSchedule.corpus.filter { !$0.needsAudioDirectory })
    func refused(_ malformed: MalformedSchedule) throws {
        let problems = ScheduleBook.check([ScheduleFile(name: malformed.file, contents: try malformed.contents)], defaults: defaults)
        let got = problems.map { "\($0.line) [\($0.field ?? "-")] \($0.message)" }.joined(separator: "\n")
        #expect(malformed.isFound(in: problems), "expected \(malformed.line) [\(malformed.field ?? "-")] …\(malformed.fragment)…, got:\n\(got)")
        #expect(problems.allSatisfy { $0.file == malformed.file })
        // What a terminal would show: no control or bidi character from the file reaches a message.
        #expect(problems.allSatisfy { ScheduleText.firstForbidden(in: $0.description) == nil }, "\(problems)")
    }
}
