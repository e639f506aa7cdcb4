import DalabaCore
import DalabaIntake
import Foundation
import Testing

@Suite struct QueueRequestDecoderTests {
    func decode(_ json: String) throws(StationAPI.Failure) -> StationAPI.QueueRequest {
        try QueueRequestDecoder.decode(Array(json.utf8))
    }

    /// The field and a fragment of the message a body is refused with.
    func refusal(_ json: String) -> StationAPI.Failure? {
        do {
            _ = try decode(json)
            return nil
        } catch {
            return error
        }
    }

    @Test func acceptsAFullRequest() throws {
        let request = try decode(
            """
            {"audio":"notice.wav","kind":"emergency","level":2,"title":"台风","tier":"village","repeat":3,"repeatInterval":60.5,
             "notBefore":"2026-11-21T08:00:00+08:00","expires":"2026-11-21T09:00Z","id":"通知-1","test":true}
            """)
        #expect(request.kind == .emergency && request.level == 2 && request.repeat == 3 && request.repeatInterval == 60.5)
        #expect(request.notBefore == Date(timeIntervalSince1970: 1_795_219_200))
        #expect(request.expires == Date(timeIntervalSince1970: 1_795_251_600))
        #expect(request.id == "通知-1" && request.test == true && request.tier == "village")
    }

    @Test func nullIsTheSameAsLeavingAKeyOut() throws {
        let request = try decode(#"{"kind":"policy","text":"通知","title":null,"level":null}"#)
        #expect(request.title == nil && request.level == nil && request.text == "通知")
    }

    @Test(arguments: [
        (#"{"kind":"policy","text":"a","not-before":"2026-11-21T08:00+08:00"}"#, "not-before", "did you mean notBefore"),
        (#"{"kind":"policy","text":"a","repeat_interval":5}"#, "repeat_interval", "did you mean repeatInterval"),
        (#"{"kind":"policy","text":"a","colour":"red"}"#, "colour", "accepted: audio, text"),
        (#"{"kind":"policy","text":"a","kind":"routine"}"#, "kind", "given twice"),
        (#"{"kind":"policy","text":"a","t\u0069tle":"x","title":"y"}"#, "title", "given twice"),
        (#"{"kind":"emergency","level":1.5,"text":"a"}"#, "level", "whole number"),
        (#"{"kind":"emergency","level":18446744073709551616,"text":"a"}"#, "level", "outside 1 to 4"),
        (#"{"kind":"emergency","level":"2","text":"a"}"#, "level", "not a string"),
        (#"{"kind":"policy","text":"a","repeat":2.5}"#, "repeat", "whole number"),
        (#"{"kind":"policy","text":"a","repeat":0}"#, "repeat", "outside 1 to 1000"),
        (#"{"kind":"policy","text":"a","repeatInterval":1e308}"#, "repeatInterval", "0 to 86400 seconds"),
        (#"{"kind":"policy","text":"a","repeatInterval":-1}"#, "repeatInterval", "0 to 86400"),
        (#"{"kind":"policy","text":"a","notBefore":"2027-02-30T08:00+08:00"}"#, "notBefore", "does not exist"),
        (#"{"kind":"policy","text":"a","notBefore":"2027-02-01T08:00"}"#, "notBefore", "offset"),
        (#"{"kind":"policy","text":"a","expires":"2026-11-21T24:00+08:00"}"#, "expires", "time of day"),
        (#"{"kind":"policy","text":"a","expires":"tomorrow"}"#, "expires", "like 2026-11-21T08:00:00+08:00"),
        (#"{"kind":"policy","text":"a","notBefore":"2026-11-21T09:00Z","expires":"2026-11-21T08:00Z"}"#, "expires", "not after notBefore"),
        (#"{"kind":"policy","text":"a","voice":"../../etc"}"#, "voice", "not a voice name"),
        (#"{"kind":"policy","audio":"a.wav","voice":"cmn"}"#, "voice", "only for text"),
        (#"{"kind":"policy","text":"a","audio":"a.wav"}"#, "text", "not both"),
        (#"{"kind":"policy","text":"a","id":"a\u0000b"}"#, "id", "U+0000"),
        (#"{"kind":"policy","text":"a","id":"a\nb"}"#, "id", "U+000A"),
        (#"{"kind":"policy","text":"a","id":"\u001b[31mred"}"#, "id", "U+001B"),
        (#"{"kind":"policy","text":"a","title":"abc\u202Edef"}"#, "title", "RIGHT-TO-LEFT OVERRIDE"),
        (#"{"kind":"policy","text":"a","title":"abc\r"}"#, "title", "U+000D"),
        (#"{"kind":"policy","text":"a","id":".."}"#, "id", "may not be .."),
        (#"{"kind":"policy","text":"a","id":" x"}"#, "id", "begin or end with a space"),
        (#"{"kind":"policy","text":"a","tier":"province"}"#, "tier", "unknown tier"),
        (#"{"kind":"klaxon","text":"a"}"#, "kind", "unknown kind"),
        (#"{"text":"a"}"#, "kind", "is required"),
        (#"{"kind":"emergency","text":"a"}"#, "level", "required for an emergency"),
        (#"{"kind":"policy","level":2,"text":"a"}"#, "level", "only for emergencies"),
        (#"{"kind":"policy","text":"a","test":"yes"}"#, "test", "true or false"),
        (#"{"kind":"policy","text":"\u0007"}"#, "text", "U+0007"),
    ])
    func refusesNamingTheField(json: String, field: String, fragment: String) {
        let failure = refusal(json)
        #expect(failure?.field == field, "\(json) → \(String(describing: failure))")
        #expect(failure?.error.contains(fragment) == true, "\(json) → \(String(describing: failure))")
    }

    @Test(arguments: ["", "   ", "[]", "\"x\"", "{", "{\"kind\":\"policy\",}", "{\"kind\":\"policy\"} x", "{\"a\":01}", "{'kind':'policy'}"])
    func refusesWhatIsNotOneJSONObject(json: String) {
        let failure = refusal(json)
        #expect(failure != nil && failure?.field == nil, "\(json) → \(String(describing: failure))")
    }

    @Test func refusesDeepNestingWithoutRecursingForever() {
        let json = "{\"kind\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(refusal(json)?.error.contains("nested deeper") == true)
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: StationAPI.Failure.self) { try QueueRequestDecoder.decode([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]) }
    }

    @Test func boundsTimesByTheTimeOfArrival() throws {
        let now = Date(timeIntervalSince1970: 1_795_219_200)
        let near = try decode(#"{"kind":"policy","text":"a","notBefore":"2027-11-01T08:00+08:00"}"#)
        try QueueRequestDecoder.checkTimes(near, now: now)
        let far = try decode(#"{"kind":"policy","text":"a","notBefore":"2030-11-21T08:00+08:00"}"#)
        #expect(throws: StationAPI.Failure(error: "is more than 366 days ahead", field: "notBefore")) {
            try QueueRequestDecoder.checkTimes(far, now: now)
        }
    }

    @Test func strictDatesAreExact() throws {
        #expect(try StrictDate.parse("2024-02-29T00:00:00Z") == Date(timeIntervalSince1970: 1_709_164_800))
        #expect(throws: StrictDate.Invalid.self) { try StrictDate.parse("2023-02-29T00:00:00Z") }
        #expect(try StrictDate.parse("2026-11-21T08:00:00.5+0800") == Date(timeIntervalSince1970: 1_795_219_200.5))
        #expect(throws: StrictDate.Invalid.self) { try StrictDate.parse("2026-11-21T08:00:00+15:00") }
    }
}

@Suite struct AnnouncementIDTests {
    @Test(arguments: ["通知-1", "a b", "a/b?c#d%e\\f", "cap:http://earthquake.usgs.gov/ak0123/xyz", ".a", "...", String(repeating: "x", count: 128)])
    func acceptsPrintableIDs(id: String) throws {
        try AnnouncementID.validate(id)
        #expect(AnnouncementID.percentDecoded(Substring(AnnouncementID.pathSegment(id))) == id)
        #expect(!AnnouncementID.pathSegment(id).contains("."))
    }

    @Test(arguments: ["", ".", "..", "a\u{0}", "a\u{7F}", "a\u{85}", "a\u{200B}", "a\u{2066}", "a\u{3000}b", "a\u{2028}", String(repeating: "x", count: 129)])
    func refusesTheRest(id: String) {
        #expect(AnnouncementID.problem(with: id) != nil)
    }

    @Test func percentDecodingRefusesMalformedEscapes() {
        #expect(AnnouncementID.percentDecoded("a%2") == nil)
        #expect(AnnouncementID.percentDecoded("a%zz") == nil)
        #expect(AnnouncementID.percentDecoded("%FF") == nil)
        #expect(AnnouncementID.percentDecoded("a+b%20c") == "a+b c")
    }
}
