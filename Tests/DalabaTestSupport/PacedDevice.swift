import Foundation

/// The clocked virtual card of TESTING.md: jackd's dummy driver behind ALSA's jack plugin, with a file PCM in front
/// that captures what was played. Real time passes: 1 s of audio takes 1 s.
public final class PacedDevice: @unchecked Sendable {
    public let rate: Int
    public let jackPeriod: Int
    public let configPath: String
    /// The jackd server name; clients find it through `JACK_DEFAULT_SERVER`.
    public let serverName: String
    private let jackd: Process

    /// The ALSA configuration that defines `paced_capture:FILE=…`; put it in `ALSA_CONFIG_PATH` after alsa.conf.
    public static let configuration = """
        pcm.paced_capture {
            @args [ FILE ]
            @args.FILE { type string }
            type file
            slave.pcm { type plug; slave.pcm "jack" }
            file $FILE
            format "raw"
        }

        """

    /// Waits until no other test in this process holds the virtual card (there is one jackd), then starts it.
    /// Tests in different suites run in parallel, so every user of the paced device goes through here.
    public static func start(rate: Int = 48_000, jackPeriod: Int = 256) async throws -> PacedDevice {
        await gate.enter()
        do {
            return try PacedDevice(rate: rate, jackPeriod: jackPeriod)
        } catch {
            await gate.leave()
            throw error
        }
    }

    /// Runs `body` with the device and stops it afterwards, whether `body` succeeds or throws.
    public static func with<T: Sendable>(_ body: (PacedDevice) async throws -> T) async throws -> T {
        let device = try await start()
        do {
            let result = try await body(device)
            await device.stop()
            return result
        } catch {
            await device.stop()
            throw error
        }
    }

    private static let gate = Gate()

    /// One holder at a time, in arrival order.
    private actor Gate {
        private var busy = false
        private var waiters: [CheckedContinuation<Void, Never>] = []

        func enter() async {
            if !busy {
                busy = true
                return
            }
            await withCheckedContinuation { waiters.append($0) }
        }

        func leave() {
            if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
        }
    }

    /// Starts jackd (dummy driver) and waits until it serves clients.
    private init(rate: Int, jackPeriod: Int) throws {
        self.rate = rate
        self.jackPeriod = jackPeriod
        let dir = try Processes.temporaryDirectory("alsa")
        configPath = dir.appendingPathComponent("paced.conf").path
        try PacedDevice.configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        // A server of our own name, so other jackd instances on the machine (a benchmark, another run) are left alone.
        serverName = "dalaba-test-\(getpid())"
        jackd = Process()
        jackd.executableURL = URL(fileURLWithPath: Processes.resolve("jackd"))
        jackd.arguments = ["--no-realtime", "-n", serverName, "-d", "dummy", "-r", "\(rate)", "-p", "\(jackPeriod)"]
        jackd.standardOutput = FileHandle.nullDevice
        jackd.standardError = FileHandle.nullDevice
        try jackd.run()
        let waited = try Processes.run("jack_wait", ["-s", serverName, "-w", "-t", "10"])
        guard waited.status == 0 else { throw PacedDeviceError.jackdDidNotStart(waited.stdout + waited.stderr) }
    }

    /// The ALSA search path that adds the paced capture device.
    public var alsaConfigPath: String { "/usr/share/alsa/alsa.conf:\(configPath)" }

    /// What a process playing to this device needs in its environment.
    public var environment: [String: String] { ["ALSA_CONFIG_PATH": alsaConfigPath, "JACK_DEFAULT_SERVER": serverName] }

    /// Points this process's alsa-lib and libjack at the device (tests that play in-process).
    public func useInThisProcess() {
        for (key, value) in environment { setenv(key, value, 1) }
    }

    /// The PCM name that captures to `file`.
    public func pcm(capturingTo file: String) -> String { "paced_capture:FILE=\(file)" }

    /// Stops jackd and lets the next test have the card; call it once, when the test is done with the device.
    public func stop() async {
        guard jackd.isRunning else { return }
        jackd.terminate()
        jackd.waitUntilExit()
        await Self.gate.leave()
    }
}

public enum PacedDeviceError: Error {
    case jackdDidNotStart(String)
}
