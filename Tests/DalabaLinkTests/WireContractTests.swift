import Crypto
import DalabaCore
import DalabaStore
import Foundation
import Testing

@testable import DalabaLink

let village = try! RegionCode("370703001001")
let issued = Date(timeIntervalSince1970: 1_796_000_000)

func announce(id: String = "m-1", announcement: String = "c-1", targets: [String] = ["370703"], expires: Date = issued.addingTimeInterval(3600))
    -> CountyMessage
{
    CountyMessage(
        id: id, issued: issued, expires: expires, targets: targets.map { try! RegionCode($0) },
        body: .announce(.init(announcement: announcement, title: "防汛通知", kind: .policy, audio: .embedded(Data([1, 2, 3])))))
}

@Suite struct RegionCodeTests {
    @Test func levelsAndPrefixes() throws {
        #expect(village.level == .village)
        #expect(village.county.digits == "370703")
        #expect(village.township?.digits == "370703001")
        #expect(village.reachableBy.map(\.digits) == ["370703", "370703001", "370703001001"])
        #expect(try RegionCode("370703").covers(village))
        #expect(try RegionCode("370703001").covers(village))
        #expect(!(try RegionCode("370703002").covers(village)))
        #expect(!(try RegionCode("370704").covers(village)))
        #expect(!village.covers(try RegionCode("370703001")))
    }

    @Test(arguments: ["", "37070", "3707030", "37070300100", "3707030010011", "37070300100a", "３７０７０３", "370703 01001", "-37070300100", "+370703"])
    func refusesAnythingButSixNineOrTwelveDigits(_ text: String) {
        #expect(throws: RegionCode.Invalid.self) { try RegionCode(text) }
    }

    @Test func topics() throws {
        #expect(LinkTopic.subscriptions(for: village) == ["dalaba/down/370703", "dalaba/down/370703001", "dalaba/down/370703001001"])
        #expect(LinkTopic.receipts(village) == "dalaba/up/370703001001/receipts")
        let parsed = LinkTopic.parseUp("dalaba/up/370703001001/rows")
        #expect(parsed?.village == village && parsed?.stream == .rows)
        #expect(LinkTopic.parseUp("dalaba/up/370703001/rows") == nil)
        #expect(LinkTopic.parseUp("dalaba/up/370703001001/rows/x") == nil)
    }

    @Test func decodingValidates() throws {
        #expect(throws: DecodingError.self) { try LinkJSON.decode([RegionCode].self, from: Data(#"["37070x"]"#.utf8)) }
        #expect(try LinkJSON.decode([RegionCode].self, from: Data(#"["370703"]"#.utf8)) == [try RegionCode("370703")])
    }
}

@Suite struct EnvelopeTests {
    let county = Curve25519.Signing.PrivateKey()
    var key: CountyKey { CountyKey(county.publicKey) }

    func check(_ bytes: Data, now: Date = issued.addingTimeInterval(1), seen: Set<String> = []) -> Result<CountyMessageCheck.Accepted, CountyMessageCheck.Refused> {
        CountyMessageCheck.check(bytes, key: key, village: village, now: now, seen: { seen.contains($0) })
    }

    func reason(_ r: Result<CountyMessageCheck.Accepted, CountyMessageCheck.Refused>) -> RefusalReason? {
        if case .failure(let refused) = r { return refused.reason }
        return nil
    }

    @Test func keyIDIsTheFirst16HexOfSHA256OfTheRawKey() throws {
        let expected = SHA256.hash(data: county.publicKey.rawRepresentation).map { String(format: "%02x", $0) }.joined().prefix(16)
        #expect(key.id == String(expected))
        #expect(try CountyKey(base64: key.base64) == key)
        #expect(throws: SigningKeyError.self) { try CountyKey(base64: "AAAA") }
    }

    @Test func aSignedTargetedMessageIsAccepted() throws {
        let bytes = try SignedEnvelope.sign(announce(), with: county).encoded()
        guard case .success(let accepted) = check(bytes) else { Issue.record("refused: \(check(bytes))"); return }
        #expect(accepted.message == announce())
        #expect(!accepted.late)
        // The wire form is exactly the contract's four fields.
        let object = try JSONSerialization.jsonObject(with: bytes) as! [String: Any]
        #expect(Set(object.keys) == ["v", "key", "payload", "sig"])
        let payload = try JSONSerialization.jsonObject(with: Data(base64Encoded: object["payload"] as! String)!) as! [String: Any]
        #expect(Set(payload.keys) == ["id", "issued", "expires", "targets", "body"])
        #expect((payload["body"] as! [String: Any])["type"] as? String == "announce")
    }

    @Test func forgedWithAnotherKey() throws {
        let other = Curve25519.Signing.PrivateKey()
        #expect(reason(check(try SignedEnvelope.sign(announce(), with: other).encoded())) == .forged)
        // Another key's signature under the county's key id.
        var envelope = try SignedEnvelope.sign(announce(), with: other)
        envelope.key = key.id
        #expect(reason(check(try envelope.encoded())) == .forged)
    }

    @Test func aFlippedPayloadByteIsForged() throws {
        var envelope = try SignedEnvelope.sign(announce(), with: county)
        var payload = Data(base64Encoded: envelope.payload)!
        let i = payload.firstIndex(of: UInt8(ascii: "3"))!  // a digit of a target code: still valid JSON
        payload[i] = UInt8(ascii: "4")
        envelope.payload = payload.base64EncodedString()
        #expect(reason(check(try envelope.encoded())) == .forged)
        var sigFlip = try SignedEnvelope.sign(announce(), with: county)
        var sig = Data(base64Encoded: sigFlip.sig!)!
        sig[10] ^= 1
        sigFlip.sig = sig.base64EncodedString()
        #expect(reason(check(try sigFlip.encoded())) == .forged)
    }

    @Test func unsigned() throws {
        var envelope = try SignedEnvelope.sign(announce(), with: county)
        envelope.sig = nil
        let r = check(try envelope.encoded())
        #expect(reason(r) == .unsigned)
        if case .failure(let refused) = r { #expect(refused.messageID == "m-1" && refused.announcementID == "c-1") }
        envelope.sig = ""
        #expect(reason(check(try envelope.encoded())) == .unsigned)
        #expect(reason(check(try LinkJSON.encode(announce()))) == .unsigned)
    }

    @Test func expiredAndLate() throws {
        let bytes = try SignedEnvelope.sign(announce(), with: county).encoded()
        // An announce past its message expiry is accepted as late (recorded as expired), within the late window.
        guard case .success(let late) = check(bytes, now: issued.addingTimeInterval(3601)) else { Issue.record("refused"); return }
        #expect(late.late)
        #expect(reason(check(bytes, now: issued.addingTimeInterval(3600 + CountyMessageCheck.lateWindow + 1))) == .expired)
        let cancel = CountyMessage(id: "m-2", issued: issued, expires: issued.addingTimeInterval(60), targets: [village], body: .cancel(announcement: "c-1"))
        #expect(reason(check(try SignedEnvelope.sign(cancel, with: county).encoded(), now: issued.addingTimeInterval(61))) == .expired)
    }

    @Test func replayed() throws {
        let bytes = try SignedEnvelope.sign(announce(), with: county).encoded()
        #expect(reason(check(bytes, seen: ["m-1"])) == .replayed)
    }

    @Test func notTargeted() throws {
        for targets in [["370703002"], ["370704"], ["370703001002", "370703002001"]] {
            #expect(reason(check(try SignedEnvelope.sign(announce(targets: targets), with: county).encoded())) == .notTargeted)
        }
        for targets in [["370703"], ["370703001"], ["370703002001", "370703001001"]] {
            #expect(reason(check(try SignedEnvelope.sign(announce(targets: targets), with: county).encoded())) == nil)
        }
    }

    @Test func malformed() throws {
        #expect(reason(check(Data("not json".utf8))) == .malformed)
        #expect(reason(check(Data(#"{"v":1,"key":"x","payload":"%%%","sig":"AA=="}"#.utf8))) == .malformed)
        // Signed, but not a county message / breaking a field rule.
        let junk = try SignedEnvelope.sign(Data(#"{"id":"x"}"#.utf8), with: county)
        #expect(reason(check(try junk.encoded())) == .malformed)
        var bad = announce()
        bad.id = "bad\u{202E}id"
        #expect(reason(check(try SignedEnvelope.sign(bad, with: county).encoded())) == .malformed)
        var badAudio = announce()
        if case .announce(var a) = badAudio.body {
            a.audio.sha256 = "XYZ"
            badAudio.body = .announce(a)
        }
        #expect(reason(check(try SignedEnvelope.sign(badAudio, with: county).encoded())) == .malformed)
    }

    @Test func everyBodyRoundTrips() throws {
        let bodies: [CountyMessage.Body] = [
            .announce(.init(announcement: "c", title: "t", kind: .emergency, level: 1, audio: .url("https://county/a/1", sha256: String(repeating: "a", count: 64), bytes: 9))),
            .cancel(announcement: "c"), .stopAll, .update(.init(announcement: "c", title: "new", expires: issued)),
            .confirm(.init(village: village, seq: 42)),
        ]
        for body in bodies {
            let m = CountyMessage(id: "m", issued: issued, expires: issued.addingTimeInterval(9), targets: [village], body: body)
            let decoded = try LinkJSON.decode(CountyMessage.self, from: try LinkJSON.encode(m))
            #expect(decoded == m)
            #expect(decoded.problem() == nil)
        }
        let stop = try JSONSerialization.jsonObject(with: try LinkJSON.encode(CountyMessage.Body.stopAll)) as! [String: Any]
        #expect(stop["type"] as? String == "stop-all")
    }
}

@Suite struct LinkRowTests {
    /// The head-end's hash (DalabaLink) is the village store's hash, row for row, including nils, non-ASCII text and a volume.
    @Test func computedHashEqualsTheStoreChain() throws {
        let store = try StationStore.inMemory()
        let start = Date(timeIntervalSince1970: 1_796_000_000.123)
        let records = [
            AirtimeRecord(
                announcementID: "c-1", title: "防汛通知", kind: .policy, level: nil, isTest: false, tier: .county, source: "county", audio: "/a.ogg",
                text: nil, playNumber: 1, scheduledAt: nil, startedAt: start, endedAt: start.addingTimeInterval(3), frames: 144_000,
                signalFrames: 4_800, rate: 48_000, outcome: .completed, error: nil, volume: -6.5),
            AirtimeRecord(
                announcementID: "e-1", title: "Flood", kind: .emergency, level: 2, isTest: true, tier: .township, source: "op", audio: "/b.wav",
                text: "撤离", playNumber: 2, scheduledAt: start, startedAt: nil, endedAt: start.addingTimeInterval(9.5), frames: 0,
                signalFrames: 0, rate: 0, outcome: .failed, error: "device gone"),
        ]
        var previous: (seq: Int64, hash: String)?
        for record in records {
            let row = try store.append(record)
            let link = LinkRow(seq: row.seq, recordedAt: row.recordedAt, record: row.record, previousHash: row.previousHash, hash: row.hash)
            #expect(link.computedHash() == row.hash)
            #expect(AirtimeChain.problem(link, after: previous) == nil)
            previous = (link.seq, link.hash)
        }
        let rows = try store.log(LogQuery(order: .oldestFirst))
        var edited = LinkRow(seq: rows[1].seq, recordedAt: rows[1].recordedAt, record: rows[1].record, previousHash: rows[1].previousHash, hash: rows[1].hash)
        edited.frames += 1
        #expect(AirtimeChain.problem(edited, after: (1, rows[0].hash))?.contains("edited") == true)
        let gap = LinkRow(seq: 3, recordedAt: rows[1].recordedAt, record: rows[1].record, previousHash: rows[1].previousHash, hash: rows[1].hash)
        #expect(AirtimeChain.problem(gap, after: (1, rows[0].hash)) != nil)
    }
}
