import DalabaCore
import DalabaSchedule
import DalabaStation
import DalabaStore
import DalabaTestSupport
import Foundation
import Testing

/// 2026-03-02 is a Monday. Grace is the station's default, 600 s.
private let villageDay = """
    programmes:
      - name: news
        title: 早间新闻转播
        kind: routine
        audio: news.wav
        times: ['06:30', '18:00']
        days: daily
      - name: notice
        title: 政策宣传
        kind: policy
        audio: notice.wav
        times: ['08:00']
        weekdays: [mon, tue, wed, thu, fri]
      - name: drill
        kind: policy
        audio: [notice.wav, news.wav]
        times: ['08:30', '08:55']
        weekdays: [mon]
    """

/// The schedule service driving a real Station (real Player on the `null` device, in-memory store) on a hand-moved clock.
@Suite(.serialized) struct ScheduleServiceTests {
    func rig(_ name: String, start: Date, store: StationStore? = nil, device: String = "null") throws -> StationRig {
        let rig = try StationRig(name: name, start: start, device: device, store: store)
        try rig.tone("news.wav", frequency: 440)
        try rig.tone("notice.wav", frequency: 660)
        try rig.schedule(villageDay)
        return rig
    }

    @Test("a day of slots fires in order into the station, each once, with its slot time in the log")
    func dayInOrder() async throws {
        let rig = try rig("day", start: cst(2026, 3, 2))
        try rig.start()
        await rig.service.reload(reason: "start")
        #expect(await rig.service.nextWake == cst(2026, 3, 2, 6, 30))
        try await rig.run(through: cst(2026, 3, 2, 23, 59))
        await rig.stop()
        let log = try rig.log()
        #expect(
            log.summary == [
                "completed news@06:30", "completed notice@08:00", "completed drill@08:30", "completed drill@08:30", "completed drill@08:55",
                "completed drill@08:55", "completed news@18:00",
            ])
        #expect(
            log.map(\.announcementID).filter { $0.hasPrefix("sched:drill:2026-03-02T00:30") } == [
                "sched:drill:2026-03-02T00:30:00Z", "sched:drill:2026-03-02T00:30:00Z#2",
            ])
        #expect(log.allSatisfy { $0.frames == 4_800 }, "each played whole: \(log.map(\.frames))")
        #expect(log[1].signalFrames > 0 && log[0].signalFrames == 0, "policy gets the chime, routine does not")
        #expect(try rig.store.firedKeys(since: cst(2026, 3, 2)).count == 5)
        #expect(try rig.store.lastFired() == cst(2026, 3, 2, 18))
    }

    @Test("the clock jumps forward an hour, then back an hour: no slot plays twice, none is lost in silence")
    func clockJumps() async throws {
        let rig = try rig("jump", start: cst(2026, 3, 2, 7, 50))
        try rig.start()
        await rig.service.reload(reason: "start")
        // Forward: 07:50 → 09:00. 08:00 and 08:30 are past their grace and logged missed; 08:55 plays late.
        await rig.tick(at: cst(2026, 3, 2, 9, 0))
        try await rig.waitUntilIdle()
        // Back: 09:00 → 08:00, then the clock runs on to the evening.
        await rig.tick(at: cst(2026, 3, 2, 8, 0))
        try await rig.waitUntilIdle()
        for minute in stride(from: 5, through: 120, by: 5) {
            await rig.tick(at: cst(2026, 3, 2, 8, 0).addingTimeInterval(Double(minute * 60)))
            try await rig.waitUntilIdle()
        }
        try await rig.run(through: cst(2026, 3, 2, 18, 30))
        await rig.stop()
        let log = try rig.log()
        #expect(
            log.summary.sorted() == [
                "completed drill@08:55", "completed drill@08:55", "completed news@18:00", "missed drill@08:30", "missed drill@08:30",
                "missed notice@08:00",
            ])
        let missed = log.filter { $0.outcome == .missed }
        #expect(missed.allSatisfy { $0.startedAt == nil && $0.frames == 0 && $0.endedAt == cst(2026, 3, 2, 9) })
        #expect(missed.first?.error?.contains("beyond its grace of 600 s") == true, "\(missed.first?.error ?? "")")
        let late = try #require(log.first { $0.outcome == .completed })
        #expect(late.scheduledAt == cst(2026, 3, 2, 8, 55))
    }

    @Test("a reload while a slot plays leaves the play alone and does not queue the slot again", .timeLimit(.minutes(10)))
    func reloadMidPlay() async throws {
        // The player runs in-process and finds the device through the environment: an exit test's child may set its own.
        try await PacedDevice.with { paced in
            let environment = paced.environment
            await #expect(processExitsWith: .success) { [environment = environment as [String: String]] in
                PacedDevice.useInExitTest(environment)
                try await Self.reloadMidPlay()
            }
        }
    }

    static func reloadMidPlay() async throws {
        let start = cst(2026, 3, 2, 7, 59)
        let rig = try StationRig(name: "reload", start: start, device: PacedDevice.pcm(capturingTo: NSTemporaryDirectory() + "reload-\(UUID()).raw"))
        try rig.tone("news.wav", frequency: 440)
        try rig.tone("notice.wav", frequency: 660, seconds: 3)
        try rig.schedule(villageDay)
        try rig.start()
        await rig.service.reload(reason: "start")
        await rig.tick(at: cst(2026, 3, 2, 8, 0))
        let playing = try await waitForPlay(rig, id: "sched:notice:2026-03-02T00:00:00Z")

        // The file changes mid-play: a new title for the notice and a programme added at 08:00, a time that has passed.
        try rig.schedule(
            villageDay.replacingOccurrences(of: "title: 政策宣传", with: "title: 政策宣传（修订）") + """

                  - name: late-addition
                    kind: policy
                    audio: notice.wav
                    times: ['08:00', '09:00']
                    days: daily
                """)
        rig.clock.set(cst(2026, 3, 2, 8, 1))
        await rig.service.reload(reason: "test")
        let during = await rig.station.status()
        #expect(during.nowPlaying?.item.id == playing, "still the same play")
        #expect(during.queue.isEmpty, "nothing queued again: \(during.queue.map(\.id))")
        #expect(during.scheduleProblems.isEmpty)
        try await rig.waitUntilIdle()
        await rig.stop()
        let log = try rig.log()
        #expect(log.summary == ["completed notice@08:00"])
        #expect(log.first?.playNumber == 1 && log.first?.title == "政策宣传")
        #expect(abs(Double(log.first?.frames ?? 0) - 3 * 48_000) <= 480, "played whole, once: \(log.first?.frames ?? 0) frames")
        #expect(await rig.service.nextWake == cst(2026, 3, 2, 8, 30))
    }

    @Test("a restart with the fired keys in the store plays nothing twice, even at the very instant of a slot")
    func restartDoesNotRefire() async throws {
        let store = try StationStore.inMemory()
        let first = try rig("restart1", start: cst(2026, 3, 2, 7, 59), store: store)
        try first.start()
        await first.service.reload(reason: "start")
        await first.tick(at: cst(2026, 3, 2, 8, 0))
        try await first.waitUntilIdle()
        await first.stop()
        #expect(try first.log().summary == ["completed notice@08:00"])

        // Back up at the same instant, and again two minutes later: the 08:00 slot is not queued again.
        for instant in [cst(2026, 3, 2, 8, 0), cst(2026, 3, 2, 8, 2)] {
            let again = try StationRig(name: "restart2", start: instant, store: store, directory: first.directory)
            try again.start()
            await again.service.reload(reason: "start")
            try await again.waitUntilIdle()
            #expect(await again.service.nextWake == cst(2026, 3, 2, 8, 30))
            await again.stop()
        }
        #expect(try first.log().summary == ["completed notice@08:00"])
    }

    @Test("downtime beyond grace is logged as missed, within grace the slot plays late; a quiet stretch counts too")
    func downtime() async throws {
        let store = try StationStore.inMemory()
        let before = try rig("down1", start: cst(2026, 3, 2, 6, 0), store: store)
        try before.start()
        await before.service.reload(reason: "start")
        try await before.run(through: cst(2026, 3, 2, 7, 0))
        await before.stop()

        // Down from 07:00 to 09:02: 08:00 and 08:30 are beyond the 600 s grace, 08:55 is seven minutes late.
        let after = try StationRig(name: "down2", start: cst(2026, 3, 2, 9, 2), store: store, directory: before.directory)
        try after.start()
        await after.service.reload(reason: "start")
        try await after.waitUntilIdle()
        await after.stop()
        // The log files rows under their start (the player's real clock) or, never started, their end (the test's clock).
        let summary = try after.log().summary.sorted()
        #expect(
            summary == [
                "completed drill@08:55", "completed drill@08:55", "completed news@06:30", "missed drill@08:30", "missed drill@08:30",
                "missed notice@08:00",
            ], "\(summary)")

        // A station that ran 10:00–12:00 with no slot, then was down until 18:20: the 18:00 news is missed, not forgotten.
        let quiet = try StationStore.inMemory()
        let noon = try rig("quiet1", start: cst(2026, 3, 2, 10), store: quiet)
        try noon.start()
        await noon.service.reload(reason: "start")
        await noon.tick(at: cst(2026, 3, 2, 12))
        await noon.stop()
        let evening = try StationRig(name: "quiet2", start: cst(2026, 3, 2, 18, 20), store: quiet, directory: noon.directory)
        try evening.start()
        await evening.service.reload(reason: "start")
        await evening.stop()
        #expect(try evening.log().summary == ["missed news@18:00"])
    }

    @Test("an invalid new version is reported and the last good one keeps playing; fixing it clears the report")
    func invalidReloadKeepsLastGood() async throws {
        let rig = try rig("invalid", start: cst(2026, 3, 2, 7, 0))
        try rig.start()
        await rig.service.reload(reason: "start")
        try rig.schedule(villageDay.replacingOccurrences(of: "'08:00'", with: "'8:75'"))
        try rig.schedule(
            "programmes:\n  - name: extra\n    kind: routine\n    audio: missing.wav\n    times: ['09:00']\n    days: daily\n", file: "extra.yml")
        await rig.service.reload(reason: "test")
        let problems = await rig.station.status().scheduleProblems
        let dir = rig.schedules.path
        #expect(
            problems == [
                "\(dir)/extra.yml:4: audio: 'missing.wav' (\(rig.audio.path)/missing.wav) does not exist",
                "\(dir)/village.yaml:12: times: '8:75' is not a time of day (HH:MM, from 00:00 to 23:59)",
            ])
        // The last good schedule still has the notice at 08:00.
        await rig.tick(at: cst(2026, 3, 2, 8, 0))
        try await rig.waitUntilIdle()
        #expect(try rig.log().summary == ["completed notice@08:00"])

        try FileManager.default.removeItem(at: rig.schedules.appendingPathComponent("extra.yml"))
        try rig.schedule(villageDay)
        await rig.service.reload(reason: "fixed")
        #expect(await rig.station.status().scheduleProblems.isEmpty)
        await rig.stop()
    }

    @Test("a schedule that is invalid at start plays nothing until fixed, then catches up on what it missed")
    func invalidAtStart() async throws {
        let store = try StationStore.inMemory()
        let first = try rig("badstart1", start: cst(2026, 3, 2, 7, 0), store: store)
        try first.start()
        await first.service.reload(reason: "start")
        await first.stop()
        let rig = try StationRig(name: "badstart2", start: cst(2026, 3, 2, 7, 30), store: store, directory: first.directory)
        try rig.schedule("programmes: [")
        try rig.start()
        await rig.service.reload(reason: "start")
        #expect(await rig.station.status().scheduleProblems.count == 1)
        #expect(await rig.service.nextWake == nil)
        try rig.schedule(villageDay)
        await rig.tick(at: cst(2026, 3, 2, 8, 5))
        #expect(try rig.log().isEmpty, "no schedule yet")
        await rig.service.reload(reason: "fixed")
        try await rig.waitUntilIdle()
        await rig.stop()
        #expect(try rig.log().summary == ["completed notice@08:00"], "08:00 was within grace when the fix arrived")
    }

    @Test("the run loop notices a changed file within about a second")
    func fileChangeReloads() async throws {
        let rig = try rig("watch", start: cst(2026, 3, 2, 7, 0))
        // The watch polls on the real clock; the schedule's first slot is far off on the hand-moved one.
        try rig.start()
        let stop = AsyncStream.makeStream(of: Void.self)
        let service = rig.service!
        let running = Task { await service.run { for await _ in stop.stream { return } } }
        try await waitFor { await service.nextWake == cst(2026, 3, 2, 8, 0) }
        try rig.schedule(villageDay.replacingOccurrences(of: "'08:00'", with: "'07:45'"))
        rig.clock.set(cst(2026, 3, 2, 7, 0, 1))
        try await waitFor { await service.nextWake == cst(2026, 3, 2, 7, 45) }
        try rig.schedule("programmes: [")
        rig.clock.set(cst(2026, 3, 2, 7, 0, 3))
        try await waitFor { await rig.station.status().scheduleProblems.count == 1 }
        #expect(await service.nextWake == cst(2026, 3, 2, 7, 45), "the last good one keeps running")
        stop.continuation.finish()
        await running.value
        await rig.stop()
    }

    @Test("the API's listing gives local time, programme and rule")
    func listing() async throws {
        let rig = try rig("listing", start: cst(2026, 3, 2, 7, 0))
        try rig.start()
        await rig.service.reload(reason: "start")
        let slots = await rig.service.listing(count: 3)
        #expect(slots.map(\.localTime) == ["2026-03-02 08:00 mon", "2026-03-02 08:30 mon", "2026-03-02 08:55 mon"])
        #expect(slots.map(\.rule) == ["weekdays mon, tue, wed, thu, fri at 08:00", "weekdays mon at 08:30", "weekdays mon at 08:55"])
        #expect(slots[1].audio == ["notice.wav", "news.wav"] && slots[1].timeZone == "Asia/Shanghai")
        await rig.stop()
    }

    private static func waitForPlay(_ rig: StationRig, id: String) async throws -> String {
        try await waitFor { await rig.station.status().nowPlaying?.startedAt != nil }
        return try #require(await rig.station.status().nowPlaying?.item.id)
    }
}

/// Polls `condition` in real time, for the player thread and the file watch.
func waitFor(timeout: Double = 10, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("condition not met within \(timeout) s")
}
