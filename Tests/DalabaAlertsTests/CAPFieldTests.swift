import Foundation
import Testing

@testable import DalabaAlerts

/// Issue 13, finding 9: CAP 1.0 and 1.1, legacy encodings and HTML in the text, as real feeds send them.
@Suite("CAP as it arrives in the field")
struct CAPFieldTests {
    @Test("a CAP 1.1 alert is read, 'Very Likely' as Likely, its approximate size not held against anything")
    func cap11() throws {
        let alert = try CAPParser().parse(Data(CAPFieldFixtures.thunderstorm11.utf8))
        #expect(alert.version == .v1_1)
        #expect(alert.identifier == "NWS-TSTORM-2026-0917-0042")
        let info = try #require(alert.info.first)
        #expect(info.certainty == .likely)
        #expect(info.language == "en-US")
        #expect(info.areas.map(\.areaDesc) == ["Polk County"])
        guard case .broadcast(let broadcast) = CAPPolicy.standard.decide(alert, now: CAPParserTests.utc("2026-09-17T20:45:00Z")) else {
            Issue.record("not broadcast")
            return
        }
        #expect(broadcast.level == 1)
    }

    @Test("a CAP 1.0 alert, in the namespace before OASIS, is read")
    func cap10() throws {
        let alert = try CAPParser().parse(Data(CAPFieldFixtures.earthquake10.utf8))
        #expect(alert.version == .v1_0)
        #expect(alert.info.first?.certainty == .likely)
        // The URN form some 1.0 senders used is read as 1.0 too.
        let urn = CAPFieldFixtures.earthquake10.replacingOccurrences(
            of: "http://www.incident.com/cap/1.0", with: "urn:oasis:names:tc:emergency:cap:1.0")
        #expect(try CAPParser().parse(Data(urn.utf8)).version == .v1_0)
    }

    @Test("'Very Likely' stays an error in CAP 1.2, which removed it")
    func veryLikely12() {
        let document = CAPFixtures.earthquake.replacingOccurrences(of: "<certainty>Observed</certainty>", with: "<certainty>Very Likely</certainty>")
        #expect(throws: CAPError.self) { try CAPParser().parse(Data(document.utf8)) }
    }

    @Test("a CAP 1.1 alert mixing in 1.2 elements is not read as CAP (its fields are in another namespace)")
    func mixedNamespaces() {
        let document = CAPFieldFixtures.thunderstorm11.replacingOccurrences(
            of: "<identifier>", with: "<identifier xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">")
        #expect(throws: CAPError(field: "identifier", reason: "is missing (required)")) { try CAPParser().parse(Data(document.utf8)) }
    }

    @Test("an ISO-8859-1 alert is converted and read")
    func latin1() throws {
        let document = try CAPParser().document(CAPFieldFixtures.floodLatin1)
        #expect(document.encoding == "ISO-8859-1")
        #expect(String(decoding: document.utf8.prefix(38), as: UTF8.self) == "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        let info = try #require(try CAPParser().parse(document).info.first)
        #expect(info.event == "Crue printanière")
        #expect(info.senderName == "Météo Québec")
        #expect(info.instruction == "Évitez les abords de la rivière et préparez-vous à évacuer.")
    }

    @Test(
        "legacy encodings the declaration names are converted",
        arguments: [
            ("ISO-8859-1", [0x53, 0xE9, 0x69, 0x73, 0x6D, 0x65], "Séisme"),
            ("latin1", [0xC9, 0x76, 0x61, 0x63, 0x75, 0x65, 0x7A], "Évacuez"),
            ("windows-1252", CAPFieldFixtures.punctuation1252, "€“–”"),
            ("GB2312", CAPFieldFixtures.earthquakeWarningGBK, "地震预警"),
            ("GBK", CAPFieldFixtures.earthquakeWarningGBK, "地震预警"),
            ("gb18030", CAPFieldFixtures.earthquakeWarningGBK + CAPFieldFixtures.gb18030FourByte, "地震预警𠀀"),
            ("Big5", CAPFieldFixtures.earthquakeBig5, "地震"),
            ("US-ASCII", Array("Earthquake".utf8), "Earthquake"),
            ("windows-1251", [0xC7, 0xE5, 0xEC, 0xEB, 0xE5, 0xF2, 0xF0, 0xFF, 0xF1, 0xE5, 0xED, 0xE8, 0xE5], "Землетрясение"),
        ] as [(String, [UInt8], String)])
    func legacyEncodings(encoding: String, headline: [UInt8], expected: String) throws {
        let alert = try CAPParser().parse(CAPFieldFixtures.alert(encoding: encoding, headline: headline))
        #expect(alert.info.first?.headline == expected)
    }

    @Test("UTF-16 and UTF-32 with a byte-order mark, and UTF-16 without one, are converted")
    func wideEncodings() throws {
        let text = CAPFixtures.earthquake
        let cases: [(String, Data)] = [
            ("UTF-16LE", Data([0xFF, 0xFE]) + text.replacingOccurrences(of: "UTF-8", with: "UTF-16").data(using: .utf16LittleEndian)!),
            ("UTF-16BE", Data([0xFE, 0xFF]) + text.replacingOccurrences(of: "UTF-8", with: "UTF-16").data(using: .utf16BigEndian)!),
            ("UTF-16LE", text.replacingOccurrences(of: "UTF-8", with: "UTF-16").data(using: .utf16LittleEndian)!),
            ("UTF-32LE", Data([0xFF, 0xFE, 0x00, 0x00]) + text.replacingOccurrences(of: "UTF-8", with: "UTF-32").data(using: .utf32LittleEndian)!),
        ]
        for (name, bytes) in cases {
            let document = try CAPParser().document(bytes)
            #expect(document.encoding == name)
            let alert = try CAPParser().parse(document)
            #expect(alert.info.last?.headline == "地震预警", "\(name)")
        }
    }

    @Test(
        "an encoding that cannot be converted, or bytes that are not in the declared one, are refused clearly",
        arguments: [
            ("x-klingon", [0x41], "declares encoding 'x-klingon', which this station cannot convert"),
            ("IBM037", [0x41], "declares encoding 'IBM037', which this station cannot convert"),
            // Foundation on Linux knows these names but has no converter for them.
            ("EUC-JP", [0x41], "declares encoding 'EUC-JP', which this station cannot convert"),
            ("ISO-8859-15", [0x41], "declares encoding 'ISO-8859-15', which this station cannot convert"),
            ("windows-1252", [0x81], "is not valid windows-1252"),
            ("UTF-16", [0x41], "declares encoding 'UTF-16' but its bytes are not UTF-16"),
            ("US-ASCII", [0xC3, 0xA9], "declares encoding US-ASCII but has the byte 0xC3 at byte offset"),
            ("UTF-8", [0xE9], "is not valid UTF-8 at byte offset"),
        ] as [(String, [UInt8], String)])
    func unconvertible(encoding: String, headline: [UInt8], reason: String) {
        do {
            _ = try CAPParser().parse(CAPFieldFixtures.alert(encoding: encoding, headline: headline))
            Issue.record("accepted")
        } catch {
            #expect(error.field == "document")
            #expect(error.reason.contains(reason), "reason was: \(error.reason)")
        }
    }

    @Test("a UTF-16 document whose declaration names another encoding is refused")
    func wideMismatch() {
        let bytes =
            Data([0xFF, 0xFE]) + CAPFixtures.earthquake.replacingOccurrences(of: "UTF-8", with: "ISO-8859-1").data(using: .utf16LittleEndian)!
        #expect(throws: CAPError(field: "document", reason: "declares encoding 'ISO-8859-1' but its bytes are UTF-16LE")) {
            try CAPParser().parse(bytes)
        }
    }

    @Test("a converted document is screened again: a Latin-1 DOCTYPE is still refused")
    func convertedScreen() {
        let document = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<!DOCTYPE alert [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n<alert/>"
        #expect(throws: CAPError.self) { try CAPParser().parse(Data(document.utf8)) }
    }

    @Test("HTML in headline, description and instruction never reaches speech")
    func html() throws {
        let alert = try CAPParser().parse(Data(CAPFieldFixtures.htmlDescription.utf8))
        let info = try #require(alert.info.first)
        #expect(info.headline == "Heat advisory")
        // Paragraphs stay apart by a blank line, a <br /> is a line break.
        #expect(info.description == "Temperatures up to 38°C.\n\nStay indoors & drink water.")
        #expect(info.instruction == "Check on neighbours.\nSee the city's page.")
        guard case .broadcast(let broadcast) = CAPPolicy.standard.decide(alert, now: CAPParserTests.utc("2026-06-01T05:00:00Z")) else {
            Issue.record("not broadcast")
            return
        }
        #expect(!broadcast.text.contains("<") && !broadcast.text.contains("&amp;") && !broadcast.text.contains("&nbsp;"), "\(broadcast.text)")
        #expect(!broadcast.text.contains("alert(1)"))
        #expect(broadcast.title == "Heat advisory")
    }

    @Test(
        "HTML becomes plain text",
        arguments: [
            ("line one<br />line two", "line one\nline two"),
            ("<p>one</p><p>two</p>", "one\n\ntwo"),
            ("<P CLASS=\"x\">Caps</P>", "Caps"),
            ("a &lt; b &amp;&amp; c", "a < b && c"),
            ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
            ("&#x5730;&#38663;", "地震"),
            ("&#0;&#x1B;[31m", "&#0;&#x1B;[31m"),
            ("&lt;br&gt;twice", "twice"),
            ("<style>p{}</style>text<script>x()</script>", "text"),
            ("<!-- note -->said", "said"),
            ("  spaced \t out  \n\n\n\n next ", "spaced out\n\nnext"),
            ("请立即转移。", "请立即转移。"),
            ("AT&T", "AT&T"),
        ])
    func plain(html: String, text: String) {
        #expect(CAPText.plain(html) == text)
    }
}
