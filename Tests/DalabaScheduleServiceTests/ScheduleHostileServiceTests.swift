import DalabaCore
import DalabaSchedule
import DalabaStation
import DalabaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// One file of `Tests/DalabaScheduleTests/Malformed` and the problem it must give (see its `manifest.tsv`).
struct MalformedFile: Sendable, CustomTestStringConvertible {
    var file: String
    var line: Int
    var field: String?
    var fragment: String
    var testDescription: String { file }

    static let directory = Processes.packageRoot.appendingPathComponent("Tests/DalabaScheduleTests/Malformed")

    static let corpus: [MalformedFile] = {
        guard let text = try? String(contentsOf: directory.appendingPathComponent("manifest.tsv"), encoding: .utf8) else { return [] }
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { row in
            let columns = row.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return MalformedFile(file: columns[0], line: Int(columns[1]) ?? 0, field: columns[2] == "-" ? nil : columns[2], fragment: columns[3])
        }
    }()

    var contents: Data { get throws { try Data(contentsOf: Self.directory.appendingPathComponent(file)) } }
}

/// The audio layout the corpus's audio entries try to escape: `Audio/chime.wav`, a playable `outside/real.wav` beside the
/// audio directory, and `Audio/link-out.wav`, a symlink to it.
func makeEscapableAudio(in directory: URL) throws -> URL {
    let audio = directory.appendingPathComponent("Audio")
    let outside = directory.appendingPathComponent("outside")
    for folder in [audio, outside] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
    if !FileManager.default.fileExists(atPath: audio.appendingPathComponent("chime.wav").path) {
        try writeTone(audio.appendingPathComponent("chime.wav").path, frequency: 1000, seconds: 0.05)
    }
    try writeTone(outside.appendingPathComponent("real.wav").path, frequency: 440, seconds: 0.05)
    try FileManager.default.createSymbolicLink(
        atPath: audio.appendingPathComponent("link-out.wav").path, withDestinationPath: outside.appendingPathComponent("real.wav").path)
    return audio
}

/// A schedule of `count` daily programmes, `news-0` … : large and valid, so reading it takes a while.
func largeSchedule(count: Int) -> String {
    var lines = ["programmes:"]
    lines.reserveCapacity(count * 6 + 1)
    for index in 0..<count {
        lines.append("  - name: news-\(index)")
        lines.append("    kind: routine")
        lines.append("    audio: chime.wav")
        lines.append("    times: ['0\(index % 10):\(10 + index % 50)']")
        lines.append("    days: daily")
    }
    return lines.joined(separator: "\n") + "\n"
}

private let goodDay = """
    programmes:
      - name: news
        title: 早间新闻转播
        kind: routine
        audio: chime.wav
        times: ['06:30', '18:00']
        days: daily
    """

/// Hostile and malformed schedules against the schedule service and `dalaba schedule check` (issue 13, findings 3, 5, 8).
@Suite(.serialized) struct ScheduleHostileServiceTests {
    @Test("every malformed file: the last good schedule keeps running and the problem is reported with file and line")
    func lastGoodIsKept() async throws {
        let rig = try StationRig(name: "hostile-reload", start: cst(2026, 3, 2, 5))
        _ = try makeEscapableAudio(in: rig.directory)
        try rig.schedule(goodDay)
        try rig.start()
        await rig.service.reload(reason: "start")
        let good = await rig.service.listing(count: 4)
        #expect(good.map(\.programme) == ["news", "news", "news", "news"])
        #expect(await rig.station.status().scheduleProblems == [])
        for malformed in MalformedFile.corpus {
            let path = rig.schedules.appendingPathComponent("bad.yaml")
            try malformed.contents.write(to: path)
            await rig.service.reload(reason: "test")
            #expect(await rig.service.listing(count: 4) == good, "\(malformed.file) replaced the running schedule")
            let problems = await rig.station.status().scheduleProblems
            let expected = "\(path.path):\(malformed.line): "
            #expect(
                problems.contains { $0.hasPrefix(expected) && $0.contains(malformed.fragment) },
                "\(malformed.file): expected \(expected)…\(malformed.fragment)…, got \(problems)")
            try FileManager.default.removeItem(at: path)
        }
        // A file over the size limit is refused from its size alone, beside the good one.
        let big = rig.schedules.appendingPathComponent("big.yaml")
        // Over 1 MiB mostly in comments, so reading it once the limit is raised stays well inside the 2 s budget on a
        // loaded machine.
        let yaml = largeSchedule(count: 2_000) + "\n" + String(repeating: "# " + String(repeating: "x", count: 98) + "\n", count: 11_000)
        try yaml.write(to: big, atomically: true, encoding: .utf8)
        await rig.service.reload(reason: "test")
        #expect(await rig.service.listing(count: 4) == good)
        #expect(
            await rig.station.status().scheduleProblems == [
                "\(big.path):1: is \(yaml.utf8.count) bytes, more than the 1 MiB a schedule file may hold: split it into several files"
            ])
        try FileManager.default.removeItem(at: big)

        await rig.service.reload(reason: "fixed")
        #expect(await rig.station.status().scheduleProblems == [])
        await rig.stop()
    }

    @Test("dalaba schedule check exits 1 for every malformed file, naming the file and the line", arguments: MalformedFile.corpus)
    func checkCommand(_ malformed: MalformedFile) async throws {
        let dir = try Processes.temporaryDirectory("hostile-check")
        let audio = try makeEscapableAudio(in: dir)
        let file = dir.appendingPathComponent(malformed.file)
        try malformed.contents.write(to: file)
        let result = try await Processes.run("dalaba", ["schedule", "check", file.path, "--audio", audio.path])
        #expect(result.status == 1)
        let expected = "\(file.path):\(malformed.line): "
        let lines = result.stdout.split(separator: "\n")
        #expect(
            lines.contains { $0.hasPrefix(expected) && $0.contains(malformed.fragment) },
            "expected \(expected)…\(malformed.fragment)…, got:\n\(result.stdout)")
        #expect(result.stderr.hasPrefix("dalaba: ") && result.stderr.contains(" in 1 file"), "\(result.stderr)")
        // Nothing from the file reaches the terminal as a control or bidi character.
        #expect(!result.stdout.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F || $0 == "\u{202E}" })
    }

    @Test("dalaba schedule check refuses a file over the size limit without reading it, and --max-file-bytes raises it")
    func checkSizeLimit() async throws {
        let dir = try Processes.temporaryDirectory("hostile-size")
        let audio = try makeEscapableAudio(in: dir)
        let file = dir.appendingPathComponent("big.yaml")
        // Over 1 MiB mostly in comments, so reading it once the limit is raised stays well inside the 2 s budget on a
        // loaded machine.
        let yaml = largeSchedule(count: 2_000) + "\n" + String(repeating: "# " + String(repeating: "x", count: 98) + "\n", count: 11_000)
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        let size = yaml.utf8.count
        #expect(size > 1 << 20)
        let refused = try await Processes.run("dalaba", ["schedule", "check", file.path, "--audio", audio.path])
        #expect(refused.status == 1)
        #expect(refused.stdout == "\(file.path):1: is \(size) bytes, more than the 1 MiB a schedule file may hold: split it into several files\n")
        let raised = try await Processes.run("dalaba", ["schedule", "check", file.path, "--audio", audio.path, "--max-file-bytes", "\(4 << 20)"])
        #expect(raised.status == 0, "\(raised.stdout)\(raised.stderr)")
        #expect(raised.stdout.hasPrefix("2000 programmes OK"))
    }

    @Test("a file being read does not hold the running schedule: listing answers at once, and cancelling the read returns fast")
    func readOffTheActor() async throws {
        let rig = try StationRig(name: "hostile-slow", start: cst(2026, 3, 2, 5))
        try rig.schedule(goodDay)
        try rig.start()
        // Reading begins with the first audio name; the test learns of it through the checker the service is given.
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        let armed = Mutex(false)
        let limits = ScheduleLimits(maxFileBytes: 64 << 20, maxNodes: 100_000_000, timeBudget: .seconds(600))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let service = ScheduleService(
            configuration: rig.configuration, station: rig.station, store: rig.store, logger: logger, clock: rig.clock.read,
            audioProblem: { _ in
                if armed.withLock({ $0 }) { signal.yield() }
                return nil
            }, limits: limits)
        await service.reload(reason: "start")
        let good = await service.listing(count: 2)
        #expect(good.map(\.programme) == ["news", "news"])

        // Tens of megabytes of valid programmes: seconds of reading in a debug build.
        try largeSchedule(count: 150_000).write(to: rig.schedules.appendingPathComponent("big.yaml"), atomically: true, encoding: .utf8)
        armed.withLock { $0 = true }
        let reload = Task { await service.reload(reason: "big file") }
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
        let clock = ContinuousClock()
        var listing: [SlotListing] = []
        let answer = await clock.measure { listing = await service.listing(count: 2) }
        #expect(listing == good)
        #expect(answer < .milliseconds(100), "listing waited \(answer) for the read")
        let stopped = await clock.measure {
            reload.cancel()
            await reload.value
        }
        #expect(stopped < .seconds(1), "a cancelled read took \(stopped) to stop")
        #expect(await service.listing(count: 2) == good)
        #expect(await rig.station.status().scheduleProblems == [], "a cancelled read reports nothing")
        await rig.stop()
    }
}
