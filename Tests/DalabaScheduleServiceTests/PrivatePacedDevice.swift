import DalabaTestSupport
import Foundation

/// The clocked virtual card of `PacedDevice` (jackd's dummy driver behind ALSA's jack plugin, a file PCM in front), on a
/// jack server of its own.
///
/// Test runs of other worktrees share this machine and start and kill the default jack server; a named server, started
/// under a process name of its own, is neither joined nor killed by them. Clients find it through `JACK_DEFAULT_SERVER`.
final class PrivatePacedDevice: @unchecked Sendable {
    let server: String
    let configPath: String
    private let jackd: Process

    init(rate: Int = 48_000, jackPeriod: Int = 256) throws {
        server = "dalaba-schedule-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let dir = try Processes.temporaryDirectory("jack")
        configPath = dir.appendingPathComponent("paced.conf").path
        try PacedDevice.configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        let renamed = dir.appendingPathComponent("jackd-schedule").path
        try FileManager.default.createSymbolicLink(atPath: renamed, withDestinationPath: Processes.resolve("jackd"))
        jackd = Process()
        jackd.executableURL = URL(fileURLWithPath: renamed)
        jackd.arguments = ["-n", server, "--no-realtime", "-d", "dummy", "-r", "\(rate)", "-p", "\(jackPeriod)"]
        jackd.standardOutput = FileHandle.nullDevice
        jackd.standardError = FileHandle.nullDevice
        try jackd.run()
        let waited = try Processes.run("jack_wait", ["-s", server, "-w", "-t", "10"])
        guard waited.status == 0 else { throw PacedDeviceError.jackdDidNotStart(waited.stdout + waited.stderr) }
    }

    /// What a process playing to the device needs in its environment.
    var environment: [String: String] {
        ["ALSA_CONFIG_PATH": "/usr/share/alsa/alsa.conf:\(configPath)", "JACK_DEFAULT_SERVER": server]
    }

    /// The PCM name that captures to `file`.
    func pcm(capturingTo file: String) -> String { "paced_capture:FILE=\(file)" }

    func stop() {
        guard jackd.isRunning else { return }
        jackd.terminate()
        jackd.waitUntilExit()
    }

    deinit { stop() }
}
