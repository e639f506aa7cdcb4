import ArgumentParser
import DalabaAudio
import DalabaHardware
import DalabaSchedule
import DalabaStation
import Foundation

/// `dalaba doctor`: what a technician runs after installing or changing a station. Each check prints one line, its verdict
/// first and then what to do, so a box that will not broadcast says why without anyone reading the daemon's log.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor", abstract: "Check the station on this machine: configuration, device, amplifier, state, schedules, clock, county link.",
        discussion: """
            Prints one line per check: ok, warn (works, but look at it) or FAIL (the station will not work as configured), \
            with what to do. Exits 0 when nothing failed, 1 otherwise. Opening the device plays 100 ms of silence; a device \
            that only one program may hold (hw:) is busy while dalabad runs.
            """)

    @Option(help: "The daemon's TOML configuration file.")
    var config = "/etc/dalaba/dalaba.toml"

    func run() async throws {
        let findings = StationDoctor(configurationPath: config).examine()
        for finding in findings { print(finding.line) }
        let failed = findings.filter { $0.verdict == .fail }.count
        let warned = findings.filter { $0.verdict == .warn }.count
        guard failed == 0 else {
            Console.error("\(failed) check\(failed == 1 ? "" : "s") failed\(warned > 0 ? ", \(warned) to look at" : "")")
            throw ExitCode(1)
        }
    }
}

/// One line of the doctor's report.
struct DoctorFinding: Equatable {
    enum Verdict: String {
        case ok, warn
        case fail = "FAIL"
    }

    var verdict: Verdict
    var check: String
    var detail: String

    /// "FAIL  device: …": the verdict in a column of its own, so `grep ^FAIL` lists what is wrong.
    var line: String { verdict.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0) + check + ": " + detail }

    static func ok(_ check: String, _ detail: String) -> Self { .init(verdict: .ok, check: check, detail: detail) }
    static func warn(_ check: String, _ detail: String) -> Self { .init(verdict: .warn, check: check, detail: detail) }
    static func fail(_ check: String, _ detail: String) -> Self { .init(verdict: .fail, check: check, detail: detail) }
}

/// The checks themselves, each reading the machine the way `dalabad` will when it starts.
struct StationDoctor {
    let configurationPath: String
    var now: () -> Date = Date.init

    func examine() -> [DoctorFinding] {
        let configuration: Configuration
        do {
            configuration = try Configuration.load(path: configurationPath)
        } catch {
            // Everything else depends on what the file says; the clock does not.
            return [.fail("configuration", "\(error.description) (fix it and run dalaba doctor again)"), clock()]
        }
        return [
            .ok("configuration", "\(configurationPath) parses"), device(configuration), amplifier(configuration), stateDirectory(configuration),
            audio(configuration), schedules(configuration), timeZone(configuration), clock(),
        ] + countyLink(configuration)
    }

    /// Opens the PCM with the configured format and plays 100 ms of silence through it, then waits for it to be heard.
    func device(_ configuration: Configuration) -> DoctorFinding {
        let format = configuration.output
        let fix = "set [device] name in \(configurationPath) to a PCM from `aplay -L` (is the user in group audio? is dalabad holding it?)"
        var wake: [Int32] = [-1, -1]
        guard pipe(&wake) == 0 else { return .fail("device", "cannot make a pipe: \(String(cString: strerror(errno)))") }
        defer {
            close(wake[0])
            close(wake[1])
        }
        do throws(AudioError) {
            let pcm = try PCMDevice(format: format)
            let negotiated = pcm.format
            let frames = negotiated.rate / 10
            let silence = UnsafeMutableRawPointer.allocate(byteCount: frames * negotiated.bytesPerFrame, alignment: 8)
            defer { silence.deallocate() }
            silence.initializeMemory(as: UInt8.self, repeating: 0, count: frames * negotiated.bytesPerFrame)
            var done = 0
            while done < frames {
                let written = try pcm.write(silence + done * negotiated.bytesPerFrame, frames: frames - done)
                done += written
                if written == 0 { _ = try pcm.waitForSpace(orWake: wake[0]) }
            }
            _ = try pcm.drain(orWake: wake[0])
            return .ok(
                "device",
                "\(format.device) took 100 ms of silence (\(negotiated.rate) Hz, \(negotiated.channels) ch, \(negotiated.sampleFormat.rawValue))")
        } catch {
            return .fail("device", "\(error.description); \(fix)")
        }
    }

    /// The amplifier's switch, tried without powering it: the GPIO line is requested (switched off, as dalabad requests it)
    /// and released; the commands are looked up but not run, since running them would switch the loudspeakers.
    func amplifier(_ configuration: Configuration) -> DoctorFinding {
        let amplifier = configuration.amplifier
        switch amplifier.backend {
        case .none:
            return .ok("amplifier", "none configured (amplifier.backend): the loudspeakers must be powered on by hand")
        case .gpio:
            let gpio = GPIOAmplifier(chip: amplifier.chip, line: amplifier.line, activeLow: amplifier.activeLow)
            do {
                try gpio.open()
            } catch {
                return .fail(
                    "amplifier",
                    "\(error.description); check [amplifier] in \(configurationPath) (`gpioinfo` lists chips and lines; is dalabad holding it?)")
            }
            return .ok("amplifier", "\(gpio.name) can be switched (requested off and released)")
        case .command:
            for (key, command) in [("on-command", amplifier.onCommand), ("off-command", amplifier.offCommand)] where !command.isEmpty {
                let program = String(command.split(separator: " ", omittingEmptySubsequences: true).first ?? "")
                guard Self.findProgram(program) != nil else {
                    return .fail(
                        "amplifier",
                        "amplifier.\(key) runs '\(program)', which is not installed or not executable: install it or fix \(configurationPath)")
                }
            }
            return .ok("amplifier", "the switch commands are installed (not run: that would switch the amplifier)")
        }
    }

    /// `program` as the shell would find it: a path, or a name on PATH.
    static func findProgram(_ program: String) -> String? {
        guard !program.isEmpty else { return nil }
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(program)" }.first { access($0, X_OK) == 0 }
    }

    /// The daemon keeps its queue and log here: it must be a directory this user can create files in, with room for uploads.
    func stateDirectory(_ configuration: Configuration) -> DoctorFinding {
        let path = configuration.resolve(configuration.stateDirectory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            let parent = (path as NSString).deletingLastPathComponent
            if access(parent, W_OK) == 0 {
                return .warn("state directory", "\(path) does not exist yet; dalabad will create it (or create it for the user dalabad runs as)")
            }
            return .fail("state directory", "\(path) does not exist and \(parent) is not writable: create it, owned by the user dalabad runs as")
        }
        guard isDirectory.boolValue else {
            return .fail("state directory", "\(path) is not a directory: set [station] state-directory in \(configurationPath)")
        }
        // A real file, created and synced: access(2) says yes to root on a read-only file system.
        let probe = path + "/.doctor-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            return .fail(
                "state directory", "cannot create a file in \(path) (\(reason)): make it writable by the user dalabad runs as (chown dalaba)")
        }
        let written = write(fd, "dalaba", 6)
        let synced = fsync(fd)
        let reason = String(cString: strerror(errno))
        close(fd)
        unlink(probe)
        guard written == 6, synced == 0 else { return .fail("state directory", "cannot write to \(path) (\(reason)): is the disk full or failing?") }
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return .warn("state directory", "\(path) is writable, but its free space is unknown") }
        let free = Int(fs.f_bavail) * Int(fs.f_frsize)
        let floor = configuration.uploadMinimumFreeBytes
        if free < floor {
            return .fail(
                "state directory", "\(path) has \(Self.size(free)) free, under http.upload-min-free-bytes (\(Self.size(floor))): free disk space")
        }
        if free < 4 * floor {
            return .warn("state directory", "\(path) has only \(Self.size(free)) free: uploads are refused under \(Self.size(floor))")
        }
        return .ok("state directory", "\(path) is writable, \(Self.size(free)) free")
    }

    /// The chime and the attention signal play before every notice and emergency: they must decode.
    func audio(_ configuration: Configuration) -> DoctorFinding {
        let directory = configuration.resolve(configuration.audioDirectory)
        let audio = AudioDirectory(directory)
        for (key, name) in [("chime", configuration.chime), ("attention", configuration.attention)] {
            switch audio.check(name) {
            case .playable: continue
            case .outside(let reason), .unreadable(let reason):
                return .fail("audio", "station.\(key) \(name): \(reason)")
            case .missing:
                return .fail("audio", "station.\(key) \(name) is not in \(directory): set [station] audio-directory in \(configurationPath)")
            }
        }
        return .ok("audio", "\(configuration.chime) and \(configuration.attention) decode (\(directory))")
    }

    /// The schedules as `dalaba schedule check` reads them, with the daemon's audio directory and time zone.
    func schedules(_ configuration: Configuration) -> DoctorFinding {
        let directory = configuration.resolve(configuration.schedulesDirectory)
        guard FileManager.default.fileExists(atPath: directory) else {
            return .warn("schedules", "\(directory) does not exist: no programmes will play (create it, or set [station] schedules-directory)")
        }
        let source: ScheduleSource
        do {
            source = try ScheduleSource.parse([
                directory, "--audio", configuration.resolve(configuration.audioDirectory), "--timezone", configuration.timeZone.identifier,
            ])
        } catch {
            return .fail("schedules", "\(directory): \(error)")
        }
        let files: [ScheduleFile]
        var problems: [ScheduleProblem]
        do {
            (files, problems) = try source.files()
        } catch {
            return .fail("schedules", "\(error.description)")
        }
        problems += ScheduleBook.check(files, defaults: source.defaults, limits: source.limits, audioProblem: source.audioChecker())
        guard let first = problems.first else {
            return .ok("schedules", "\(files.count) file\(files.count == 1 ? "" : "s") in \(directory) check clean")
        }
        let more = problems.count > 1 ? " (and \(problems.count - 1) more)" : ""
        return .fail("schedules", "\(first.description)\(more): run `dalaba schedule check \(directory) --audio \(source.audio)`")
    }

    /// The station's time zone decides when every programme plays; the machine's own zone only its logs' local times.
    func timeZone(_ configuration: Configuration) -> DoctorFinding {
        let zone = configuration.timeZone
        if let tz = ProcessInfo.processInfo.environment["TZ"], !tz.isEmpty,
            TimeZone(identifier: tz.hasPrefix(":") ? String(tz.dropFirst()) : tz) == nil,
            !FileManager.default.fileExists(atPath: tz.hasPrefix(":") ? String(tz.dropFirst()) : "/usr/share/zoneinfo/" + tz)
        {
            return .warn("time zone", "TZ=\(tz) is not a time zone; the station plays in \(zone.identifier) (station.time-zone) regardless")
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd HH:mm xxx"
        return .ok("time zone", "\(zone.identifier): it is \(formatter.string(from: now())) at the station")
    }

    /// A clock years off makes every schedule wrong and every log row misdated; an unsynchronised one drifts.
    func clock() -> DoctorFinding {
        let year = Calendar(identifier: .gregorian).component(.year, from: now())
        guard (2024...2099).contains(year) else {
            return .fail("clock", "the clock says \(year): set it (`date -s`, or enable NTP with systemd-timesyncd or chrony)")
        }
        switch Self.kernelClockState() {
        case .some(5):
            return .warn("clock", "not synchronised (the kernel reports TIME_ERROR): enable NTP (systemd-timesyncd or chrony) so schedules keep time")
        case .some:
            return .ok("clock", "synchronised (kernel NTP state)")
        case .none:
            return .warn("clock", "cannot tell whether the clock is synchronised")
        }
    }

    /// When `[county]` is configured, the county's broker must at least take a TCP connection (the credentials and TLS
    /// are the daemon's to try: it logs the broker's answer).
    func countyLink(_ configuration: Configuration) -> [DoctorFinding] {
        guard let county = configuration.county else { return [] }
        let broker = "\(county.brokerHost):\(county.brokerPort)"
        if let problem = Self.connectProblem(host: county.brokerHost, port: county.brokerPort, timeout: 5) {
            return [
                .fail(
                    "county link",
                    "cannot reach the broker \(broker) (\(problem)): check county.broker-host and broker-port in \(configurationPath), the network and the county's broker"
                )
            ]
        }
        return [.ok("county link", "the broker \(broker) takes connections\(county.caFile == nil ? " (no TLS: county.ca-file is not set)" : "")")]
    }

    /// A TCP connection to `host:port` within `timeout` seconds, closed at once; nil when it was made, else why not.
    static func connectProblem(host: String, port: Int, timeout: Double) -> String? {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else { return "cannot resolve \(host): \(String(cString: gai_strerror(status)))" }
        defer { freeaddrinfo(result) }
        var problem = "no address"
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let info = next {
            next = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue), info.pointee.ai_protocol)
            guard fd >= 0 else {
                problem = String(cString: strerror(errno))
                continue
            }
            defer { close(fd) }
            if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return nil }
            guard errno == EINPROGRESS else {
                problem = String(cString: strerror(errno))
                continue
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, Int32(timeout * 1000))
            guard ready > 0 else {
                problem = ready == 0 ? "no answer within \(Int(timeout)) s" : String(cString: strerror(errno))
                continue
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else {
                problem = String(cString: strerror(errno))
                continue
            }
            if error == 0 { return nil }
            problem = String(cString: strerror(error))
        }
        return problem
    }

    /// `adjtimex(2)` with no modes: the kernel's clock state (5, TIME_ERROR, when NTP has not synchronised it). The Glibc
    /// module does not export <sys/timex.h>, so it is looked up by name; a zeroed buffer larger than `struct timex` asks
    /// for nothing to change.
    static func kernelClockState() -> Int32? {
        typealias AdjTimex = @convention(c) (UnsafeMutableRawPointer) -> Int32
        guard let symbol = dlsym(nil, "adjtimex") else { return nil }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 1024)
        let state = unsafeBitCast(symbol, to: AdjTimex.self)(buffer)
        return state < 0 ? nil : state
    }

    /// Whole MiB (GiB from 10 GiB up): what `df -h` shows, without Foundation's locale-dependent units.
    static func size(_ bytes: Int) -> String {
        bytes >= 10 << 30 ? "\(bytes >> 30) GiB" : "\(bytes >> 20) MiB"
    }
}
