import Foundation

/// The JSON the station's HTTP API speaks, shared by the server and the `dalaba` tool so the two cannot drift apart.
public enum StationAPI {
    /// `POST /v1/announcements`: an announcement to queue. `audio` names a file under the station's audio directory
    /// (or the upload's stored path for multipart requests).
    public struct QueueRequest: Codable, Sendable, Equatable {
        public var audio: String?
        public var text: String?
        public var voice: String?
        public var kind: Kind
        public var level: Int?
        public var title: String?
        public var tier: String?
        public var `repeat`: Int?
        public var repeatInterval: Double?
        public var notBefore: Date?
        public var expires: Date?
        public var id: String?
        public var test: Bool?

        public init(
            audio: String? = nil, text: String? = nil, voice: String? = nil, kind: Kind, level: Int? = nil, title: String? = nil,
            tier: String? = nil, repeat: Int? = nil, repeatInterval: Double? = nil, notBefore: Date? = nil, expires: Date? = nil,
            id: String? = nil, test: Bool? = nil
        ) {
            self.audio = audio
            self.text = text
            self.voice = voice
            self.kind = kind
            self.level = level
            self.title = title
            self.tier = tier
            self.repeat = `repeat`
            self.repeatInterval = repeatInterval
            self.notBefore = notBefore
            self.expires = expires
            self.id = id
            self.test = test
        }
    }

    public struct QueueReceipt: Codable, Sendable, Equatable {
        public enum Status: String, Codable, Sendable {
            case queued
            /// An announcement with this id is already queued or playing; nothing was added.
            case duplicate
            /// It arrived after its own expiry and was logged as expired, not queued.
            case expired
        }
        public var id: String
        public var status: Status
        /// 0 = on air now or next; nil unless queued.
        public var position: Int?
        public init(id: String, status: Status, position: Int?) {
            self.id = id
            self.status = status
            self.position = position
        }
    }

    public struct Item: Codable, Sendable, Equatable {
        public var id: String
        public var title: String
        public var kind: Kind
        public var level: Int?
        public var tier: String
        public var test: Bool
        public var source: String
        public var audio: String
        public var queuedAt: Date
        public var notBefore: Date?
        public var expires: Date?
        public var `repeat`: Int
        public var playsDone: Int
        /// Seconds already heard, where an interrupted programme will resume.
        public var resumeAt: Double

        public init(_ entry: QueueEntry) {
            let a = entry.announcement
            id = a.id
            title = a.title
            kind = a.kind
            level = a.level
            tier = a.tier.name
            test = a.isTest
            source = a.source
            audio = a.audio
            queuedAt = a.queuedAt
            notBefore = entry.earliestStart.map { max($0, a.notBefore ?? $0) } ?? a.notBefore
            expires = a.expires
            self.repeat = a.repeatCount
            playsDone = entry.playsDone
            resumeAt = entry.resumeRate > 0 ? Double(entry.resumeFrame) / Double(entry.resumeRate) : 0
        }
    }

    public struct NowPlaying: Codable, Sendable, Equatable {
        public var item: Item
        public var playNumber: Int
        /// "chime", "attention" or "none": what plays before the programme.
        public var signal: String
        public var startedAt: Date?
        /// Seconds of the programme handed to the device so far, and its length.
        public var position: Double
        public var duration: Double
        public var inSignal: Bool

        public init(item: Item, playNumber: Int, signal: String, startedAt: Date?, position: Double, duration: Double, inSignal: Bool) {
            self.item = item
            self.playNumber = playNumber
            self.signal = signal
            self.startedAt = startedAt
            self.position = position
            self.duration = duration
            self.inSignal = inSignal
        }
    }

    public struct Device: Codable, Sendable, Equatable {
        public var name: String
        public var up: Bool
        public var open: Bool
        public var rate: Int
        public var channels: Int
        public var periodFrames: Int
        public var bufferFrames: Int
        public var underruns: Int
        public var lastError: String?
        public var retryAt: Date?

        public init(
            name: String, up: Bool, open: Bool, rate: Int, channels: Int, periodFrames: Int, bufferFrames: Int, underruns: Int,
            lastError: String?, retryAt: Date?
        ) {
            self.name = name
            self.up = up
            self.open = open
            self.rate = rate
            self.channels = channels
            self.periodFrames = periodFrames
            self.bufferFrames = bufferFrames
            self.underruns = underruns
            self.lastError = lastError
            self.retryAt = retryAt
        }
    }

    public struct Status: Codable, Sendable, Equatable {
        public var now: Date
        public var nowPlaying: NowPlaying?
        public var queue: [Item]
        public var device: Device
        /// nil when the log and queue database is healthy; otherwise what went wrong, loudly.
        public var storeFault: String?
        /// Problems with the schedule files (the last good version keeps running).
        public var scheduleProblems: [String]

        public init(
            now: Date, nowPlaying: NowPlaying?, queue: [Item], device: Device, storeFault: String?, scheduleProblems: [String]
        ) {
            self.now = now
            self.nowPlaying = nowPlaying
            self.queue = queue
            self.device = device
            self.storeFault = storeFault
            self.scheduleProblems = scheduleProblems
        }
    }

    /// Every 4xx/5xx answer: what is wrong and, where it is one field's fault, which.
    public struct Failure: Codable, Sendable, Equatable, Error, CustomStringConvertible {
        public var error: String
        public var field: String?
        public init(error: String, field: String? = nil) {
            self.error = error
            self.field = field
        }
        public var description: String { field.map { "\($0): \(error)" } ?? error }
    }

    /// Dates as ISO 8601 with offset, which every client and spreadsheet understands.
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Accepts ISO 8601 with or without fractional seconds; a bad date names its field in the error.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date(text, strategy: .iso8601) { return date }
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "must be a date and time like 2026-11-21T08:00:00+08:00, not \(text)")
        }
        return decoder
    }
}
