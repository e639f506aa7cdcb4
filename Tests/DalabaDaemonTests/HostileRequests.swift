import Foundation

/// The malformed-request corpus: each entry is one request an operator's token may send and the exact refusal it must
/// get (status, field, a fragment of the message). Kept as data so a new finding is one more line.
struct HostileRequest: Sendable, CustomStringConvertible {
    var name: String
    var method = "POST"
    var path = "/v1/announcements"
    /// nil sends no Content-Type header at all.
    var contentType: String? = "application/json"
    var body: [UInt8]
    var status: Int
    var field: String?
    var fragment: String

    var description: String { name }

    /// A JSON request.
    static func json(_ name: String, _ body: String, _ status: Int = 400, field: String?, _ fragment: String) -> HostileRequest {
        HostileRequest(name: name, body: Array(body.utf8), status: status, field: field, fragment: fragment)
    }

    /// A request whose only fault is `key: value` added to a valid policy announcement.
    static func with(_ key: String, _ value: String, field: String? = nil, _ fragment: String, status: Int = 400) -> HostileRequest {
        json("\(key)=\(value)", #"{"audio":"ok.wav","kind":"policy","\#(key)":\#(value)}"#, status, field: field ?? key, fragment)
    }

    /// An emergency whose `level` is `value`.
    static func level(_ value: String, _ fragment: String) -> HostileRequest {
        json("level=\(value)", #"{"audio":"ok.wav","kind":"emergency","level":\#(value)}"#, field: "level", fragment)
    }

    /// A text announcement with one more key (text is checked before synthesis, so espeak-ng never runs).
    static func spoken(_ key: String, _ value: String, field: String? = nil, _ fragment: String) -> HostileRequest {
        json("text+\(key)=\(value)", #"{"text":"通知","kind":"policy","\#(key)":\#(value)}"#, field: field ?? key, fragment)
    }

    static func multipart(
        _ name: String, contentType: String = "multipart/form-data; boundary=XyZ", _ body: [UInt8], _ status: Int = 400, field: String?,
        _ fragment: String
    ) -> HostileRequest {
        HostileRequest(name: name, contentType: contentType, body: body, status: status, field: field, fragment: fragment)
    }

    static func delete(_ path: String, _ status: Int, field: String?, _ fragment: String) -> HostileRequest {
        HostileRequest(name: "DELETE \(path)", method: "DELETE", path: path, contentType: nil, body: [], status: status, field: field, fragment: fragment)
    }

    /// `--XyZ` parts and the closing delimiter.
    static func parts(_ parts: [(String, [UInt8])], boundary: String = "XyZ", close: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        for (headers, content) in parts {
            out += Array("--\(boundary)\r\n\(headers)\r\n\r\n".utf8) + content + Array("\r\n".utf8)
        }
        if close { out += Array("--\(boundary)--\r\n".utf8) }
        return out
    }

    static let metadataHeader = "Content-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json"
    static func audioHeader(_ filename: String = "tone.wav") -> String {
        "Content-Disposition: form-data; name=\"audio\"; filename=\"\(filename)\"\r\nContent-Type: audio/wav"
    }
    static func upload(metadata: String = #"{"kind":"policy"}"#, filename: String = "tone.wav", audio: [UInt8]) -> [UInt8] {
        parts([(metadataHeader, Array(metadata.utf8)), (audioHeader(filename), audio)])
    }

    /// Every malformed request; `wav` is a real (tiny) WAV file for the multipart cases that must get past the audio check.
    static func corpus(wav: [UInt8]) -> [HostileRequest] {
        let deep = "{\"kind\":" + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000) + "}"
        return [
            // Not one JSON object.
            json("empty body", "", field: nil, "empty"),
            json("blank body", " \r\n\t", field: nil, "empty"),
            json("array", "[]", field: nil, "must be a JSON object"),
            json("string", "\"x\"", field: nil, "must be a JSON object"),
            json("null", "null", field: nil, "must be a JSON object"),
            json("unclosed", #"{"audio":"ok.wav","kind":"policy""#, field: nil, "not valid JSON"),
            json("trailing comma", #"{"audio":"ok.wav","kind":"policy",}"#, field: nil, "not valid JSON"),
            json("second object", #"{"audio":"ok.wav","kind":"policy"} {}"#, field: nil, "after the JSON object"),
            json("single quotes", #"{'audio':'ok.wav','kind':'policy'}"#, field: nil, "not valid JSON"),
            json("leading zero", #"{"audio":"ok.wav","kind":"policy","repeat":01}"#, field: nil, "not valid JSON"),
            json("short \\u escape", #"{"audio":"ok.wav","kind":"policy","title":"a\u00"}"#, field: nil, "four hex digits"),
            json("lone surrogate", #"{"audio":"ok.wav","kind":"policy","title":"\ud800"}"#, field: nil, "surrogate"),
            json("deep nesting", deep, field: nil, "nested deeper"),
            HostileRequest(
                name: "invalid UTF-8", body: Array(#"{"audio":"ok.wav","kind":"policy","title":""#.utf8) + [0xFF, 0xFE] + Array("\"}".utf8),
                status: 400, field: nil, fragment: "not UTF-8"),
            json("raw tab in a string", "{\"audio\":\"ok.wav\",\"kind\":\"policy\",\"title\":\"a\tb\"}", field: nil, "must be escaped"),
            json("comment", #"{"audio":"ok.wav","kind":"policy" /* c */}"#, field: nil, "not valid JSON"),
            json("NaN", #"{"audio":"ok.wav","kind":"policy","repeatInterval":NaN}"#, field: nil, "not valid JSON"),
            json("plus sign", #"{"audio":"ok.wav","kind":"policy","repeat":+1}"#, field: nil, "not valid JSON"),
            json("bare point", #"{"audio":"ok.wav","kind":"policy","repeat":1.}"#, field: nil, "not valid JSON"),
            json("point first", #"{"audio":"ok.wav","kind":"policy","repeatInterval":.5}"#, field: nil, "not valid JSON"),
            // Unknown keys, named as sent, with the accepted ones.
            with("not-before", #""2026-11-21T08:00+08:00""#, "did you mean notBefore"),
            with("repeat-interval", "5", "did you mean repeatInterval"),
            with("repeat_interval", "5", "did you mean repeatInterval"),
            with("Title", #""x""#, "did you mean title"),
            with("priority", "1", "accepted: audio, text, voice, kind"),
            with("source", #""county""#, "unknown key"),
            with("operator", #""wang""#, "unknown key"),
            with("x y", "1", "unknown key"),
            json("escape in a key", #"{"audio":"ok.wav","kind":"policy","\u001b[31m":1}"#, field: "\\u{1B}[31m", "unknown key"),
            // Keys given twice.
            json("kind twice", #"{"audio":"ok.wav","kind":"policy","kind":"emergency"}"#, field: "kind", "given twice"),
            json("audio twice", #"{"audio":"ok.wav","kind":"policy","audio":"other.wav"}"#, field: "audio", "given twice"),
            json("title escaped twice", #"{"audio":"ok.wav","kind":"policy","title":"a","t\u0069tle":"b"}"#, field: "title", "given twice"),
            json("nested twice", #"{"audio":"ok.wav","kind":"policy","x":{"a":1,"a":2}}"#, field: "x.a", "given twice"),
            // kind
            json("kind number", #"{"audio":"ok.wav","kind":1}"#, field: "kind", "must be a string, not a number"),
            json("kind null", #"{"audio":"ok.wav","kind":null}"#, field: "kind", "is required"),
            json("kind missing", #"{"audio":"ok.wav"}"#, field: "kind", "is required"),
            json("kind unknown", #"{"audio":"ok.wav","kind":"announcement"}"#, field: "kind", "unknown kind announcement"),
            json("kind capitalised", #"{"audio":"ok.wav","kind":"Emergency","level":1}"#, field: "kind", "unknown kind"),
            json("kind with escape", #"{"audio":"ok.wav","kind":"\u001b[2J"}"#, field: "kind", "unknown kind \\u{1B}[2J"),
            // level
            level("1.5", "whole number from 1 to 4, not 1.5"),
            level("18446744073709551616", "outside 1 to 4"),
            level(#""2""#, "not a string"),
            level("0", "0 is outside 1 to 4"),
            level("5", "5 is outside 1 to 4"),
            level("-1", "outside 1 to 4"),
            level("true", "not true or false"),
            level("[]", "not an array"),
            level("{}", "not an object"),
            level("1e400", "whole number"),
            json("emergency without level", #"{"audio":"ok.wav","kind":"emergency"}"#, field: "level", "required for an emergency"),
            with("level", "2", "only for emergencies"),
            // repeat and repeatInterval
            with("repeat", "2.5", "whole number from 1 to 1000, not 2.5"),
            with("repeat", "0", "outside 1 to 1000"),
            with("repeat", "1001", "outside 1 to 1000"),
            with("repeat", #""3""#, "not a string"),
            with("repeat", "1e4", "outside 1 to 1000"),
            with("repeatInterval", "1e308", "from 0 to 86400 seconds"),
            with("repeatInterval", "-5", "from 0 to 86400 seconds"),
            with("repeatInterval", "86401", "from 0 to 86400 seconds"),
            with("repeatInterval", #""60""#, "must be a number of seconds, not a string"),
            with("repeatInterval", "1e400", "seconds"),
            // test
            with("test", #""yes""#, "true or false, not a string"),
            with("test", "1", "true or false, not a number"),
            // title: one line of display text
            with("title", "\"\(String(repeating: "题", count: 501))\"", "longer than 500"),
            with("title", #""""#, "is empty"),
            with("title", #""a\nb""#, "U+000A"),
            with("title", #""a\rb""#, "U+000D"),
            with("title", #""a\u0000b""#, "U+0000"),
            with("title", #""\u001b[31mred""#, "U+001B"),
            with("title", #""abc\u202Edef""#, "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
            with("title", #""abc\u2066def""#, "U+2066"),
            with("title", #""a\u200Bb""#, "U+200B"),
            with("title", #""a\u0085b""#, "U+0085"),
            with("title", "42", "must be a string, not a number"),
            // id
            with("id", #""a\u0000b""#, "U+0000"),
            with("id", #""a\nb""#, "U+000A"),
            with("id", #""\u001b]0;owned\u0007""#, "U+001B"),
            with("id", #""x\u202Ey""#, "U+202E"),
            with("id", #""""#, "is empty"),
            with("id", #"".""#, "may not be ."),
            with("id", #""..""#, "may not be .."),
            with("id", "\"\(String(repeating: "i", count: 129))\"", "longer than 128"),
            with("id", #"" lead""#, "begin or end with a space"),
            with("id", #""a\u3000b""#, "U+3000"),
            with("id", "7", "must be a string, not a number"),
            // tier: from the token; a request may only lower it
            with("tier", #""province""#, "unknown tier province"),
            with("tier", #""county""#, "may queue at village tier or lower, not county", status: 403),
            with("tier", #""township""#, "not township", status: 403),
            with("tier", "3", "must be a string, not a number"),
            // dates: real days, an offset, sane years and lead times
            with("notBefore", #""2027-02-30T08:00+08:00""#, "2027-02-30, a day that does not exist"),
            with("notBefore", #""2027-02-29T08:00+08:00""#, "does not exist"),
            with("notBefore", #""2026-13-01T08:00+08:00""#, "month 13"),
            with("notBefore", #""2027-01-01T08:00""#, "offset from UTC"),
            with("notBefore", #""2027-01-01 08:00+08:00""#, "like 2026-11-21T08:00:00+08:00"),
            with("notBefore", #""tomorrow""#, "like 2026-11-21T08:00:00+08:00"),
            with("notBefore", #""2027-01-01T25:00+08:00""#, "time of day that does not exist"),
            with("notBefore", #""2027-01-01T08:00+15:00""#, "offset that does not exist"),
            with("notBefore", #""1999-12-31T08:00Z""#, "year 1999"),
            with("notBefore", #""2150-01-01T00:00Z""#, "more than 366 days ahead"),
            with("expires", #""2027-02-30T08:00+08:00""#, "does not exist"),
            with("expires", "1700000000", "must be a string, not a number"),
            json(
                "expires before notBefore",
                #"{"audio":"ok.wav","kind":"policy","notBefore":"2026-11-21T09:00Z","expires":"2026-11-21T08:00Z"}"#, field: "expires",
                "not after notBefore"),
            // text and voice
            spoken("voice", #""klingon""#, "unknown voice klingon (voices: "),
            spoken("voice", #""../x""#, "not a voice name"),
            spoken("voice", #""-x""#, "not a voice name"),
            with("voice", #""cmn""#, "only for text"),
            with("text", #""通知""#, "not both"),
            json("text empty", #"{"kind":"policy","text":""}"#, field: "text", "is empty"),
            json("text NUL", #"{"kind":"policy","text":"a\u0000b"}"#, field: "text", "U+0000"),
            json("text escape", #"{"kind":"policy","text":"\u001b[2J"}"#, field: "text", "U+001B"),
            json("text number", #"{"kind":"policy","text":12}"#, field: "text", "must be a string"),
            // audio names a file in the audio directory
            json("audio outside", #"{"audio":"../outside.wav","kind":"policy"}"#, field: "audio", "outside the audio directory"),
            json("audio absolute", #"{"audio":"/etc/passwd","kind":"policy"}"#, field: "audio", "outside the audio directory"),
            json("audio missing", #"{"audio":"missing.wav","kind":"policy"}"#, field: "audio", "does not exist"),
            json("audio not audio", #"{"audio":"notes.wav","kind":"policy"}"#, field: "audio", "notes.wav"),
            json("audio NUL", #"{"audio":"ok\u0000.wav","kind":"policy"}"#, field: "audio", "U+0000"),
            json("audio empty", #"{"audio":"","kind":"policy"}"#, field: "audio", "is empty"),
            json("neither audio nor text", #"{"kind":"policy"}"#, field: "audio", "give either audio"),
            // content types
            HostileRequest(
                name: "text/plain", contentType: "text/plain", body: Array(#"{"audio":"ok.wav","kind":"policy"}"#.utf8), status: 415, field: nil,
                fragment: "unsupported Content-Type text/plain"),
            HostileRequest(
                name: "form", contentType: "application/x-www-form-urlencoded", body: Array("audio=ok.wav&kind=policy".utf8), status: 415,
                field: nil, fragment: "send application/json"),
            HostileRequest(
                name: "no content type", contentType: nil, body: Array(#"{"audio":"ok.wav","kind":"policy"}"#.utf8), status: 415, field: nil,
                fragment: "send Content-Type: application/json"),
            HostileRequest(
                name: "latin-1 JSON", contentType: "application/json; charset=iso-8859-1", body: Array(#"{"audio":"ok.wav","kind":"policy"}"#.utf8),
                status: 415, field: nil, fragment: "must be UTF-8"),
            HostileRequest(
                name: "xml", contentType: "application/xml", body: Array("<a/>".utf8), status: 415, field: nil, fragment: "unsupported Content-Type"),
            HostileRequest(
                name: "JSON over 1 MiB", body: Array(#"{"kind":"policy","text":""#.utf8) + [UInt8](repeating: 0x61, count: 1 << 20) + Array("\"}".utf8),
                status: 413, field: nil, fragment: "larger than"),
            // multipart: the boundary is checked before MultipartKit sees it
            multipart("empty boundary", contentType: "multipart/form-data; boundary=", Array("--\r\n".utf8), field: nil, "boundary is empty"),
            multipart("quoted empty boundary", contentType: "multipart/form-data; boundary=\"\"", Array("--\r\n".utf8), field: nil, "boundary is empty"),
            multipart(
                "boundary of 71", contentType: "multipart/form-data; boundary=\(String(repeating: "b", count: 71))",
                parts([(metadataHeader, Array("{}".utf8))], boundary: String(repeating: "b", count: 71)), field: nil, "longer than 70"),
            multipart("boundary with <", contentType: "multipart/form-data; boundary=\"a<b\"", Array("--a<b--".utf8), field: nil, "U+003C"),
            multipart("no boundary", contentType: "multipart/form-data", Array("--XyZ--".utf8), field: nil, "no boundary parameter"),
            multipart("two boundaries", contentType: "multipart/form-data; boundary=XyZ; boundary=b", Array("--XyZ--".utf8), field: nil, "given twice"),
            multipart("unknown part", parts([("Content-Disposition: form-data; name=\"extra\"", Array("x".utf8))]), field: "extra", "accepted: metadata, audio"),
            multipart(
                "metadata twice", parts([(metadataHeader, Array("{}".utf8)), (metadataHeader, Array("{}".utf8))]), field: "metadata", "given twice"),
            multipart("no metadata", parts([(audioHeader(), wav)]), field: "metadata", "is required"),
            multipart("no audio part", parts([(metadataHeader, Array(#"{"kind":"policy"}"#.utf8))]), field: "audio", "is required"),
            multipart("empty audio part", upload(audio: []), field: "audio", "is required"),
            multipart("file name of 500", upload(filename: String(repeating: "n", count: 496) + ".wav", audio: wav), field: "audio", "longer than 255"),
            multipart("file name with escape", upload(filename: "a\u{1B}[2J.wav", audio: wav), field: "audio", "U+001B"),
            multipart("metadata unknown key", upload(metadata: #"{"kind":"policy","not-before":"x"}"#, audio: wav), field: "not-before", "did you mean notBefore"),
            multipart("metadata names audio", upload(metadata: #"{"kind":"policy","audio":"ok.wav"}"#, audio: wav), field: "audio", "leave it out of metadata"),
            multipart("metadata with text", upload(metadata: #"{"kind":"policy","text":"通知"}"#, audio: wav), field: "text", "not both"),
            multipart("metadata bad level", upload(metadata: #"{"kind":"emergency","level":1.5}"#, audio: wav), field: "level", "whole number"),
            multipart(
                "metadata as text/plain",
                parts([("Content-Disposition: form-data; name=\"metadata\"\r\nContent-Type: text/plain", Array(#"{"kind":"policy"}"#.utf8)), (audioHeader(), wav)]),
                field: "metadata", "must be application/json"),
            multipart("upload not audio", upload(audio: Array("not audio at all".utf8)), field: "audio", "tone.wav"),
            multipart("truncated", Array(upload(audio: wav).dropLast(12)), field: nil, "ends inside a part"),
            multipart("broken part header", Array("--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--\r\n".utf8), field: nil, "malformed"),
            multipart("no parts", Array("hello".utf8), field: nil, "no parts"),
            multipart(
                "non-ASCII header name (a MultipartKit trap)", Array("--XyZ\r\n".utf8) + [0xFF, 0xFE] + Array(": x\r\n\r\nx\r\n--XyZ--\r\n".utf8),
                field: nil, "header name is not ASCII"),
            multipart("not form-data", parts([("Content-Disposition: attachment; name=\"audio\"", wav)]), field: nil, "must be form-data"),
            multipart("multipart/mixed", contentType: "multipart/mixed; boundary=XyZ", upload(audio: wav), 415, field: nil, "unsupported Content-Type"),
            // cancelling
            delete("/v1/announcements/a%zz", 400, field: "id", "percent-encoded"),
            delete("/v1/announcements/%FF", 400, field: "id", "percent-encoded"),
            delete("/v1/announcements?id=a&id=b", 400, field: "id", "give one id"),
            delete("/v1/announcements", 400, field: "id", "give one id"),
            delete("/v1/announcements/held?id=held", 400, field: "id", "not both"),
            delete("/v1/announcements/nothing-here", 404, field: "id", "no queued or playing announcement has id nothing-here"),
            delete("/v1/announcements/%1B%5B2J", 404, field: "id", "has id \\u{1B}[2J"),
        ]
    }
}
