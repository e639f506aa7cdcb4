import Crypto
import DalabaStation
import Foundation
import Testing

/// `[county]` in the village's TOML: every key checked, errors naming the key.
@Suite struct CountyConfigurationTests {
    let key = Curve25519.Signing.PrivateKey().publicKey.rawRepresentation.base64EncodedString()

    func parse(_ body: String) throws -> Configuration { try Configuration.parse("[county]\n" + body, file: "v.toml") }

    func error(_ body: String) -> String {
        do {
            _ = try parse(body)
            return "parsed"
        } catch {
            return "\(error)"
        }
    }

    @Test func aFullSection() throws {
        let c = try parse(
            """
            broker-host = "broker.county"
            broker-port = 8884
            username = "370703001001"
            password = "secret"
            region = "370703001001"
            county-key = "\(key)"
            head-end-url = "https://county.example/audio/"
            fetch-token = "tok"
            max-audio-bytes = 2048
            """
        ).county
        #expect(c?.brokerHost == "broker.county" && c?.brokerPort == 8884 && c?.clientID == "370703001001")
        #expect(c?.headEndURL == "https://county.example/audio/" && c?.fetchToken == "tok" && c?.maxAudioBytes == 2048)
        #expect(try Configuration.parse("").county == nil)
    }

    @Test func badKeysAreNamed() {
        let base = "username = \"u\"\npassword = \"p\"\ncounty-key = \"\(key)\"\n"
        #expect(error(base + "region = \"370703001001\"\nbroker = \"x\"").contains("county.broker: unknown key"))
        #expect(error(base + "region = \"370703001\"").contains("county.region: must be the village's 12-digit code"))
        #expect(error(base + "region = \"37070300100x\"").contains("county.region"))
        #expect(error("username = \"u\"\npassword = \"p\"\nregion = \"370703001001\"\ncounty-key = \"AAAA\"").contains("county.county-key: must be the base64"))
        #expect(error(base + "region = \"370703001001\"\nbroker-port = 70000").contains("county.broker-port"))
        #expect(error(base + "region = \"370703001001\"\nca-file = \"/nonexistent/ca.crt\"").contains("county.ca-file: cannot read"))
        #expect(error("password = \"p\"\nregion = \"370703001001\"\ncounty-key = \"\(key)\"").contains("county.username: is missing"))
        #expect(error(base + "region = \"370703001001\"\nclient-id = \"this id is far too long for mqtt 3\"").contains("county.client-id"))
    }
}
