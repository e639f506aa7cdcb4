import Foundation
import Testing

@testable import DalabaAlerts

/// Issue 13, finding 1: FoundationXML on Linux traps (SIGILL) on invalid UTF-8 in element names, attribute names,
/// namespace prefixes, comments and text. Every such document must be refused by the screen, naming the byte offset,
/// before any parser sees it. (A regression here would kill the test runner, which is the point.)
@Suite("CAP: bytes that would trap FoundationXML")
struct CAPHostileBytesTests {
    static let namespace = "urn:oasis:names:tc:emergency:cap:1.2"

    /// One hostile document: valid text, then the bad bytes, then more text; the refusal must name `before.count`.
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let before: [UInt8]
        let bad: [UInt8]
        let after: String
        var data: Data { Data(before + bad + Array(after.utf8)) }
        var testDescription: String { name }

        init(_ name: String, _ before: String, _ bad: [UInt8], _ after: String, bom: Bool = false) {
            self.name = name
            self.before = (bom ? [0xEF, 0xBB, 0xBF] : []) + Array(before.utf8)
            self.bad = bad
            self.after = after
        }
    }

    static let cases: [Case] = [
        Case("the issue's reproducer: 0xFF in an element name", "<alert", [0xFF], " xmlns=\"\(namespace)\"/>"),
        Case("the issue's second reproducer: 0xFF in a comment", "<!-- ", [0xFF], " -->"),
        Case(
            "a comment inside a valid alert", String(CAPFixtures.earthquake.prefix(39)) + "<!-- ", [0xFF],
            " -->" + CAPFixtures.earthquake.dropFirst(39)),
        Case("an attribute name", "<alert xmlns=\"\(namespace)\" a", [0xFE], "=\"1\"/>"),
        Case("a namespace prefix", "<c", [0xC0, 0xAF], ":alert xmlns:c=\"\(namespace)\"/>"),
        Case("a namespace prefix declaration", "<c:alert xmlns:c", [0xC3], "=\"\(namespace)\"/>"),
        Case("element text", "<alert xmlns=\"\(namespace)\"><identifier>", [0x80], "</identifier></alert>"),
        Case("CDATA", "<alert xmlns=\"\(namespace)\"><note><![CDATA[", [0xF5, 0x80, 0x80, 0x80], "]]></note></alert>"),
        Case("an attribute value", "<alert xmlns=\"\(namespace)\" id=\"", [0xE2, 0x82], "\"/>"),
        Case("a processing instruction", "<?pi ", [0xED, 0xA0, 0x80], "?><alert/>"),
        Case("a UTF-16 surrogate written as UTF-8", "<alert>", [0xED, 0xB0, 0x80], "</alert>"),
        Case("past U+10FFFF", "<alert>", [0xF4, 0x90, 0x80, 0x80], "</alert>"),
        Case("an overlong '<'", "<alert>", [0xC0, 0xBC], "</alert>"),
        Case("a sequence cut off at the end", "<alert>x</alert>", [0xE5, 0x9C], ""),
        Case("after a UTF-8 byte-order mark", "<alert", [0xFF], "/>", bom: true),
        Case("in a document that declares UTF-8", "<?xml version=\"1.0\" encoding=\"utf-8\"?><alert>", [0xA0], "</alert>"),
    ]

    @Test("invalid UTF-8 anywhere is refused before parsing, naming the byte offset", arguments: cases)
    func invalidUTF8(_ sample: Case) {
        do {
            _ = try CAPParser().parse(sample.data)
            Issue.record("accepted")
        } catch {
            #expect(error.field == "document")
            #expect(error.reason.hasPrefix("is not valid UTF-8 at byte offset \(sample.before.count) "), "\(error.reason)")
        }
    }

    @Test("the UTF-8 check agrees with Swift's own decoder on every 1- to 3-byte sequence, and on 4-byte edges")
    func validatorAgreesWithSwift() {
        var sequences: [[UInt8]] = []
        for a in 0...255 { sequences.append([UInt8(a)]) }
        for a in 0xC0...0xFF { for b in 0...255 { sequences.append([UInt8(a), UInt8(b)]) } }
        for a in [0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF] {
            for b in 0x70...0xCF { for c in [0x7F, 0x80, 0xBF, 0xC0] { sequences.append([UInt8(a), UInt8(b), UInt8(c)]) } }
        }
        for a in [0xF0, 0xF1, 0xF3, 0xF4, 0xF5] {
            for b in [0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC0] { sequences.append([UInt8(a), UInt8(b), 0x80, 0x80]) }
        }
        for sequence in sequences {
            let swift = String(validating: sequence, as: UTF8.self) != nil
            #expect((CAPDocument.firstInvalidUTF8(sequence) == nil) == swift, "\(sequence.map { String($0, radix: 16) })")
        }
    }

    /// FoundationXML segfaults on these (found by FuzzCAP): refused before it sees them.
    @Test(
        "a processing instruction without data, or an XML declaration anywhere but first, is refused with its offset",
        arguments: [
            ("<?xml?>", "has a processing instruction without data (<?xml?>) at byte offset 0"),
            (#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><?pi?></alert>"#, "has a processing instruction without data (<?pi?>) at byte offset 52"),
            (#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><?pi   ?></alert>"#, "has a processing instruction without data (<?pi?>) at byte offset 52"),
            (#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><??></alert>"#, "has a processing instruction without data (<??>) at byte offset 52"),
            (#"<!-- x --><?xml version="1.0"?><alert/>"#, "has an XML declaration at byte offset 10: it may only open the document"),
            (#"<?xml version="1.0" enc"><?pi?></alert>"#, "has a processing instruction without data (<?pi?>) at byte offset 25"),
            (#"<?xml encoding="UTF-8"?><alert/>"#, #"has an XML declaration without its version (<?xml version="1.0"?>)"#),
        ])
    func processingInstructions(document: String, reason: String) {
        #expect(throws: CAPError(field: "document", reason: reason)) { try CAPParser().parse(Data(document.utf8)) }
    }

    @Test("a processing instruction with data, such as a feed's stylesheet, still parses")
    func stylesheet() throws {
        let alert = String(decoding: CAPFixtures.earthquake.data(using: .utf8)!, as: UTF8.self)
            .replacingOccurrences(of: "<alert", with: "<?xml-stylesheet href=\"cap.xsl\" type=\"text/xsl\"?><alert")
        #expect(throws: Never.self) { try CAPParser().parse(Data(alert.utf8)) }
    }

    @Test("NUL is refused with its offset")
    func nul() {
        let data = Data(Array("<alert>".utf8) + [0x00] + Array("</alert>".utf8))
        #expect(throws: CAPError(field: "document", reason: "contains a NUL byte at byte offset 7")) { try CAPParser().parse(data) }
    }

    /// A deterministic mutation loop over every fixture (the kind of search that found the trap): random byte
    /// replacements, insertions and deletions, and insertions of characters XML forbids. Every result must come back as
    /// an alert or a refusal; a trap would end the test process.
    @Test("3,000 mutations of the fixtures: refused or parsed, never a trap")
    func mutations() {
        var generator = SplitMix64(seed: 13)
        let fixtures =
            [
                CAPFixtures.earthquake, CAPFixtures.flood, CAPFixtures.weatherExercise, CAPFixtures.floodUpdate, CAPFixtures.floodCancel,
                CAPFieldFixtures.thunderstorm11, CAPFieldFixtures.htmlDescription,
            ].map { Array($0.utf8) } + [Array(CAPFieldFixtures.floodLatin1)]
        let insertions: [[UInt8]] = [
            [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xEF, 0xBF, 0xBE], [0xEF, 0xBF, 0xBF], [0x01], [0x0B], [0x7F], Array("&#0;".utf8),
            Array("&#xD800;".utf8), Array("&#x110000;".utf8), Array("<!--".utf8), Array("]]>".utf8), Array(" xmlns:a=\"\"".utf8),
            Array("<a:b/>".utf8), Array(":".utf8), Array("<".utf8), Array("&".utf8),
        ]
        var parsed = 0
        for _ in 0..<3_000 {
            var bytes = fixtures[Int(generator.next() % UInt64(fixtures.count))]
            for _ in 0..<(1 + Int(generator.next() % 4)) {
                let position = Int(generator.next() % UInt64(bytes.count))
                switch generator.next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                case 1: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                case 2: bytes.remove(at: position)
                default: bytes.insert(contentsOf: insertions[Int(generator.next() % UInt64(insertions.count))], at: position)
                }
            }
            let data = Data(bytes)
            if (try? CAPParser().parse(data)) != nil { parsed += 1 }
            // Invalid UTF-8 in a document read as UTF-8 (not one a mutation made look like UTF-16) is always refused.
            let readAsUTF8 = !bytes.prefix(2).contains(0) && !bytes.starts(with: [0xFE, 0xFF]) && !bytes.starts(with: [0xFF, 0xFE])
            if readAsUTF8, CAPDocument.firstInvalidUTF8(bytes) != nil, CAPDocument.declaredEncoding(bytes).map({ $0.lowercased() == "utf-8" }) ?? true
            {
                #expect(throws: CAPError.self) { try CAPParser().document(data) }
            }
        }
        // Some mutations land in whitespace or text and leave a valid alert: the loop did exercise the parser.
        #expect(parsed > 0)
    }
}

/// A small seeded generator, so the mutation test is the same on every run.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
