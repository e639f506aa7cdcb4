import DalabaHardware
import Foundation
import Testing

/// The command backend on its own: a command that succeeds, one that fails with its status and stderr in the error, and
/// one that hangs and is killed after the timeout.
@Suite struct CommandAmplifierTests {
    @Test func runsTheCommandsThroughTheShell() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("amp-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        let amplifier = CommandAmplifier(onCommand: "echo on >> '\(file)'", offCommand: "echo off >> '\(file)'")
        try amplifier.switchOn()
        try amplifier.switchOff()
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "on\noff\n")
    }

    @Test func aFailingCommandNamesItsKeyStatusAndStderr() {
        let amplifier = CommandAmplifier(onCommand: "echo 'usbrelay: no device' >&2; exit 3", offCommand: "")
        #expect {
            try amplifier.switchOn()
        } throws: { error in
            let text = "\(error)"
            return text.contains("amplifier.on-command") && text.contains("status 3") && text.contains("usbrelay: no device")
        }
        #expect(throws: Never.self) { try amplifier.switchOff() }
    }

    @Test func aCommandThatHangsIsKilledAfterTheTimeout() {
        let amplifier = CommandAmplifier(onCommand: "exec sleep 30", offCommand: "", timeout: 0.5)
        let started = Date()
        #expect {
            try amplifier.switchOn()
        } throws: { "\($0)".contains("did not finish within 0.5 s") }
        #expect(Date().timeIntervalSince(started) < 5)
    }

    /// A relay tool that forks a helper and returns (`amp-ctl on &`): the command has finished, and that is what counts. With
    /// Foundation's `Process` the job inherited its exit socket and its stderr, and the command "did not finish" until the job
    /// ended.
    @Test func aCommandThatLeavesAJobRunningFinishesWhenItExits() throws {
        let marker = FileManager.default.temporaryDirectory.appendingPathComponent("amp-job-\(UUID().uuidString)").path
        defer {
            if let pid = try? String(contentsOfFile: marker, encoding: .utf8), let job = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(job, SIGKILL)
            }
            try? FileManager.default.removeItem(atPath: marker)
        }
        let amplifier = CommandAmplifier(onCommand: "sleep 20 & echo $! > '\(marker)'; echo 'relay on' >&2", offCommand: "", timeout: 8)
        let started = Date()
        try amplifier.switchOn()
        #expect(Date().timeIntervalSince(started) < 4, "the command returned at once; only its job sleeps")
        #expect(FileManager.default.fileExists(atPath: marker))
    }
}
