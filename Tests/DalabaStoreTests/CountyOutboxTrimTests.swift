import Foundation
import Testing

@testable import DalabaStore

/// The village's county outbox after a long time offline: it stays within its capacity, dropping the oldest receipts that
/// are no final stage, never a final one.
@Suite struct CountyOutboxTrimTests {
    func receipt(_ stage: String, _ n: Int) -> (topic: String, payload: Data) {
        (topic: "dalaba/up/370703001001/receipts", payload: Data(#"{"announcement":"a-\#(n)","stage":"\#(stage)"}"#.utf8))
    }

    @Test func theOldestNonFinalReceiptsGoFirstAndFinalOnesNever() throws {
        let (store, _) = try makeStore()
        let now = Date(timeIntervalSince1970: 1_764_547_200)
        var messages: [(topic: String, payload: Data)] = []
        for n in 0..<6 { messages += [receipt("received", n), receipt("completed", n)] }
        try store.addToOutbox(messages, now: now)
        let finals = ["completed", "interrupted", "failed", "expired"]
        #expect(try store.trimOutbox(capacity: 12, finalStages: finals).isEmpty)
        // Over by four: the four oldest `received` go, every `completed` stays.
        let dropped = try store.trimOutbox(capacity: 8, finalStages: finals)
        #expect(dropped == [1, 3, 5, 7])
        let left = try store.outbox(limit: 100).map { String(decoding: $0.payload, as: UTF8.self) }
        #expect(left.count == 8 && left.filter { $0.contains("completed") }.count == 6)
        // Only final ones left beyond the capacity: nothing more is dropped.
        #expect(try store.trimOutbox(capacity: 2, finalStages: finals) == [9, 11])
        #expect(try store.trimOutbox(capacity: 2, finalStages: finals).isEmpty)
        #expect(try store.outboxCount() == 6)
    }

    @Test func theFirstReceiptOfAnAnnouncementIsKeptToTheMillisecond() throws {
        let (store, _) = try makeStore()
        let at = Date(timeIntervalSince1970: 1_764_547_200.123)
        try store.rememberLinkMessage("m-1", keepUntil: at.addingTimeInterval(60), announcement: "a-1", now: at)
        let first = try #require(try store.linkAnnouncement("a-1"))
        #expect(first.message == "m-1" && first.receivedAt == at)
        #expect(try store.linkAnnouncement("a-2") == nil)
    }
}
