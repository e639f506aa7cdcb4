import DalabaCore
import DalabaCounty
import DalabaLink
import Foundation
import Testing

struct CountyConfigurationTests {
    static let base = """
        [county]
        code = "370703"
        [[villages]]
        code = "370703001001"
        name = "东村"
        fetch-token = "fetch-token-east-0001"
        [[tokens]]
        name = "county-duty"
        token = "county-token-000000001"
        role = "operator"
        [[tokens]]
        name = "township-1"
        token = "township-token-0000001"
        role = "operator"
        scope = "370703001"
        """

    @Test func tierAndScopeComeFromTheToken() throws {
        let config = try CountyConfiguration.parse(Self.base)
        #expect(config.tokens.map(\.tier) == [.county, .township])
        #expect(config.tokens.map(\.scope.digits) == ["370703", "370703001"])
        #expect(config.villages.map(\.code.digits) == ["370703001001"])
    }

    @Test(arguments: [
        ("[county]\ncode = \"370703\"\ncolour = \"red\"", "county.colour: unknown key"),
        ("[county]\ncode = \"37070\"", "county.code: region code '37070' must be 6 (county), 9 (township) or 12 (village) digits, not 5"),
        ("[county]\ncode = \"370703001\"", "county.code: must be a 6-digit county code"),
        ("[county]\ncode = \"370703\"\n[[tokens]]\nname = \"x\"\ntoken = \"tttttttttttttttttttt\"\nrole = \"operator\"\nscope = \"370704001\"",
         "tokens[0].scope: 370704001 is not in county 370703"),
        ("[county]\ncode = \"370703\"\n[[villages]]\ncode = \"370703001\"\nfetch-token = \"ffffffffffffffffff\"",
         "villages[0].code: must be a 12-digit village code in county 370703"),
        ("[county]\ncode = \"370703\"\n[broker]\nport = 0", "broker.port: 0 is outside 1–65535"),
        ("[county]\ncode = \"370703\"\n[postgres]\nhost = 5", "postgres.host: must be a string"),
    ])
    func badKeysAreNamed(text: String, expected: String) {
        #expect {
            try CountyConfiguration.parse(text, file: "county.toml")
        } throws: { error in
            "\(error)".hasPrefix("county.toml: ") && "\(error)".contains(expected)
        }
    }

    @Test func aTownshipTokenReachesOnlyItsTownship() throws {
        let scope = region("370703001")
        #expect(try AnnouncementDesk.targets(requested: nil, scope: scope, token: "t") == [scope])
        #expect(try AnnouncementDesk.targets(requested: ["370703001002", "370703001"], scope: scope, token: "t") == [scope])
        #expect(try AnnouncementDesk.targets(requested: ["370703001002", "370703001001"], scope: scope, token: "t").map(\.digits) == [
            "370703001001", "370703001002",
        ])
        for outside in ["370703", "370703002", "370703002001", "370704001001"] {
            #expect {
                try AnnouncementDesk.targets(requested: [outside], scope: scope, token: "t")
            } throws: { error in
                // The refusal names the entry of `to` that lies outside the token's region.
                (error as? CountyRefusal)?.status == 403 && (error as? CountyRefusal)?.failure.field == "to[0]"
            }
        }
        #expect {
            try AnnouncementDesk.targets(requested: ["37070300100"], scope: scope, token: "t")
        } throws: { ($0 as? CountyRefusal)?.status == 400 }
    }

    @Test func coverageTalliesEachVillageToTheFrame() {
        let accepted = Date(timeIntervalSince1970: 1_000)
        let played = CoverageTally.village(
            code: "370703001001", name: "东村", online: true, acceptedAt: accepted,
            receipts: [
                .init(stage: "received", at: accepted.addingTimeInterval(0.1)), .init(stage: "queued", at: accepted.addingTimeInterval(0.2)),
                .init(stage: "on-air", at: accepted.addingTimeInterval(0.35)),
                .init(stage: "completed", at: accepted.addingTimeInterval(3), frames: 144_000, rate: 48_000),
                .init(stage: "on-air", at: accepted.addingTimeInterval(10)),
                .init(stage: "interrupted", at: accepted.addingTimeInterval(11), frames: 47_999, rate: 48_000, reason: "preempted"),
            ])
        #expect(played.status == .played)
        #expect(played.frames == 191_999)
        #expect(abs((played.timeToFirstAudio ?? 0) - 0.35) < 1e-6)
        let partly = CoverageTally.village(
            code: "b", name: "b", online: true, acceptedAt: accepted,
            receipts: [.init(stage: "interrupted", at: accepted.addingTimeInterval(2), frames: 100, rate: 48_000, reason: "cancelled")])
        #expect(partly.status == .partly)
        #expect(partly.reason == "cancelled")
        #expect(CoverageTally.village(code: "c", name: "c", online: false, acceptedAt: accepted, receipts: []).status == .offline)
        #expect(CoverageTally.village(code: "d", name: "d", online: true, acceptedAt: accepted, receipts: []).status == .pending)
        let refused = CoverageTally.village(
            code: "e", name: "e", online: true, acceptedAt: accepted, receipts: [.init(stage: "refused", at: accepted, reason: "forged")])
        #expect(refused.status == .refused)
        let coverage = CountyAPI.Coverage(
            id: "x", title: "t", kind: .policy, level: nil, acceptedAt: accepted, cancelledAt: nil, targets: ["370703"], villages: [played, partly, refused])
        #expect(coverage.targeted == 3)
        #expect(coverage.counts["played"] == 1 && coverage.counts["partly"] == 1 && coverage.counts["refused"] == 1 && coverage.counts["offline"] == 0)
    }

    @Test func theSigningKeyIsMadeOnceWithMode0600() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("county-key-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("county.key").path
        let made = try SigningKeyFile.loadOrCreate(path: path)
        #expect(made.created)
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        let again = try SigningKeyFile.loadOrCreate(path: path)
        #expect(!again.created && again.key.rawRepresentation == made.key.rawRepresentation)
        let published = try String(contentsOfFile: path + ".pub", encoding: .utf8)
        #expect(try CountyKey(base64: published).raw == made.key.publicKey.rawRepresentation)
        chmod(path, 0o644)
        #expect(throws: SigningKeyFile.Failure.self) { try SigningKeyFile.loadOrCreate(path: path) }
    }
}
