import Foundation

extension StationAPI {
    /// `POST /v1/live`: put a live item (实时喊话) on the queue, from one of the station's configured capture inputs.
    public struct LiveRequest: Codable, Sendable, Equatable {
        public var kind: Kind
        public var level: Int?
        public var title: String?
        public var tier: String?
        public var id: String?
        public var test: Bool?
        /// One of the station's `[live] inputs`; nil for the first of them.
        public var input: String?
        /// A relay (转播) in place of an input: the http or https address of an MP3 stream, such as the county's Icecast.
        public var url: String?
        /// Seconds of silence that end it (VOX), 0 for never; nil for the station's setting.
        public var silence: Double?
        /// Seconds after which it ends on its own; nil for the station's setting.
        public var maximum: Double?

        public init(
            kind: Kind, level: Int? = nil, title: String? = nil, tier: String? = nil, id: String? = nil, test: Bool? = nil,
            input: String? = nil, url: String? = nil, silence: Double? = nil, maximum: Double? = nil
        ) {
            self.url = url
            self.kind = kind
            self.level = level
            self.title = title
            self.tier = tier
            self.id = id
            self.test = test
            self.input = input
            self.silence = silence
            self.maximum = maximum
        }
    }

    /// `DELETE /v1/live`: the live item that was ended.
    public struct LiveEnded: Codable, Sendable, Equatable {
        public var id: String
        public init(id: String) { self.id = id }
    }
}

extension StationAPI {
    /// The relay on air (转播), in status: whether its stream is connected, how often it was connected again, and whether it
    /// has gone dead air (it then plays the fallback or ends).
    public struct Relay: Codable, Sendable, Equatable {
        public var url: String
        public var connected: Bool
        public var reconnects: Int
        public var deadAir: Bool
        /// Why the last connection ended or failed.
        public var lastError: String?
        /// Audio waiting in the jitter buffer, in seconds: what a network hiccup can take before the relay falls silent.
        public var bufferedSeconds: Double?
        /// Silence or no data this long ends the relay or plays its fallback (`[live] relay-dead-air`).
        public var deadAirSeconds: Double?
        /// The stream's clock against the card's as the drift corrector estimates it, in ppm (positive: the source is fast).
        public var driftPPM: Double?
        public init(
            url: String, connected: Bool, reconnects: Int, deadAir: Bool, lastError: String?, bufferedSeconds: Double? = nil,
            deadAirSeconds: Double? = nil, driftPPM: Double? = nil
        ) {
            self.url = url
            self.connected = connected
            self.reconnects = reconnects
            self.deadAir = deadAir
            self.lastError = lastError
            self.bufferedSeconds = bufferedSeconds
            self.deadAirSeconds = deadAirSeconds
            self.driftPPM = driftPPM
        }
    }
}
