import DalabaCore
import DalabaIntake
import Foundation
import Testing

@Suite struct MultipartIntakeTests {
    static let metadata = #"{"kind":"policy","title":"通知"}"#

    static func body(boundary: String = "XyZ", parts: [(String, String)] = [
        ("Content-Disposition: form-data; name=\"metadata\"\r\nContent-Type: application/json", metadata),
        ("Content-Disposition: form-data; name=\"audio\"; filename=\"notice.wav\"\r\nContent-Type: audio/wav", "RIFF....WAVE"),
    ], close: Bool = true) -> [UInt8] {
        var text = ""
        for (headers, content) in parts { text += "--\(boundary)\r\n\(headers)\r\n\r\n\(content)\r\n" }
        if close { text += "--\(boundary)--\r\n" }
        return Array(text.utf8)
    }

    func failure(_ body: [UInt8], _ contentType: String = "multipart/form-data; boundary=XyZ") -> StationAPI.Failure? {
        do {
            _ = try MultipartIntake.parse(body: body, contentType: contentType)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsMetadataAndAudio() throws {
        let parts = try MultipartIntake.parse(body: Self.body(), contentType: "multipart/form-data; boundary=XyZ")
        #expect(parts.map(\.name) == ["metadata", "audio"])
        #expect(String(decoding: parts[0].body, as: UTF8.self) == Self.metadata)
        #expect(parts[1].filename == "notice.wav" && parts[1].body == Array("RIFF....WAVE".utf8) && parts[1].byteCount == 12)
    }

    @Test func quotedBoundaryWithSpacesAndPunctuation() throws {
        let boundary = "a'()+_,-./:=? b"
        let parts = try MultipartIntake.parse(body: Self.body(boundary: boundary), contentType: "Multipart/Form-Data; boundary=\"\(boundary)\"")
        #expect(parts.count == 2)
    }

    @Test(arguments: [
        ("multipart/form-data; boundary=", "empty"),
        ("multipart/form-data; boundary=\"\"", "empty"),
        ("multipart/form-data", "no boundary"),
        ("multipart/form-data; boundary=\(String(repeating: "b", count: 71))", "longer than 70"),
        ("multipart/form-data; boundary=\"a<b\"", "U+003C"),
        ("multipart/form-data; boundary=\"ab \"", "end with a space"),
        ("multipart/form-data; boundary=\"ab", "unclosed quote"),
        ("multipart/form-data; boundary=a; boundary=b", "given twice"),
        ("multipart/mixed; boundary=XyZ", "multipart/form-data"),
    ])
    func refusesBadBoundaries(contentType: String, fragment: String) {
        let failure = failure(Self.body(), contentType)
        #expect(failure?.error.contains(fragment) == true, "\(contentType) → \(String(describing: failure))")
    }

    @Test func refusesUnknownAndRepeatedParts() {
        let unknown = failure(Self.body(parts: [("Content-Disposition: form-data; name=\"extra\"", "x")]))
        #expect(unknown?.field == "extra" && unknown?.error.contains("accepted: metadata, audio") == true)
        let twice = failure(Self.body(parts: [
            ("Content-Disposition: form-data; name=\"metadata\"", "{}"), ("Content-Disposition: form-data; name=\"metadata\"", "{}"),
        ]))
        #expect(twice?.field == "metadata")
    }

    @Test func refusesBadFileNamesUnderTheAudioField() {
        let long = failure(Self.body(parts: [("Content-Disposition: form-data; name=\"audio\"; filename=\"\(String(repeating: "n", count: 500)).wav\"", "x")]))
        #expect(long?.field == "audio" && long?.error.contains("longer than 255") == true)
        let escape = failure(Self.body(parts: [("Content-Disposition: form-data; name=\"audio\"; filename=\"a\u{1B}[2J.wav\"", "x")]))
        #expect(escape?.field == "audio" && escape?.error.contains("U+001B") == true)
        let path = try? MultipartIntake.parse(
            body: Self.body(parts: [("Content-Disposition: form-data; name=\"audio\"; filename=\"../../etc/passwd\"", "x")]),
            contentType: "multipart/form-data; boundary=XyZ")
        #expect(path?.first?.filename == "passwd")
    }

    @Test func refusesTruncatedBodies() {
        let body = Self.body(close: false)
        #expect(failure(Array(body.dropLast(8)))?.error.contains("ends inside a part") == true)
        #expect(failure(Array("no boundary here".utf8))?.error.contains("no parts") == true)
        #expect(failure(Array("--XyZ\r\nbroken header line\r\n\r\nx\r\n--XyZ--".utf8))?.error.contains("malformed") == true)
    }

    /// Found by FuzzMultipart: MultipartKit traps on a header-name byte ≥ 0x80; it must be a 400, in any chunking.
    @Test func aNonASCIIHeaderNameIsRefusedNotATrap() throws {
        let body = Array("--XyZ\r\n".utf8) + [0xFF] + Array(": x\r\n\r\nbody\r\n--XyZ--\r\n".utf8)
        #expect(failure(body)?.error.contains("header name is not ASCII") == true)
        let stream = try MultipartIntake.Stream(contentType: "multipart/form-data; boundary=XyZ")
        try stream.feed(ByteBuffer(bytes: body.prefix(7)))
        #expect(throws: StationAPI.Failure.self) { try stream.feed(ByteBuffer(bytes: body.dropFirst(7))) }
        // Non-ASCII in a header value (a file name) is fine.
        let named = Self.body(parts: [(Self.audioHeader("通知.wav"), "x")])
        #expect(try MultipartIntake.parse(body: named, contentType: "multipart/form-data; boundary=XyZ").first?.filename == "通知.wav")
    }

    static func audioHeader(_ filename: String) -> String {
        "Content-Disposition: form-data; name=\"audio\"; filename=\"\(filename)\""
    }

    @Test func boundsPartsKeptInMemory() {
        let big = String(repeating: "x", count: 70_000)
        let failure = failure(Self.body(parts: [("Content-Disposition: form-data; name=\"metadata\"", big)]))
        #expect(failure?.field == "metadata" && failure?.error.contains("larger than") == true)
    }

    final class Collector: MultipartIntake.FileSink {
        var began: [String] = []
        var bytes: [UInt8] = []
        func begin(_ part: MultipartIntake.Part) throws(StationAPI.Failure) { began.append(part.filename ?? "") }
        func write(_ chunk: ByteBuffer) throws(StationAPI.Failure) { bytes.append(contentsOf: chunk.readableBytesView) }
    }

    @Test func streamsTheFileInSmallChunksToItsSink() throws {
        let collector = Collector()
        // Near-misses of the delimiter inside the file, split across chunks, are file bytes like any other.
        let audio = String(repeating: "0123456789", count: 500) + "\r\n--XyQ\r\n-\r" + String(repeating: "9876543210", count: 500)
        let stream = try MultipartIntake.Stream(contentType: "multipart/form-data; boundary=XyZ", sink: collector)
        let body = Self.body(parts: [
            ("Content-Disposition: form-data; name=\"metadata\"", Self.metadata),
            ("Content-Disposition: form-data; name=\"audio\"; filename=\"x.wav\"", audio),
        ])
        for start in stride(from: 0, to: body.count, by: 7) {
            try stream.feed(ByteBuffer(bytes: body[start..<min(start + 7, body.count)]))
        }
        let parts = try stream.finish()
        #expect(collector.began == ["x.wav"])
        #expect(collector.bytes == Array(audio.utf8) && parts[1].byteCount == audio.utf8.count && parts[1].body.isEmpty)
    }

    @Test func fileLimitIsEnforcedWhileStreaming() throws {
        var limits = MultipartIntake.Limits()
        limits.fileBytes = 100
        let stream = try MultipartIntake.Stream(contentType: "multipart/form-data; boundary=XyZ", limits: limits, sink: Collector())
        let body = Self.body(parts: [("Content-Disposition: form-data; name=\"audio\"; filename=\"x.wav\"", String(repeating: "a", count: 500))])
        #expect(throws: StationAPI.Failure.self) { try stream.feed(ByteBuffer(bytes: body)) }
    }
}
