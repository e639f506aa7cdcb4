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
        /// Seconds of silence that end it (VOX), 0 for never; nil for the station's setting.
        public var silence: Double?
        /// Seconds after which it ends on its own; nil for the station's setting.
        public var maximum: Double?

        public init(
            kind: Kind, level: Int? = nil, title: String? = nil, tier: String? = nil, id: String? = nil, test: Bool? = nil,
            input: String? = nil, silence: Double? = nil, maximum: Double? = nil
        ) {
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
