import DalabaStation
import DalabaTestSupport
import Foundation
import Testing

/// `cap.signature` and `cap.trusted-certificates`: a policy that cannot work is an error naming the key.
@Suite struct CAPSignatureConfigurationTests {
    static let certificate = Processes.packageRoot.appendingPathComponent("Tests/DalabaXMLSignatureTests/Fixtures/county-alerts.pem").path

    static func invalid(_ text: String) -> String? {
        do {
            _ = try Configuration.parse(text)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func signaturesAreOffWithoutCertificatesAndPreferredWithThem() throws {
        #expect(try Configuration.parse("").capSignature == "off")
        let configured = try Configuration.parse("[cap]\ntrusted-certificates = [\"\(Self.certificate)\"]")
        #expect(configured.capSignature == "prefer")
        #expect(configured.capTrustedCertificates == [Self.certificate])
        let required = try Configuration.parse("[cap]\nsignature = \"require\"\ntrusted-certificates = [\"\(Self.certificate)\"]")
        #expect(required.capSignature == "require")
        #expect(try Configuration.parse("[cap]\nsignature = \"off\"\ntrusted-certificates = [\"\(Self.certificate)\"]").capSignature == "off")
    }

    @Test func aPolicyThatCannotWorkIsAnErrorNamingTheKey() throws {
        let cases: [(String, String)] = [
            ("[cap]\nsignature = \"require\"", "cap.signature: require needs cap.trusted-certificates"),
            ("[cap]\nsignature = \"prefer\"", "cap.signature: prefer needs cap.trusted-certificates"),
            ("[cap]\nsignature = \"maybe\"", "cap.signature: must be require, prefer or off"),
            ("[cap]\ntrusted-certificates = \"one.pem\"", "cap.trusted-certificates: must be a list of PEM file paths"),
            ("[cap]\ntrusted-certificates = [1]", "cap.trusted-certificates: must be a list of PEM file paths"),
            ("[cap]\ntrusted-certificates = [\"/nonexistent/ca.pem\"]", "cap.trusted-certificates: cannot read /nonexistent/ca.pem"),
            ("[cap]\ntrusted-certificates = [\"/etc/hostname\"]", "cap.trusted-certificates: /etc/hostname holds no PEM certificate"),
        ]
        for (text, message) in cases {
            let error = Self.invalid(text)
            #expect(error?.contains(message) == true, "\(text): \(error ?? "accepted")")
        }
    }
}
