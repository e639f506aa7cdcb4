import Foundation

/// A GB/T 2260 administrative code as the county link uses it: 6 digits name a county, 9 a township (county + 3),
/// 12 a village (township + 3). A village is reached by a message targeted at its own code or at one of its prefixes.
public struct RegionCode: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Which level of the administration a code names, from its length.
    public enum Level: Int, Sendable, Codable, CaseIterable {
        case county = 6
        case township = 9
        case village = 12
    }

    /// The digits, exactly as written.
    public let digits: String

    /// Validates strictly: ASCII digits only, 6, 9 or 12 of them.
    public init(_ text: String) throws(Invalid) {
        if let problem = Self.problem(with: text) { throw Invalid(text: text, reason: problem) }
        digits = text
    }

    /// What is wrong with `text` as a region code, or nil when it is one.
    public static func problem(with text: String) -> String? {
        guard text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return "must be digits only (6 for a county, 9 for a township, 12 for a village)"
        }
        guard Level(rawValue: text.utf8.count) != nil else {
            return "must be 6 (county), 9 (township) or 12 (village) digits, not \(text.utf8.count)"
        }
        return nil
    }

    public var level: Level { Level(rawValue: digits.utf8.count)! }

    /// The county this code lies in (its first 6 digits).
    public var county: RegionCode { RegionCode(unchecked: String(digits.prefix(6))) }

    /// The township this code lies in (its first 9 digits); nil for a county code.
    public var township: RegionCode? { level == .county ? nil : RegionCode(unchecked: String(digits.prefix(9))) }

    /// The codes a message may target to reach this one: its county, its township and itself (shortest first).
    public var reachableBy: [RegionCode] {
        switch level {
        case .county: [self]
        case .township: [county, self]
        case .village: [county, township!, self]
        }
    }

    /// True when a message targeted at `self` reaches `other` (self is `other` or one of its prefixes).
    public func covers(_ other: RegionCode) -> Bool {
        other.digits.utf8.count >= digits.utf8.count && other.digits.hasPrefix(digits)
    }

    private init(unchecked digits: String) { self.digits = digits }

    public var description: String { digits }

    public static func < (lhs: RegionCode, rhs: RegionCode) -> Bool { lhs.digits < rhs.digits }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(digits)
    }

    /// Why a text is not a region code.
    public struct Invalid: Error, Sendable, Equatable, CustomStringConvertible {
        public var text: String
        public var reason: String
        public var description: String { "region code '\(text.prefix(40))' \(reason)" }
    }
}

/// The MQTT topics of the county link. Head-end → villages on `dalaba/down/<code>` (a county, township or village code);
/// villages → head-end on `dalaba/up/<village>/rows|receipts|state`.
public enum LinkTopic {
    public static let downPrefix = "dalaba/down/"
    public static let upPrefix = "dalaba/up/"

    /// Where the head-end publishes a message targeted at `code`.
    public static func down(_ code: RegionCode) -> String { downPrefix + code.digits }

    /// The three topics a village subscribes to (QoS 1): its county's, its township's and its own.
    public static func subscriptions(for village: RegionCode) -> [String] { village.reachableBy.map(down) }

    public static func rows(_ village: RegionCode) -> String { upPrefix + village.digits + "/rows" }
    public static func receipts(_ village: RegionCode) -> String { upPrefix + village.digits + "/receipts" }
    /// Retained; the last will is a retained state with `online: false`.
    public static func state(_ village: RegionCode) -> String { upPrefix + village.digits + "/state" }

    /// The head-end's subscriptions: every village's uplink.
    public static let allRows = "dalaba/up/+/rows"
    public static let allReceipts = "dalaba/up/+/receipts"
    public static let allStates = "dalaba/up/+/state"

    /// The kind of uplink topic and its village, for the head-end; nil for any other topic.
    public static func parseUp(_ topic: String) -> (village: RegionCode, stream: UpStream)? {
        guard topic.hasPrefix(upPrefix) else { return nil }
        let parts = topic.dropFirst(upPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let village = try? RegionCode(String(parts[0])), village.level == .village,
            let stream = UpStream(rawValue: String(parts[1]))
        else { return nil }
        return (village, stream)
    }

    public enum UpStream: String, Sendable {
        case rows, receipts, state
    }
}
