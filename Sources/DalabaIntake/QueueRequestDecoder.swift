import DalabaCore
import Foundation

/// Reads the JSON of `POST /v1/announcements` (and the `metadata` part of an upload) strictly: one object, each key known
/// and given once, each value of its type and inside its bounds, so nothing a client meant is silently dropped or bent.
/// Every refusal names the field exactly as the client spelt it.
///
/// Bounds (chosen for a village loudspeaker, documented in the README):
/// * `level` 1–4 and only for emergencies (required there); `repeat` 1–1000; `repeatInterval` 0–86 400 seconds;
/// * `notBefore` / `expires` ISO 8601 with offset, real calendar days, years 2000–2199, and (checked by `checkTimes`)
///   at most `maximumLeadTime` (366 days) ahead of now; `expires` after `notBefore`;
/// * `id` per `AnnouncementID`; `title` 1–500 characters of one-line text; `audio` 1–1024 characters of one-line text;
/// * `text` 1–100 000 characters (the station's `speech.max-characters` is checked at synthesis), tabs and line breaks
///   allowed but no other control or format characters; `voice` an espeak-ng voice name, only with `text`;
/// * `audio` and `text` are exclusive; `null` is the same as leaving a key out.
public enum QueueRequestDecoder {
    /// Keys of a queue request, as clients spell them.
    public static let acceptedKeys = [
        "audio", "text", "voice", "kind", "level", "title", "tier", "repeat", "repeatInterval", "notBefore", "expires", "id", "test",
    ]
    public static let repeats = 1...1000
    public static let repeatIntervals = 0.0...86_400.0
    public static let maximumTitleLength = 500
    public static let maximumTextLength = 100_000
    public static let maximumAudioNameLength = 1024
    /// How far ahead `notBefore` and `expires` may lie.
    public static let maximumLeadTime: TimeInterval = 366 * 86_400

    /// Decodes one queue request, or says which field is wrong and why.
    public static func decode(_ body: [UInt8]) throws(StationAPI.Failure) -> StationAPI.QueueRequest {
        guard String(validating: body, as: UTF8.self) != nil else { throw StationAPI.Failure(error: "the body is not UTF-8 text") }
        try StrictJSONScan.check(body)
        do {
            return try JSONDecoder().decode(StrictQueueRequest.self, from: Data(body)).request
        } catch let failure as StationAPI.Failure {
            throw failure
        } catch {
            throw StationAPI.Failure(error: "the body could not be read as a queue request: \(error)")
        }
    }

    /// The tier a request is queued at: the token's own, or a lower one the request asks for. Asking for a higher one is
    /// refused (the server answers 403): tier is the caller's standing, not something a body can claim.
    public static func tier(requested: String?, allowed: Tier, token name: String) throws(StationAPI.Failure) -> Tier {
        guard let requested else { return allowed }
        guard let tier = Tier(name: requested) else {
            throw StationAPI.Failure(error: "unknown tier \(DisplayText.echo(requested)) (use county, township or village)", field: "tier")
        }
        guard tier <= allowed else {
            throw StationAPI.Failure(
                error: "token \(DisplayText.echo(name)) may queue at \(allowed.name) tier or lower, not \(tier.name)", field: "tier")
        }
        return tier
    }

    /// The checks that need the time of arrival: nothing scheduled or expiring more than `maximumLeadTime` ahead.
    public static func checkTimes(_ request: StationAPI.QueueRequest, now: Date) throws(StationAPI.Failure) {
        let limit = now.addingTimeInterval(maximumLeadTime)
        if let notBefore = request.notBefore, notBefore > limit {
            throw StationAPI.Failure(error: "is more than 366 days ahead", field: "notBefore")
        }
        if let expires = request.expires, expires > limit {
            throw StationAPI.Failure(error: "is more than 366 days ahead", field: "expires")
        }
    }
}

/// Any key, so the decoder can see the keys it does not know.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The strict `Decodable` of a queue request; throws `StationAPI.Failure` (which `JSONDecoder` passes through unchanged).
struct StrictQueueRequest: Decodable {
    var request: StationAPI.QueueRequest

    /// The keys accepted, when a caller reads a queue request inside a larger object (the head-end's, with `to`).
    static let acceptedKeysInfo = CodingUserInfoKey(rawValue: "dalaba.acceptedKeys")!

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        let reader = FieldReader(container: c)
        try reader.refuseUnknownKeys(accepted: decoder.userInfo[Self.acceptedKeysInfo] as? [String] ?? QueueRequestDecoder.acceptedKeys)
        let (kind, level) = try reader.kindAndLevel()
        request = StationAPI.QueueRequest(kind: kind)
        request.level = level
        request.repeat = try reader.integer("repeat", in: QueueRequestDecoder.repeats)
        request.repeatInterval = try reader.seconds("repeatInterval", in: QueueRequestDecoder.repeatIntervals)
        request.test = try reader.bool("test")
        if let id = try reader.string("id") {
            try AnnouncementID.validate(id, field: "id")
            request.id = id
        }
        request.title = try reader.line("title", maximum: QueueRequestDecoder.maximumTitleLength)
        request.audio = try reader.line("audio", maximum: QueueRequestDecoder.maximumAudioNameLength)
        if let text = try reader.string("text") {
            if text.unicodeScalars.allSatisfy(\.properties.isWhitespace) { throw StationAPI.Failure(error: "is empty", field: "text") }
            if text.count > QueueRequestDecoder.maximumTextLength {
                throw StationAPI.Failure(error: "is longer than \(QueueRequestDecoder.maximumTextLength) characters", field: "text")
            }
            if let bad = DisplayText.firstForbidden(in: text, allowingLineBreaks: true) {
                throw StationAPI.Failure(error: "may not contain \(DisplayText.name(of: bad))", field: "text")
            }
            request.text = text
        }
        if let voice = try reader.string("voice") {
            let plain = voice.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_+".unicodeScalars.contains($0)) }
            guard plain, (1...40).contains(voice.count), voice.first != "-", voice.first != "+" else {
                throw StationAPI.Failure(error: "is not a voice name (letters, digits, - _ +, like cmn or en-us)", field: "voice")
            }
            request.voice = voice
        }
        if let tier = try reader.string("tier") {
            guard Tier(name: tier) != nil else {
                throw StationAPI.Failure(error: "unknown tier \(DisplayText.echo(tier)) (use county, township or village)", field: "tier")
            }
            request.tier = tier
        }
        request.notBefore = try reader.date("notBefore")
        request.expires = try reader.date("expires")
        if let notBefore = request.notBefore, let expires = request.expires, expires <= notBefore {
            throw StationAPI.Failure(error: "is not after notBefore", field: "expires")
        }
        if request.audio != nil, request.text != nil {
            throw StationAPI.Failure(error: "cannot be given with audio: give audio or text, not both", field: "text")
        }
        if request.voice != nil, request.text == nil {
            throw StationAPI.Failure(error: "is only for text announcements", field: "voice")
        }
    }

    /// "not-before" → notBefore, "repeat_interval" → repeatInterval, "Title" → title.
    static func likelyMeant(_ key: String) -> String? { FieldReader.likelyMeant(key, among: QueueRequestDecoder.acceptedKeys) }
}

/// Typed reads from the request object that name the field and the expected type when a value does not fit.
struct FieldReader {
    let container: KeyedDecodingContainer<AnyKey>

    private func present(_ name: String) -> AnyKey? {
        let key = AnyKey(name)
        guard container.contains(key), (try? container.decodeNil(forKey: key)) == false else { return nil }
        return key
    }

    private func kind(of key: AnyKey) -> String {
        if (try? container.decode(String.self, forKey: key)) != nil { return "a string" }
        if (try? container.decode(Bool.self, forKey: key)) != nil { return "true or false" }
        if (try? container.decode(Double.self, forKey: key)) != nil { return "a number" }
        if (try? container.nestedUnkeyedContainer(forKey: key)) != nil { return "an array" }
        if (try? container.nestedContainer(keyedBy: AnyKey.self, forKey: key)) != nil { return "an object" }
        return "a number too large to read"
    }

    func string(_ name: String) throws(StationAPI.Failure) -> String? {
        guard let key = present(name) else { return nil }
        guard let value = try? container.decode(String.self, forKey: key) else {
            throw StationAPI.Failure(error: "must be a string, not \(kind(of: key))", field: name)
        }
        return value
    }

    /// One line of display text: no control or format characters, 1…`maximum` characters.
    func line(_ name: String, maximum: Int) throws(StationAPI.Failure) -> String? {
        guard let value = try string(name) else { return nil }
        if value.unicodeScalars.allSatisfy(\.properties.isWhitespace) { throw StationAPI.Failure(error: "is empty", field: name) }
        if value.count > maximum { throw StationAPI.Failure(error: "is longer than \(maximum) characters", field: name) }
        if let bad = DisplayText.firstForbidden(in: value) {
            throw StationAPI.Failure(error: "may not contain \(DisplayText.name(of: bad))", field: name)
        }
        return value
    }

    func bool(_ name: String) throws(StationAPI.Failure) -> Bool? {
        guard let key = present(name) else { return nil }
        guard let value = try? container.decode(Bool.self, forKey: key) else {
            throw StationAPI.Failure(error: "must be true or false, not \(kind(of: key))", field: name)
        }
        return value
    }

    func integer(_ name: String, in range: ClosedRange<Int>) throws(StationAPI.Failure) -> Int? {
        guard let key = present(name) else { return nil }
        let bounds = "\(range.lowerBound) to \(range.upperBound)"
        if let value = try? container.decode(Int.self, forKey: key) {
            guard range.contains(value) else { throw StationAPI.Failure(error: "\(value) is outside \(bounds)", field: name) }
            return value
        }
        if let number = try? container.decode(Double.self, forKey: key) {
            if number.isFinite, number.rounded() == number {
                throw StationAPI.Failure(error: "is outside \(bounds)", field: name)
            }
            throw StationAPI.Failure(error: "must be a whole number from \(bounds), not \(number)", field: name)
        }
        throw StationAPI.Failure(error: "must be a whole number from \(bounds), not \(kind(of: key))", field: name)
    }

    func seconds(_ name: String, in range: ClosedRange<Double>) throws(StationAPI.Failure) -> Double? {
        guard let key = present(name) else { return nil }
        guard let value = try? container.decode(Double.self, forKey: key) else {
            throw StationAPI.Failure(error: "must be a number of seconds, not \(kind(of: key))", field: name)
        }
        guard value.isFinite, range.contains(value) else {
            throw StationAPI.Failure(error: "must be from \(Int(range.lowerBound)) to \(Int(range.upperBound)) seconds", field: name)
        }
        return value
    }

    /// Refuses the first key not in `accepted`, suggesting the accepted key it most likely meant.
    func refuseUnknownKeys(accepted: [String]) throws(StationAPI.Failure) {
        for key in container.allKeys where !accepted.contains(key.stringValue) {
            var message = "unknown key"
            if let meant = Self.likelyMeant(key.stringValue, among: accepted) { message += "; did you mean \(meant)?" }
            throw StationAPI.Failure(error: "\(message) (accepted: \(accepted.joined(separator: ", ")))", field: DisplayText.echo(key.stringValue))
        }
    }

    /// "not-before" → notBefore, "repeat_interval" → repeatInterval, "Title" → title.
    static func likelyMeant(_ key: String, among accepted: [String]) -> String? {
        let folded = key.lowercased().filter { $0.isLetter }
        return accepted.first { $0.lowercased() == folded }
    }

    /// `kind` (required) and `level` (required for an emergency, refused for every other kind).
    func kindAndLevel() throws(StationAPI.Failure) -> (Kind, Int?) {
        guard let kindName = try string("kind") else {
            throw StationAPI.Failure(error: "is required (emergency, rumor-rebuttal, policy or routine)", field: "kind")
        }
        guard let kind = Kind(rawValue: kindName) else {
            throw StationAPI.Failure(error: "unknown kind \(DisplayText.echo(kindName)) (use emergency, rumor-rebuttal, policy or routine)", field: "kind")
        }
        let level = try integer("level", in: 1...4)
        switch (kind, level) {
        case (.emergency, nil): throw StationAPI.Failure(error: "is required for an emergency (1 to 4)", field: "level")
        case (.emergency, _), (_, nil): return (kind, level)
        default: throw StationAPI.Failure(error: "is only for emergencies, not \(kind.rawValue)", field: "level")
        }
    }

    func date(_ name: String) throws(StationAPI.Failure) -> Date? {
        guard let text = try string(name) else { return nil }
        do {
            return try StrictDate.parse(text)
        } catch {
            throw StationAPI.Failure(error: "\(error.reason); got \(DisplayText.echo(text))", field: name)
        }
    }
}
