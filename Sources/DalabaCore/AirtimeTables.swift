import Foundation

/// How airtime, times and tables are written for people: the `dalaba log` and `dalaba report` tables, and the CSV that both the
/// tool and `GET /v1/log?format=csv` produce. Kept here, pure, so the terminal, the download and the tests cannot drift apart.
public enum AirtimeText {
    /// Seconds as hours:minutes:seconds, rounded to the nearest second; hours grow past 24 ("5400:00:00").
    public static func hms(_ seconds: Double) -> String {
        let total = Int64(max(0, seconds).rounded())
        let minutes = total / 60 % 60
        let secs = total % 60
        return "\(total / 3600):\(minutes < 10 ? "0" : "")\(minutes):\(secs < 10 ? "0" : "")\(secs)"
    }

    /// Seconds with millisecond precision, for spreadsheets that sum them ("1800.000").
    public static func seconds(_ value: Double) -> String { String(format: "%.3f", value) }

    /// A kind as the log shows it: "emergency L1", "policy".
    public static func kind(_ kind: Kind, level: Int?) -> String {
        kind == .emergency ? "emergency L\(level.map(String.init) ?? "?")" : kind.rawValue
    }

    /// The Chinese name officials use for a kind.
    public static func chineseName(_ kind: Kind) -> String {
        switch kind {
        case .emergency: "应急广播"
        case .rumorRebuttal: "辟谣"
        case .policy: "政策宣传"
        case .routine: "日常广播"
        }
    }

    /// The Chinese name of an outcome.
    public static func chineseName(_ outcome: Outcome) -> String {
        switch outcome {
        case .completed: "播完"
        case .interrupted: "被插播中断"
        case .cancelled: "已取消"
        case .expired: "已过期"
        case .missed: "错过"
        case .failed: "失败"
        }
    }
}

/// Wall-clock times in the station's zone, "2025-03-14 10:00:00", whatever the zone of the machine showing them.
public struct LocalTime: Sendable {
    public let timeZone: TimeZone
    private let calendar: Calendar

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        self.calendar = calendar
    }

    /// "2025-03-14 10:00:00".
    public func dateTime(_ date: Date) -> String {
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return "\(day(c)) \(Self.pad(c.hour ?? 0)):\(Self.pad(c.minute ?? 0)):\(Self.pad(c.second ?? 0))"
    }

    /// "2025-03-14".
    public func date(_ date: Date) -> String { day(calendar.dateComponents([.year, .month, .day], from: date)) }

    /// "10:00:00".
    public func time(_ date: Date) -> String {
        let c = calendar.dateComponents([.hour, .minute, .second], from: date)
        return "\(Self.pad(c.hour ?? 0)):\(Self.pad(c.minute ?? 0)):\(Self.pad(c.second ?? 0))"
    }

    private func day(_ c: DateComponents) -> String {
        let year = String(c.year ?? 0)
        return "\(String(repeating: "0", count: max(0, 4 - year.count)))\(year)-\(Self.pad(c.month ?? 0))-\(Self.pad(c.day ?? 0))"
    }

    private static func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : String(value) }
}

/// Comma-separated values that open correctly in Excel and WPS: a UTF-8 byte order mark (without it Excel reads Chinese titles
/// as the local ANSI code page), CRLF line ends, and RFC 4180 quoting.
public enum CSV {
    public static let byteOrderMark = "\u{FEFF}"

    /// One record: fields quoted when they hold a comma, quote, CR or LF, with quotes doubled; lines end in CRLF.
    public static func line(_ fields: [String]) -> String {
        fields.map(quote).joined(separator: ",") + "\r\n"
    }

    public static func quote(_ field: String) -> String {
        let needsQuotes = field.utf8.contains { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 13 || $0 == 10 }
        return needsQuotes ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }

    /// Free text from outside (a title typed by an operator, a CAP sender's name) that a spreadsheet would run as a formula if it
    /// began with `=`, `+`, `-`, `@`, tab or CR gets a leading apostrophe, so opening the file never executes anything.
    public static func text(_ value: String) -> String {
        guard let first = value.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return value }
        return "'" + value
    }

    /// A whole document: byte order mark, header, records.
    public static func document(header: [String], rows: [[String]]) -> String {
        var out = byteOrderMark + line(header)
        for row in rows { out += line(row) }
        return out
    }
}

/// Columns a terminal gives a string: two for CJK ideographs and full-width forms, none for combining marks, one otherwise,
/// so tables with Chinese titles stay aligned.
public enum DisplayWidth {
    public static func of(_ text: String) -> Int {
        text.unicodeScalars.reduce(0) { $0 + width($1) }
    }

    static func width(_ scalar: Unicode.Scalar) -> Int {
        let v = scalar.value
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if v == 0x200B { return 0 }
        let wide: [ClosedRange<UInt32>] = [
            0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xAC00...0xD7A3,
            0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD,
        ]
        return wide.contains { $0.contains(v) } ? 2 : 1
    }
}

/// A plain text table for the terminal: columns padded to their widest cell (by display width), numbers right-aligned.
public struct TextTable: Sendable {
    public enum Alignment: Sendable { case left, right }

    public var header: [String]
    public var alignments: [Alignment]
    public var rows: [[String]] = []
    /// Rows printed after a rule, such as the grand total.
    public var footer: [[String]] = []

    public init(header: [String], alignments: [Alignment]) {
        self.header = header
        self.alignments = alignments
    }

    public func render() -> String {
        let all = [header] + rows + footer
        var widths = Array(repeating: 0, count: header.count)
        for row in all {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], DisplayWidth.of(cell)) }
        }
        func line(_ row: [String]) -> String {
            var parts: [String] = []
            for (i, cell) in row.enumerated() where i < widths.count {
                let padding = String(repeating: " ", count: widths[i] - DisplayWidth.of(cell))
                // The last left-aligned column is not padded, so lines carry no trailing blanks.
                if alignments[i] == .right {
                    parts.append(padding + cell)
                } else {
                    parts.append(i == row.count - 1 ? cell : cell + padding)
                }
            }
            return parts.joined(separator: "  ")
        }
        var lines = [line(header)] + rows.map(line)
        if !footer.isEmpty {
            lines.append(String(repeating: "─", count: widths.reduce(0, +) + 2 * (widths.count - 1)))
            lines += footer.map(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// The airtime log as a table and as CSV.
public enum LogTable {
    /// Rows, plays (rows whose announcement reached the device) and airtime, real broadcasts and drills apart.
    public struct Summary: Sendable, Equatable {
        public var rows = 0
        public var realPlays = 0
        public var realSeconds: Double = 0
        public var drillPlays = 0
        public var drillSeconds: Double = 0

        public init(_ entries: [StationAPI.LogEntry]) {
            for entry in entries {
                rows += 1
                guard entry.frames > 0 else { continue }
                if entry.test {
                    drillPlays += 1
                    drillSeconds += entry.seconds
                } else {
                    realPlays += 1
                    realSeconds += entry.seconds
                }
            }
        }

        /// "3 rows · real 2 plays 0:25:00 · drills 1 play 0:03:00 · total 3 plays 0:28:00".
        public var line: String {
            func plays(_ n: Int) -> String { "\(n) play\(n == 1 ? "" : "s")" }
            return "\(rows) row\(rows == 1 ? "" : "s") · real \(plays(realPlays)) \(AirtimeText.hms(realSeconds)) · drills \(plays(drillPlays)) "
                + "\(AirtimeText.hms(drillSeconds)) · total \(plays(realPlays + drillPlays)) \(AirtimeText.hms(realSeconds + drillSeconds))"
        }
    }

    /// The terminal table, oldest first as given, with the summary line under it.
    public static func text(_ entries: [StationAPI.LogEntry], timeZone: TimeZone) -> String {
        let local = LocalTime(timeZone: timeZone)
        var table = TextTable(
            header: ["seq", "started (\(timeZone.identifier))", "airtime", "kind", "outcome", "source", "title"],
            alignments: [.right, .left, .right, .left, .left, .left, .left])
        for e in entries {
            let kind = AirtimeText.kind(e.kind, level: e.level) + (e.test ? " DRILL" : "")
            let outcome = e.outcome.rawValue + (e.error.map { " (\($0))" } ?? "")
            table.rows.append([
                String(e.seq), e.startedAt.map(local.dateTime) ?? "— " + local.dateTime(e.endedAt), AirtimeText.hms(e.seconds), kind, outcome,
                e.source, e.title,
            ])
        }
        return table.render() + "\n" + Summary(entries).line
    }

    public static func csvHeader(timeZone: TimeZone) -> [String] {
        [
            "序号 seq", "开始时间 started (\(timeZone.identifier))", "结束时间 ended", "标题 title", "类别 kind", "级别 level", "演练 drill",
            "层级 tier", "来源 source", "结果 outcome", "时长 airtime", "秒 seconds", "帧数 frames", "提示音帧数 signal frames", "采样率 rate",
            "播次 play", "编号 id", "音频 audio", "错误 error", "哈希 hash",
        ]
    }

    public static func csvRow(_ e: StationAPI.LogEntry, local: LocalTime) -> [String] {
        [
            String(e.seq), e.startedAt.map(local.dateTime) ?? "", local.dateTime(e.endedAt), CSV.text(e.title), e.kind.rawValue,
            e.level.map(String.init) ?? "", e.test ? "yes" : "no", e.tier, CSV.text(e.source), e.outcome.rawValue, AirtimeText.hms(e.seconds),
            AirtimeText.seconds(e.seconds), String(e.frames), String(e.signalFrames), String(e.rate), String(e.playNumber), CSV.text(e.id),
            CSV.text(e.audio), CSV.text(e.error ?? ""), e.hash,
        ]
    }

    public static func csv(_ entries: [StationAPI.LogEntry], timeZone: TimeZone) -> String {
        let local = LocalTime(timeZone: timeZone)
        return CSV.document(header: csvHeader(timeZone: timeZone), rows: entries.map { csvRow($0, local: local) })
    }
}

/// `dalaba report` as a table and as CSV: one line per group and the grand total.
public enum ReportTable {
    static func keyHeader(_ by: String) -> (english: String, chinese: String) {
        switch by {
        case "day": ("day", "日期")
        case "week": ("week", "周")
        case "month": ("month", "月份")
        case "kind": ("kind", "类别")
        case "level": ("level", "级别")
        case "source": ("source", "来源")
        default: (by, by)
        }
    }

    public static func text(_ report: StationAPI.AirtimeReport) -> String {
        var table = TextTable(
            header: [keyHeader(report.by).english, "real plays", "real airtime", "drills", "drill airtime", "total plays", "total airtime"],
            alignments: [.left, .right, .right, .right, .right, .right, .right])
        func cells(_ g: StationAPI.AirtimeTotals) -> [String] {
            [
                g.key, String(g.realCount), AirtimeText.hms(g.realSeconds), String(g.drillCount), AirtimeText.hms(g.drillSeconds),
                String(g.totalCount), AirtimeText.hms(g.totalSeconds),
            ]
        }
        table.rows = report.groups.map(cells)
        table.footer = [cells(report.total)]
        return "airtime by \(report.by)\(range(report)) (\(report.timeZone))\n" + table.render()
    }

    public static func csv(_ report: StationAPI.AirtimeReport) -> String {
        let key = keyHeader(report.by)
        let header = [
            "\(key.chinese) \(key.english)", "正式播出次数 real plays", "正式播出时长 real airtime", "正式播出秒 real seconds", "演练次数 drill plays",
            "演练时长 drill airtime", "演练秒 drill seconds", "合计次数 total plays", "合计时长 total airtime", "合计秒 total seconds",
        ]
        func cells(_ g: StationAPI.AirtimeTotals, key: String) -> [String] {
            [
                key, String(g.realCount), AirtimeText.hms(g.realSeconds), AirtimeText.seconds(g.realSeconds), String(g.drillCount),
                AirtimeText.hms(g.drillSeconds), AirtimeText.seconds(g.drillSeconds), String(g.totalCount), AirtimeText.hms(g.totalSeconds),
                AirtimeText.seconds(g.totalSeconds),
            ]
        }
        let rows = report.groups.map { cells($0, key: CSV.text($0.key)) } + [cells(report.total, key: "合计 total")]
        return CSV.document(header: header, rows: rows)
    }

    /// ", 2025-03-01 – 2025-03-31" in the station's zone, the end shown inclusively when it falls on a midnight.
    static func range(_ report: StationAPI.AirtimeReport) -> String {
        guard report.from != nil || report.to != nil, let zone = TimeZone(identifier: report.timeZone) else { return "" }
        let local = LocalTime(timeZone: zone)
        func show(_ date: Date, end: Bool) -> String {
            guard local.time(date) == "00:00:00" else { return local.dateTime(date) }
            return end ? local.date(date.addingTimeInterval(-1)) : local.date(date)
        }
        return ", \(report.from.map { show($0, end: false) } ?? "start") – \(report.to.map { show($0, end: true) } ?? "now")"
    }
}
