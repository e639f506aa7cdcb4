import DalabaCore

/// One pass over a JSON text before `JSONDecoder` reads it, for what `JSONDecoder` cannot see or should not be trusted with:
/// a key given twice in one object (it keeps one silently), nesting deep enough to exhaust a stack, and a body that is not
/// one JSON object. It also checks the whole grammar (RFC 8259), so its error can say where the text goes wrong.
enum StrictJSONScan {
    /// Deepest nesting accepted; a queue request needs 1.
    static let maximumDepth = 16

    static func check(_ bytes: [UInt8]) throws(StationAPI.Failure) {
        var scanner = Scanner(bytes: bytes)
        scanner.skipWhitespace()
        guard scanner.peek() != nil else { throw StationAPI.Failure(error: "the body is empty; send a JSON object") }
        guard scanner.peek() == UInt8(ascii: "{") else { throw StationAPI.Failure(error: "the body must be a JSON object ({…})") }
        try scanner.value(depth: 0, path: "")
        scanner.skipWhitespace()
        if scanner.peek() != nil { throw scanner.failure("unexpected text after the JSON object") }
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

        func failure(_ message: String, field: String? = nil) -> StationAPI.Failure {
            StationAPI.Failure(error: "the body is not valid JSON: \(message) at byte \(index)", field: field)
        }

        mutating func skipWhitespace() {
            while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func expect(_ literal: String) throws(StationAPI.Failure) {
            for byte in literal.utf8 {
                guard peek() == byte else { throw failure("expected \(literal)") }
                index += 1
            }
        }

        mutating func value(depth: Int, path: String) throws(StationAPI.Failure) {
            guard depth <= StrictJSONScan.maximumDepth else { throw failure("nested deeper than \(StrictJSONScan.maximumDepth) levels") }
            skipWhitespace()
            guard let byte = peek() else { throw failure("the text ends where a value should be") }
            switch byte {
            case UInt8(ascii: "{"): try object(depth: depth, path: path)
            case UInt8(ascii: "["): try array(depth: depth, path: path)
            case UInt8(ascii: "\""): _ = try string()
            case UInt8(ascii: "t"): try expect("true")
            case UInt8(ascii: "f"): try expect("false")
            case UInt8(ascii: "n"): try expect("null")
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw failure("unexpected character")
            }
        }

        mutating func object(depth: Int, path: String) throws(StationAPI.Failure) {
            index += 1
            var keys = Set<String>()
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw failure("expected a key in double quotes") }
                let key = try string()
                let field = path.isEmpty ? DisplayText.echo(key) : "\(path).\(DisplayText.echo(key))"
                guard keys.insert(key).inserted else {
                    throw StationAPI.Failure(error: "is given twice; give each key once", field: field)
                }
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw failure("expected : after the key") }
                index += 1
                try value(depth: depth + 1, path: field)
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"):
                    index += 1
                    return
                default: throw failure("expected , or } in an object")
                }
            }
        }

        mutating func array(depth: Int, path: String) throws(StationAPI.Failure) {
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            var element = 0
            while true {
                try value(depth: depth + 1, path: "\(path)[\(element)]")
                element += 1
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"):
                    index += 1
                    return
                default: throw failure("expected , or ] in an array")
                }
            }
        }

        /// A string's decoded text (so `"t\u0069tle"` and `"title"` are the same key).
        mutating func string() throws(StationAPI.Failure) -> String {
            index += 1
            var scalars = String.UnicodeScalarView()
            var run: [UInt8] = []
            func flush() {
                if !run.isEmpty { scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars) }
                run.removeAll(keepingCapacity: true)
            }
            while true {
                guard let byte = peek() else { throw failure("a string is not closed") }
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    flush()
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    flush()
                    guard let escape = peek() else { throw failure("a string is not closed") }
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        let unit = try hex4()
                        if (0xD800...0xDBFF).contains(unit) {
                            guard peek() == UInt8(ascii: "\\") else { throw failure("a \\u escape is half of a surrogate pair") }
                            index += 1
                            guard peek() == UInt8(ascii: "u") else { throw failure("a \\u escape is half of a surrogate pair") }
                            index += 1
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw failure("a \\u escape is half of a surrogate pair") }
                            let value = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                            scalars.append(Unicode.Scalar(value)!)
                        } else {
                            guard let scalar = Unicode.Scalar(unit) else { throw failure("a \\u escape is half of a surrogate pair") }
                            scalars.append(scalar)
                        }
                    default: throw failure("unknown escape \\\(Unicode.Scalar(escape))")
                    }
                case 0x00..<0x20:
                    throw failure("a control character inside a string must be escaped")
                default:
                    run.append(byte)
                }
            }
        }

        mutating func hex4() throws(StationAPI.Failure) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let byte = peek(), let digit = Self.hexDigit(byte) else { throw failure("a \\u escape needs four hex digits") }
                index += 1
                value = value << 4 | UInt32(digit)
            }
            return value
        }

        static func hexDigit(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }

        mutating func number() throws(StationAPI.Failure) {
            func digits() -> Int {
                let start = index
                while let byte = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
                return index - start
            }
            if peek() == UInt8(ascii: "-") { index += 1 }
            if peek() == UInt8(ascii: "0") {
                index += 1
            } else if digits() == 0 {
                throw failure("a number needs digits")
            }
            if peek() == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { throw failure("a number needs digits after the point") }
            }
            if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
                index += 1
                if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw failure("a number needs digits in its exponent") }
            }
        }
    }
}
