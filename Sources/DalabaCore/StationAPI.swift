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
        /// The amplifier's power switch; nil when none is configured.
        public var amplifier: Amplifier?
        /// Set while the station should be on air and is not heard: the loudest fault there is.
        public var deadAir: DeadAir?
        /// The levels items play at.
        public var volume: Volume?
        /// The live item on air, nil when none is.
        public var live: Live?
        /// The relay on air (its connection, reconnects and dead air), nil when none is.
        public var relay: Relay? = nil

        public init(
            now: Date, nowPlaying: NowPlaying?, queue: [Item], device: Device, storeFault: String?, scheduleProblems: [String],
            amplifier: Amplifier? = nil, deadAir: DeadAir? = nil, volume: Volume? = nil, live: Live? = nil
        ) {
            self.now = now
            self.nowPlaying = nowPlaying
            self.queue = queue
            self.device = device
            self.storeFault = storeFault
            self.scheduleProblems = scheduleProblems
            self.amplifier = amplifier
            self.deadAir = deadAir
            self.volume = volume
            self.live = live
        }
    }

    /// The live item on air (a microphone or line-in): what it listens to, how long it has been heard, and how loud.
    public struct Live: Codable, Sendable, Equatable {
        public var id: String
        /// The capture PCM it records from.
        public var input: String
        /// Airtime so far: frames handed to the device over the rate, as the log will count them.
        public var secondsOnAir: Double
        /// The level it plays at, dB below full scale.
        public var volume: Double?
        /// The RMS of the input's last period in dBFS (what the speaker sounds like now), at least `silenceFloor`; nil before
        /// the first.
        public var inputLevel: Double?
        /// The level reported for digital silence.
        public static let silenceFloor = -120.0
        /// Set while the loudspeaker is gone and the input is still listened to, so the talk goes on when it returns.
        public var outputLostSince: Date?

        public init(id: String, input: String, secondsOnAir: Double, volume: Double?, inputLevel: Double?, outputLostSince: Date? = nil) {
            self.id = id
            self.input = input
            self.secondsOnAir = secondsOnAir
            self.volume = volume
            self.inputLevel = inputLevel
            self.outputLostSince = outputLostSince
        }
    }

    /// The amplifier's power: what switches it, where it is, and how often it switched or failed since the daemon started.
    public struct Amplifier: Codable, Sendable, Equatable {
        /// "gpio gpiochip0 line 17", "command".
        public var backend: String
        /// off, switching-on, warming-up or on.
        public var state: String
        public var switchedOn: Int
        public var switchedOff: Int
        public var failures: Int
        /// The last failure of the switch, until a later switch-on succeeds.
        public var lastError: String?
        public var warmUpUntil: Date?

        public init(
            backend: String, state: String, switchedOn: Int, switchedOff: Int, failures: Int, lastError: String?, warmUpUntil: Date?
        ) {
            self.backend = backend
            self.state = state
            self.switchedOn = switchedOn
            self.switchedOff = switchedOff
            self.failures = failures
            self.lastError = lastError
            self.warmUpUntil = warmUpUntil
        }
    }

    /// Silence where there should be sound: since when, and why.
    public struct DeadAir: Codable, Sendable, Equatable {
        public var since: Date
        /// "the device has taken no data for 0.6 s", "the amplifier is off: …", "the device is down with 2 items waiting".
        public var reason: String
        public init(since: Date, reason: String) {
            self.since = since
            self.reason = reason
        }
    }

    /// The station's volume: the base level (set with `dalaba volume`, admin) and how levels are applied.
    public struct Volume: Codable, Sendable, Equatable {
        /// dB below full scale; applies to every kind but emergencies.
        public var base: Double
        /// "mixer" (the card's element `mixer`) or "software".
        public var path: String
        public var mixer: String?
        /// Who set the base with `dalaba volume` and when; nil while the configuration's `[volume] base` applies.
        public var setBy: String?
        public var setAt: Date?
        public init(base: Double, path: String, mixer: String?, setBy: String? = nil, setAt: Date? = nil) {
            self.base = base
            self.path = path
            self.mixer = mixer
            self.setBy = setBy
            self.setAt = setAt
        }
    }

    /// `PUT /v1/volume`: the new base level.
    public struct VolumeRequest: Codable, Sendable, Equatable {
        public var base: Double
        public init(base: Double) { self.base = base }
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
