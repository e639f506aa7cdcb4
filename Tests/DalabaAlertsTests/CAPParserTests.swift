import Foundation
import Testing

@testable import DalabaAlerts

@Suite("CAP 1.2 parsing")
struct CAPParserTests {
    let parser = CAPParser()

    /// An instant written in UTC, parsed by Foundation rather than by the code under test.
    static func utc(_ text: String) -> Date {
        ISO8601DateFormatter().date(from: text)!
    }

    @Test("an earthquake early warning: every field, both languages")
    func earthquake() throws {
        let alert = try parser.parse(Data(CAPFixtures.earthquake.utf8))
        #expect(alert.identifier == "CENC-EEW-20261121080000-0001")
        #expect(alert.sender == "eew@cenc.example.cn")
        #expect(alert.sent == Self.utc("2026-11-21T00:00:00Z"))
        #expect(alert.sentText == "2026-11-21T08:00:00+08:00")
        #expect(alert.status == .actual)
        #expect(alert.msgType == .alert)
        #expect(alert.scope == .public)
        #expect(alert.references.isEmpty)
        #expect(alert.info.count == 2)
        let chinese = alert.info[1]
        #expect(chinese.language == "zh-CN")
        #expect(chinese.categories == [.geo])
        #expect(chinese.event == "地震")
        #expect(chinese.urgency == .immediate)
        #expect(chinese.severity == .extreme)
        #expect(chinese.certainty == .observed)
        #expect(chinese.headline == "地震预警")
        #expect(chinese.senderName == "中国地震台网中心")
        #expect(chinese.description == "镇西北42公里处发生6.1级地震，预计15秒后到达本村。")
        #expect(chinese.instruction == "请立即就近躲避，远离门窗，不要乘坐电梯。")
        #expect(chinese.onset == Self.utc("2026-11-20T23:59:48Z"))
        #expect(chinese.expires == Self.utc("2026-11-21T00:30:00Z"))
        #expect(chinese.areas == [CAPArea(areaDesc: "芦山县及周边乡镇")])
        #expect(chinese.resources.isEmpty)
    }

    @Test("a flood warning: a web map is tolerated, the recording is a station-relative file, the signature is skipped")
    func flood() throws {
        let alert = try parser.parse(Data(CAPFixtures.flood.utf8))
        #expect(alert.identifier == "SW-FLOOD-2026-0713")
        let info = try #require(alert.info.first)
        #expect(info.severity == .severe)
        #expect(info.urgency == .expected)
        #expect(info.resources.count == 2)
        #expect(info.resources[0].uri == "https://hydrology.example.cn/maps/0713.png")
        #expect(info.resources[0].audio == nil)
        #expect(info.resources[1].audio == .file(relativePath: "alerts/flood-warning.wav", mimeType: "audio/x-wav"))
    }

    @Test("prefixed elements, two categories, CDATA with an ampersand, and UTC written as -00:00")
    func exercise() throws {
        let alert = try parser.parse(Data(CAPFixtures.weatherExercise.utf8))
        #expect(alert.status == .exercise)
        #expect(alert.sent == Self.utc("2026-11-20T01:00:00Z"))
        #expect(alert.info[0].categories == [.met, .safety])
        #expect(alert.info[0].description == "这是一次演练。预计明天有8级大风 & 暴雨。")
    }

    @Test("update and cancel chains carry their references")
    func chains() throws {
        let update = try parser.parse(Data(CAPFixtures.floodUpdate.utf8))
        #expect(update.msgType == .update)
        #expect(
            update.references == [
                CAPReference(sender: "flood@hydrology.example.cn", identifier: "SW-FLOOD-2026-0713", sent: "2026-07-13T16:20:00+08:00")
            ])
        let update2 = try parser.parse(Data(CAPFixtures.floodUpdate2.utf8))
        #expect(update2.references.map(\.identifier) == ["SW-FLOOD-2026-0713", "SW-FLOOD-2026-0713-U1"])
        let cancel = try parser.parse(Data(CAPFixtures.floodCancel.utf8))
        #expect(cancel.msgType == .cancel)
        #expect(cancel.info.isEmpty)
        #expect(cancel.references.map(\.identifier) == ["SW-FLOOD-2026-0713", "SW-FLOOD-2026-0713-U1", "SW-FLOOD-2026-0713-U2"])
    }

    @Test("an embedded WAV is decoded and verified against its size and SHA-1")
    func embeddedRecording() throws {
        let alert = try parser.parse(Data(CAPFixtures.landslideWithRecording.utf8))
        let resource = try #require(alert.info.first?.resources.first)
        let payload = try #require(resource.payload)
        #expect(payload.count == CAPFixtures.embeddedSize)
        #expect(payload.prefix(4) == Data("RIFF".utf8))
        #expect(resource.digest == CAPFixtures.embeddedSHA1)
        guard case .embedded(let data, let mimeType, let sha1) = resource.audio else {
            Issue.record("expected an embedded recording, got \(String(describing: resource.audio))")
            return
        }
        #expect(data == payload)
        #expect(mimeType == "audio/x-wav")
        #expect(sha1 == CAPFixtures.embeddedSHA1)
        #expect(resource.audio?.suggestedFileName == "cap-\(CAPFixtures.embeddedSHA1).wav")
    }

    @Test("Z for UTC is refused by default and accepted when the feed is known to send it")
    func zulu() throws {
        let document = Data(CAPFixtures.flood.replacingOccurrences(of: "2026-07-13T16:20:00+08:00", with: "2026-07-13T08:20:00Z").utf8)
        #expect(
            throws: CAPError(
                field: "sent",
                reason: "'2026-07-13T08:20:00Z' is not a CAP date-time (YYYY-MM-DDThh:mm:ss±hh:mm): CAP 1.2 forbids 'Z'; write UTC as -00:00")
        ) {
            try parser.parse(document)
        }
        let alert = try CAPParser(acceptsZuluTime: true).parse(document)
        #expect(alert.sent == Self.utc("2026-07-13T08:20:00Z"))
    }

    @Test(
        "date-times: offsets, leap days and impossible values",
        arguments: [
            ("2024-02-29T12:00:00+08:00", "2024-02-29T04:00:00Z"),
            ("2026-01-01T00:30:00+05:45", "2025-12-31T18:45:00Z"),
            ("1999-12-31T23:59:59-10:00", "2000-01-01T09:59:59Z"),
            ("2026-07-01T00:00:00-00:00", "2026-07-01T00:00:00Z"),
        ])
    func dates(text: String, expected: String) throws {
        #expect(try CAPDateTime.parse(text, field: "sent") == Self.utc(expected))
    }

    @Test(
        "impossible date-times are refused",
        arguments: [
            "2026-02-29T12:00:00+08:00", "2026-13-01T00:00:00+08:00", "2026-11-21T24:00:00+08:00", "2026-11-21T08:00:00",
            "2026-11-21T08:00:00.5+08:00", "2026-11-21T08:00:00+15:00", "2026-11-21 08:00:00+08:00", "21/11/2026", "",
        ])
    func badDates(text: String) {
        #expect(throws: CAPError.self) { try CAPDateTime.parse(text, field: "sent") }
    }

    @Test(
        "file references stay inside the station's audio directory",
        arguments: [
            ("alerts/quake.wav", "alerts/quake.wav"),
            ("file:///alerts/quake.wav", "alerts/quake.wav"),
            ("file://localhost/alerts/%E5%9C%B0%E9%9C%87.wav", "alerts/地震.wav"),
        ])
    func safeReferences(uri: String, expected: String) throws {
        #expect(try AlertAudio.relativePath(uri, field: "uri") == expected)
    }

    @Test(
        "network, absolute and escaping references are refused",
        arguments: [
            "http://example.cn/a.wav", "HTTPS://example.cn/a.wav", "ftp://example.cn/a.wav", "file://example.cn/a.wav", "/etc/passwd",
            "../secrets.wav", "alerts/../../x.wav", "file:///%2E%2E/x.wav", "alerts//x.wav", "alerts\\x.wav", "data:audio/wav;base64,AAAA", "",
        ])
    func unsafeReferences(uri: String) {
        #expect(throws: CAPError.self) { try AlertAudio.relativePath(uri, field: "uri") }
    }

    @Test("a re-delivered duplicate parses to the same station id, whatever its sent time")
    func duplicateID() throws {
        let first = try parser.parse(Data(CAPFixtures.earthquake.utf8))
        let again = try parser.parse(
            Data(CAPFixtures.earthquake.replacingOccurrences(of: "<sent>2026-11-21T08:00:00+08:00", with: "<sent>2026-11-21T00:00:00-00:00").utf8))
        #expect(first.announcementID == "cap:eew@cenc.example.cn:CENC-EEW-20261121080000-0001")
        #expect(again.announcementID == first.announcementID)
    }
}
