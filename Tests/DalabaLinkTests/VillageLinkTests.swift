import Crypto
import Foundation
import Testing

@testable import DalabaLink

@Suite struct VillageLinkTests {
    let county = Curve25519.Signing.PrivateKey()
    let t0 = issued.addingTimeInterval(1)

    func machine(seen: [String: Date] = [:], confirmed: Int64 = 0) -> VillageLink {
        VillageLink(settings: .init(village: village, key: CountyKey(county.publicKey)), seen: seen, confirmedSeq: confirmed, now: t0)
    }

    func state(queue: Int = 0, at: Date) -> VillageState {
        VillageState(village: village, online: true, at: at, deviceUp: true, onAir: nil, queueLength: queue, underruns: 0, version: "t")
    }

    func signed(_ m: CountyMessage) throws -> Data { try SignedEnvelope.sign(m, with: county).encoded() }

    @Test func actsOnceThenRefusesTheReplay() throws {
        var link = machine()
        let bytes = try signed(announce())
        let first = link.received(bytes, now: t0)
        guard case .act(let m, let late, let keepUntil) = first.first else { Issue.record("\(first)"); return }
        #expect(m.id == "m-1" && !late)
        #expect(keepUntil == announce().expires.addingTimeInterval(CountyMessageCheck.lateWindow))
        let second = link.received(bytes, now: t0.addingTimeInterval(5))
        guard case .refuse(let refused, let receipt) = second.first else { Issue.record("\(second)"); return }
        #expect(refused.reason == .replayed)
        #expect(receipt?.stage == .refused && receipt?.reason == "replayed" && receipt?.message == "m-1" && receipt?.announcement == "c-1")
    }

    /// Seen ids come from the store at start: a replay after a restart is caught too.
    @Test func seenIdsSurviveARestart() throws {
        var link = machine(seen: ["m-1": t0.addingTimeInterval(86_400)])
        guard case .refuse(let refused, _) = link.received(try signed(announce()), now: t0).first else { Issue.record("accepted"); return }
        #expect(refused.reason == .replayed)
    }

    @Test func forgedUnsignedAndNotTargetedAreRefused() throws {
        var link = machine()
        let forged = try SignedEnvelope.sign(announce(id: "m-2"), with: Curve25519.Signing.PrivateKey()).encoded()
        var unsigned = try SignedEnvelope.sign(announce(id: "m-3"), with: county)
        unsigned.sig = nil
        let elsewhere = try signed(announce(id: "m-4", targets: ["370703002"]))
        let reasons = [forged, try unsigned.encoded(), elsewhere].compactMap { bytes -> RefusalReason? in
            if case .refuse(let r, _) = link.received(bytes, now: t0).first { return r.reason }
            return nil
        }
        #expect(reasons == [.forged, .unsigned, .notTargeted])
        // None of them was remembered: the genuine message with a refused id is still acted on.
        #expect(link.seenCount == 0)
    }

    @Test func aFloodOfRefusalsIsRelayedWithinTheBudget() throws {
        var link = machine()
        var receipts = 0
        for i in 0..<100 {
            let forged = try SignedEnvelope.sign(announce(id: "f-\(i)"), with: Curve25519.Signing.PrivateKey()).encoded()
            if case .refuse(_, let receipt) = link.received(forged, now: t0.addingTimeInterval(Double(i) * 0.1)).first, receipt != nil { receipts += 1 }
        }
        #expect(receipts == link.settings.refusalsPerMinute)
        #expect(link.suppressedRefusals == 100 - link.settings.refusalsPerMinute)
        // A minute on, refusals are relayed again.
        let later = try SignedEnvelope.sign(announce(id: "f-late"), with: Curve25519.Signing.PrivateKey()).encoded()
        guard case .refuse(_, let receipt) = link.received(later, now: t0.addingTimeInterval(70)).first else { Issue.record("accepted"); return }
        #expect(receipt != nil)
    }

    @Test func rowsResumeFromTheConfirmedMarkOnEveryConnect() throws {
        var link = machine(confirmed: 40)
        #expect(link.tick(now: t0, headSeq: 100, state: state(at: t0)).isEmpty)  // offline: nothing
        let onConnect = link.connected(now: t0, state: state(at: t0))
        #expect(onConnect.contains(.drainOutbox))
        let first = link.tick(now: t0.addingTimeInterval(1), headSeq: 250, state: state(at: t0))
        let sends = first.compactMap { action -> Int64? in if case .sendRows(let after, _) = action { after } else { nil } }
        #expect(sends == [40, 140, 240])
        link.rowsSent(through: 250)
        #expect(!link.tick(now: t0.addingTimeInterval(2), headSeq: 250, state: state(at: t0)).contains { if case .sendRows = $0 { true } else { false } })
        // The county confirms 200; a reconnect resends from 200, not from 40 or 250.
        let confirm = CountyMessage(id: "c-200", issued: issued, expires: issued.addingTimeInterval(600), targets: [village], body: .confirm(.init(village: village, seq: 200)))
        #expect(link.received(try signed(confirm), now: t0.addingTimeInterval(3)).contains(.storeConfirmed(200)))
        link.disconnected()
        _ = link.connected(now: t0.addingTimeInterval(4), state: state(at: t0))
        let resend = link.tick(now: t0.addingTimeInterval(5), headSeq: 250, state: state(at: t0))
        let resent = resend.compactMap { action -> Int64? in if case .sendRows(let after, _) = action { after } else { nil } }
        #expect(resent == [200])
    }

    @Test func unconfirmedRowsAreSentAgainAfterPatienceThatGrows() throws {
        var link = machine()
        _ = link.connected(now: t0, state: state(at: t0))
        _ = link.tick(now: t0, headSeq: 10, state: state(at: t0))
        link.rowsSent(through: 10)
        func resends(at seconds: Double) -> Bool {
            link.tick(now: t0.addingTimeInterval(seconds), headSeq: 10, state: state(at: t0)).contains(.sendRows(after: 0, limit: 100))
        }
        #expect(!resends(at: 59))
        #expect(resends(at: 60))
        link.rowsSent(through: 10)
        #expect(!resends(at: 60 + 119))  // patience doubled
        #expect(resends(at: 60 + 120))
    }

    /// After a PostgreSQL outage the county confirms what it holds (the mark) while rows after it are outstanding: they are
    /// sent again from the mark at the next tick, not after the 60 s patience; a second such confirm within 5 s sends
    /// nothing more, and one with nothing outstanding changes nothing.
    @Test func aConfirmAtTheMarkWithRowsOutstandingResendsPromptly() throws {
        var link = machine(confirmed: 40)
        _ = link.connected(now: t0, state: state(at: t0))
        func sends(at seconds: Double, head: Int64 = 90) -> [Int64] {
            link.tick(now: t0.addingTimeInterval(seconds), headSeq: head, state: state(at: t0)).compactMap { action -> Int64? in
                if case .sendRows(let after, _) = action { after } else { nil }
            }
        }
        func confirm(_ seq: Int64, id: String, at seconds: Double) throws -> [VillageLink.Action] {
            let m = CountyMessage(
                id: id, issued: issued, expires: issued.addingTimeInterval(600), targets: [village], body: .confirm(.init(village: village, seq: seq)))
            return link.received(try signed(m), now: t0.addingTimeInterval(seconds))
        }
        #expect(sends(at: 1) == [40])
        link.rowsSent(through: 90)
        #expect(sends(at: 2).isEmpty)
        // PostgreSQL was down: the rows after 40 are lost at the county, which is back and confirms 40 again.
        let back = try confirm(40, id: "back-1", at: 3)
        #expect(!back.contains { if case .storeConfirmed = $0 { true } else { false } })
        #expect(sends(at: 3.25) == [40])
        link.rowsSent(through: 90)
        // Another confirm of the mark (a batch sent before the resend, arriving after it) within 5 s: nothing more.
        _ = try confirm(40, id: "back-2", at: 4)
        #expect(sends(at: 4.25).isEmpty)
        // Past the rate limit, one that still does not advance resends again.
        _ = try confirm(40, id: "back-3", at: 8.5)
        #expect(sends(at: 8.75) == [40])
        link.rowsSent(through: 90)
        // The county stored them: it advances, and a later confirm of that mark with nothing outstanding sends nothing.
        #expect(try confirm(90, id: "stored", at: 9).contains(.storeConfirmed(90)))
        _ = try confirm(90, id: "again", at: 20)
        #expect(sends(at: 20.25).isEmpty)
        // Another village's confirm is not ours.
        link.rowsSent(through: 95)
        let other = CountyMessage(
            id: "other", issued: issued, expires: issued.addingTimeInterval(600), targets: [village],
            body: .confirm(.init(village: try RegionCode("370703001002"), seq: 0)))
        _ = link.received(try signed(other), now: t0.addingTimeInterval(30))
        #expect(sends(at: 30.25, head: 95).isEmpty)
    }

    @Test func stateOnChangeAndEveryThirtySeconds() throws {
        var link = machine()
        _ = link.connected(now: t0, state: state(at: t0))
        func published(_ s: Double, queue: Int = 0) -> Bool {
            link.tick(now: t0.addingTimeInterval(s), headSeq: 0, state: state(queue: queue, at: t0.addingTimeInterval(s)))
                .contains { if case .publishState = $0 { true } else { false } }
        }
        #expect(!published(1))  // same state, only its time differs
        #expect(published(2, queue: 1))  // changed
        #expect(!published(3, queue: 1))
        #expect(published(32, queue: 1))  // 30 s since the last
    }

    @Test func aLateAnnounceIsActedOnAsLateAndALateCancelRefused() throws {
        var link = machine()
        let late = link.received(try signed(announce(expires: issued.addingTimeInterval(10))), now: issued.addingTimeInterval(11))
        guard case .act(_, let isLate, _) = late.first else { Issue.record("\(late)"); return }
        #expect(isLate)
        let cancel = CountyMessage(id: "x", issued: issued, expires: issued.addingTimeInterval(10), targets: [village], body: .cancel(announcement: "c-1"))
        guard case .refuse(let r, _) = link.received(try signed(cancel), now: issued.addingTimeInterval(11)).first else { Issue.record("acted"); return }
        #expect(r.reason == .expired)
    }

    @Test func seenIdsAreForgottenAfterTheirKeepTime() throws {
        var link = machine(seen: ["old": t0.addingTimeInterval(10), "new": t0.addingTimeInterval(1000)])
        _ = link.tick(now: t0.addingTimeInterval(11), headSeq: 0, state: state(at: t0))
        #expect(link.seenCount == 1)
    }
}
