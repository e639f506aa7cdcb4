/// Plain text from the free-text fields of real feeds, which often carry HTML (`<br />`, `&lt;p&gt;`, `&amp;nbsp;`): what
/// speech synthesis reads and the log shows must be words, never markup.
public enum CAPText {
    /// Tags removed (block tags become line breaks, `script` and `style` go with their content), HTML entities
    /// decoded once, runs of spaces collapsed and each line trimmed. Text without markup comes back unchanged.
    public static func plain(_ text: String) -> String {
        let once = strip(text)
        // Feeds that escape their HTML twice (`&amp;lt;br&amp;gt;`) leave tags after one decoding; take those off too.
        let scalars = Array(once.unicodeScalars)
        let hasTag = scalars.indices.contains { scalars[$0] == "<" && tag(in: scalars, at: $0) != nil }
        return hasTag ? strip(once) : once
    }

    private static func strip(_ text: String) -> String {
        guard text.contains("<") || text.contains("&") || text.contains("\t") || text.contains("  ") || text.contains("\r") else {
            return text
        }
        let scalars = Array(text.unicodeScalars)
        var output = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "<", let (name, closing, end) = tag(in: scalars, at: index) {
                if !closing, name == "script" || name == "style", let close = closingTag(name, in: scalars, from: end) {
                    index = close
                } else {
                    index = end
                }
                if blockTags.contains(name) { output.append("\n") }
                continue
            }
            if scalar == "<", scalars[(index + 1)...].starts(with: "!--".unicodeScalars) {
                index = find("-->", in: scalars, from: index + 4).map { $0 + 3 } ?? scalars.count
                continue
            }
            if scalar == "&", let (decoded, end) = entity(in: scalars, at: index) {
                output.append(contentsOf: decoded.unicodeScalars)
                index = end
                continue
            }
            output.append(scalar)
            index += 1
        }
        return tidy(String(output))
    }

    private static let blockTags: Set<String> = [
        "br", "p", "div", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "dd", "dt",
    ]

    /// A tag that starts at `start` (`<name …>` or `</name>`): its lowercased name, whether it closes, and the index after
    /// it. A `<` that does not open a tag (`a < b`, `<3`) is text.
    private static func tag(in scalars: [Unicode.Scalar], at start: Int) -> (String, Bool, Int)? {
        var index = start + 1
        var closing = false
        if index < scalars.count, scalars[index] == "/" {
            closing = true
            index += 1
        }
        var name = ""
        while index < scalars.count, scalars[index].isASCII, scalars[index].properties.isAlphabetic || ("0"..."9").contains(scalars[index]) {
            name.unicodeScalars.append(scalars[index])
            index += 1
        }
        guard let first = name.unicodeScalars.first, first.properties.isAlphabetic else { return nil }
        guard let end = find(">", in: scalars, from: index) else { return nil }
        // Quoted attribute values may hold '>', but a tag that runs on for a whole paragraph is more likely text.
        guard end - start < 1_000 else { return nil }
        return (name.lowercased(), closing, end + 1)
    }

    private static func closingTag(_ name: String, in scalars: [Unicode.Scalar], from start: Int) -> Int? {
        var index = start
        while let open = find("</", in: scalars, from: index) {
            if let (found, closing, end) = tag(in: scalars, at: open), closing, found == name { return end }
            index = open + 2
        }
        return nil
    }

    private static func find(_ needle: String, in scalars: [Unicode.Scalar], from start: Int) -> Int? {
        let pattern = Array(needle.unicodeScalars)
        guard start <= scalars.count - pattern.count else { return nil }
        for index in start...(scalars.count - pattern.count) where scalars[index] == pattern[0] {
            if scalars[index..<(index + pattern.count)].elementsEqual(pattern) { return index }
        }
        return nil
    }

    /// `&name;`, `&#NNN;` or `&#xHH;` at `start`: its text and the index after it. Unknown names, and numbers that are
    /// not a character one could say (NUL, controls other than tab and newline, surrogates), stay as written.
    private static func entity(in scalars: [Unicode.Scalar], at start: Int) -> (String, Int)? {
        guard let semicolon = find(";", in: scalars, from: start + 1), semicolon - start <= 12 else { return nil }
        let body = String(String.UnicodeScalarView(scalars[(start + 1)..<semicolon]))
        if body.hasPrefix("#") {
            let digits = body.dropFirst()
            let value = digits.first == "x" || digits.first == "X" ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
            guard let value, let scalar = Unicode.Scalar(value), value >= 0x20 || value == 0x09 || value == 0x0A, !(0x7F...0x9F).contains(value)
            else { return nil }
            return (String(Character(scalar)), semicolon + 1)
        }
        guard let text = namedEntities[body] else { return nil }
        return (text, semicolon + 1)
    }

    private static let namedEntities: [String: String] = [
        "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "ensp": " ", "emsp": " ", "thinsp": " ",
        "ndash": "–", "mdash": "—", "hellip": "…", "lsquo": "‘", "rsquo": "’", "ldquo": "“", "rdquo": "”", "laquo": "«",
        "raquo": "»", "middot": "·", "bull": "•", "deg": "°", "times": "×", "divide": "÷", "plusmn": "±", "copy": "©",
        "reg": "®", "trade": "™", "sect": "§", "para": "¶", "euro": "€", "pound": "£", "yen": "¥", "cent": "¢",
        "frac12": "½", "frac14": "¼", "frac34": "¾", "sup2": "²", "sup3": "³", "micro": "µ", "shy": "",
    ]

    /// Collapses runs of spaces and tabs, trims each line, and keeps at most one blank line between paragraphs.
    private static func tidy(_ text: String) -> String {
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .split(separator: "\n", omittingEmptySubsequences: false)
            .map { line in
                line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\u{A0}" }).joined(separator: " ")
            }
        var result: [String] = []
        for line in lines {
            if line.isEmpty, result.last?.isEmpty ?? true { continue }
            result.append(line)
        }
        while result.last?.isEmpty == true { result.removeLast() }
        return result.joined(separator: "\n")
    }
}
