import DalabaAudio
import DalabaCore
import Foundation

/// Turns a request from an operator into an Announcement, or says exactly which field is wrong. Audio is checked
/// with libsndfile here, before it can reach the queue, so a bad file is refused at the door and not at air time.
public struct AnnouncementIntake: Sendable {
    public let audioDirectory: String
    private let clock: @Sendable () -> Date
    private let preparation: AudioPreparation?

    public init(configuration: Configuration, preparation: AudioPreparation? = nil, clock: @escaping @Sendable () -> Date = { Date() }) {
        audioDirectory = URL(fileURLWithPath: configuration.resolve(configuration.audioDirectory)).standardizedFileURL.path
        self.preparation = preparation
        self.clock = clock
    }

    /// - Parameters:
    ///   - uploaded: the stored path of an uploaded file, which takes the place of `request.audio`.
    ///   - source: who asked (the token's name).
    public func announcement(from request: StationAPI.QueueRequest, uploaded: String? = nil, source: String) async throws(StationAPI.Failure)
        -> Announcement
    {
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
        var tier = Tier.village
        if let name = request.tier {
            guard let t = Tier(name: name) else { throw StationAPI.Failure(error: "must be county, township or village", field: "tier") }
            tier = t
        }
        let now = clock()
        let id = request.id ?? Self.makeID(now: now)
        let title = request.title ?? request.text.map { String($0.prefix(40)) } ?? (audio as NSString).lastPathComponent
        let announcement = Announcement(
            id: id, title: title, kind: request.kind, level: request.level, tier: tier, isTest: request.test ?? false, audio: audio,
            text: request.text, source: source, repeatCount: request.repeat ?? 1, repeatInterval: request.repeatInterval ?? 0,
            notBefore: request.notBefore, expires: request.expires, queuedAt: now)
        do {
            try announcement.validate()
        } catch {
            throw StationAPI.Failure(error: error.reason, field: error.field)
        }
        if title.count > 500 { throw StationAPI.Failure(error: "is longer than 500 characters", field: "title") }
        await preparation?.measure(audio)
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
