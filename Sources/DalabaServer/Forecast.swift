import DalabaCore
import Foundation

/// What the console tells an operator before they confirm, and when each queued item should start: estimates from the
/// queue's play order and the lengths of its files (the station's own order, not a second scheduler).
enum Forecast {
    struct Timing: Sendable {
        var chime: Double
        var attention: Double
        /// Seconds of audio in a file, nil if unknown.
        var seconds: @Sendable (String) -> Double?
    }

    /// Kinds in rank order: an item waits for everything queued of its rank or above (the same rank plays first come).
    static func rank(_ kind: Kind) -> Int { Kind.allCases.firstIndex(of: kind) ?? Kind.allCases.count }

    /// Seconds left of what plays now.
    static func remaining(_ status: StationAPI.Status) -> Double {
        guard let now = status.nowPlaying else { return 0 }
        return max(0, now.duration - now.position)
    }

    /// Seconds one play of a queued item takes on air, its signal included.
    static func airtime(_ item: StationAPI.Item, _ timing: Timing) -> Double {
        let signal = item.kind == .emergency ? timing.attention : timing.chime
        return (timing.seconds(item.audio) ?? 0) + signal
    }

    /// "cuts in now, after the attention signal" / "plays after 2 items, about 3 min" — what queueing one of `kind` now does.
    static func line(kind: Kind, notBefore: Date?, status: StationAPI.Status, timing: Timing, local: LocalTime) -> String {
        if let notBefore, notBefore > status.now {
            return "将于 \(local.dateTime(notBefore)) 起播出 plays from \(local.dateTime(notBefore)), when nothing of higher rank is on air"
        }
        if kind == .emergency {
            if let playing = status.nowPlaying, playing.item.kind == .emergency {
                return "排在正在播出的紧急广播之后，约 \(minutes(remaining(status))) 分钟后 plays after the emergency on air now, in about \(minutes(remaining(status))) min"
            }
            return status.nowPlaying == nil
                ? "立即播出，先播提示音 goes on air now, after the attention signal"
                : "立即插播，先播提示音 cuts in now, after the attention signal"
        }
        let ahead = status.queue.filter { rank($0.kind) <= rank(kind) && ($0.notBefore ?? status.now) <= status.now }
        var wait = ahead.reduce(remaining(status)) { $0 + airtime($1, timing) * Double(max(1, $1.repeat - $1.playsDone)) }
        let count = ahead.count + (status.nowPlaying == nil ? 0 : 1)
        if count == 0 { return "立即播出，先播提示音 plays now, after the chime" }
        wait = max(wait, 1)
        return "排在 \(count) 条之后，约 \(minutes(wait)) 分钟后播出 plays after \(count) item\(count == 1 ? "" : "s"), about \(minutes(wait)) min"
    }

    static func minutes(_ seconds: Double) -> Int { max(1, Int((seconds / 60).rounded(.up))) }

    /// When each queued item should start if nothing else arrives: after what plays now and everything before it in play
    /// order, and not before its own not-before.
    static func expectedStarts(status: StationAPI.Status, timing: Timing) -> [String: Date] {
        var at = status.now.addingTimeInterval(remaining(status))
        var starts: [String: Date] = [:]
        for item in status.queue {
            if let notBefore = item.notBefore, notBefore > at { at = notBefore }
            starts[item.id] = at
            at = at.addingTimeInterval(airtime(item, timing) * Double(max(1, item.repeat - item.playsDone)))
        }
        return starts
    }
}

/// Lunar dates (农历) from Foundation's Chinese calendar, written the way a village calendar writes them: 腊月初八, 闰四月十五.
struct LunarDate {
    let calendar: Calendar
    let gregorian: Calendar

    init(timeZone: TimeZone) {
        var calendar = Calendar(identifier: .chinese)
        calendar.timeZone = timeZone
        self.calendar = calendar
        var gregorian = Calendar(identifier: .gregorian)
        gregorian.timeZone = timeZone
        self.gregorian = gregorian
    }

    static let months = ["正月", "二月", "三月", "四月", "五月", "六月", "七月", "八月", "九月", "十月", "冬月", "腊月"]
    static let digits = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十"]

    static func day(_ day: Int) -> String {
        switch day {
        case 1...10: "初" + digits[day]
        case 11...19: "十" + digits[day - 10]
        case 20: "二十"
        case 21...29: "廿" + digits[day - 20]
        case 30: "三十"
        default: String(day)
        }
    }

    /// "农历腊月初八".
    func describe(_ date: Date) -> String {
        let c = calendar.dateComponents([.month, .day], from: date)
        guard let month = c.month, let day = c.day, (1...12).contains(month) else { return "" }
        return "农历" + (c.isLeapMonth == true ? "闰" : "") + Self.months[month - 1] + Self.day(day)
    }

    /// "周一 Mon".
    func weekday(_ date: Date) -> String {
        let names = ["周日 Sun", "周一 Mon", "周二 Tue", "周三 Wed", "周四 Thu", "周五 Fri", "周六 Sat"]
        return names[(gregorian.component(.weekday, from: date) - 1) % 7]
    }
}
