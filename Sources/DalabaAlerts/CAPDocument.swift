import Foundation
import DalabaCore

/// A CAP document as the XML parser is allowed to see it: UTF-8 bytes, converted from whatever encoding it arrived in,
/// and screened so that nothing that traps FoundationXML or expands entities ever reaches a parser.
///
/// FoundationXML on Linux traps (SIGILL) when libxml2 hands it a name, comment or text that is not valid UTF-8, so the
/// screen here is what keeps one hostile request from killing the daemon; it runs on every document before any parser.
public struct CAPDocument: Sendable, Hashable {
    /// The document in UTF-8; a converted document's XML declaration is rewritten to say `UTF-8`.
    public let utf8: Data
    /// The encoding it arrived in, as declared or as its byte-order mark says (`UTF-8`, `ISO-8859-1`, `UTF-16LE`, …).
    public let encoding: String

    /// Encodings a CAP document may declare, by lowercased IANA name or alias, beyond those Foundation names itself.
    /// GBK and GB2312 are read as GB18030, which contains both byte for byte; Foundation on Linux has no separate GBK.
    static let extraEncodings: [String: String.Encoding] = [
        "gb18030": String.Encoding(rawValue: 0x8000_0632),
        "gbk": String.Encoding(rawValue: 0x8000_0632),
        "cp936": String.Encoding(rawValue: 0x8000_0632),
        "windows-936": String.Encoding(rawValue: 0x8000_0632),
        "x-gbk": String.Encoding(rawValue: 0x8000_0632),
        "gb2312": String.Encoding(rawValue: 0x8000_0632),
        "euc-cn": String.Encoding(rawValue: 0x8000_0632),
        "csgb2312": String.Encoding(rawValue: 0x8000_0632),
        "big5": String.Encoding(rawValue: 0x8000_0A03),
        "latin1": .isoLatin1,
        "iso8859-1": .isoLatin1,
        "iso_8859-1": .isoLatin1,
        "cp1252": .windowsCP1252,
        "shift_jis": .shiftJIS,
    ]

    /// Converts and screens `data`; every refusal names `document` and says what is wrong and where.
    public init(_ data: Data, maximumBytes: Int = 1 << 20) throws(CAPError) {
        try self.init(data, maximumBytes: maximumBytes, screensDeclarations: true)
    }

    /// `screensDeclarations` is off only in tests, to show that the parser's own refusal of DTDs holds without the screen.
    init(_ data: Data, maximumBytes: Int, screensDeclarations: Bool) throws(CAPError) {
        if data.isEmpty { throw CAPError(field: "document", reason: "is empty") }
        if data.count > maximumBytes {
            throw CAPError(field: "document", reason: "is \(data.count) bytes, over the limit of \(maximumBytes) bytes")
        }
        let bytes = [UInt8](data)
        if let (name, encoding, bomLength) = Self.wideEncoding(bytes) {
            // A 16- or 32-bit document: '<' is not the byte 0x3C, so nothing can be screened before conversion.
            guard let text = String(data: Data(bytes[bomLength...]), encoding: encoding) else {
                throw CAPError(field: "document", reason: "is not valid \(name)")
            }
            if let declared = Self.declaredEncoding(Array(text.utf8)), !declared.lowercased().hasPrefix(name.prefix(6).lowercased()) {
                throw CAPError(field: "document", reason: "declares encoding '\(declared)' but its bytes are \(name)")
            }
            self.encoding = name
            self.utf8 = Data(Self.declaringUTF8(Array(text.utf8)))
            try Self.screen(Array(utf8), converted: true, declarations: screensDeclarations)
            return
        }
        let hasBOM = bytes.starts(with: [0xEF, 0xBB, 0xBF])
        let declared = Self.declaredEncoding(hasBOM ? Array(bytes[3...]) : bytes)
        switch declared?.lowercased() {
        case nil, "utf-8", "utf8":
            encoding = "UTF-8"
            utf8 = data
            try Self.screen(bytes, converted: false, declarations: screensDeclarations)
        case "us-ascii", "ascii":
            if let offset = bytes.firstIndex(where: { $0 >= 0x80 }) {
                throw CAPError(
                    field: "document",
                    reason:
                        "declares encoding US-ASCII but has the byte 0x\(String(bytes[offset], radix: 16, uppercase: true)) at byte offset \(offset)")
            }
            encoding = "US-ASCII"
            utf8 = data
            try Self.screen(bytes, converted: false, declarations: screensDeclarations)
        case let name? where name.hasPrefix("utf-16") || name.hasPrefix("utf-32") || name.hasPrefix("ucs-") || name == "utf16":
            throw CAPError(
                field: "document",
                reason: "declares encoding '\(declared!)' but its bytes are not \(declared!) (no byte-order mark, and '<' is a single byte)")
        case let name?:
            guard let encoding = Self.encoding(named: name) else {
                throw CAPError(
                    field: "document",
                    reason: "declares encoding '\(declared!)', which this station cannot convert (it reads UTF-8, UTF-16, UTF-32, "
                        + "US-ASCII, ISO-8859-1, ISO-8859-2, windows-1250 to 1254, GB2312, GBK, GB18030, Big5, Shift_JIS and ISO-2022-JP)")
            }
            guard let text = String(data: Data(hasBOM ? bytes[3...] : bytes[...]), encoding: encoding) else {
                throw CAPError(field: "document", reason: "is not valid \(declared!): a byte does not belong to that encoding")
            }
            self.encoding = declared!
            self.utf8 = Data(Self.declaringUTF8(Array(text.utf8)))
            try Self.screen(Array(utf8), converted: true, declarations: screensDeclarations)
        }
    }

    /// The encoding Foundation knows by this IANA name, if it can convert it on this platform.
    static func encoding(named name: String) -> String.Encoding? {
        let key = name.lowercased()
        guard let encoding = extraEncodings[key] ?? String.Encoding(ianaName: key) else { return nil }
        // Foundation knows names it has no converter for on Linux; those cannot turn even "<a/>" into text.
        guard String(data: Data("<a/>".utf8), encoding: encoding) == "<a/>" else { return nil }
        // 16- and 32-bit encodings are recognised by their bytes, not by a declaration an ASCII scan could read.
        if [.utf16, .utf16BigEndian, .utf16LittleEndian, .utf32, .utf32BigEndian, .utf32LittleEndian, .unicode].contains(encoding) {
            return nil
        }
        return encoding
    }

    /// UTF-16 and UTF-32, by byte-order mark or by the first character '<' (XML 1.0 appendix F); nil for ASCII-compatible.
    private static func wideEncoding(_ bytes: [UInt8]) -> (String, String.Encoding, Int)? {
        if bytes.starts(with: [0x00, 0x00, 0xFE, 0xFF]) { return ("UTF-32BE", .utf32BigEndian, 4) }
        if bytes.starts(with: [0xFF, 0xFE, 0x00, 0x00]) { return ("UTF-32LE", .utf32LittleEndian, 4) }
        if bytes.starts(with: [0xFE, 0xFF]) { return ("UTF-16BE", .utf16BigEndian, 2) }
        if bytes.starts(with: [0xFF, 0xFE]) { return ("UTF-16LE", .utf16LittleEndian, 2) }
        if bytes.starts(with: [0x00, 0x00, 0x00, 0x3C]) { return ("UTF-32BE", .utf32BigEndian, 0) }
        if bytes.starts(with: [0x3C, 0x00, 0x00, 0x00]) { return ("UTF-32LE", .utf32LittleEndian, 0) }
        if bytes.starts(with: [0x00, 0x3C]) { return ("UTF-16BE", .utf16BigEndian, 0) }
        if bytes.starts(with: [0x3C, 0x00]) { return ("UTF-16LE", .utf16LittleEndian, 0) }
        return nil
    }

    /// The `encoding` of a leading `<?xml …?>` declaration, read as ASCII.
    static func declaredEncoding(_ bytes: [UInt8]) -> String? {
        guard let declaration = declaration(bytes) else { return nil }
        return pseudoAttribute("encoding", in: String(decoding: bytes[declaration], as: UTF8.self))
    }

    /// The range of a leading `<?xml …?>` declaration (at most 200 bytes long, as any real one is).
    private static func declaration(_ bytes: [UInt8]) -> Range<Int>? {
        guard bytes.starts(with: Array("<?xml".utf8)), bytes.count > 5, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[5]) else { return nil }
        let limit = min(bytes.count, 200)
        guard let end = (6..<limit).first(where: { bytes[$0] == UInt8(ascii: "?") && $0 + 1 < bytes.count && bytes[$0 + 1] == UInt8(ascii: ">") })
        else { return nil }
        return 0..<(end + 2)
    }

    private static func pseudoAttribute(_ name: String, in declaration: String) -> String? {
        guard let range = declaration.range(of: name) else { return nil }
        let rest = declaration[range.upperBound...].drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
        guard rest.first == "=" else { return nil }
        let value = rest.dropFirst().drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
        guard let quote = value.first, quote == "\"" || quote == "'" else { return nil }
        let body = value.dropFirst().prefix(while: { $0 != quote })
        return String(body)
    }

    /// Replaces the declaration of a converted document so that the parser reads it as the UTF-8 it now is.
    private static func declaringUTF8(_ bytes: [UInt8]) -> [UInt8] {
        guard let range = declaration(bytes) else { return bytes }
        let version = pseudoAttribute("version", in: String(decoding: bytes[range], as: UTF8.self)) == "1.1" ? "1.1" : "1.0"
        return Array("<?xml version=\"\(version)\" encoding=\"UTF-8\"?>".utf8) + bytes[range.upperBound...]
    }

    // MARK: - The screen

    /// Refuses what must never reach an XML parser: bytes that are not UTF-8 (FoundationXML traps on them in names,
    /// comments and text), NUL, a document that does not start with '<', and any DTD or entity declaration (XXE,
    /// billion laughs). `converted` says the offsets are in the UTF-8 conversion, not in the bytes as sent.
    static func screen(_ bytes: [UInt8], converted: Bool, declarations: Bool = true) throws(CAPError) {
        let place = converted ? " of the document converted to UTF-8" : ""
        if let (offset, length) = firstInvalidUTF8(bytes) {
            let shown = bytes[offset..<min(bytes.count, offset + max(length, 1))].map { "0x" + String($0, radix: 16, uppercase: true) }
            throw CAPError(
                field: "document",
                reason: "is not valid UTF-8 at byte offset \(offset)\(place) (\(shown.joined(separator: " "))); "
                    + "declare the document's real encoding in <?xml … encoding=\"…\"?>")
        }
        if let offset = bytes.firstIndex(of: 0) {
            throw CAPError(field: "document", reason: "contains a NUL byte at byte offset \(offset)\(place)")
        }
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes[3...] : bytes[...]
        guard body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "<") else {
            throw CAPError(field: "document", reason: "is not an XML document (it must start with '<')")
        }
        try screenProcessingInstructions(Array(body), place: place, offsetBase: bytes.count - body.count)
        guard declarations else { return }
        if findIgnoringCase("<!DOCTYPE", in: bytes) != nil {
            throw CAPError(field: "document", reason: "contains a DOCTYPE; DTDs are refused (external and internal entities are never expanded)")
        }
        if findIgnoringCase("<!ENTITY", in: bytes) != nil {
            throw CAPError(
                field: "document", reason: "contains an entity declaration; DTDs are refused (external and internal entities are never expanded)")
        }
    }

    /// FoundationXML segfaults on a processing instruction without data (`<?pi?>`, `<?xml?>`): every one must have a
    /// target and data, and `<?xml …?>` may only be the declaration that opens the document, with its version.
    static func screenProcessingInstructions(_ bytes: [UInt8], place: String, offsetBase: Int) throws(CAPError) {
        var index = 0
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        while index + 1 < bytes.count {
            guard bytes[index] == UInt8(ascii: "<"), bytes[index + 1] == UInt8(ascii: "?") else {
                index += 1
                continue
            }
            let start = index
            var cursor = index + 2
            while cursor < bytes.count, !whitespace.contains(bytes[cursor]), bytes[cursor] != UInt8(ascii: "?") { cursor += 1 }
            let target = String(decoding: bytes[(start + 2)..<cursor], as: UTF8.self)
            // The data runs to the next "?>"; only whitespace, or nothing, is no data.
            var end = cursor
            while end + 1 < bytes.count, !(bytes[end] == UInt8(ascii: "?") && bytes[end + 1] == UInt8(ascii: ">")) { end += 1 }
            let data = bytes[cursor..<min(end, bytes.count)]
            let offset = offsetBase + start
            guard !target.isEmpty, data.contains(where: { !whitespace.contains($0) }) else {
                throw CAPError(
                    field: "document",
                    reason: "has a processing instruction without data (<?\(DisplayText.echo(target))?>) at byte offset \(offset)\(place)")
            }
            if target.lowercased() == "xml" {
                guard start == 0 else {
                    throw CAPError(field: "document", reason: "has an XML declaration at byte offset \(offset)\(place): it may only open the document")
                }
                guard String(decoding: data, as: UTF8.self).contains("version") else {
                    throw CAPError(field: "document", reason: "has an XML declaration without its version (<?xml version=\"1.0\"?>)")
                }
            }
            // Every "<?" is looked at, also one inside another's data: an unclosed declaration must not hide a `<?pi?>`.
            index = start + 2
        }
    }

    /// The offset and length of the first ill-formed sequence (RFC 3629: no overlongs, no surrogates, nothing past
    /// U+10FFFF), or nil when every byte is well-formed UTF-8.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> (offset: Int, length: Int)? {
        var index = 0
        let count = bytes.count
        while index < count {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: length = 2
            case 0xE0:
                length = 3
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED:
                length = 3
                high = 0x9F
            case 0xF0:
                length = 4
                low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4:
                length = 4
                high = 0x8F
            default: return (index, 1)
            }
            for position in 1..<length {
                guard index + position < count else { return (index, count - index) }
                let byte = bytes[index + position]
                let (lower, upper) = position == 1 ? (low, high) : (0x80, 0xBF)
                guard byte >= lower && byte <= upper else { return (index, position + 1) }
            }
            index += length
        }
        return nil
    }

    private static func findIgnoringCase(_ needle: String, in bytes: [UInt8]) -> Int? {
        let needle = Array(needle.uppercased().utf8)
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            var matches = true
            for offset in 1..<needle.count {
                var byte = bytes[start + offset]
                if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) { byte -= 32 }
                if byte != needle[offset] {
                    matches = false
                    break
                }
            }
            if matches { return start }
        }
        return nil
    }
}
