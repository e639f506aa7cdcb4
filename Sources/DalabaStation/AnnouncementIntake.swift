import DalabaAudio
import DalabaCore
import DalabaIntake
import DalabaProcess
import Foundation

/// Turns a request from an operator into an Announcement, or says exactly which field is wrong. Audio is checked
/// with libsndfile here, before it can reach the queue, so a bad file is refused at the door and not at air time.
public struct AnnouncementIntake: Sendable {
    public let audioDirectory: String
    private let clock: @Sendable () -> Date
    private let preparation: AudioPreparation?
    private let configuration: Configuration

    public init(configuration: Configuration, preparation: AudioPreparation? = nil, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.configuration = configuration
        audioDirectory = URL(fileURLWithPath: configuration.resolve(configuration.audioDirectory)).standardizedFileURL.path
        self.preparation = preparation
        self.clock = clock
        // Runs `espeak-ng --voices` now, at start-up, rather than inside the first request that names a voice.
        _ = VoiceCatalog.shared.voices
    }

    /// - Parameters:
    ///   - request: a request already read by `QueueRequestDecoder` (types, bounds and characters checked there).
    ///   - uploaded: the stored path of an uploaded file, which takes the place of `request.audio`.
    ///   - source: who asked (the token's name).
    ///   - tier: the tier it is queued at, from the token (see `QueueRequestDecoder.tier`); `request.tier` is not read here.
    public func announcement(from request: StationAPI.QueueRequest, uploaded: String? = nil, source: String, tier: Tier = .village)
        async throws(StationAPI.Failure) -> Announcement
    {
        let now = clock()
        try QueueRequestDecoder.checkTimes(request, now: now)
        if uploaded != nil, request.audio != nil {
            throw StationAPI.Failure(error: "comes from the upload's audio part; leave it out of metadata", field: "audio")
        }
        if uploaded != nil, request.text != nil {
            throw StationAPI.Failure(error: "cannot be given with an uploaded file: give audio or text, not both", field: "text")
        }
        if let voice = request.voice { try VoiceCatalog.shared.check(voice) }
        let audio: String
        if let uploaded {
            audio = uploaded
        } else if let name = request.audio, !name.isEmpty {
            audio = try resolveAudio(name)
        } else if let text = request.text {
            guard let preparation else { throw StationAPI.Failure(error: "speech synthesis is not available on this station", field: "text") }
            audio = try await preparation.speak(text, voice: request.voice)
        } else {
            throw StationAPI.Failure(error: "give either audio (a file under the audio directory, or an upload) or text", field: "audio")
        }
        _ = try checkAudio(audio)
        let id = request.id ?? Self.makeID(now: now)
        let spokenTitle = request.text.map { text in
            String(String(text.unicodeScalars.map { $0 == "\n" || $0 == "\r" || $0 == "\t" ? " " : Character($0) }).prefix(40))
        }
        let title = request.title ?? spokenTitle ?? (audio as NSString).lastPathComponent
        let announcement = Announcement(
            id: id, title: title, kind: request.kind, level: request.level, tier: tier, isTest: request.test ?? false, audio: audio,
            text: request.text, source: source, repeatCount: request.repeat ?? 1, repeatInterval: request.repeatInterval ?? 0,
            notBefore: request.notBefore, expires: request.expires, queuedAt: now)
        do {
            try announcement.validate()
        } catch {
            // The core names fields in its own words; the client is told the name it sends.
            let field = ["repeat-interval": "repeatInterval", "not-before": "notBefore"][error.field] ?? error.field
            throw StationAPI.Failure(error: error.reason.replacingOccurrences(of: "not-before", with: "notBefore"), field: field)
        }
        if title.count > 500 { throw StationAPI.Failure(error: "is longer than 500 characters", field: "title") }
        // An emergency never waits for a whole file to be measured: it goes on air at a provisional gain.
        if announcement.kind == .emergency { preparation?.measureWithoutWaiting(audio) } else { await preparation?.measure(audio) }
        return announcement
    }

    /// A live item from a request already read by `LiveRequestDecoder`: its input must be one the station configured. One
    /// that cannot go on air within `[live] wait` seconds expires (nobody keeps speaking into a queue); an emergency never
    /// gets that limit, since an expiry would also cut it off on air.
    ///
    /// A relay (转播) of the stream at `url` is checked here only as an address (http or https, no credentials: the
    /// decoder did that), since the stream may come up after the item is queued; what it serves is judged when it goes
    /// on air, and an answer that is not audio fails the item with the reason in its log row. VOX does not end a relay:
    /// dead air does.
    public func liveAnnouncement(from request: StationAPI.LiveRequest, source: String, tier: Tier = .village) throws(StationAPI.Failure) -> Announcement {
        let now = clock()
        let live: LiveSource
        let title: String
        if let url = request.url {
            if !configuration.relayHosts.isEmpty {
                let host = URLComponents(string: url)?.host?.lowercased() ?? ""
                guard configuration.relayHosts.contains(host) else {
                    throw StationAPI.Failure(
                        error: "\(DisplayText.echo(host)) is not one of this station's relay hosts (live.relay-hosts: \(configuration.relayHosts.joined(separator: ", ")))",
                        field: "url")
                }
            }
            live = LiveSource(input: "", url: url, maximumSeconds: request.maximum ?? configuration.liveMaximumSeconds)
            title = "转播 relay"
        } else {
            let input = request.input ?? configuration.liveInputs[0]
            guard configuration.liveInputs.contains(input) else {
                throw StationAPI.Failure(
                    error: "\(DisplayText.echo(input)) is not one of this station's live inputs (\(configuration.liveInputs.joined(separator: ", ")))",
                    field: "input")
            }
            let silence = request.silence ?? configuration.liveSilenceSeconds
            live = LiveSource(input: input, silenceSeconds: silence > 0 ? silence : nil, maximumSeconds: request.maximum ?? configuration.liveMaximumSeconds)
            title = "实时喊话 live"
        }
        let announcement = Announcement(
            id: request.id ?? Self.makeID(now: now), title: request.title ?? title, kind: request.kind, level: request.level, tier: tier,
            isTest: request.test ?? false, audio: live.url ?? live.input, source: source,
            expires: request.kind == .emergency ? nil : now.addingTimeInterval(configuration.liveWaitSeconds), queuedAt: now, live: live)
        do {
            try announcement.validate()
        } catch {
            throw StationAPI.Failure(error: error.reason, field: error.field)
        }
        return announcement
    }

    /// Opens `path` with libsndfile, so only audio the player can decode is accepted.
    @discardableResult
    public func checkAudio(_ path: String) throws(StationAPI.Failure) -> String {
        do {
            _ = try SoundFile(path: path)
        } catch {
            throw StationAPI.Failure(error: error.description, field: "audio")
        }
        return path
    }

    /// A file named relative to the audio directory (or absolute inside it); anything that escapes it is refused.
    public func resolveAudio(_ name: String) throws(StationAPI.Failure) -> String {
        do {
            return try AudioDirectory(audioDirectory).resolve(name)
        } catch {
            throw StationAPI.Failure(error: error.description, field: "audio")
        }
    }

    /// Short, unique and sortable by time, so operators can read and type it.
    static func makeID(now: Date) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "a\(formatter.string(from: now))-\(UUID().uuidString.prefix(6).lowercased())"
    }
}

/// The voices espeak-ng has on this machine (`espeak-ng --voices`), read once, so a voice it lacks is refused at the door
/// with the list instead of being read silently in its default voice.
public final class VoiceCatalog: Sendable {
    public static let shared = VoiceCatalog(executable: "espeak-ng")
    /// nil when espeak-ng cannot be run here (synthesis will then say so itself).
    public let voices: Set<String>?

    public init(executable: String) {
        voices = Self.list(executable)
    }

    /// Refuses a voice espeak-ng does not have; `cmn+f3` style variants are checked by their voice.
    public func check(_ voice: String) throws(StationAPI.Failure) {
        guard let voices else { return }
        let base = String(voice.split(separator: "+", maxSplits: 1).first ?? "")
        guard voices.contains(base.lowercased()) else {
            throw StationAPI.Failure(error: "unknown voice \(DisplayText.echo(voice)) (voices: \(voices.sorted().joined(separator: ", ")))", field: "voice")
        }
    }

    private static func list(_ executable: String) -> Set<String>? {
        let process = Child()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable, "--voices"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = nil
        do {
            try process.run()
        } catch {
            return nil
        }
        let collected = ChildOutput(output, limit: 1 << 20)
        guard process.wait(timeout: 30) else {
            process.kill()
            return nil
        }
        let data = Data(collected.text(within: 5).utf8)
        guard process.terminationStatus == 0 else { return nil }
        // "Pty Language Age/Gender VoiceName File Other Languages": the language code is what `-v` takes.
        let names = String(decoding: data, as: UTF8.self).split(separator: "\n").dropFirst().compactMap { line -> String? in
            let columns = line.split(separator: " ", omittingEmptySubsequences: true)
            return columns.count > 1 ? columns[1].lowercased() : nil
        }
        return names.isEmpty ? nil : Set(names)
    }
}
