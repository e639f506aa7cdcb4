import DalabaLink
import Foundation
import Testing

@testable import DalabaCounty

/// The village's receipt outbox as a state machine: what it holds back, when it publishes again, what it deletes.
@Suite struct ReceiptOutboxTests {
    let t0 = Date(timeIntervalSince1970: 1_764_547_200)

    @Test func aReceiptStaysUntilTheHeadEndConfirmsIt() {
        var outbox = ReceiptOutbox()
        outbox.published(1, now: t0)
        outbox.published(2, now: t0)
        #expect(outbox.inFlight == 2 && outbox.holding(now: t0) == [1, 2])
        // The broker's acknowledgement is not the end of it (the head-end may not have written it yet).
        let first = outbox.acknowledged(1)
        let second = outbox.acknowledged(2)
        #expect(!first && !second)
        #expect(outbox.inFlight == 0 && outbox.holding(now: t0.addingTimeInterval(1)) == [1, 2])
        #expect(outbox.confirm([1], now: t0.addingTimeInterval(1)) == [1])
        #expect(outbox.headEnd == .confirmsReceipts && outbox.holding(now: t0.addingTimeInterval(2)) == [2])
    }

    @Test func unconfirmedReceiptsGoAgainAfterADoublingPatience() {
        var outbox = ReceiptOutbox()
        outbox.published(7, now: t0)
        _ = outbox.acknowledged(7)
        #expect(outbox.holding(now: t0.addingTimeInterval(59)) == [7])
        #expect(outbox.nextDue == t0.addingTimeInterval(60))
        #expect(outbox.holding(now: t0.addingTimeInterval(60)).isEmpty)
        let again = t0.addingTimeInterval(60)
        outbox.published(7, now: again)
        _ = outbox.acknowledged(7)
        #expect(outbox.holding(now: again.addingTimeInterval(119)) == [7])
        #expect(outbox.holding(now: again.addingTimeInterval(120)).isEmpty)
        // Never longer than the maximum.
        for attempt in 0..<20 { outbox.published(7, now: again.addingTimeInterval(Double(attempt))) }
        _ = outbox.acknowledged(7)
        #expect(outbox.nextDue == again.addingTimeInterval(19 + 3_600))
    }

    @Test func aReconnectPublishesEverythingUnconfirmedAgain() {
        var outbox = ReceiptOutbox()
        outbox.published(1, now: t0)
        outbox.published(2, now: t0)
        _ = outbox.acknowledged(1)
        // 2 was in flight when the connection went: neither is held back now.
        outbox.connected()
        #expect(outbox.holding(now: t0.addingTimeInterval(1)).isEmpty && outbox.inFlight == 0)
    }

    @Test func aConfirmWithoutThemPromptsOldReceiptsOnceInAWhile() {
        var outbox = ReceiptOutbox()
        outbox.published(1, now: t0)
        outbox.published(2, now: t0.addingTimeInterval(4))
        _ = outbox.acknowledged(1)
        _ = outbox.acknowledged(2)
        // A head-end that answers (a restart confirms every village) but lacks 1, sent 5 s ago: 1 goes now, 2 waits.
        let at = t0.addingTimeInterval(5)
        #expect(outbox.confirm([], now: at) == [])
        #expect(outbox.holding(now: at) == [2])
        outbox.published(1, now: at)
        _ = outbox.acknowledged(1)
        // Not again within the prompt interval.
        _ = outbox.confirm([], now: at.addingTimeInterval(4))
        #expect(outbox.holding(now: at.addingTimeInterval(4)) == [1, 2])
        _ = outbox.confirm([], now: at.addingTimeInterval(10))
        #expect(outbox.holding(now: at.addingTimeInterval(10)).isEmpty)
    }

    @Test func anOlderHeadEndFallsBackToTheBrokersAcknowledgement() {
        var outbox = ReceiptOutbox()
        outbox.published(1, now: t0)
        outbox.published(2, now: t0)
        _ = outbox.acknowledged(1)
        // A confirm of rows without `receipts`: what the broker has acknowledged is done, the rest at its acknowledgement.
        #expect(outbox.confirm(nil, now: t0) == [1])
        #expect(outbox.headEnd == .acknowledgesOnly)
        let done = outbox.acknowledged(2)
        #expect(done)
        #expect(outbox.holding(now: t0).isEmpty)
    }

    @Test func onlyEndsOfPlaysAreFinal() {
        #expect(ReceiptStage.allCases.filter(\.isFinal) == [.completed, .interrupted, .failed, .expired])
    }

    @Test func aReceiptSeqRoundTripsAndIsOptional() throws {
        let village = try RegionCode("370703001001")
        var receipt = VillageReceipt(village: village, announcement: "a", message: "m", stage: .received, at: t0)
        #expect(!String(decoding: try LinkJSON.encode(receipt), as: UTF8.self).contains("seq"))
        receipt.seq = 42
        #expect(try LinkJSON.decode(VillageReceipt.self, from: try LinkJSON.encode(receipt)).seq == 42)
        // An older head-end reads a receipt with a seq as before; a confirm of receipts only names no rows.
        let confirm = CountyMessage.Confirm(village: village, seq: nil, receipts: [42])
        let message = CountyMessage(id: "c-1", issued: t0, expires: t0.addingTimeInterval(60), targets: [village], body: .confirm(confirm))
        #expect(message.problem() == nil)
        let bare = CountyMessage(
            id: "c-2", issued: t0, expires: t0.addingTimeInterval(60), targets: [village], body: .confirm(.init(village: village, seq: nil)))
        #expect(bare.problem() == "body.seq or body.receipts is required")
    }
}

/// When the head-end publishes an announcement again to a village that sent no receipt of it.
@Suite struct RepublishPolicyTests {
    let t0 = Date(timeIntervalSince1970: 1_764_547_200)
    let policy = RepublishPolicy(delay: 30)

    func candidate(onlineSince: Date?, attempts: Int = 0, lastPublished: Date, version: String? = "0.11.0") -> RepublishPolicy.Candidate {
        .init(
            announcement: "a", message: "m", village: try! RegionCode("370703001001"), title: "t", expires: nil, onlineSince: onlineSince,
            version: version, attempts: attempts, lastPublished: lastPublished)
    }

    @Test func anOnlineVillageWithoutAReceiptGetsItAgainAfterTheDelayThenLater() {
        let c = candidate(onlineSince: t0.addingTimeInterval(-3_600), lastPublished: t0)
        #expect(!policy.isDue(c, now: t0.addingTimeInterval(29), brokerConnectedAt: t0.addingTimeInterval(-60)))
        #expect(policy.isDue(c, now: t0.addingTimeInterval(30), brokerConnectedAt: t0.addingTimeInterval(-60)))
        let second = candidate(onlineSince: t0.addingTimeInterval(-3_600), attempts: 1, lastPublished: t0.addingTimeInterval(30))
        #expect(!policy.isDue(second, now: t0.addingTimeInterval(89), brokerConnectedAt: t0.addingTimeInterval(-60)))
        #expect(policy.isDue(second, now: t0.addingTimeInterval(90), brokerConnectedAt: t0.addingTimeInterval(-60)))
        let late = candidate(onlineSince: t0.addingTimeInterval(-3_600), attempts: 30, lastPublished: t0)
        #expect(policy.isDue(late, now: t0.addingTimeInterval(3_600), brokerConnectedAt: t0.addingTimeInterval(-60)))
    }

    @Test func backOnlineAfterARestartSinceThePublishIsAtOnce() {
        let back = candidate(onlineSince: t0.addingTimeInterval(100), lastPublished: t0)
        // The broker restarted after the publish (the head-end's connection is newer): its save may not have held it.
        #expect(policy.isDue(back, now: t0.addingTimeInterval(100), brokerConnectedAt: t0.addingTimeInterval(50)))
        // No restart since: the village's session delivers it; only the delay counts, from its return.
        #expect(!policy.isDue(back, now: t0.addingTimeInterval(129), brokerConnectedAt: t0.addingTimeInterval(-50)))
        #expect(policy.isDue(back, now: t0.addingTimeInterval(130), brokerConnectedAt: t0.addingTimeInterval(-50)))
        // Once re-published, its return is behind it.
        let after = candidate(onlineSince: t0.addingTimeInterval(100), attempts: 1, lastPublished: t0.addingTimeInterval(100))
        #expect(!policy.isDue(after, now: t0.addingTimeInterval(101), brokerConnectedAt: t0.addingTimeInterval(50)))
    }

    @Test func olderVillagesAndAZeroDelayGetNothing() {
        let c = candidate(onlineSince: t0, lastPublished: t0, version: "0.10.0")
        #expect(!policy.isDue(c, now: t0.addingTimeInterval(86_400), brokerConnectedAt: t0))
        let off = RepublishPolicy(delay: 0)
        #expect(!off.isDue(candidate(onlineSince: t0, lastPublished: t0), now: t0.addingTimeInterval(86_400), brokerConnectedAt: t0))
        #expect(RepublishPolicy.takesRepublishes("0.11.0") && RepublishPolicy.takesRepublishes("0.12") && RepublishPolicy.takesRepublishes("1.0.0"))
        #expect(!RepublishPolicy.takesRepublishes("0.9.9") && !RepublishPolicy.takesRepublishes("0.10.7") && !RepublishPolicy.takesRepublishes(nil))
    }
}

/// `[county] republish-delay`: seconds, 0 turning re-publishing off; out of range is an error naming the key.
@Suite struct RepublishDelayConfigurationTests {
    @Test func theDelayIsReadAndChecked() throws {
        #expect(try CountyConfiguration.parse("[county]\ncode = \"370703\"").republishDelay == 30)
        #expect(try CountyConfiguration.parse("[county]\ncode = \"370703\"\nrepublish-delay = 0").republishDelay == 0)
        #expect(try CountyConfiguration.parse("[county]\ncode = \"370703\"\nrepublish-delay = 5").republishDelay == 5)
        do {
            _ = try CountyConfiguration.parse("[county]\ncode = \"370703\"\nrepublish-delay = 86400", file: "county.toml")
            Issue.record("a day of delay was taken")
        } catch {
            #expect("\(error)".contains("county.republish-delay"), "\(error)")
        }
    }
}

/// Both sides across the change: a village or head-end from before receipt confirmation reads what the other now sends.
@Suite struct ReceiptWireCompatibilityTests {
    /// The confirm and receipt as a dalabad or dalaba-county before 0.11 decoded them.
    struct OldConfirm: Decodable {
        var village: RegionCode
        var seq: Int64
    }
    struct OldReceipt: Decodable {
        var village: RegionCode
        var announcement: String?
        var stage: ReceiptStage
        var at: Date
    }

    @Test func eachSideReadsTheOthersMessages() throws {
        let village = try RegionCode("370703001001")
        // A new head-end's rows confirm carries `receipts`, which an old village ignores.
        let rows = try LinkJSON.encode(CountyMessage.Confirm(village: village, seq: 7, receipts: []))
        #expect(String(decoding: rows, as: UTF8.self) == #"{"receipts":[],"seq":7,"village":"370703001001"}"#)
        #expect(try LinkJSON.decode(OldConfirm.self, from: rows).seq == 7)
        // An old head-end's confirm has no `receipts`: the new village then falls back to the broker's acknowledgement.
        let old = try LinkJSON.decode(CountyMessage.Confirm.self, from: Data(#"{"seq":7,"village":"370703001001"}"#.utf8))
        #expect(old.seq == 7 && old.receipts == nil)
        // A new village's receipt carries `seq`, which an old head-end ignores; an old village's has none, and is just written.
        let at = Date(timeIntervalSince1970: 1_764_547_200.5)
        let receipt = try LinkJSON.encode(VillageReceipt(village: village, announcement: "a", message: "m", stage: .onAir, at: at, seq: 3))
        #expect(try LinkJSON.decode(OldReceipt.self, from: receipt).stage == .onAir)
        let bare = Data(#"{"announcement":"a","at":"2026-12-01T00:00:00.500Z","stage":"on-air","village":"370703001001"}"#.utf8)
        #expect(try LinkJSON.decode(VillageReceipt.self, from: bare).seq == nil)
    }
}
