import Foundation
import Testing

@testable import DalabaAlerts

/// One hostile or broken document and the refusal it must get.
struct MalformedCAP: Sendable, CustomTestStringConvertible {
    let name: String
    let document: String
    let field: String
    /// A fragment the reason must contain: the words an operator reads.
    let reason: String

    var testDescription: String { name }

    init(_ name: String, _ document: String, field: String, reason: String) {
        self.name = name
        self.document = document
        self.field = field
        self.reason = reason
    }

    /// The earthquake fixture with one piece replaced, so each case differs from a valid alert in exactly one way.
    init(_ name: String, replacing old: String, with new: String, in base: String = CAPFixtures.earthquake, field: String, reason: String) {
        precondition(base.contains(old), "fixture does not contain \(old)")
        self.init(name, base.replacingOccurrences(of: old, with: new), field: field, reason: reason)
    }
}

@Suite("CAP 1.2 malformed and hostile documents")
struct CAPMalformedTests {
    static let xxe = """
        <?xml version="1.0" encoding="UTF-8"?>
        <!DOCTYPE alert [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
          <identifier>&xxe;</identifier>
          <sender>attacker@example.net</sender>
          <sent>2026-11-21T08:00:00+08:00</sent>
          <status>Actual</status>
          <msgType>Alert</msgType>
          <scope>Public</scope>
        </alert>
        """

    static let billionLaughs = """
        <?xml version="1.0"?>
        <!DOCTYPE lolz [
          <!ENTITY lol "lol">
          <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
          <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
          <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
          <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
        ]>
        <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol9;</identifier></alert>
        """

    static let landslide = CAPFixtures.landslideWithRecording

    static let corpus: [MalformedCAP] = [
        MalformedCAP("XXE: DOCTYPE with an external entity", xxe, field: "document", reason: "contains a DOCTYPE; DTDs are refused"),
        MalformedCAP("billion laughs: nested internal entities", billionLaughs, field: "document", reason: "contains a DOCTYPE"),
        MalformedCAP(
            "a lower-case doctype", replacing: "<alert xmlns", with: "<!doctype alert SYSTEM \"http://example.net/cap.dtd\"><alert xmlns",
            field: "document", reason: "DOCTYPE"),
        MalformedCAP(
            "an entity declaration outside a DOCTYPE", replacing: "<scope>Public</scope>", with: "<scope>Public</scope><!ENTITY x \"y\">",
            field: "document", reason: "entity declaration"),
        MalformedCAP(
            "over 1 MiB", replacing: "<description>A magnitude", with: "<description>\(String(repeating: "地震", count: 180_000))A magnitude",
            field: "document", reason: "over the limit of 1048576 bytes"),
        MalformedCAP(
            "UTF-16 declared", replacing: "encoding=\"UTF-8\"", with: "encoding=\"UTF-16\"", field: "document",
            reason: "declares encoding 'UTF-16' but its bytes are not UTF-16"),
        MalformedCAP("not XML at all", "地震预警！快跑！", field: "document", reason: "is not an XML document"),
        MalformedCAP(
            "text before the root element", "地震 " + CAPFixtures.earthquake, field: "document", reason: "is not an XML document"),
        MalformedCAP(
            "truncated in transit", String(CAPFixtures.earthquake.prefix(600)), field: "document", reason: "is not well-formed XML"),
        MalformedCAP(
            "a root that is not an alert", replacing: "<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">",
            with: "<feed xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"><alert>", in: CAPFixtures.earthquake + "</feed>",
            field: "document", reason: "the root element is <feed>"),
        MalformedCAP(
            "an unknown CAP version's namespace", replacing: "emergency:cap:1.2", with: "emergency:cap:1.3", field: "alert",
            reason: "wrong namespace 'urn:oasis:names:tc:emergency:cap:1.3': expected one of"),
        MalformedCAP(
            "no namespace", replacing: " xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\"", with: "", field: "alert",
            reason: "missing namespace"),
        MalformedCAP(
            "missing identifier", replacing: "<identifier>CENC-EEW-20261121080000-0001</identifier>", with: "", field: "identifier",
            reason: "is missing (required)"),
        MalformedCAP(
            "empty identifier", replacing: "<identifier>CENC-EEW-20261121080000-0001</identifier>", with: "<identifier> </identifier>",
            field: "identifier", reason: "is empty"),
        MalformedCAP(
            "identifier with a comma", replacing: "CENC-EEW-20261121080000-0001", with: "CENC,EEW", field: "identifier",
            reason: "contains a space, comma"),
        MalformedCAP(
            "two identifiers", replacing: "<sender>", with: "<identifier>again</identifier><sender>", field: "identifier",
            reason: "appears 2 times"),
        MalformedCAP("missing sender", replacing: "<sender>eew@cenc.example.cn</sender>", with: "", field: "sender", reason: "is missing"),
        MalformedCAP(
            "bad sent date", replacing: "<sent>2026-11-21T08:00:00+08:00</sent>", with: "<sent>2026-11-21 08:00</sent>", field: "sent",
            reason: "'2026-11-21 08:00' is not a CAP date-time"),
        MalformedCAP(
            "sent without an offset", replacing: "<sent>2026-11-21T08:00:00+08:00</sent>", with: "<sent>2026-11-21T08:00:00</sent>",
            field: "sent", reason: "the time-zone offset is missing"),
        MalformedCAP(
            "unknown status", replacing: "<status>Actual</status>", with: "<status>Real</status>", field: "status",
            reason: "'Real' is not one of Actual, Exercise, System, Test, Draft"),
        MalformedCAP(
            "unknown msgType", replacing: "<msgType>Alert</msgType>", with: "<msgType>Warning</msgType>", field: "msgType",
            reason: "'Warning' is not one of"),
        MalformedCAP("missing scope", replacing: "<scope>Public</scope>", with: "", field: "scope", reason: "is missing"),
        MalformedCAP(
            "private without addresses", replacing: "<scope>Public</scope>", with: "<scope>Private</scope>", field: "addresses",
            reason: "is required when scope is Private"),
        MalformedCAP(
            "an update without references", replacing: "<msgType>Alert</msgType>", with: "<msgType>Update</msgType>",
            field: "references", reason: "is required for msgType Update"),
        MalformedCAP(
            "a reference that is not a triple", replacing: "<scope>Public</scope>",
            with: "<scope>Public</scope><references>eew@cenc.example.cn,X</references>", field: "references",
            reason: "'eew@cenc.example.cn,X' is not a sender,identifier,sent triple"),
        MalformedCAP(
            "missing event", replacing: "<event>地震</event>", with: "", field: "info[2]/event", reason: "is missing (required)"),
        MalformedCAP(
            "missing category", replacing: "<category>Geo</category>\n    <event>地震", with: "<event>地震", field: "info[2]/category",
            reason: "is missing"),
        MalformedCAP(
            "unknown severity", replacing: "<severity>Extreme</severity>\n    <certainty>Observed</certainty>\n    <onset>",
            with: "<severity>Catastrophic</severity>\n    <certainty>Observed</certainty>\n    <onset>", field: "info[2]/severity",
            reason: "'Catastrophic' is not one of Extreme, Severe, Moderate, Minor, Unknown"),
        MalformedCAP(
            "CAP 1.0 certainty", replacing: "<certainty>Observed</certainty>", with: "<certainty>Very Likely</certainty>",
            field: "info[1]/certainty", reason: "'Very Likely' is not one of"),
        MalformedCAP(
            "missing urgency", replacing: "<urgency>Immediate</urgency>", with: "", field: "info[1]/urgency", reason: "is missing"),
        MalformedCAP(
            "bad expires", replacing: "<expires>2026-11-21T08:30:00+08:00</expires>", with: "<expires>tomorrow</expires>",
            field: "info[1]/expires", reason: "'tomorrow' is not a CAP date-time"),
        MalformedCAP(
            "area without areaDesc", replacing: "<areaDesc>Lushan county</areaDesc>", with: "", field: "info[1]/area[1]/areaDesc",
            reason: "is missing"),
        MalformedCAP(
            "bad digest", replacing: CAPFixtures.embeddedSHA1, with: "0000000000000000000000000000000000000000", in: landslide,
            field: "info[1]/resource[1]/digest", reason: "SHA-1 mismatch: declared 0000000000000000000000000000000000000000"),
        MalformedCAP(
            "digest that is not SHA-1", replacing: CAPFixtures.embeddedSHA1, with: "md5:abc", in: landslide, field: "info[1]/resource[1]/digest",
            reason: "is not a SHA-1 digest"),
        MalformedCAP(
            "size mismatch", replacing: "<size>844</size>", with: "<size>845</size>", in: landslide, field: "info[1]/resource[1]/size",
            reason: "declares 845 bytes but derefUri holds 844"),
        MalformedCAP(
            "size in kilobytes (CAP 1.1 habit)", replacing: "<size>844</size>", with: "<size>0.8</size>", in: landslide,
            field: "info[1]/resource[1]/size", reason: "is not a whole number of bytes"),
        MalformedCAP(
            "derefUri not base64", replacing: "UklGRkQDAABXQVZF", with: "UklGRkQDAABXQVZF!!", in: landslide,
            field: "info[1]/resource[1]/derefUri", reason: "is not valid base64"),
        MalformedCAP(
            "http audio uri", replacing: "<uri>alerts/flood-warning.wav</uri>", with: "<uri>http://hydrology.example.cn/a.wav</uri>",
            in: CAPFixtures.flood, field: "info[1]/resource[2]/uri", reason: "network URIs are not fetched (http://hydrology.example.cn/a.wav)"),
        MalformedCAP(
            "escaping audio uri", replacing: "<uri>alerts/flood-warning.wav</uri>", with: "<uri>../../etc/shadow</uri>", in: CAPFixtures.flood,
            field: "info[1]/resource[2]/uri", reason: "must not contain '.' or '..' components"),
        MalformedCAP(
            "absolute audio uri", replacing: "<uri>alerts/flood-warning.wav</uri>", with: "<uri>/etc/shadow</uri>", in: CAPFixtures.flood,
            field: "info[1]/resource[2]/uri", reason: "must be relative"),
        MalformedCAP(
            "resource without mimeType", replacing: "<mimeType>audio/x-wav</mimeType>", with: "", in: CAPFixtures.flood,
            field: "info[1]/resource[2]/mimeType", reason: "is missing"),
        MalformedCAP(
            "elements nested absurdly deep", replacing: "<scope>Public</scope>",
            with: "<scope>Public</scope>" + String(repeating: "<x>", count: 40) + String(repeating: "</x>", count: 40),
            field: "document", reason: "nest deeper than 32 levels"),
    ]

    @Test("each malformed document is refused naming its field", arguments: corpus)
    func refused(_ sample: MalformedCAP) {
        do {
            let alert = try CAPParser().parse(Data(sample.document.utf8))
            Issue.record("accepted: \(alert.identifier)")
        } catch {
            #expect(error.field == sample.field)
            #expect(error.reason.contains(sample.reason), "reason was: \(error.reason)")
            #expect(error.description == "\(error.field): \(error.reason)")
        }
    }

    @Test("every truncation of a valid alert is refused, never read as a shorter alert")
    func everyTruncation() {
        let whole = Array(CAPFixtures.earthquake.utf8)
        var accepted: [Int] = []
        for length in 1..<whole.count where (try? CAPParser().parse(Data(whole[..<length]))) != nil {
            accepted.append(length)
        }
        #expect(accepted.isEmpty, "accepted prefixes of length \(accepted.prefix(5))")
    }

    @Test("the size limit is configurable")
    func configurableLimit() throws {
        let document = Data(CAPFixtures.flood.utf8)
        #expect(throws: CAPError(field: "document", reason: "is \(document.count) bytes, over the limit of 1000 bytes")) {
            try CAPParser(maximumBytes: 1000).parse(document)
        }
        _ = try CAPParser(maximumBytes: document.count).parse(document)
    }

    @Test("a UTF-16 document hiding a DOCTYPE is converted first, so the screen still finds it")
    func utf16Doctype() {
        var bytes = Data([0xFF, 0xFE])
        bytes.append(CAPMalformedTests.xxe.replacingOccurrences(of: "UTF-8", with: "UTF-16").data(using: .utf16LittleEndian)!)
        #expect(
            throws: CAPError(field: "document", reason: "contains a DOCTYPE; DTDs are refused (external and internal entities are never expanded)")
        ) {
            try CAPParser().parse(bytes)
        }
    }

    @Test("an EBCDIC document, which would hide its DOCTYPE from a byte scan, is refused")
    func ebcdic() {
        // "<?xml version" in EBCDIC (code page 037).
        let document = Data([0x4C, 0x6F, 0xA7, 0x94, 0x93, 0x40, 0xA5, 0x85, 0x99, 0xA2, 0x89, 0x96, 0x95])
        // 0xA7 is not UTF-8 either, so the screen stops it at the first such byte.
        #expect(
            throws: CAPError(
                field: "document",
                reason: "is not valid UTF-8 at byte offset 2 (0xA7); declare the document's real encoding in <?xml … encoding=\"…\"?>")
        ) {
            try CAPParser().parse(document)
        }
    }

    @Test("an empty document")
    func empty() {
        #expect(throws: CAPError(field: "document", reason: "is empty")) { try CAPParser().parse(Data()) }
    }
}

@Suite("CAP 1.2 parser without the byte screen")
struct CAPParserDefenceInDepthTests {
    /// On Linux, libxml2 neither reports entity declarations to the delegate nor expands external entities when
    /// `shouldResolveExternalEntities` is false: `&xxe;` reads as nothing and the loop guard stops billion laughs.
    /// The byte screen is the real defence; this shows the parser alone still reads no file and refuses the document.
    @Test(
        "without the screen, XXE reads no file and billion laughs is still refused",
        arguments: [
            (CAPMalformedTests.xxe, "identifier"), (CAPMalformedTests.billionLaughs, "document"),
        ])
    func parserAlone(document: String, field: String) {
        var parser = CAPParser()
        parser.screensDeclarations = false
        do {
            let alert = try parser.parse(Data(document.utf8))
            Issue.record("accepted: \(alert.identifier)")
        } catch {
            #expect(error.field == field, "error was: \(error)")
            #expect(!error.description.contains("root:"))
        }
    }
}
