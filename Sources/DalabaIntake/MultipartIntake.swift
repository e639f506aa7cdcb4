import DalabaCore
import MultipartKit

/// Uploads (`multipart/form-data` with a `metadata` part holding the queue request's JSON and an `audio` part holding the
/// file), read with MultipartKit's incremental `MultipartParser`. Everything MultipartKit would trap on or take on trust is
/// checked first: the boundary (RFC 2046: 1–70 characters of its alphabet; MultipartKit has a precondition on an empty one),
/// the part names (only `metadata` and `audio`, once each), header sizes, part sizes, and a body that ends mid-part.
///
/// `FormDataDecoder` would need the whole body in memory; `Stream` instead hands the audio part to a sink chunk by chunk,
/// so an upload is written to disk as it arrives and never held in memory at all.
public enum MultipartIntake {
    /// One part. A part given to a `FileSink` has an empty `body`; `byteCount` is its size either way.
    public struct Part: Sendable, Equatable {
        public var name: String
        /// The file name the client gave, reduced to its last path component.
        public var filename: String?
        public var contentType: String?
        public var body: [UInt8]
        public var byteCount: Int
    }

    /// Where a file part's bytes go as they arrive (the server writes them to the upload directory).
    public protocol FileSink: AnyObject {
        func begin(_ part: Part) throws(StationAPI.Failure)
        func write(_ chunk: ByteBuffer) throws(StationAPI.Failure)
    }

    public struct Limits: Sendable {
        /// Largest part kept in memory (the metadata JSON).
        public var memoryPartBytes = 64 << 10
        /// Largest file part (uploads are also bounded as a whole by the server).
        public var fileBytes = Int.max
        /// Bytes of one part's headers.
        public var headerBytes = 4096
        public init() {}
    }

    /// The parts an upload may have; `audio` is the file.
    public static let partNames = ["metadata", "audio"]
    public static let fileParts: Set<String> = ["audio"]
    public static let maximumFilenameLength = 255

    /// Parses a whole body in memory (tests and the fuzz target; the server streams with `Stream`).
    public static func parse(body: [UInt8], contentType: String) throws(StationAPI.Failure) -> [Part] {
        let stream = try Stream(contentType: contentType)
        try stream.feed(ByteBuffer(bytes: body))
        return try stream.finish()
    }

    /// The boundary of a `multipart/form-data` content type, or why there is no usable one.
    public static func boundary(fromContentType contentType: String) throws(StationAPI.Failure) -> String {
        let (media, parameters) = try ContentType.parse(contentType)
        guard media == "multipart/form-data" else {
            throw StationAPI.Failure(error: "an upload must be multipart/form-data, not \(DisplayText.echo(media))")
        }
        guard let boundary = parameters["boundary"] else {
            throw StationAPI.Failure(error: "the Content-Type has no boundary parameter (multipart/form-data; boundary=…)")
        }
        try checkBoundary(boundary)
        return boundary
    }

    /// RFC 2046 §5.1.1: `boundary := 0*69<bchars> bcharsnospace`, at least one character.
    public static func checkBoundary(_ boundary: String) throws(StationAPI.Failure) {
        let allowed = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ".unicodeScalars)
        guard !boundary.isEmpty else { throw StationAPI.Failure(error: "the multipart boundary is empty") }
        guard boundary.unicodeScalars.count <= 70 else {
            throw StationAPI.Failure(error: "the multipart boundary is longer than 70 characters (RFC 2046)")
        }
        if let bad = boundary.unicodeScalars.first(where: { !allowed.contains($0) }) {
            throw StationAPI.Failure(error: "the multipart boundary may not contain \(DisplayText.name(of: bad)) (RFC 2046)")
        }
        guard boundary.last != " " else { throw StationAPI.Failure(error: "the multipart boundary may not end with a space (RFC 2046)") }
    }

    /// An upload read chunk by chunk.
    public final class Stream {
        private let parser: MultipartParser
        private let state: State
        private var scanner: Guard

        public init(contentType: String, limits: Limits = Limits(), sink: (any FileSink)? = nil) throws(StationAPI.Failure) {
            let boundary = try MultipartIntake.boundary(fromContentType: contentType)
            state = State(limits: limits, sink: sink)
            scanner = Guard(boundary: boundary)
            parser = MultipartParser(boundary: boundary)
            let state = state
            parser.onHeader = { name, value in state.header(name, value) }
            parser.onBody = { chunk in state.body(&chunk) }
            parser.onPartComplete = { state.complete() }
        }

        public func feed(_ chunk: ByteBuffer) throws(StationAPI.Failure) {
            if let failure = state.failure { throw failure }
            // MultipartKit 4.7 indexes a 128-entry table with each header-name byte, so a byte ≥ 0x80 there traps (found by
            // FuzzMultipart); `Guard` walks the same states first and refuses such a body before the parser sees it.
            guard scanner.accepts(chunk.readableBytesView) else {
                state.fail(StationAPI.Failure(error: "the multipart body is malformed (a part's header name is not ASCII)"))
                throw state.failure!
            }
            do {
                try parser.execute(chunk)
            } catch {
                state.fail(StationAPI.Failure(error: "the multipart body is malformed (a part's headers do not follow RFC 7578)"))
            }
            if let failure = state.failure { throw failure }
        }

        /// The parts, once the whole body has been fed; refuses a body that stops inside a part or holds none.
        public func finish() throws(StationAPI.Failure) -> [Part] {
            if let failure = state.failure { throw failure }
            if state.inPart { throw StationAPI.Failure(error: "the multipart body ends inside a part (no closing boundary)") }
            guard !state.parts.isEmpty else {
                throw StationAPI.Failure(error: "the multipart body holds no parts (does the boundary match the Content-Type?)")
            }
            return state.parts
        }
    }

    /// MultipartParser's states, byte for byte (preamble, delimiter, part headers, body, epilogue), walked ahead of it to
    /// find what it would trap on. Where MultipartKit throws, this stops checking: the parser throws at the same byte and
    /// never reads further.
    struct Guard {
        enum Phase {
            case preamble(Int)
            case crlf(expectingLF: Bool)
            case name(empty: Bool)
            case value
            case valueLF
            case headersLF
            case body
            case delimiter(Int)
            case epilogue
            case stopped
        }
        let delimiter: [UInt8]
        var phase = Phase.preamble(0)

        init(boundary: String) {
            delimiter = Array("\r\n--\(boundary)".utf8)
        }

        /// false when `bytes` would make MultipartParser trap.
        mutating func accepts(_ bytes: some Sequence<UInt8>) -> Bool {
            let cr: UInt8 = 13
            let lf: UInt8 = 10
            for byte in bytes {
                switch phase {
                case .preamble(let index):
                    var next: Int
                    if index == 0, byte == delimiter[2] {
                        next = 3
                    } else if byte == delimiter[index] {
                        next = index + 1
                    } else if index > 0, byte == delimiter[0] {
                        next = 1
                    } else {
                        next = 0
                    }
                    phase = next >= delimiter.count ? .crlf(expectingLF: false) : .preamble(next)
                case .crlf(let expectingLF):
                    if !expectingLF, byte == cr {
                        phase = .crlf(expectingLF: true)
                    } else if expectingLF, byte == lf {
                        phase = .name(empty: true)
                    } else {
                        phase = .stopped
                    }
                case .name(let empty):
                    if byte >= 0x80 { return false }
                    if byte == UInt8(ascii: ":"), !empty {
                        phase = .value
                    } else if byte == cr, empty {
                        phase = .headersLF
                    } else {
                        // Any other ASCII byte: MultipartKit takes it as part of the name or throws here; either way
                        // following it as a name byte is exact for every byte the parser goes on to read.
                        phase = .name(empty: false)
                    }
                case .value: if byte == cr { phase = .valueLF }
                case .valueLF: phase = byte == lf ? .name(empty: true) : .stopped
                case .headersLF: phase = byte == lf ? .body : .stopped
                case .body: if byte == delimiter[0] { phase = .delimiter(1) }
                case .delimiter(let index):
                    if index == delimiter.count {
                        phase = byte == cr ? .crlf(expectingLF: true) : byte == UInt8(ascii: "-") ? .epilogue : .stopped
                    } else if byte == delimiter[index] {
                        phase = .delimiter(index + 1)
                    } else {
                        phase = byte == delimiter[0] ? .delimiter(1) : .body
                    }
                case .epilogue, .stopped: return true
                }
            }
            return true
        }
    }

    /// What the parser's callbacks build; the first failure wins and stops all further work.
    private final class State {
        let limits: Limits
        let sink: (any FileSink)?
        var parts: [Part] = []
        var failure: StationAPI.Failure?
        var headers: [(String, String)] = []
        var headerBytes = 0
        var current: Part?
        var toSink = false
        /// Headers or body seen since the last completed part.
        var inPart = false

        init(limits: Limits, sink: (any FileSink)?) {
            self.limits = limits
            self.sink = sink
        }

        func fail(_ failure: StationAPI.Failure) {
            if self.failure == nil { self.failure = failure }
        }

        func header(_ name: String, _ value: String) {
            guard failure == nil else { return }
            inPart = true
            headerBytes += name.utf8.count + value.utf8.count + 4
            guard headerBytes <= limits.headerBytes, headers.count < 16 else {
                return fail(StationAPI.Failure(error: "a part's headers are longer than \(limits.headerBytes) bytes"))
            }
            headers.append((name, value))
        }

        func body(_ chunk: inout ByteBuffer) {
            guard failure == nil else { return }
            inPart = true
            if current == nil { begin() }
            // Taken out and put back, so appending never copies the part's bytes (MultipartKit calls this once per run of
            // bytes between CRs, which an attacker can make one byte long).
            guard failure == nil, var part = current.take() else { return }
            defer { current = part }
            part.byteCount += chunk.readableBytes
            if toSink {
                guard part.byteCount <= limits.fileBytes else {
                    return fail(StationAPI.Failure(error: "the file is larger than the limit of \(limits.fileBytes) bytes", field: part.name))
                }
                do {
                    try sink?.write(chunk)
                } catch {
                    return fail(error)
                }
            } else {
                // Without a sink (`parse`), a file part is kept in memory too, up to the file limit.
                let limit = MultipartIntake.fileParts.contains(part.name) ? limits.fileBytes : limits.memoryPartBytes
                guard part.byteCount <= limit else {
                    return fail(StationAPI.Failure(error: "is larger than \(limit) bytes", field: part.name))
                }
                part.body.append(contentsOf: chunk.readableBytesView)
            }
        }

        func complete() {
            guard failure == nil else { return }
            if current == nil { begin() }
            guard failure == nil, let part = current else { return }
            parts.append(part)
            current = nil
            headers = []
            headerBytes = 0
            toSink = false
            inPart = false
        }

        /// The headers are complete: name the part and decide where its body goes.
        private func begin() {
            var disposition: String?
            var contentType: String?
            for (name, value) in headers {
                switch name.lowercased() {
                case "content-disposition":
                    guard disposition == nil else { return fail(StationAPI.Failure(error: "a part has two Content-Disposition headers")) }
                    disposition = value
                case "content-type":
                    guard contentType == nil else { return fail(StationAPI.Failure(error: "a part has two Content-Type headers")) }
                    contentType = value
                default: break
                }
            }
            guard let disposition else { return fail(StationAPI.Failure(error: "a part has no Content-Disposition header")) }
            let parsed: (String, [String: String])
            do {
                parsed = try ContentType.parse(disposition)
            } catch {
                return fail(StationAPI.Failure(error: "a part's Content-Disposition cannot be read: \(error.error)"))
            }
            guard parsed.0 == "form-data" else {
                return fail(StationAPI.Failure(error: "a part's Content-Disposition must be form-data, not \(DisplayText.echo(parsed.0))"))
            }
            guard let name = parsed.1["name"] else { return fail(StationAPI.Failure(error: "a part has no name (Content-Disposition: form-data; name=…)")) }
            guard MultipartIntake.partNames.contains(name) else {
                return fail(
                    StationAPI.Failure(
                        error: "unknown part (accepted: \(MultipartIntake.partNames.joined(separator: ", ")))", field: DisplayText.echo(name)))
            }
            guard !parts.contains(where: { $0.name == name }) else {
                return fail(StationAPI.Failure(error: "is given twice; give each part once", field: name))
            }
            var filename: String?
            if let given = parsed.1["filename"] {
                let last = String(given.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last ?? "")
                if let bad = DisplayText.firstForbidden(in: last) {
                    return fail(StationAPI.Failure(error: "the file name may not contain \(DisplayText.name(of: bad))", field: name))
                }
                guard last.count <= MultipartIntake.maximumFilenameLength else {
                    return fail(
                        StationAPI.Failure(error: "the file name is longer than \(MultipartIntake.maximumFilenameLength) characters", field: name))
                }
                filename = last.isEmpty || last == "." || last == ".." ? nil : last
            }
            let part = Part(name: name, filename: filename, contentType: contentType, body: [], byteCount: 0)
            toSink = sink != nil && MultipartIntake.fileParts.contains(name)
            if toSink {
                do {
                    try sink?.begin(part)
                } catch {
                    return fail(error)
                }
            }
            current = part
        }
    }
}

/// `type/subtype; name=value; name="quoted \" value"` (RFC 9110 §5.6.6), as Content-Type and Content-Disposition write it.
/// Types and parameter names come back lowercased; a parameter given twice is refused (which one would win?).
enum ContentType {
    static func parse(_ text: String) throws(StationAPI.Failure) -> (String, [String: String]) {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        func skipSpace() {
            while index < scalars.count, scalars[index] == " " || scalars[index] == "\t" { index += 1 }
        }
        func token() -> String {
            var out = String.UnicodeScalarView()
            while index < scalars.count, isTokenCharacter(scalars[index]) {
                out.append(scalars[index])
                index += 1
            }
            return String(out)
        }
        skipSpace()
        var media = token()
        if index < scalars.count, scalars[index] == "/" {
            index += 1
            media += "/" + token()
        }
        guard !media.isEmpty else { throw StationAPI.Failure(error: "the media type is missing") }
        var parameters: [String: String] = [:]
        while true {
            skipSpace()
            guard index < scalars.count else { break }
            guard scalars[index] == ";" else { throw StationAPI.Failure(error: "unexpected \(DisplayText.name(of: scalars[index])) in a parameter list") }
            index += 1
            skipSpace()
            if index == scalars.count { break }
            let name = token().lowercased()
            guard !name.isEmpty, index < scalars.count, scalars[index] == "=" else {
                throw StationAPI.Failure(error: "a parameter has no name=value")
            }
            index += 1
            var value = String.UnicodeScalarView()
            if index < scalars.count, scalars[index] == "\"" {
                index += 1
                var closed = false
                while index < scalars.count {
                    let scalar = scalars[index]
                    index += 1
                    if scalar == "\"" {
                        closed = true
                        break
                    }
                    if scalar == "\\", index < scalars.count {
                        value.append(scalars[index])
                        index += 1
                    } else {
                        value.append(scalar)
                    }
                }
                guard closed else { throw StationAPI.Failure(error: "the parameter \(DisplayText.echo(name)) has an unclosed quote") }
            } else {
                value = token().unicodeScalars
            }
            guard parameters[name] == nil else { throw StationAPI.Failure(error: "the parameter \(DisplayText.echo(name)) is given twice") }
            parameters[name] = String(value)
        }
        return (media.lowercased(), parameters)
    }

    static func isTokenCharacter(_ scalar: Unicode.Scalar) -> Bool {
        guard scalar.isASCII, scalar.value > 0x20, scalar.value < 0x7F else { return false }
        return !"()<>@,;:\\\"/[]?={}".unicodeScalars.contains(scalar)
    }
}
