import DalabaTestSupport
import Foundation
import Testing

/// A station that stops moving must say so. Here the station's database is locked by another process (a stand-in for
/// any event that never lets go): an emergency goes on air and plays out, but its end cannot be taken while the request
/// that put it on air waits for the store, so nothing more would play. Before, status showed the emergency "on air" at
/// position 0 with no alarm; now it is dead air within seconds, and the log names the event holding the station.
@Suite struct StationStallEndToEndTests {
    @Test(.timeLimit(.minutes(5))) func aStationThatStopsMovingIsDeadAirAndTheLogNamesWhatHoldsIt() async throws {
        let daemon = try DaemonHarness(name: "stall")
        try daemon.tone("short.wav", frequency: 440, seconds: 0.2)
        try await daemon.start()
        defer { daemon.stop() }

        // Another process holds the write lock (the daemon waits up to 10 s for a busy database, then gives up).
        let database = daemon.stateDirectory.appendingPathComponent("station.sqlite").path
        let locker = Child()
        locker.executableURL = URL(fileURLWithPath: Processes.resolve("sqlite3"))
        locker.arguments = [database]
        let input = Pipe()
        let output = Pipe()
        locker.standardInput = input
        locker.standardOutput = output
        try Processes.start(locker)
        defer { Processes.killTree(locker) }
        input.fileHandleForWriting.write(Data("BEGIN EXCLUSIVE;\nSELECT 'locked';\n".utf8))
        var said = Data()
        while !String(decoding: said, as: UTF8.self).contains("locked") { said.append(output.fileHandleForReading.availableData) }

        let alert = #"{"audio":"short.wav","kind":"emergency","level":1,"id":"stuck"}"#
        let posted = Task { try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(alert.utf8), timeout: 30).0 }
        // The daemon gives up on the busy database 10 s after the emergency goes on air (its row is written then): the alarm
        // (3 s after the player lets go of it) and the stall's log line (after 5 s) must both be seen before that. Counted
        // from when status shows it on air, not from the request: beside stress-ng the request itself can take seconds.
        try await daemon.waitFor("the emergency on air", timeout: 20) { DaemonHarness.nowPlayingID($0) == "stuck" }
        var reason: String?
        let deadline = Date().addingTimeInterval(9)
        while reason == nil || !daemon.log.contains("station event gate held too long"), Date() < deadline {
            let status = try await daemon.status()
            reason = reason ?? (status["deadAir"] as? [String: Any])?["reason"] as? String
            try await Task.sleep(for: .milliseconds(100))
        }
        input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
        try input.fileHandleForWriting.close()
        #expect(reason?.contains("the player has not been playing stuck") == true, "dead air while the station is held: \(reason ?? "none")")
        #expect(daemon.log.contains("station event gate held too long"), "the log names the stall")
        #expect(daemon.log.contains("held-by=enqueue(_:)"), "and what holds it")

        // The lock gone, the request completes, the emergency's end is taken, and the alarm clears.
        #expect(try await posted.value == 201)
        try await daemon.waitFor("the alarm to clear", timeout: 15) { $0["deadAir"] == nil || $0["deadAir"] is NSNull }
        #expect(daemon.log.contains("station event gate free again"))
        try await daemon.waitFor("the emergency logged", timeout: 15) { DaemonHarness.isIdle($0) }
        let (_, body) = try await daemon.request("GET", "/v1/log?limit=10", role: "official")
        #expect(String(decoding: body, as: UTF8.self).contains("\"stuck\""))
    }
}
