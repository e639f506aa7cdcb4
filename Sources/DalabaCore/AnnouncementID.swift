/// The one rule for announcement ids, wherever they enter (API JSON, multipart metadata, CAP sender/identifier, the CLI),
/// and how an id travels in a URL path, so every id that can be queued can also be cancelled.
///
/// An id is 1 to 128 Unicode scalars of printable text: letters, digits, punctuation and symbols of any script, and the plain
/// space U+0020 between them. Refused: control characters (C0, DEL, C1: NUL, CR, LF, ESC…), format characters (bidi
/// controls such as U+202E, zero-width characters, the BOM), line and paragraph separators, surrogates and private-use
/// characters, any space other than U+0020, a leading or trailing space, and the ids `.` and `..` (path segments with a
/// meaning of their own). `/ ? # % \` and `:` are allowed: CAP ids are `sender/identifier` and senders are often URLs.
public enum AnnouncementID {
    /// Most Unicode scalars in an id.
    public static let maximumLength = 128

    /// Refuses `id` with a 400-style failure naming `field` and saying what is wrong.
    public static func validate(_ id: String, field: String = "id") throws(StationAPI.Failure) {
        if let problem = problem(with: id) { throw StationAPI.Failure(error: problem, field: field) }
    }

    /// What is wrong with `id`, or nil when it is a valid id.
    public static func problem(with id: String) -> String? {
        let scalars = id.unicodeScalars
        if scalars.isEmpty { return "is empty" }
        if scalars.count > maximumLength { return "is longer than \(maximumLength) characters" }
        if id == "." || id == ".." { return "may not be \(id)" }
        if let bad = scalars.first(where: { DisplayText.isForbidden($0) || ($0.properties.isWhitespace && $0 != " ") }) {
            return "may not contain \(DisplayText.name(of: bad))"
        }
        if scalars.first == " " || scalars.last == " " { return "may not begin or end with a space" }
        return nil
    }

    /// `id` as one URL path segment: every byte outside `A–Z a–z 0–9 - _ ~` percent-encoded, `.` included, so no client
    /// or proxy can mistake `.` or `..` for a dot segment.
    public static func pathSegment(_ id: String) -> String {
        var out = ""
        for byte in id.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = Array("0123456789ABCDEF".unicodeScalars)
                out.unicodeScalars.append("%")
                out.unicodeScalars.append(hex[Int(byte >> 4)])
                out.unicodeScalars.append(hex[Int(byte & 0x0F)])
            }
        }
        return out
    }

    /// Decodes `%XX` escapes (a `+` stays a `+`); nil when an escape is malformed or the bytes are not UTF-8.
    public static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        func hexValue(_ byte: UInt8?) -> UInt8? {
            guard let byte else { return nil }
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = hexValue(iterator.next()), let low = hexValue(iterator.next()) else { return nil }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}

/// Which characters may reach a terminal, a log line or the console in one-line text (ids, titles, file names).
public enum DisplayText {
    /// Control, format (bidi overrides, zero-width), separator, surrogate and private-use scalars.
    public static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .privateUse: true
        default: false
        }
    }

    /// The first scalar of `text` that may not appear in it; `allowingLineBreaks` lets tab, LF and CR through (spoken text).
    public static func firstForbidden(in text: String, allowingLineBreaks: Bool = false) -> Unicode.Scalar? {
        text.unicodeScalars.first { scalar in
            if allowingLineBreaks, scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
            return isForbidden(scalar)
        }
    }

    /// `text` made safe to echo in an error message: forbidden scalars as `\u{1B}`, at most `limit` characters.
    public static func echo(_ text: String, limit: Int = 60) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if out.unicodeScalars.count >= limit {
                out += "…"
                break
            }
            if isForbidden(scalar) {
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// "U+202E (RIGHT-TO-LEFT OVERRIDE)", "U+0000 (a control character)": how an error names a character it refuses.
    public static func name(of scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        if scalar == " " { return "\(code) (a space)" }
        if let name = scalar.properties.name { return "\(code) (\(name))" }
        if scalar.properties.generalCategory == .control { return "\(code) (a control character)" }
        if scalar.properties.isWhitespace { return "\(code) (a space other than U+0020)" }
        return code
    }
}
