import DalabaTestSupport
import Foundation
import Testing

/// `dalaba doctor`, the real tool against a station directory of its own: a good station passes every check, and each
/// fault a technician meets is exactly one FAIL line that names it and says what to do.
@Suite struct DoctorTests {
    /// A station on disk: configuration, audio, state and schedules, all under one temporary directory.
    struct Station {
        let directory: URL
        var device = "null"
        var stationKeys = ""
        var extra = ""

        init(_ name: String) throws {
            directory = try Processes.temporaryDirectory("doctor-\(name)")
            for sub in ["audio", "state", "schedules"] {
                try FileManager.default.createDirectory(at: directory.appendingPathComponent(sub), withIntermediateDirectories: true)
            }
            for signal in ["chime.wav", "attention.wav"] {
                try FileManager.default.copyItem(
                    at: Processes.packageRoot.appendingPathComponent("Audio/\(signal)"), to: directory.appendingPathComponent("audio/\(signal)"))
            }
            try schedule("morning.yaml", Self.goodSchedule)
        }

        var state: String { directory.appendingPathComponent("state").path }
        var configPath: String { directory.appendingPathComponent("dalaba.toml").path }

        static let goodSchedule = """
            timezone: Asia/Shanghai
            programmes:
              - name: morning-chime
                title: 早间提示
                kind: routine
                audio: chime.wav
                times: ["07:00"]
                days: daily

            """

        func schedule(_ name: String, _ text: String) throws {
            try text.write(to: directory.appendingPathComponent("schedules/\(name)"), atomically: true, encoding: .utf8)
        }

        /// Runs `dalaba doctor` on this station; the report's lines, each verdict with its check.
        func doctor() async throws -> (status: Int32, lines: [String], stderr: String) {
            let text = """
                [device]
                name = "\(device)"

                [station]
                state-directory = "\(state)"
                audio-directory = "\(directory.appendingPathComponent("audio").path)"
                schedules-directory = "\(directory.appendingPathComponent("schedules").path)"
                \(stationKeys)

                \(extra)
                """
            try text.write(toFile: configPath, atomically: true, encoding: .utf8)
            let result = try await Processes.run("dalaba", ["doctor", "--config", configPath], timeout: 30)
            return (result.status, result.stdout.split(separator: "\n").map(String.init), result.stderr)
        }

        func remove() { try? FileManager.default.removeItem(at: directory) }
    }

    /// The one FAIL line of a report that must have exactly one, with the exit status 1.
    func onlyFailure(_ report: (status: Int32, lines: [String], stderr: String), sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        #expect(report.status == 1, "\(report.lines)", sourceLocation: sourceLocation)
        let failures = report.lines.filter { $0.hasPrefix("FAIL") }
        try #require(failures.count == 1, "\(report.lines)", sourceLocation: sourceLocation)
        #expect(report.stderr.contains("1 check failed"), "\(report.stderr)", sourceLocation: sourceLocation)
        return failures[0]
    }

    @Test(.timeLimit(.minutes(1))) func aGoodStationPassesEveryCheck() async throws {
        let station = try Station("good")
        defer { station.remove() }
        let report = try await station.doctor()
        #expect(report.status == 0, "\(report.lines) \(report.stderr)")
        #expect(!report.lines.contains { $0.hasPrefix("FAIL") }, "\(report.lines)")
        let checks = report.lines.map { $0.dropFirst(6).prefix { $0 != ":" } }
        #expect(checks == ["configuration", "device", "amplifier", "state directory", "audio", "schedules", "time zone", "clock"], "\(report.lines)")
        // Everything but the clock (a test machine need not run NTP) is checked and good.
        for line in report.lines where !line.contains("clock:") { #expect(line.hasPrefix("ok    "), "\(line)") }
        #expect(report.lines.contains("ok    device: null took 100 ms of silence (48000 Hz, 2 ch, S16)"), "\(report.lines)")
        #expect(
            report.lines.contains { $0.hasPrefix("ok    schedules: 1 file in \(station.directory.path)/schedules check clean") }, "\(report.lines)")
    }

    @Test(.timeLimit(.minutes(1))) func anUnknownConfigurationKeyIsNamed() async throws {
        var station = try Station("bad-key")
        defer { station.remove() }
        station.stationKeys = "colour = \"red\""
        let line = try onlyFailure(try await station.doctor())
        #expect(line.hasPrefix("FAIL  configuration: \(station.configPath):"), "\(line)")
        #expect(line.contains("station.colour") && line.contains("unknown key"), "\(line)")
    }

    @Test(.timeLimit(.minutes(1))) func aMissingDeviceIsNamedWithWhatToDo() async throws {
        var station = try Station("no-device")
        defer { station.remove() }
        station.device = "hw:CARD=NoSuchCard,DEV=0"
        let line = try onlyFailure(try await station.doctor())
        #expect(line.hasPrefix("FAIL  device: cannot open ALSA device 'hw:CARD=NoSuchCard,DEV=0'"), "\(line)")
        #expect(line.contains("aplay -L") && line.contains(station.configPath), "\(line)")
    }

    /// A read-only file system: access(2) would say yes to root, so the doctor must really create a file.
    @Test(.enabled(if: getuid() == 0, "mounting a read-only tmpfs needs root"), .timeLimit(.minutes(1)))
    func aStateDirectoryThatCannotBeWrittenIsNamed() async throws {
        let station = try Station("read-only")
        defer { station.remove() }
        let mount = try await Processes.run("mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", station.state])
        try #require(mount.status == 0, "\(mount.stderr)")
        defer { _ = try? Processes.run("umount", ["-l", station.state]) }
        let line = try onlyFailure(try await station.doctor())
        #expect(
            line
                == "FAIL  state directory: cannot create a file in \(station.state) (Read-only file system): make it writable by the user dalabad runs as (chown dalaba)"
        )
    }

    @Test(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"), .timeLimit(.minutes(1)))
    func aStateDirectoryWithoutRoomForUploadsIsNamed() async throws {
        let station = try Station("full")
        defer { station.remove() }
        let mount = try await Processes.run("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", station.state])
        try #require(mount.status == 0, "\(mount.stderr)")
        defer { _ = try? Processes.run("umount", ["-l", station.state]) }
        let line = try onlyFailure(try await station.doctor())
        #expect(line.hasPrefix("FAIL  state directory: \(station.state) has "), "\(line)")
        #expect(line.hasSuffix("free, under http.upload-min-free-bytes (64 MiB): free disk space"), "\(line)")
    }

    @Test(.timeLimit(.minutes(1))) func aBadScheduleIsNamedByFileAndLine() async throws {
        let station = try Station("bad-schedule")
        defer { station.remove() }
        try station.schedule(
            "market.yaml",
            Station.goodSchedule.replacingOccurrences(of: "name: morning-chime", with: "name: market").replacingOccurrences(
                of: "    days: daily", with: "    days: daily\n    colour: red"))
        let line = try onlyFailure(try await station.doctor())
        #expect(line.hasPrefix("FAIL  schedules: \(station.directory.path)/schedules/market.yaml:9: unknown key 'colour'"), "\(line)")
        #expect(line.hasSuffix("run `dalaba schedule check \(station.directory.path)/schedules --audio \(station.directory.path)/audio`"), "\(line)")
    }

    @Test(.timeLimit(.minutes(1))) func aMissingChimeIsNamed() async throws {
        let station = try Station("no-chime")
        defer { station.remove() }
        try FileManager.default.removeItem(at: station.directory.appendingPathComponent("audio/chime.wav"))
        // The schedule plays the chime too: both say so, each in its own line.
        try FileManager.default.removeItem(at: station.directory.appendingPathComponent("schedules/morning.yaml"))
        let line = try onlyFailure(try await station.doctor())
        #expect(line.hasPrefix("FAIL  audio: station.chime chime.wav is not in \(station.directory.path)/audio"), "\(line)")
    }

    @Test(.timeLimit(.minutes(1))) func aBadTimeZoneIsNamed() async throws {
        var station = try Station("bad-zone")
        defer { station.remove() }
        station.stationKeys = "time-zone = \"Mars/Olympus_Mons\""
        let line = try onlyFailure(try await station.doctor())
        #expect(line.contains("station.time-zone") && line.contains("unknown time zone Mars/Olympus_Mons"), "\(line)")
    }

    @Test(.timeLimit(.minutes(1))) func aMissingAmplifierCommandIsNamed() async throws {
        var station = try Station("no-relay-tool")
        defer { station.remove() }
        station.extra = "[amplifier]\nbackend = \"command\"\non-command = \"no-such-relay-tool REL1=1\"\noff-command = \"no-such-relay-tool REL1=0\""
        let line = try onlyFailure(try await station.doctor())
        #expect(
            line.hasPrefix("FAIL  amplifier: amplifier.on-command runs 'no-such-relay-tool', which is not installed or not executable"), "\(line)")
    }

    @Test(.timeLimit(.minutes(1))) func aMissingGPIOChipIsNamed() async throws {
        var station = try Station("no-gpio")
        defer { station.remove() }
        station.extra = "[amplifier]\nbackend = \"gpio\"\nchip = \"gpiochip-doctor-test\"\nline = 17"
        let line = try onlyFailure(try await station.doctor())
        #expect(line.hasPrefix("FAIL  amplifier: cannot open GPIO chip 'gpiochip-doctor-test' (amplifier.chip): "), "\(line)")
        #expect(line.contains("gpioinfo"), "\(line)")
    }

    /// `[county]` pointing at `port` on loopback.
    static func county(port: Int) -> String {
        """
        [county]
        broker-host = "127.0.0.1"
        broker-port = \(port)
        username = "village-110101001001"
        password = "village-password"
        region = "110101001001"
        county-key = "\(Data(repeating: 7, count: 32).base64EncodedString())"
        """
    }

    @Test(.timeLimit(.minutes(1))) func aReachableBrokerPasses() async throws {
        let listener = try Listener()
        defer { listener.close() }
        var station = try Station("broker-up")
        defer { station.remove() }
        station.extra = Self.county(port: listener.port)
        let report = try await station.doctor()
        #expect(report.status == 0, "\(report.lines)")
        #expect(report.lines.last == "ok    county link: the broker 127.0.0.1:\(listener.port) takes connections (no TLS: county.ca-file is not set)")
    }

    @Test(.timeLimit(.minutes(1))) func anUnreachableBrokerIsNamed() async throws {
        // A port that was just free: nothing listens there.
        let listener = try Listener()
        let port = listener.port
        listener.close()
        var station = try Station("broker-down")
        defer { station.remove() }
        station.extra = Self.county(port: port)
        let line = try onlyFailure(try await station.doctor())
        #expect(
            line.hasPrefix("FAIL  county link: cannot reach the broker 127.0.0.1:\(port) (Connection refused): check county.broker-host"), "\(line)")
    }

    /// A TCP socket listening on a loopback port the system chose: what the doctor connects to stands in for the broker.
    final class Listener {
        let fd: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
                }
            }
            guard bound else {
                let error = POSIXError(.init(rawValue: errno) ?? .EIO)
                _ = Glibc.close(fd)
                throw error
            }
            self.fd = fd
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        func close() { _ = Glibc.close(fd) }
    }
}
