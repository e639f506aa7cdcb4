import DalabaAlerts
import Foundation
import Testing

@testable import DalabaXMLSignature

/// Fixtures were signed with the `xmlsec1` command-line tool (independently of the code under test): `signed-alert.xml`
/// and `signed-latin1-alert.xml` by `county-alerts.pem`'s key with its certificate in `<X509Data>`,
/// `impostor-signed-alert.xml` the same way by `impostor.pem`'s key, and `keyvalue-signed-alert.xml` by the impostor's
/// key with only a `<KeyValue>` (which `xmlsec1 --verify` itself accepts, trusting nothing), and `md5-signed-alert.xml` by
/// the county's key with RSA-MD5 (which `xmlsec1 --verify` also accepts). The private keys are not
/// kept; the certificates are valid from 2026 for 100 years.
@Suite("Enveloped XML-DSig on CAP alerts")
struct XMLSignatureVerifierTests {
    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
        return try Data(contentsOf: url)
    }

    static func verifier(trusting names: [String] = ["county-alerts.pem"]) throws -> XMLSignatureVerifier {
        try XMLSignatureVerifier(trustedCertificates: names.map { ($0, try fixture($0)) })
    }

    static func result(_ document: String, trusting names: [String] = ["county-alerts.pem"]) throws -> CAPSignatureResult {
        try verifier(trusting: names).verify(CAPParser().document(fixture(document)))
    }

    static func tampered(_ replace: String, with new: String) throws -> CAPDocument {
        let text = String(decoding: try fixture("signed-alert.xml"), as: UTF8.self)
        precondition(text.contains(replace), "fixture lacks \(replace)")
        return try CAPParser().document(Data(text.replacingOccurrences(of: replace, with: new).utf8))
    }

    @Test("a signed alert from a trusted certificate verifies, naming the signer")
    func verified() throws {
        let result = try Self.result("signed-alert.xml")
        guard case .verified(let signer) = result else { Issue.record("got \(result)"); return }
        #expect(signer.contains("CN=county-alerts.example.cn"))
        // The parser reads the same bytes and sees the one signature.
        #expect(try CAPParser().parse(Self.fixture("signed-alert.xml")).signatureCount == 1)
    }

    @Test("a signed ISO-8859-1 alert verifies after conversion to UTF-8 (the signature is over the characters)")
    func latin1() throws {
        let document = try CAPParser().document(Self.fixture("signed-latin1-alert.xml"))
        #expect(document.encoding == "ISO-8859-1")
        let result = try Self.verifier().verify(document)
        #expect(result.status == "verified", "\(result)")
        #expect(try CAPParser().parse(document).info.first?.headline == "Alerte séisme")
    }

    @Test(
        "a tampered copy of a signed alert does not verify",
        arguments: [
            ("<severity>Severe</severity>", "<severity>Extreme</severity>"),
            ("县城东南发生5.2级地震。", "水库溃坝，请立即撤离。"),
            ("<scope>Public</scope>", "<scope>Public</scope><note>added</note>"),
        ])
    func tampered(replace: String, with new: String) throws {
        let result = try Self.verifier().verify(Self.tampered(replace, with: new))
        #expect(result.status == "invalid", "\(result)")
    }

    @Test("a comment added to a signed alert changes nothing that is signed, and nothing that is read")
    func comment() throws {
        let result = try Self.verifier().verify(Self.tampered("<scope>Public</scope>", with: "<scope>Public</scope><!-- relayed -->"))
        #expect(result.status == "verified", "\(result)")
    }

    @Test("a valid signature by a certificate that is not trusted is invalid")
    func untrusted() throws {
        let result = try Self.result("impostor-signed-alert.xml")
        #expect(result.status == "invalid", "\(result)")
        #expect(result.description.contains("self-signed certificate"), "\(result)")
        // Trusting the impostor's certificate makes the same document verify: the failure above is about trust.
        #expect(try Self.result("impostor-signed-alert.xml", trusting: ["impostor.pem"]).status == "verified")
    }

    @Test("a key carried in the document's own <KeyValue> is never trusted; a trusted certificate's key is")
    func keyValue() throws {
        // Signed by the impostor's key, which the document carries: the station trusts only the county.
        let result = try Self.result("keyvalue-signed-alert.xml")
        #expect(result.status == "invalid", "\(result)")
        // Feeds that send only a <KeyValue> verify when the station trusts the signer's certificate.
        let pinned = try Self.result("keyvalue-signed-alert.xml", trusting: ["county-alerts.pem", "impostor.pem"])
        guard case .verified(let signer) = pinned else { Issue.record("got \(pinned)"); return }
        #expect(signer.contains("CN=alerts.example.net"))
    }

    @Test("a trusted certificate is used only while it is valid")
    func validity() throws {
        let county = [("county-alerts.pem", try Self.fixture("county-alerts.pem"))]
        let document = try CAPParser().document(Self.fixture("signed-alert.xml"))
        let before = try XMLSignatureVerifier(trustedCertificates: county, certificateTime: Date(timeIntervalSince1970: 1_000_000_000))
        #expect(before.verify(document).status == "invalid")
        let during = try XMLSignatureVerifier(trustedCertificates: county, certificateTime: Date(timeIntervalSince1970: 2_000_000_000))
        #expect(during.verify(document).status == "verified")
    }

    @Test("a signature made with RSA-MD5 is not accepted, even from a trusted certificate")
    func md5() throws {
        let result = try Self.result("md5-signed-alert.xml")
        #expect(result.status == "invalid", "\(result)")
    }

    @Test("an alert without a signature is unsigned")
    func unsigned() throws {
        let document = try CAPParser().document(
            Data(
                """
                <?xml version="1.0" encoding="UTF-8"?>
                <alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>X</identifier></alert>
                """.utf8))
        #expect(try Self.verifier().verify(document) == .unsigned)
    }

    @Test("a signature moved inside <info> is invalid; a second signature beside a valid one changes nothing that is read")
    func misplaced() throws {
        let text = String(decoding: try Self.fixture("signed-alert.xml"), as: UTF8.self)
        let start = try #require(text.range(of: "<Signature"))
        let end = try #require(text.range(of: "</Signature>"))
        let signature = String(text[start.lowerBound..<end.upperBound])
        let moved = text.replacingOccurrences(of: signature, with: "").replacingOccurrences(of: "</info>", with: signature + "</info>")
        #expect(try Self.verifier().verify(CAPParser().document(Data(moved.utf8))).status == "invalid")
        // A relay's countersignature (here a forged one) sits beside the issuer's: each is checked without the others.
        let forged = signature.replacingOccurrences(of: "<SignatureValue>", with: "<SignatureValue>AAAA")
        let countersigned = text.replacingOccurrences(of: "</alert>", with: forged + "</alert>")
        #expect(try Self.verifier().verify(CAPParser().document(Data(countersigned.utf8))).status == "verified")
        // But not when the alert itself was changed.
        let altered = countersigned.replacingOccurrences(of: "<severity>Severe</severity>", with: "<severity>Extreme</severity>")
        #expect(try Self.verifier().verify(CAPParser().document(Data(altered.utf8))).status == "invalid")
    }

    @Test("a file that is not a certificate is refused when the verifier is set up, naming it")
    func badCertificate() {
        #expect(throws: XMLSignatureVerifier.SetupError.self) {
            try XMLSignatureVerifier(trustedCertificates: [("garbage.pem", Data("-----BEGIN CERTIFICATE-----\nnot base64\n".utf8))])
        }
        #expect(throws: XMLSignatureVerifier.SetupError.self) { try XMLSignatureVerifier(trustedCertificates: []) }
    }

    @Test("the policy admits what it should")
    func policy() throws {
        let verified = CAPSignatureResult.verified(signer: "CN=x")
        let invalid = CAPSignatureResult.invalid(reason: "altered")
        for result in [verified, .unsigned, invalid, .unchecked] { try CAPSignaturePolicy.off.admit(result) }
        try CAPSignaturePolicy.prefer.admit(verified)
        try CAPSignaturePolicy.prefer.admit(.unsigned)
        #expect(throws: CAPError.self) { try CAPSignaturePolicy.prefer.admit(invalid) }
        try CAPSignaturePolicy.require.admit(verified)
        #expect(throws: CAPError(field: "Signature", reason: "is missing: this station accepts only signed alerts (cap.signature = require)")) {
            try CAPSignaturePolicy.require.admit(.unsigned)
        }
        #expect(throws: CAPError.self) { try CAPSignaturePolicy.require.admit(invalid) }
        #expect(throws: CAPError.self) { try CAPSignaturePolicy.require.admit(.unsupported(reason: "x")) }
    }
}
