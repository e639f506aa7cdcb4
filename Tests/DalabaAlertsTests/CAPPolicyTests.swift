import DalabaCore
import Foundation
import Testing

@testable import DalabaAlerts

@Suite("CAP policy: from alert to broadcast decision")
struct CAPPolicyTests {
    let policy = CAPPolicy.standard

    func parse(_ document: String) throws -> CAPAlert {
        try CAPParser().parse(Data(document.utf8))
    }

    /// A moment when every fixture is still live.
    static let early = CAPParserTests.utc("2026-01-01T00:00:00Z")

    func broadcast(_ decision: CAPDecision) throws -> AlertBroadcast {
        guard case .broadcast(let broadcast) = decision else {
            Issue.record("expected a broadcast, got \(decision)")
            throw CAPError(field: "test", reason: "not a broadcast")
        }
        return broadcast
    }

    @Test("an earthquake early warning is a level-1 broadcast in Chinese")
    func earthquake() throws {
        let broadcast = try broadcast(policy.decide(parse(CAPFixtures.earthquake), now: Self.early))
        #expect(broadcast.id == "cap:eew@cenc.example.cn:CENC-EEW-20261121080000-0001")
        #expect(broadcast.title == "地震预警")
        #expect(broadcast.level == 1)
        #expect(broadcast.isTest == false)
        #expect(broadcast.language == "zh-CN")
        #expect(broadcast.expires == CAPParserTests.utc("2026-11-21T00:30:00Z"))
        #expect(broadcast.sender == "eew@cenc.example.cn")
        #expect(broadcast.event == "地震")
        #expect(broadcast.audio == nil)
        #expect(broadcast.text == "地震预警\n\n镇西北42公里处发生6.1级地震，预计15秒后到达本村。\n\n请立即就近躲避，远离门窗，不要乘坐电梯。")
    }

    @Test("a station that prefers English gets the English info")
    func englishPreference() throws {
        var english = policy
        english.preferredLanguages = ["en"]
        let broadcast = try broadcast(english.decide(parse(CAPFixtures.earthquake), now: Self.early))
        #expect(broadcast.language == "en-US")
        #expect(broadcast.title == "Earthquake early warning")
    }

    @Test("a flood warning is level 2 and plays the station's own recording")
    func flood() throws {
        let broadcast = try broadcast(policy.decide(parse(CAPFixtures.flood), now: Self.early))
        #expect(broadcast.level == 2)
        #expect(broadcast.audio == .file(relativePath: "alerts/flood-warning.wav", mimeType: "audio/x-wav"))
        #expect(broadcast.title == "洪水橙色预警")
    }

    @Test("an exercise is a drill at level 3")
    func exercise() throws {
        let broadcast = try broadcast(policy.decide(parse(CAPFixtures.weatherExercise), now: Self.early))
        #expect(broadcast.isTest)
        #expect(broadcast.level == 3)
        #expect(broadcast.title == "【演练】大风暴雨蓝色预警")
        #expect(broadcast.expires == nil)
    }

    @Test(
        "status decides whether and how it airs",
        arguments: [
            ("Actual", false as Bool?), ("Exercise", true), ("Test", true), ("Draft", nil), ("System", nil),
        ])
    func status(status: String, isTest: Bool?) throws {
        let alert = try parse(CAPFixtures.flood.replacingOccurrences(of: "<status>Actual</status>", with: "<status>\(status)</status>"))
        let decision = policy.decide(alert, now: Self.early)
        if let isTest {
            #expect(try broadcast(decision).isTest == isTest)
        } else {
            #expect(decision == .ignore(reason: "status \(status) is not for broadcast"))
        }
    }

    @Test(
        "the standard level table: severity sets the level, Immediate raises it by one",
        arguments: [
            (CAPSeverity.extreme, CAPUrgency.immediate, 1), (.extreme, .expected, 1), (.severe, .immediate, 1), (.severe, .expected, 2),
            (.moderate, .immediate, 2), (.moderate, .future, 3), (.minor, .immediate, 3), (.minor, .past, 4), (.unknown, .unknown, 4),
            (.unknown, .immediate, 3),
        ])
    func levels(severity: CAPSeverity, urgency: CAPUrgency, level: Int) throws {
        #expect(policy.level(severity: severity, urgency: urgency) == level)
        let alert = try parse(
            CAPFixtures.flood.replacingOccurrences(of: "<severity>Severe</severity>", with: "<severity>\(severity.rawValue)</severity>")
                .replacingOccurrences(of: "<urgency>Expected</urgency>", with: "<urgency>\(urgency.rawValue)</urgency>"))
        #expect(try broadcast(policy.decide(alert, now: Self.early)).level == level)
    }

    @Test("an update replaces what it references, and the chain's ids line up")
    func updateChain() throws {
        let original = try broadcast(policy.decide(parse(CAPFixtures.flood), now: Self.early))
        guard case .replace(let ids, let update) = policy.decide(try parse(CAPFixtures.floodUpdate), now: Self.early) else {
            Issue.record("expected a replace")
            return
        }
        #expect(ids == [original.id])
        #expect(update.id == "cap:flood@hydrology.example.cn:SW-FLOOD-2026-0713-U1")
        #expect(update.level == 1)
        #expect(update.title == "洪水红色预警")
        guard case .replace(let ids2, let update2) = policy.decide(try parse(CAPFixtures.floodUpdate2), now: Self.early) else {
            Issue.record("expected a replace")
            return
        }
        #expect(ids2 == [original.id, update.id])
        #expect(update2.level == 3)
        let cancel = policy.decide(try parse(CAPFixtures.floodCancel), now: Self.early)
        #expect(cancel == .cancel(ids: [original.id, update.id, update2.id]))
    }

    @Test("a cancel applies whatever the scope; ack and error are ignored")
    func cancelAndAck() throws {
        let restricted = try parse(CAPFixtures.floodCancel.replacingOccurrences(of: "<scope>Public</scope>", with: "<scope>Restricted</scope>"))
        guard case .cancel(let ids) = policy.decide(restricted, now: Self.early) else {
            Issue.record("expected a cancel")
            return
        }
        #expect(ids.count == 3)
        for type in ["Ack", "Error"] {
            let alert = try parse(CAPFixtures.floodCancel.replacingOccurrences(of: "<msgType>Cancel</msgType>", with: "<msgType>\(type)</msgType>"))
            #expect(policy.decide(alert, now: Self.early) == .ignore(reason: "msgType \(type) carries nothing to broadcast"))
        }
    }

    @Test("restricted alerts stay off public loudspeakers unless the policy allows them")
    func scope() throws {
        let alert = try parse(CAPFixtures.flood.replacingOccurrences(of: "<scope>Public</scope>", with: "<scope>Restricted</scope>"))
        #expect(policy.decide(alert, now: Self.early) == .ignore(reason: "scope Restricted is not broadcast on public loudspeakers"))
        var open = policy
        open.broadcastScopes = [.public, .restricted]
        #expect(try broadcast(open.decide(alert, now: Self.early)).level == 2)
    }

    @Test("an expired alert is not broadcast; an expired update silences what it replaces")
    func expiry() throws {
        let late = CAPParserTests.utc("2026-07-14T05:00:00Z")
        #expect(policy.decide(try parse(CAPFixtures.flood), now: late) == .ignore(reason: "expired at 2026-07-14T00:00:00Z"))
        #expect(
            policy.decide(try parse(CAPFixtures.floodUpdate), now: late)
                == .expiredUpdate(
                    ids: ["cap:flood@hydrology.example.cn:SW-FLOOD-2026-0713"],
                    reason: "the Update expired at 2026-07-14T04:00:00Z and was not broadcast; the alerts it replaces are stopped"))
        // Exactly at expiry it is already too late: an item is never started at or after its end.
        let atExpiry = CAPParserTests.utc("2026-07-14T00:00:00Z")
        #expect(policy.decide(try parse(CAPFixtures.flood), now: atExpiry) == .ignore(reason: "expired at 2026-07-14T00:00:00Z"))
    }

    @Test("an alert without info has nothing to say")
    func noInfo() throws {
        let alert = try parse(
            CAPFixtures.floodCancel.replacingOccurrences(of: "<msgType>Cancel</msgType>", with: "<msgType>Alert</msgType>"))
        #expect(policy.decide(alert, now: Self.early) == .ignore(reason: "the Alert has no info block to broadcast"))
    }

    @Test("an embedded recording travels with the broadcast")
    func embedded() throws {
        let broadcast = try broadcast(policy.decide(parse(CAPFixtures.landslideWithRecording), now: Self.early))
        #expect(broadcast.level == 1)
        #expect(broadcast.text == "地质灾害预警")
        guard case .embedded(let data, _, let sha1) = broadcast.audio else {
            Issue.record("expected an embedded recording")
            return
        }
        #expect(data.count == CAPFixtures.embeddedSize)
        #expect(sha1 == CAPFixtures.embeddedSHA1)
    }

    @Test("the policy round-trips through JSON, and a partial table overrides only its rows")
    func codable() throws {
        let encoded = try JSONEncoder().encode(policy)
        #expect(try JSONDecoder().decode(CAPPolicy.self, from: encoded) == policy)
        let json = String(decoding: encoded, as: UTF8.self)
        #expect(json.contains("\"Extreme\":1"))

        let partial = try JSONDecoder().decode(CAPPolicy.self, from: Data(#"{"severityLevels": {"Moderate": 2}}"#.utf8))
        #expect(partial.level(severity: .moderate, urgency: .expected) == 2)
        #expect(partial.level(severity: .extreme, urgency: .expected) == 1)
        #expect(partial.urgencyShift == policy.urgencyShift)
        #expect(partial.broadcastScopes == [.public])

        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(CAPPolicy.self, from: Data(#"{"severityLevels": {"Extreme": 0}}"#.utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(CAPPolicy.self, from: Data(#"{"urgencyShift": {"Soon": -1}}"#.utf8))
        }
    }

    @Test("a broadcast becomes a valid emergency announcement")
    func announcement() throws {
        let queuedAt = CAPParserTests.utc("2026-11-21T00:00:05Z")
        let spoken = try broadcast(policy.decide(parse(CAPFixtures.earthquake), now: Self.early))
            .announcement(audio: "/var/lib/dalaba/tts/abc.wav", tier: .county, queuedAt: queuedAt)
        try spoken.validate()
        #expect(spoken.kind == .emergency)
        #expect(spoken.level == 1)
        #expect(spoken.tier == .county)
        #expect(spoken.source == "eew@cenc.example.cn")
        #expect(spoken.text?.hasPrefix("地震预警") == true)
        #expect(spoken.expires == CAPParserTests.utc("2026-11-21T00:30:00Z"))

        let recorded = try broadcast(policy.decide(parse(CAPFixtures.flood), now: Self.early))
            .announcement(audio: "/srv/audio/alerts/flood-warning.wav", tier: .township, queuedAt: queuedAt)
        try recorded.validate()
        #expect(recorded.text == nil)
        #expect(recorded.id == "cap:flood@hydrology.example.cn:SW-FLOOD-2026-0713")
    }
}
