import DalabaCore
import Foundation
import Testing

@testable import DalabaStore

@Suite struct LogQueryTests {
    /// Six rows an hour apart from 08:00 Shanghai on 2025-03-14: kinds cycle policy, emergency, routine; every third is a drill;
    /// the fifth was cancelled.
    func store() throws -> StationStore {
        let (store, _) = try makeStore()
        let kinds: [Kind] = [.policy, .emergency, .routine]
        for i in 0..<6 {
            let kind = kinds[i % 3]
            try store.append(
                makeRecord(
                    id: "r\(i)", kind: kind, level: kind == .emergency ? 3 : nil, isTest: i % 3 == 2,
                    startedAt: instant("2025-03-14T08:00:00+08:00").addingTimeInterval(Double(i) * 3600), frames: 48000,
                    outcome: i == 4 ? .cancelled : .completed))
        }
        return store
    }

    func ids(_ rows: [LogRow]) -> [String] { rows.map(\.record.announcementID) }

    @Test func newestFirstByDefaultAndOldestFirstOnRequest() throws {
        let store = try store()
        #expect(ids(try store.log(LogQuery())) == ["r5", "r4", "r3", "r2", "r1", "r0"])
        #expect(ids(try store.log(LogQuery(order: .oldestFirst))) == ["r0", "r1", "r2", "r3", "r4", "r5"])
    }

    @Test func filters() throws {
        let store = try store()
        #expect(ids(try store.log(LogQuery(kind: .emergency))) == ["r4", "r1"])
        #expect(ids(try store.log(LogQuery(outcome: .cancelled))) == ["r4"])
        #expect(ids(try store.log(LogQuery(isTest: true))) == ["r5", "r2"])
        #expect(ids(try store.log(LogQuery(isTest: false, order: .oldestFirst))) == ["r0", "r1", "r3", "r4"])
        let from = instant("2025-03-14T09:00:00+08:00")
        let to = instant("2025-03-14T11:00:00+08:00")
        #expect(ids(try store.log(LogQuery(from: from, to: to))) == ["r2", "r1"])
        #expect(ids(try store.log(LogQuery(from: from, to: to, kind: .routine))) == ["r2"])
        #expect(try store.logCount(LogQuery(from: from)) == 5)
    }

    @Test func pagination() throws {
        let store = try store()
        #expect(ids(try store.log(LogQuery(limit: 2))) == ["r5", "r4"])
        #expect(ids(try store.log(LogQuery(limit: 2, offset: 2))) == ["r3", "r2"])
        #expect(ids(try store.log(LogQuery(limit: 2, offset: 4))) == ["r1", "r0"])
        #expect(try store.log(LogQuery(limit: 2, offset: 6)).isEmpty)
        #expect(ids(try store.log(LogQuery(isTest: false, limit: 3, offset: 1, order: .oldestFirst))) == ["r1", "r3", "r4"])
        #expect(try store.logCount(LogQuery(isTest: false, limit: 3, offset: 1)) == 4)
    }

    @Test func unstartedRowsAreFiledWhenTheyEnded() throws {
        let (store, _) = try makeStore()
        var missed = makeRecord(id: "m", startedAt: nil, frames: 0, rate: 0, outcome: .missed)
        missed.endedAt = instant("2025-03-14T06:00:00+08:00")
        try store.append(missed)
        let rows = try store.log(LogQuery(from: instant("2025-03-14T05:59:00+08:00"), to: instant("2025-03-14T06:01:00+08:00")))
        #expect(ids(rows) == ["m"])
    }
}
