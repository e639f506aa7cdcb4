import DalabaCore

/// Which characters a schedule may put in one-line text (names, titles, audio names) and how messages quote what a file
/// says, so that nothing in a schedule reaches a terminal (`dalaba schedule check`, `dalaba status`), a log line or the
/// console as an escape sequence or a bidi override.
///
/// The rule is the API's, `DisplayText` in the core: refused are control characters (NUL, ESC, LF, CR, DEL, C1), format
/// characters (U+202E and the other bidi controls, zero-width characters, the BOM), line and paragraph separators,
/// surrogates and private-use characters. Spoken text may also hold tab and line breaks.
enum ScheduleText {
    static func isForbidden(_ scalar: Unicode.Scalar) -> Bool {
        // ASCII first: it is nearly all a schedule holds, and the Unicode property lookup is the slow part.
        if scalar.value < 0x80 { return scalar.value < 0x20 || scalar.value == 0x7F }
        return DisplayText.isForbidden(scalar)
    }

    static func firstForbidden(in text: String, allowingLineBreaks: Bool = false) -> Unicode.Scalar? {
        text.unicodeScalars.first { scalar in
            if allowingLineBreaks, scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
            return isForbidden(scalar)
        }
    }

    /// Nothing but spaces (of any script) and tabs.
    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0 == " " || $0 == "\t" || ($0.value >= 0x80 && $0.properties.generalCategory == .spaceSeparator) }
    }

    /// Letters and digits of any script and `-`, `_`, `.`: the characters a programme name (part of every slot id) may hold.
    static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x2D, 0x5F, 0x2E: return true
        case 0..<0x80: return false
        default:
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber, .letterNumber,
                .otherNumber, .nonspacingMark, .spacingMark:
                return true
            default: return false
            }
        }
    }

    /// "U+202E (RIGHT-TO-LEFT OVERRIDE)", "U+0000 (a control character)", as the API names them.
    static func name(of scalar: Unicode.Scalar) -> String { DisplayText.name(of: scalar) }

    /// `text` safe to quote in a message: forbidden scalars written as `\u{1B}`, at most `limit` characters.
    static func echo(_ text: String, limit: Int = 60) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            if isForbidden(scalar) {
                out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }
}
