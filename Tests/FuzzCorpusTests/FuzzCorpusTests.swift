import DalabaTestSupport
import Foundation
import XCTest

/// Replays every seed and every saved crash of every fuzz target (Tests/Fuzz/Fuzz*/) through that target's replayer,
/// the binary a plain `swift build` makes of it, so the normal suite catches a regression without libFuzzer.
///
/// The replayers run as processes rather than being linked in: each defines the C symbol `LLVMFuzzerTestOneInput`, and
/// a trap in one must fail this test, not end the test run.
final class FuzzCorpusTests: XCTestCase {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")
    /// Longer than any seed should take, short enough that a hang found by the fuzzer fails rather than wedges the run.
    static let timeLimit: TimeInterval = 120

    func testEveryTargetReplaysItsSeedsAndRegressions() throws {
        let targets = try Self.targets()
        XCTAssertFalse(targets.isEmpty, "no Fuzz* directories in \(Self.fuzzDirectory.path)")
        for target in targets {
            let replayer: URL
            do { replayer = try Self.replayer(target) } catch {
                XCTFail("\(error)")
                continue
            }
            let seeds = Self.inputs(in: "Corpus/\(target)")
            XCTAssertFalse(seeds.isEmpty, "\(target): no seed corpus in Tests/Fuzz/Corpus/\(target)")
            XCTAssertGreaterThanOrEqual(seeds.count, 20, "\(target): a seed corpus should hold at least 20 inputs")
            try replay(target, replayer: replayer, arguments: [Self.fuzzDirectory.appendingPathComponent("Corpus/\(target)").path], expected: seeds.count)
            // One process per saved crash, so that one that traps again does not hide the others.
            for regression in Self.inputs(in: "Regressions/\(target)") {
                try replay(target, replayer: replayer, arguments: [regression], expected: 1)
            }
        }
    }

    /// A replayer given a directory runs every file in it and says how many it ran.
    func testReplayerCountsEveryFile() throws {
        guard let target = try Self.targets().first else { throw XCTSkip("no fuzz targets") }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-corpus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("nested"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data().write(to: directory.appendingPathComponent("empty"))
        try Data("<".utf8).write(to: directory.appendingPathComponent("nested/one"))
        try replay(target, replayer: try Self.replayer(target), arguments: [directory.path], expected: 2)
    }

    // MARK: - Helpers

    static func targets() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: fuzzDirectory.path).filter { name in
            var isDirectory: ObjCBool = false
            return name.hasPrefix("Fuzz") && FileManager.default.fileExists(atPath: fuzzDirectory.appendingPathComponent(name).path, isDirectory: &isDirectory)
                && isDirectory.boolValue
        }.sorted()
    }

    /// Regular files under Tests/Fuzz/`relative`, recursively, skipping dot files such as .gitkeep.
    static func inputs(in relative: String) -> [String] {
        let directory = fuzzDirectory.appendingPathComponent(relative)
        let names = FileManager.default.subpaths(atPath: directory.path) ?? []
        return names.sorted().filter { !($0 as NSString).lastPathComponent.hasPrefix(".") }.map { directory.appendingPathComponent($0).path }
            .filter { path in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
            }
    }

    struct MissingReplayer: Error, CustomStringConvertible {
        var target: String
        var description: String { "\(target): no replayer beside the test binary; build it with `swift build --product \(target)`" }
    }

    /// The replayer built beside the test binary (`swift build --build-tests` builds every executable target).
    static func replayer(_ target: String) throws -> URL {
        let testBinary = Bundle.main.executableURL ?? URL(fileURLWithPath: CommandLine.arguments[0])
        let url = testBinary.deletingLastPathComponent().appendingPathComponent(target)
        guard FileManager.default.isExecutableFile(atPath: url.path) else { throw MissingReplayer(target: target) }
        return url
    }

    func replay(_ target: String, replayer: URL, arguments: [String], expected: Int) throws {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-replay-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }

        let process = Child()
        process.executableURL = replayer
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        // A trap should end the replayer at once, not after the runtime's backtracer has symbolicated it.
        process.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_BACKTRACE": "enable=no"]) { $1 }
        try Processes.start(process)
        let deadline = Date().addingTimeInterval(Self.timeLimit)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
            process.waitUntilExit()
        }
        let log = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        let last = log.split(separator: "\n").last { $0.hasPrefix("Running: ") }.map { String($0.dropFirst("Running: ".count)) } ?? "?"
        let tail = log.split(separator: "\n", omittingEmptySubsequences: false).suffix(15).joined(separator: "\n")
        if timedOut {
            XCTFail("\(target): still running after \(Int(Self.timeLimit)) s on \(last)\n\(tail)")
        } else if process.terminationReason != .exit || process.terminationStatus != 0 {
            XCTFail("\(target): replayer stopped (\(process.terminationReason == .uncaughtSignal ? "signal" : "status") \(process.terminationStatus)) on \(last)\n\(tail)")
        } else {
            XCTAssertTrue(log.contains("Executed \(expected) inputs"), "\(target): expected \(expected) inputs replayed\n\(tail)")
        }
    }
}
