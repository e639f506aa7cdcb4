import DalabaTestSupport
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The station's promises under faults, on real `dalabad` processes: one daemon per state directory, a clear line for a
/// port in use, a missing device shown as down from the start and logged once per item, and a full disk that refuses
/// what it cannot keep and loses nothing it acknowledged.
@Suite struct StationFaultsEndToEndTests {
    @Test func aSecondDaemonOnTheSameStateDirectoryStopsBeforeOpeningAnything() async throws {
        let daemon = try DaemonHarness(name: "lock")
        try daemon.tone("a.wav", frequency: 440, seconds: 1)
        try await daemon.start()
        defer { daemon.stop() }
        let pid = try String(contentsOfFile: daemon.stateDirectory.appendingPathComponent("dalabad.lock").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // The first daemon is paused meanwhile (it keeps its lock), so any change in the directory is the second one's.
        daemon.signal(SIGSTOP)
        let before = try Self.stateFiles(daemon)
        let second = try await Processes.run(
            "dalabad", ["--config", daemon.directory.appendingPathComponent("dalaba.toml").path, "--listen", "127.0.0.1:0"], timeout: 20)
        let after = try Self.stateFiles(daemon)
        daemon.signal(SIGCONT)
        #expect(second.status == 2)
        #expect(second.stderr.contains(daemon.stateDirectory.path), "\(second.stderr)")
        #expect(second.stderr.contains("pid \(pid)"), "\(second.stderr)")
        #expect(second.stderr.split(separator: "\n").count == 1, "one line: \(second.stderr)")
        #expect(after == before, "the second daemon touched nothing")
        // The first one is unharmed.
        let (status, _) = try await daemon.request("GET", "/v1/status", role: "operator")
        #expect(status == 200)
    }

    @Test func aPortInUseIsOneLineNamingHttpListen() async throws {
        let first = try DaemonHarness(name: "port-a")
        try await first.start()
        defer { first.stop() }
        let second = try DaemonHarness(name: "port-b")
        let config = second.directory.appendingPathComponent("dalaba.toml").path
        try second.configuration.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try await Processes.run("dalabad", ["--config", config, "--listen", "127.0.0.1:\(first.port)"], timeout: 20)
        #expect(result.status == 2)
        #expect(result.stderr.contains("http.listen") && result.stderr.contains("127.0.0.1:\(first.port)"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: second.stateDirectory.appendingPathComponent("station.sqlite").path))
    }

    @Test func aDeviceThatDoesNotExistIsDownFromTheStartAndFailsOncePerItem() async throws {
        let daemon = try DaemonHarness(name: "nodevice", device: "hw:77,0")
        try daemon.tone("notice.wav", frequency: 440, seconds: 1)
        try await daemon.start()
        defer { daemon.stop() }
        let status = try await daemon.status()
        let device = try #require(status["device"] as? [String: Any])
        #expect(device["up"] as? Bool == false, "\(device)")
        #expect((device["lastError"] as? String ?? "").contains("hw:77,0"), "\(device)")
        let (_, metrics) = try await daemon.request("GET", "/metrics", role: "operator")
        #expect(String(decoding: metrics, as: UTF8.self).contains("dalaba_device_up 0"))

        #expect(try await daemon.dalaba(["queue", "notice.wav", "--kind", "policy", "--id", "notice"]).status == 0)
        // The retry timer is the daemon's own (1 s, doubling): wait until it has tried three times.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, Self.count("device failed", in: daemon) < 3 {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(Self.count("device failed", in: daemon) >= 3, "three attempts")
        let rows = try await Self.logRows(daemon).filter { $0["id"] as? String == "notice" }
        #expect(rows.count == 1, "one failed row for the item, not one per retry: \(rows)")
        #expect(rows.first?["outcome"] as? String == "failed")
        #expect(DaemonHarness.queueIDs(try await daemon.status()) + [DaemonHarness.nowPlayingID(try await daemon.status())].compactMap { $0 } == ["notice"])
    }

    /// The state directory on a 2 MiB tmpfs, filled mid-run (TESTING.md): requests the store cannot keep are refused with
    /// 507 and leave nothing queued; an emergency still goes on air; what the store refused is written within a second of
    /// space coming back, and SIGTERM and a restart lose nothing that was acknowledged.
    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func aFullDiskRefusesWhatItCannotKeepAndLosesNothingAcknowledged() async throws {
        let daemon = try DaemonHarness(name: "fulldisk")
        try FileManager.default.createDirectory(at: daemon.stateDirectory, withIntermediateDirectories: true)
        let mount = try await Processes.run("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", daemon.stateDirectory.path])
        try #require(mount.status == 0, "\(mount.stderr)")
        defer { _ = try? Processes.run("umount", ["-l", daemon.stateDirectory.path]) }
        try daemon.tone("short.wav", frequency: 440, seconds: 0.2)
        try await daemon.start()
        defer { daemon.stop() }

        #expect(try await daemon.dalaba(["queue", "short.wav", "--kind", "policy", "--id", "before"]).status == 0)
        try await daemon.waitFor("the first item to play") { DaemonHarness.isIdle($0) }
        let filler = daemon.stateDirectory.appendingPathComponent("filler")
        Self.fill(filler.path)

        // Held (not before an hour from now) so it stays queued: the store must keep it, and cannot.
        let notBefore = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3_600))
        let held = #"{"audio":"short.wav","kind":"policy","id":"held","notBefore":"\#(notBefore)"}"#
        let (refused, body) = try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(held.utf8))
        #expect(refused == 507, "\(String(decoding: body, as: UTF8.self))")
        #expect(!DaemonHarness.queueIDs(try await daemon.status()).contains("held"), "refused means not queued")

        // An emergency is not refused: it goes on air, and its row waits in memory for the disk.
        let alert = #"{"audio":"short.wav","kind":"emergency","level":1,"id":"alert"}"#
        let (accepted, _) = try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(alert.utf8))
        #expect(accepted == 201)
        try await daemon.waitFor("the emergency to play") { DaemonHarness.isIdle($0) }
        let faulty = try await daemon.status()
        #expect(faulty["storeFault"] is String, "the status says the store fails: \(faulty)")

        try FileManager.default.removeItem(at: filler)
        let freed = Date()
        try await daemon.waitFor("the store to recover", timeout: 15) { !($0["storeFault"] is String) }
        // The writer retries every half second on its own (the old station waited for its next timer wake, 40 s here).
        #expect(Date().timeIntervalSince(freed) < 15, "written within a few retry intervals, not at the next timer wake")
        let (queued, _) = try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(held.utf8))
        #expect(queued == 201)

        #expect(await daemon.stop() == 0)
        try await daemon.start()
        let rows = try await Self.logRows(daemon)
        #expect(rows.filter { $0["id"] as? String == "alert" }.map { $0["outcome"] as? String } == ["completed"], "\(rows)")
        #expect(rows.filter { $0["id"] as? String == "before" }.map { $0["outcome"] as? String } == ["completed"])
        #expect(DaemonHarness.queueIDs(try await daemon.status()) == ["held"], "acknowledged, kept across SIGTERM and restart")
        let verify = try await daemon.dalaba(["log", "verify"], role: "official")
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    static func count(_ text: String, in daemon: DaemonHarness) -> Int {
        ((try? String(contentsOfFile: daemon.logPath, encoding: .utf8)) ?? "").components(separatedBy: text).count - 1
    }

    /// Fills the file system holding `path` until it refuses another byte.
    static func fill(_ path: String) {
        FileManager.default.createFile(atPath: path, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        let block = Data(count: 64 << 10)
        var small = Data(count: 4_096)
        while (try? handle.write(contentsOf: block)) != nil {}
        while (try? handle.write(contentsOf: small)) != nil {}
        small = Data(count: 1)
        while (try? handle.write(contentsOf: small)) != nil {}
    }

    static func logRows(_ daemon: DaemonHarness) async throws -> [[String: Any]] {
        let logged = try await daemon.dalaba(["log", "--format", "json"], role: "official")
        let page = try JSONSerialization.jsonObject(with: Data(logged.stdout.utf8)) as? [String: Any]
        return page?["entries"] as? [[String: Any]] ?? []
    }

    /// Names, sizes and modification times of the state directory's files.
    static func stateFiles(_ daemon: DaemonHarness) throws -> [String] {
        let dir = daemon.stateDirectory.path
        return try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { name in
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/" + name)
            return "\(name) \(attributes[.size] ?? 0) \(attributes[.modificationDate] ?? 0)"
        }
    }
}
