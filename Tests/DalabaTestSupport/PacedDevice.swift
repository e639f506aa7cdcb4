import Foundation
import Synchronization

/// The clocked virtual card of TESTING.md: jackd's dummy driver behind ALSA's jack plugin, with a file PCM in front
/// that captures what was played. Real time passes: 1 s of audio takes 1 s.
public final class PacedDevice: @unchecked Sendable {
    public let rate: Int
    public let jackPeriod: Int
    public let configPath: String
    /// The jackd server name; clients find it through `JACK_DEFAULT_SERVER`.
    public let serverName: String
    private let jackd: Child

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
        pcm.paced_input {
            @args [ FILE ]
            @args.FILE { type string }
            type file
            slave.pcm { type plug; slave.pcm "jack" }
            file "/dev/null"
            infile $FILE
            format "raw"
        }

        """

    /// Waits until no other test in this process holds the virtual card (there is one jackd), then starts it.
    /// Tests in different suites run in parallel, so every user of the paced device goes through here. A holder that
    /// never lets go fails the waiters after `waitLimit` seconds instead of hanging them.
    public static func start(rate: Int = 48_000, jackPeriod: Int = 256, waitLimit: Double = 600) async throws -> PacedDevice {
        guard await gate.enter(timeout: waitLimit) else { throw PacedDeviceError.busy(seconds: waitLimit) }
        do {
            // jackd's start and jack_wait take seconds: off the cooperative pool (Processes.offPool says why).
            return try await Processes.offPool { try PacedDevice(rate: rate, jackPeriod: jackPeriod) }
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

    /// One holder at a time, in arrival order; a waiter gives up after its timeout.
    private actor Gate {
        private var busy = false
        private var waiters: [(id: UUID, continuation: CheckedContinuation<Bool, Never>)] = []

        func enter(timeout: Double) async -> Bool {
            if !busy {
                busy = true
                return true
            }
            let id = UUID()
            let timer = Task {
                try await Task.sleep(for: .seconds(timeout))
                self.giveUp(id)
            }
            let entered = await withCheckedContinuation { waiters.append((id, $0)) }
            timer.cancel()
            return entered
        }

        private func giveUp(_ id: UUID) {
            guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
            waiters.remove(at: index).continuation.resume(returning: false)
        }

        func leave() {
            if waiters.isEmpty { busy = false } else { waiters.removeFirst().continuation.resume(returning: true) }
        }
    }

    /// Starts jackd (dummy driver) and waits, at most `jack_wait`'s ten seconds, until it serves clients.
    private init(rate: Int, jackPeriod: Int) throws {
        self.rate = rate
        self.jackPeriod = jackPeriod
        let dir = try Processes.temporaryDirectory("alsa")
        configPath = dir.appendingPathComponent("paced.conf").path
        try PacedDevice.configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        // A server of our own name, so other jackd instances on the machine (a benchmark, another run) are left alone.
        serverName = "dalaba-test-\(getpid())"
        let logPath = dir.appendingPathComponent("jackd.log").path
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        jackd = Child()
        jackd.executableURL = URL(fileURLWithPath: Processes.resolve("jackd"))
        jackd.arguments = ["--no-realtime", "-n", serverName, "-d", "dummy", "-r", "\(rate)", "-p", "\(jackPeriod)"]
        jackd.standardOutput = log
        jackd.standardError = log
        try Processes.start(jackd)
        try? log.close()
        let waited: Processes.Result
        do {
            waited = try Processes.run("jack_wait", ["-s", serverName, "-w", "-t", "10"], timeout: 20)
        } catch {
            Processes.terminate(jackd, grace: 5)
            throw PacedDeviceError.jackdDidNotStart("\(error)\njackd: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
        }
        guard waited.status == 0, jackd.isRunning else {
            Processes.terminate(jackd, grace: 5)
            throw PacedDeviceError.jackdDidNotStart(
                waited.stdout + waited.stderr + "\njackd: " + ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""))
        }
    }

    /// The ALSA search path that adds the paced capture device.
    public var alsaConfigPath: String { "/usr/share/alsa/alsa.conf:\(configPath)" }

    /// What a process playing to this device needs in its environment. Pass it to the child explicitly; a test that plays
    /// in-process does so inside an exit test (`#expect(processExitsWith:)`), whose process runs that test alone.
    public var environment: [String: String] { ["ALSA_CONFIG_PATH": alsaConfigPath, "JACK_DEFAULT_SERVER": serverName] }

    /// Points alsa-lib and libjack of the current process at a paced device, given its `environment`.
    ///
    /// Only for the child process of an exit test (`#expect(processExitsWith:)`), which runs that one test alone: in the
    /// test process itself, where tests run in parallel and start children, changing the environment races with every
    /// other thread that reads it.
    public static func useInExitTest(_ environment: [String: String]) {
        for (key, value) in environment { setenv(key, value, 1) }
    }

    /// A paced capture input (a stand-in microphone) that records the raw frames of `file` (the device's format),
    /// then silence once they run out, at the virtual card's clock.
    public static func pcm(inputFrom file: String) -> String { "paced_input:FILE=\(file)" }

    /// The PCM name that captures to `file`.
    public func pcm(capturingTo file: String) -> String { Self.pcm(capturingTo: file) }

    /// The PCM name that captures to `file`, for a process whose environment points at the device (`useInExitTest`).
    public static func pcm(capturingTo file: String) -> String { "paced_capture:FILE=\(file)" }

    /// Whether jackd still runs (a test may kill it to make the device vanish).
    public var isRunning: Bool { jackd.isRunning }

    /// The jackd process id, for tests that make the device vanish.
    public var jackdPID: Int32 { jackd.processIdentifier }

    private let stopped = Mutex(false)

    /// Stops jackd (SIGTERM, SIGKILL after five seconds) and lets the next test have the card, also when jackd already died.
    /// Call it when the test is done with the device; later calls do nothing.
    public func stop() async {
        guard stopped.withLock({ let was = $0; $0 = true; return !was }) else { return }
        if jackd.isRunning {
            jackd.terminate()
            if !(await Processes.wait(for: jackd, timeout: 5)) {
                jackd.kill()
                _ = await Processes.wait(for: jackd, timeout: 5)
            }
        }
        await Self.gate.leave()
    }
}

public enum PacedDeviceError: Error, CustomStringConvertible {
    case jackdDidNotStart(String)
    case busy(seconds: Double)

    public var description: String {
        switch self {
        case .jackdDidNotStart(let output): "jackd did not start: \(output)"
        case .busy(let seconds): "another test held the paced device for more than \(seconds) s"
        }
    }
}
