import DalabaCore
import DalabaStore
import DalabaTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The console in a real browser: a real `dalabad` (device `null`) over a prepared log, and Debian's headless Chromium.
///
/// Signing in: the token must never travel in a URL, and `/login` refuses a post another page made (login CSRF). So the test
/// does what an official does: it opens the station's own sign-in page, types the token and submits the form, driving
/// Chromium over the DevTools protocol (`DevToolsSignIn`), then reads the console page it lands on.
@Suite(.serialized) struct ConsoleBrowserTests {
    static let chromium: String? = ["chromium", "chromium-browser", "google-chrome"].map(Processes.resolve).first { $0.hasPrefix("/") }
    static let enabled =
        chromium != nil && FileManager.default.isExecutableFile(atPath: Processes.resolve("dalabad")) && Processes.resolve("python3").hasPrefix("/")
    static let screenshotPath = "/tmp/dalaba-console.png"

    @Test(.enabled(if: enabled), .timeLimit(.minutes(5))) func theConsoleRendersInHeadlessChromium() async throws {
        let directory = try Processes.temporaryDirectory("console")
        defer { try? FileManager.default.removeItem(at: directory) }
        let days = try Self.prepareState(in: directory)
        let port = try Self.freePort()
        let daemon = try Daemon(directory: directory, port: port)
        defer { daemon.stop() }
        try await daemon.waitUntilServing()
        // Two announcements held back for an hour, so the queue has something to show.
        for (id, title) in [("q1", "明日停水通知"), ("q2", "防火宣传")] {
            let request = StationAPI.QueueRequest(
                audio: "silence.wav", kind: .policy, title: title, notBefore: Date().addingTimeInterval(3600), id: id)
            let status = try await daemon.post("/v1/announcements", json: request, token: Tokens.operatorToken.token)
            #expect(status == 201)
        }

        let browser = Browser(directory: directory, base: "http://127.0.0.1:\(port)")
        let overview = try browser.dumpDOM(next: "/", token: Tokens.official.token)
        #expect(overview.contains("<span id=\"user\">王主任</span>"), "\(overview.prefix(2000))")
        #expect(overview.contains("防火宣传") && overview.contains("明日停水通知"))
        #expect(overview.contains("当前没有播出 Nothing on air"))
        #expect(overview.contains("<tr id=\"total-real\"><th>正式播出 Real</th><td class=\"num\">5</td><td class=\"num\">0:09:10</td></tr>"))
        #expect(overview.contains("<tr id=\"total-drill\"><th>演练 Drills</th><td class=\"num\">1</td><td class=\"num\">0:01:00</td></tr>"))
        #expect(
            overview.contains("<tr id=\"total-all\" class=\"grand\"><th>合计 Total</th><td class=\"num\">6</td><td class=\"num\">0:10:10</td></tr>"))
        #expect(overview.contains("<svg id=\"chart-day\""))
        #expect(overview.components(separatedBy: "<g class=\"bar\"").count - 1 == ConsoleBrowserTests.chartDays + 4)
        #expect(overview.contains("data-key=\"\(days[0])\" data-real-seconds=\"210.002\" data-drill-seconds=\"60.000\""))
        #expect(overview.contains("data-key=\"\(days[2])\" data-real-seconds=\"40.000\""))
        #expect(overview.contains("id=\"csv-log\""))

        let log = try browser.dumpDOM(next: "/log?kind=emergency", token: Tokens.official.token)
        #expect(log.contains("共 <b>2</b> 条记录 rows"), "\(log.prefix(2000))")
        #expect(log.contains("防汛应急通知") && log.contains("地震应急演练"))
        #expect(!log.contains("早间新闻"))
        #expect(log.contains("<option value=\"emergency\" selected=\"\">"))

        let verify = try browser.dumpDOM(next: "/verify", token: Tokens.official.token)
        #expect(verify.contains("data-intact=\"true\""), "\(verify.prefix(2000))")
        #expect(verify.contains("7 条记录 rows checked"))

        // An operator signs in to their own pages, not the officials' overview.
        let operatorHome = try browser.dumpDOM(next: "/", token: Tokens.operatorToken.token)
        #expect(operatorHome.contains("id=\"queue-upload\""))
        #expect(!operatorHome.contains("total-all"))
        let refused = try browser.dumpDOM(next: "/log", token: Tokens.operatorToken.token)
        #expect(refused.contains("此控制台仅供监管人员"))

        try browser.screenshot(next: "/", token: Tokens.official.token, to: Self.screenshotPath, size: "412,900")
        #expect(FileManager.default.fileExists(atPath: Self.screenshotPath))
    }

    static let chartDays = 14

    /// A state directory whose store holds a prepared log over the last three local days (so the overview's default fortnight
    /// shows it), an audio directory with a short silence, and the daemon's configuration. Returns the three days.
    static func prepareState(in directory: URL) throws -> [String] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = shanghai
        let today = calendar.startOfDay(for: Date())
        let day = { (offset: Int, hour: Int, minute: Int) -> Date in
            calendar.date(byAdding: DateComponents(day: offset, hour: hour, minute: minute), to: today)!
        }
        let records = [
            record("e1", "防汛应急通知", kind: .emergency, level: 2, tier: .county, source: "县应急管理局", startedAt: day(-2, 8, 0), frames: 48000 * 90),
            record("p1", PreparedLog.quotedTitle, kind: .policy, startedAt: day(-2, 9, 0), frames: 44100 * 120 + 100, rate: 44100),
            record("d1", "地震应急演练", kind: .emergency, level: 1, test: true, source: "县应急管理局", startedAt: day(-2, 10, 0), frames: 48000 * 60),
            record(
                "r1", "早间新闻", kind: .routine, source: "schedule:morning-news", startedAt: day(-1, 7, 30), frames: 48000 * 300, outcome: .interrupted),
            record(
                "x1", "辟谣：自来水安全", kind: .rumorRebuttal, source: "乡政府", startedAt: nil, endedAt: day(-1, 7, 40), frames: 0, rate: 0,
                outcome: .cancelled),
            record("f1", "广播站检修", kind: .policy, startedAt: day(0, 0, 5), frames: 48000 * 30, outcome: .failed, error: "device lost"),
            record("n1", "晚间天气", kind: .routine, source: "weather-relay", startedAt: day(0, 0, 10), frames: 48000 * 10),
        ]
        let state = directory.appendingPathComponent("state")
        do {
            let store = try StationStore.open(path: state.appendingPathComponent("station.sqlite").path, timeZone: shanghai)
            try store.append(contentsOf: records)
        }
        let audio = directory.appendingPathComponent("audio")
        try FileManager.default.createDirectory(at: audio, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("schedules"), withIntermediateDirectories: true)
        try Self.silence(seconds: 1, rate: 8000).write(to: audio.appendingPathComponent("silence.wav"))
        let local = LocalTime(timeZone: shanghai)
        return [-2, -1, 0].map { local.date(day($0, 12, 0)) }
    }

    /// A 16-bit mono WAV of silence.
    static func silence(seconds: Int, rate: Int) -> Data {
        let samples = seconds * rate
        var data = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v).littleEndian) { data.append(contentsOf: $0) } }
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(v).littleEndian) { data.append(contentsOf: $0) } }
        data.append(contentsOf: Array("RIFF".utf8))
        u32(36 + samples * 2)
        data.append(contentsOf: Array("WAVEfmt ".utf8))
        u32(16)
        u16(1)
        u16(1)
        u32(rate)
        u32(rate * 2)
        u16(2)
        u16(16)
        data.append(contentsOf: Array("data".utf8))
        u32(samples * 2)
        data.append(Data(count: samples * 2))
        return data
    }

    /// A port the kernel says is free now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BrowserTestError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw BrowserTestError("bind() failed") }
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        guard named == 0 else { throw BrowserTestError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct BrowserTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// `dalabad` as a child process with a configuration in the test's directory.
final class Daemon: @unchecked Sendable {
    let process = Child()
    let base: URL
    let logPath: String

    init(directory: URL, port: Int) throws {
        base = URL(string: "http://127.0.0.1:\(port)")!
        let config = directory.appendingPathComponent("dalaba.toml")
        var toml = """
            log-level = "notice"
            [device]
            name = "null"
            [station]
            state-directory = "\(directory.appendingPathComponent("state").path)"
            audio-directory = "\(directory.appendingPathComponent("audio").path)"
            schedules-directory = "\(directory.appendingPathComponent("schedules").path)"
            time-zone = "Asia/Shanghai"
            [http]
            listen = "127.0.0.1:\(port)"

            """
        for token in Tokens.all {
            toml += "[[tokens]]\nname = \"\(token.name)\"\ntoken = \"\(token.token)\"\nrole = \"\(token.role.rawValue)\"\n"
        }
        try toml.write(to: config, atomically: true, encoding: .utf8)
        logPath = directory.appendingPathComponent("dalabad.log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Processes.resolve("dalabad"))
        process.arguments = ["--config", config.path]
        process.currentDirectoryURL = directory
        process.standardOutput = FileHandle(forWritingAtPath: logPath)
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try Processes.start(process)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func waitUntilServing() async throws {
        for _ in 0..<200 {
            guard process.isRunning else { throw BrowserTestError("dalabad exited: \(log)") }
            if let (_, response) = try? await URLSession.shared.data(from: base.appendingPathComponent("login")),
                (response as? HTTPURLResponse)?.statusCode == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BrowserTestError("dalabad did not answer within 20 s: \(log)")
    }

    func post<T: Encodable>(_ path: String, json: T, token: String) async throws -> Int {
        var request = URLRequest(url: base.appendingPathComponent(path))
        request.httpMethod = "POST"
        request.httpBody = try StationAPI.makeEncoder().encode(json)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}

/// Headless Chromium, signing in on the station's own page each run (a fresh profile, so runs share nothing).
struct Browser {
    let directory: URL
    let base: String

    func dumpDOM(next: String, token: String) throws -> String {
        try run(next: next, token: token, mode: "dom", output: "-", size: "1280,900")
    }

    func screenshot(next: String, token: String, to path: String, size: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        _ = try run(next: next, token: token, mode: "png", output: path, size: size)
    }

    /// Signs in on the station's own `/login` page over DevTools (see `DevToolsSignIn`), then reads the page it lands on.
    private func run(next: String, token: String, mode: String, output: String, size: String) throws -> String {
        let run = UUID().uuidString.prefix(8)
        let script = directory.appendingPathComponent("signin-\(run).py")
        try DevToolsSignIn.script.write(to: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: script) }
        let profile = directory.appendingPathComponent("chromium-\(run)")
        defer { try? FileManager.default.removeItem(at: profile) }
        let process = Child()
        process.executableURL = URL(fileURLWithPath: Processes.resolve("python3"))
        let encodedNext = next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "/"
        // The token goes to the script in its arguments, which only this user can read (never into a URL or a file).
        process.arguments = [script.path, ConsoleBrowserTests.chromium!, profile.path, base, encodedNext, token, mode, output, size]
        let outPath = directory.appendingPathComponent("chromium-\(run).out").path
        let errPath = directory.appendingPathComponent("chromium-\(run).err").path
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try Processes.start(process)
        let deadline = Date().addingTimeInterval(90)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw BrowserTestError("chromium did not finish within 90 s: \((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")")
        }
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw BrowserTestError("chromium exited \(process.terminationStatus): \((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")")
        }
        return output
    }
}
