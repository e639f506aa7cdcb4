import DalabaCore
import Foundation
import Testing

@testable import DalabaSchedule

@Suite("Recurrence rules and next-fire computation")
struct RecurrenceTests {
    @Test("days-of-month 31 skips the 30-day months")
    func thirtyFirstSkipsShortMonths() throws {
        let book = try book(programme("times: ['09:00']\ndays-of-month: [31]"))
        #expect(
            nextLocal(book, after: cst(2026, 4, 1), count: 5) == [
                "2026-05-31 09:00", "2026-07-31 09:00", "2026-08-31 09:00", "2026-10-31 09:00", "2026-12-31 09:00",
            ])
    }

    @Test("-1 is the last day of every month, February 28 or 29 included")
    func lastDayOfMonth() throws {
        let book = try book(programme("times: ['09:00']\ndays-of-month: [-1]"))
        #expect(
            nextLocal(book, after: cst(2026, 1, 1), count: 4) == [
                "2026-01-31 09:00", "2026-02-28 09:00", "2026-03-31 09:00", "2026-04-30 09:00",
            ])
        #expect(nextLocal(book, after: cst(2028, 2, 1), count: 2) == ["2028-02-29 09:00", "2028-03-31 09:00"])
    }

    @Test("day 29 falls in February only in a leap year: 2028-02-29")
    func leapDay() throws {
        let book = try book(programme("times: ['09:00']\ndays-of-month: [29]"))
        #expect(nextLocal(book, after: cst(2027, 2, 1), count: 1) == ["2027-03-29 09:00"])
        #expect(nextLocal(book, after: cst(2028, 2, 1), count: 2) == ["2028-02-29 09:00", "2028-03-29 09:00"])
    }

    @Test("the Gregorian year end: 2026-12-31 runs into 2027-01-01")
    func yearEnd() throws {
        let daily = try book(programme("times: ['00:15', '23:30']\ndays: daily"))
        #expect(
            nextLocal(daily, after: cst(2026, 12, 31, 20), count: 3) == [
                "2026-12-31 23:30", "2027-01-01 00:15", "2027-01-01 23:30",
            ])
        let first = try book(programme("times: ['08:00']\ndays-of-month: [1, -1]"))
        #expect(nextLocal(first, after: cst(2026, 12, 2), count: 3) == ["2026-12-31 08:00", "2027-01-01 08:00", "2027-01-31 08:00"])
    }

    @Test("weekdays mon to fri skip the weekend")
    func weekdays() throws {
        let book = try book(programme("times: ['08:00']\nweekdays: [mon, tue, wed, thu, fri]"))
        // 2026-03-06 is a Friday.
        #expect(nextLocal(book, after: cst(2026, 3, 6, 9), count: 2) == ["2026-03-09 08:00", "2026-03-10 08:00"])
        #expect(Weekday(dayNumber: LocalDate("2026-03-06")!.dayNumber) == .fri)
        #expect(Weekday(dayNumber: LocalDate("1970-01-01")!.dayNumber) == .thu)
    }

    @Test("Foundation's Chinese calendar agrees with the published one")
    func lunarCalendarAnchors() {
        // 2025 has a leap sixth month (闰六月) from 2025-07-25 to 2025-08-22.
        #expect(LunarCalendar.date(of: LocalDate("2025-06-25")!) == (6, 1, false))
        #expect(LunarCalendar.date(of: LocalDate("2025-07-24")!) == (6, 30, false))
        #expect(LunarCalendar.date(of: LocalDate("2025-07-25")!) == (6, 1, true))
        #expect(LunarCalendar.date(of: LocalDate("2025-08-22")!) == (6, 29, true))
        #expect(LunarCalendar.date(of: LocalDate("2025-08-23")!) == (7, 1, false))
        // Spring Festival (正月初一): 2026-02-17 and 2027-02-06; 2026's New Year's Eve is 腊月廿九.
        #expect(LunarCalendar.date(of: LocalDate("2026-02-16")!) == (12, 29, false))
        #expect(LunarCalendar.date(of: LocalDate("2026-02-17")!) == (1, 1, false))
        #expect(LunarCalendar.date(of: LocalDate("2027-02-06")!) == (1, 1, false))
        #expect(LunarCalendar.day(ofDayNumber: LocalDate("2027-02-06")!.dayNumber) == 1)
    }

    @Test("market days 逢一逢五 run through the leap sixth month of 2025")
    func marketDaysAcrossLeapMonth() throws {
        let book = try book(programme("times: ['07:30']\nlunar-days: [1, 5, 11, 15, 21, 25]"))
        let days = nextLocal(book, after: cst(2025, 7, 20), count: 9).map { String($0.prefix(10)) }
        #expect(
            days == [
                "2025-07-25", "2025-07-29", "2025-08-04", "2025-08-08", "2025-08-14", "2025-08-18",  // 闰六月 1 … 25
                "2025-08-23", "2025-08-27", "2025-09-02",  // 七月 1, 5, 11
            ])
    }

    @Test("lunar day 30 only comes in long months: the leap month of 2025 has 29 days")
    func lunarThirty() throws {
        let book = try book(programme("times: ['07:30']\nlunar-days: [30]"))
        let days = nextLocal(book, after: cst(2025, 7, 1), count: 3).map { String($0.prefix(10)) }
        #expect(days == ["2025-07-24", "2025-09-21", "2025-11-19"])
    }

    @Test("the lunar new year: lunar day 1 is 腊月初一 then 正月初一")
    func lunarNewYear() throws {
        let book = try book(programme("times: ['07:30']\nlunar-days: [1]"))
        #expect(nextLocal(book, after: cst(2026, 1, 1), count: 3).map { String($0.prefix(10)) } == ["2026-01-19", "2026-02-17", "2026-03-19"])
        #expect(nextLocal(book, after: cst(2027, 1, 1), count: 2).map { String($0.prefix(10)) } == ["2027-01-08", "2027-02-06"])
    }

    @Test("from, until and except bound the days")
    func rangeAndExceptions() throws {
        let book = try book(programme("times: ['08:00']\ndays: daily\nfrom: 2026-02-15\nuntil: 2026-02-20\nexcept: [2026-02-17, 2026-02-19]"))
        #expect(
            nextLocal(book, after: cst(2026, 1, 1), count: 10) == [
                "2026-02-15 08:00", "2026-02-16 08:00", "2026-02-18 08:00", "2026-02-20 08:00",
            ])
        #expect(book.nextSlots(after: cst(2026, 2, 20, 8), count: 1).isEmpty)
    }

    @Test("a 07:00 Asia/Shanghai slot is 23:00 UTC the day before")
    func shanghaiIsUTCPlusEight() throws {
        let book = try book(programme("times: ['07:00']\ndays: daily"))
        #expect(book.nextSlots(after: utc("2026-03-01T12:00:00Z"), count: 1).map(\.time) == [utc("2026-03-01T23:00:00Z")])
    }

    @Test("another zone follows its daylight saving: 08:00 Berlin is 07:00Z in winter, 06:00Z in summer")
    func daylightSaving() throws {
        let book = try book(programme("times: ['08:00']\ndays: daily\ntimezone: Europe/Berlin"))
        // Clocks in Berlin go forward on 2026-03-29.
        #expect(
            book.nextSlots(after: utc("2026-03-28T00:00:00Z"), count: 2).map(\.time) == [
                utc("2026-03-28T07:00:00Z"), utc("2026-03-29T06:00:00Z"),
            ])
        #expect(book.programmes[0].ruleDescription == "daily at 08:00 (Europe/Berlin)")
    }

    @Test("slots of several programmes come sorted, strictly after the start, ties in file order")
    func slotsAcrossProgrammes() throws {
        let book = try book(
            """
            timezone: Asia/Shanghai
            programmes:
              - name: news
                kind: routine
                audio: demo-announcement.wav
                times: ['06:30', '18:00']
                days: daily
              - name: market
                kind: policy
                audio: chime.wav
                times: ['06:30']
                lunar-days: [1, 5, 11, 15, 21, 25]
            """)
        // 2026-02-17 is lunar 1-1.
        let slots = book.slots(after: cst(2026, 2, 17, 6, 30).addingTimeInterval(-1), through: cst(2026, 2, 18, 6, 30))
        #expect(slots.map(\.programme) == ["news", "market", "news", "news"])
        #expect(slots.map(\.time) == [cst(2026, 2, 17, 6, 30), cst(2026, 2, 17, 6, 30), cst(2026, 2, 17, 18), cst(2026, 2, 18, 6, 30)])
        #expect(slots[1].rule == "lunar days 1, 5, 11, 15, 21, 25 at 06:30")
        #expect(slots[2].rule == "daily at 18:00")
        #expect(book.slots(after: cst(2026, 2, 17, 6, 30), through: cst(2026, 2, 17, 6, 30)).isEmpty)
    }

    @Test("a slot's announcements carry the entry and the resolved audio, one per file")
    func announcementTemplate() throws {
        let book = try book(
            """
            programmes:
              - name: flood-drill
                title: 防汛演练通知
                kind: emergency
                level: 3
                tier: township
                audio: [chime.wav, notices/flood.wav]
                text: 请注意防汛
                times: ['07:00']
                days: daily
                repeat: 2
                repeat-interval: 30
                grace: 300
            """)
        let slot = try #require(book.nextSlots(after: utc("2026-03-01T00:00:00Z"), count: 1).first)
        #expect(slot.time == utc("2026-03-01T23:00:00Z"))
        #expect(slot.key == SlotKey(programme: "flood-drill", time: utc("2026-03-01T23:00:00Z")))
        let first = slot.announcements[0]
        #expect(first.id == "sched:flood-drill:2026-03-01T23:00:00Z")
        #expect(slot.announcements[1].id == "sched:flood-drill:2026-03-01T23:00:00Z#2")
        #expect(slot.announcements.map(\.audio) == ["/srv/dalaba/audio/chime.wav", "/srv/dalaba/audio/notices/flood.wav"])
        #expect(first.source == "schedule:flood-drill")
        #expect(first.title == "防汛演练通知")
        #expect(first.kind == .emergency && first.level == 3 && first.tier == .township)
        #expect(first.repeatCount == 2 && first.repeatInterval == 30)
        #expect(first.text == "请注意防汛")
        #expect(first.scheduledAt == slot.time)
        #expect(first.expires == slot.time.addingTimeInterval(300))
        #expect(throws: Never.self) { try first.validate() }
    }

    @Test("unquoted YAML times, dates and weekday names are read as written, not as YAML 1.1 numbers or booleans")
    func yamlScalarsAreTakenLiterally() throws {
        let book = try book(programme("times: [06:30, 18:00]\nweekdays: [mon, sat]\nfrom: 2026-01-01"))
        #expect(book.programmes[0].times == [TimeOfDay(hour: 6, minute: 30)!, TimeOfDay(hour: 18, minute: 0)!])
        #expect(book.programmes[0].days == .weekdays([.mon, .sat]))
        #expect(book.programmes[0].from == LocalDate(year: 2026, month: 1, day: 1))
    }
}

@Suite("The demo village schedule")
struct VillageScheduleTests {
    @Test("the fire-safety notice skips 2028-01-31, the sixth day of the 2028 Spring Festival")
    func fireSafetyException() throws {
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Schedules").standardized
        let text = try String(contentsOf: directory.appendingPathComponent("village.yaml"), encoding: .utf8)
        let book = try ScheduleBook.parse([ScheduleFile(name: "village.yaml", contents: text)], defaults: defaults)
        #expect(LunarCalendar.date(of: LocalDate("2028-01-26")!) == (1, 1, false))
        #expect(LunarCalendar.date(of: LocalDate("2028-01-31")!) == (1, 6, false))
        let fire = book.slots(after: cst(2027, 12, 31), through: cst(2028, 2, 2)).filter { $0.programme == "fire-safety" }
        #expect(fire.map(\.time) == [cst(2027, 12, 31, 9), cst(2028, 1, 1, 9), cst(2028, 2, 1, 9)])
        let market = book.nextSlots(after: cst(2026, 2, 16), count: 20).first { $0.programme == "market-day" }
        #expect(market?.time == cst(2026, 2, 17, 7, 30))
        #expect(market?.announcements.map(\.audio) == ["/srv/dalaba/audio/demo-announcement.wav"])
    }
}
