import DalabaAudio
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real Icecast 2 server of the test's own on a free loopback port in a temp directory, and ezstream as its source
/// client streaming an MP3 or Ogg (Vorbis, Opus) file made at test time: the upstream of a relay (转播), as the county's live
/// programme would be. Several mounts may have a source at once.
/// Icecast refuses to run as root, so as root it drops to `nobody` (`<changeowner>`) and its directory is opened to it.
/// Stop everything with `shutdown()`; `deinit` kills what is left by pid.
public final class Icecast: @unchecked Sendable {
    public let directory: URL
    public private(set) var port = 0
    public let mount = "/county.mp3"
    /// The stream a relay plays (the default mount's).
    public var streamURL: String { streamURL(mount) }
    public func streamURL(_ mount: String) -> String { "http://127.0.0.1:\(port)\(mount)" }
    /// A file of the web root's (see `serve`), which Icecast sends with the type its name gives.
    public func fileURL(_ name: String) -> String { "http://127.0.0.1:\(port)/\(name)" }
    /// An HTML page Icecast serves from its web root: an HTTP 200 that is not audio.
    public var pageURL: String { "http://127.0.0.1:\(port)/index.html" }
    public var log: String { (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? "" }
    private var server: Child?
    private var sources: [Child] = []
    private let password = "source-" + UUID().uuidString.prefix(8)

    public init(name: String = "icecast") throws {
        directory = try Processes.temporaryDirectory(name)
        // Icecast drops to `nobody` when started as root, and writes its logs here.
        _ = chmod(directory.path, 0o777)
        // Its web root: Debian's stylesheets (the JSON status says which mounts are up) and a page of our own.
        let web = directory.appendingPathComponent("web")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: "/usr/share/icecast2/web"), to: web)
        try "<!DOCTYPE html><html><body><h1>村村响</h1></body></html>\n".write(
            to: web.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
        _ = chmod(web.path, 0o755)
    }

    deinit {
        for process in sources + [server].compactMap({ $0 }) { Processes.killTree(process) }
    }

    /// An MP3 file of a sine tone (libsndfile's LAME encoder), for the source to stream.
    public func makeMP3(_ name: String, frequency: Double, seconds: Double, rate: Int = 44_100, amplitude: Float = 0.5) throws -> String {
        let path = directory.appendingPathComponent(name).path
        let writer = try SoundFileWriter(path: path, format: .mp3, rate: rate, channels: 2)
        try writer.write(Tone.sine(frequency: frequency, seconds: seconds, rate: rate, channels: 2, amplitude: amplitude))
        writer.close()
        return path
    }

    /// An Ogg file of tones (libsndfile's Vorbis or Opus encoder), one track per entry, concatenated: a chained stream, each
    /// track a new logical stream with its own rate and channels, as Icecast relays a playlist.
    public func makeOgg(
        _ name: String, format: AudioFileFormat, tracks: [(frequency: Double, rate: Int, channels: Int)], seconds: Double, amplitude: Float = 0.5
    ) throws -> String {
        let path = directory.appendingPathComponent(name).path
        var bytes = Data()
        for (index, track) in tracks.enumerated() {
            let part = directory.appendingPathComponent("\(name).\(index).\(format.fileExtension)").path
            let writer = try SoundFileWriter(path: part, format: format, rate: track.rate, channels: track.channels)
            try writer.write(
                Tone.sine(frequency: track.frequency, seconds: seconds, rate: track.rate, channels: track.channels, amplitude: amplitude))
            writer.close()
            bytes += try Data(contentsOf: URL(fileURLWithPath: part))
        }
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Puts `bytes` in the web root as `name`, for `fileURL(name)`: a response whose body the test wrote byte for byte.
    public func serve(_ name: String, bytes: Data) throws {
        let path = directory.appendingPathComponent("web").appendingPathComponent(name)
        try bytes.write(to: path)
        _ = chmod(path.path, 0o644)
    }

    /// Starts icecast2 and waits until it answers HTTP.
    public func start(timeout: Double = 15) async throws {
        for _ in 0..<5 {
            port = try Broker.freePort()
            let root =
                getuid() == 0 ? "<security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>" : ""
            // A small burst, so a listener hears the live edge within a second rather than 15 s of a low-bitrate tone.
            let configuration = """
                <icecast>
                  <location>test</location><admin>test@localhost</admin>
                  <limits><clients>20</clients><sources>2</sources><source-timeout>5</source-timeout>
                    <burst-on-connect>1</burst-on-connect><burst-size>4096</burst-size></limits>
                  <authentication><source-password>\(password)</source-password><admin-user>admin</admin-user>
                    <admin-password>\(password)</admin-password></authentication>
                  <hostname>127.0.0.1</hostname>
                  <listen-socket><port>\(port)</port><bind-address>127.0.0.1</bind-address></listen-socket>
                  <fileserve>1</fileserve>
                  <paths><basedir>\(directory.path)</basedir><logdir>\(directory.path)</logdir>
                    <webroot>\(directory.path)/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>
                  <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>
                  \(root)
                </icecast>
                """
            let path = directory.appendingPathComponent("icecast.xml")
            try configuration.write(to: path, atomically: true, encoding: .utf8)
            let process = try launch(Processes.resolve("icecast2"), ["-c", path.path], output: "icecast.out")
            server = process
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning, Date() < deadline {
                if Broker.accepts(port: port) { return }
                try await Task.sleep(for: .milliseconds(20))
            }
            if process.isRunning, Broker.accepts(port: port) { return }
            if process.isRunning {
                Processes.killTree(process)
                throw BrokerFixtureError("icecast2 did not listen on \(port) within \(timeout) s: \(log.suffix(2000))")
            }
            // Exited: most likely the port was taken between choosing and binding it.
        }
        throw BrokerFixtureError("icecast2 exited at start: \(log.suffix(2000)) \(output("icecast.out"))")
    }

    /// Starts ezstream streaming `file` (looped) to `mount` (the default one unless given), as MP3 or, for an `.ogg` or
    /// `.opus` file, Ogg; waits until Icecast lists the mount.
    public func startSource(_ file: String, mount: String? = nil, timeout: Double = 15) async throws {
        let mount = mount ?? self.mount
        let format = file.hasSuffix(".ogg") || file.hasSuffix(".opus") ? "Ogg" : "MP3"
        let configuration = """
            <ezstream>
              <servers><server><hostname>127.0.0.1</hostname><port>\(port)</port><password>\(password)</password></server></servers>
              <streams><stream><mountpoint>\(mount)</mountpoint><format>\(format)</format></stream></streams>
              <intakes><intake><type>file</type><filename>\(file)</filename><stream_once>0</stream_once></intake></intakes>
            </ezstream>
            """
        let name = "ezstream\(mount.replacingOccurrences(of: "/", with: "-"))"
        let path = directory.appendingPathComponent("\(name).xml")
        try? FileManager.default.removeItem(at: path)
        // ezstream refuses a configuration others can read (it holds the source password).
        FileManager.default.createFile(atPath: path.path, contents: Data(configuration.utf8), attributes: [.posixPermissions: 0o600])
        var process = try launch(Processes.resolve("ezstream"), ["-c", path.path], output: "\(name).out")
        sources.append(process)
        let deadline = Date().addingTimeInterval(timeout)
        var attempts = 1
        while Date() < deadline {
            if !process.isRunning {
                // Just after a source was killed, Icecast may still be letting go of the mount: ezstream gives up on its
                // first connect, so it is started again, as an operator would, a few times.
                guard output("\(name).out").contains("Couldn't connect"), attempts < 4 else {
                    throw BrokerFixtureError("ezstream exited: \(output("\(name).out"))")
                }
                attempts += 1
                try await Task.sleep(for: .milliseconds(300))
                process = try launch(Processes.resolve("ezstream"), ["-c", path.path], output: "\(name).out")
                sources.append(process)
            }
            if await isMounted(mount) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BrokerFixtureError("the mount \(mount) did not appear within \(timeout) s: \(output("\(name).out")) \(log.suffix(2000))")
    }

    /// SIGKILL to the source clients: Icecast drops their mounts and listeners at once.
    public func killSource() {
        for source in sources where source.isRunning {
            Processes.killTree(source)
            _ = Processes.wait(for: source, timeout: 5)
        }
        sources.removeAll()
    }

    /// Waits until Icecast no longer lists `mount` (after `killSource`), so a source started next is the one heard.
    public func waitUntilUnmounted(_ mount: String? = nil, timeout: Double = 10) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while await isMounted(mount) {
            guard Date() < deadline else {
                throw BrokerFixtureError("the mount \(mount ?? self.mount) was still listed \(timeout) s after its source died")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Kills the source and the server by pid and removes the directory.
    public func shutdown() {
        killSource()
        if let server, server.isRunning {
            Processes.killTree(server)
            _ = Processes.wait(for: server, timeout: 5)
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// True when Icecast lists the mount (the default one unless given) among its sources (its JSON status).
    public func isMounted(_ mount: String? = nil) async -> Bool {
        let mount = mount ?? self.mount
        guard let url = URL(string: "http://127.0.0.1:\(port)/status-json.xsl"),
            let (data, _) = try? await URLSession.shared.data(from: url)
        else { return false }
        return String(decoding: data, as: UTF8.self).contains("\(port)\(mount)")
    }

    private func launch(_ executable: String, _ arguments: [String], output name: String) throws -> Child {
        let process = Child()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let url = directory.appendingPathComponent(name)
        FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        try Processes.start(process)
        return process
    }

    /// What Icecast and its sources said (the error and access logs, each ezstream's output), for a failure's message.
    public var diagnostics: String {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".out") }.sorted()
        return (["error.log", "access.log"] + names).map { "--- \($0):\n\(output($0))" }.joined(separator: "\n")
    }

    private func output(_ name: String) -> String {
        String((try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8))?.suffix(2000) ?? "")
    }
}
