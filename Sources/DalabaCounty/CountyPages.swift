import DalabaCore
import DalabaLink
import Foundation

/// The read-only console pages: the villages table, the airtime log and an announcement's coverage, plain HTML in the village
/// console's style.
enum CountyPages {
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func page(_ title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; margin: 1rem; color: #222; }
        table { border-collapse: collapse; width: 100%; } th, td { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; }
        th { background: #f4f4f4; } .bad { color: #b00; font-weight: bold; } .ok { color: #070; } .num { text-align: right; }
        @media (max-width: 600px) { .wide { display: none; } }
        </style></head><body>
        \(body)
        </body></html>
        """
    }

    static func villages(_ villages: [CountyAPI.Village], county: CountyConfiguration, caller: CountyConfiguration.Token) -> String {
        let local = LocalTime(timeZone: county.timeZone)
        let rows = villages.map { v in
            """
            <tr><td>\(escape(v.code))</td><td>\(escape(v.name))</td><td>\(escape(county.townshipName((try? RegionCode(v.township)) ?? county.county)))</td>
            <td class="\(v.online ? "ok" : "bad")">\(v.online ? "online" : "OFFLINE")\(v.since.map { " since " + local.dateTime($0) } ?? "")</td>
            <td>\(escape(v.onAir ?? "—"))</td><td class="\(v.deviceUp == false ? "bad" : "")">\(v.deviceUp.map { $0 ? "up" : "DOWN" } ?? "?")</td>
            <td class="wide">\(v.lastHeartbeat.map(local.dateTime) ?? "—")</td><td class="num">\(v.rows)</td>
            <td class="\(v.chainFault == nil ? "" : "bad")">\(escape(v.chainFault ?? "intact"))</td></tr>
            """
        }.joined(separator: "\n")
        return page(
            "\(county.countyName.isEmpty ? county.county.digits : county.countyName) — villages",
            """
            <h1>\(escape(county.countyName.isEmpty ? "County \(county.county)" : county.countyName)): villages</h1>
            <p>Region \(escape(caller.scope.digits)), \(villages.filter(\.online).count) of \(villages.count) online ·
            <a href="/log">airtime log</a></p>
            <table><tr><th>code</th><th>village</th><th>township</th><th>link</th><th>on air</th><th>device</th><th class="wide">last heartbeat</th>
            <th>rows</th><th>airtime chain</th></tr>
            \(rows)
            </table>
            """)
    }

    static func coverage(_ coverage: CountyAPI.Coverage, county: CountyConfiguration) -> String {
        let local = LocalTime(timeZone: county.timeZone)
        let rows = coverage.villages.map { v in
            """
            <tr data-village="\(escape(v.code))"><td>\(escape(v.code))</td><td>\(escape(v.name))</td><td>\(escape(v.status.rawValue))</td>
            <td class="num">\(v.timeToFirstAudio.map { String(format: "%.3f s", $0) } ?? "—")</td>
            <td class="num">\(v.rate.map { AirtimeText.hms(Double(v.frames) / Double(max($0, 1))) } ?? "—")</td>
            \(volumeCell(v.volume))<td>\(escape(v.reason ?? ""))</td></tr>
            """
        }.joined(separator: "\n")
        let counts = CountyAPI.Coverage.Status.allCases.compactMap { s -> String? in
            let n = coverage.counts[s.rawValue] ?? 0
            return n == 0 ? nil : "\(s.rawValue) \(n)"
        }.joined(separator: " · ")
        return page(
            "coverage \(coverage.id)",
            """
            <h1>Coverage: \(escape(coverage.title))</h1>
            <p>\(escape(coverage.id)), \(escape(coverage.kind.rawValue))\(coverage.level.map { " level \($0)" } ?? ""), accepted
            \(local.dateTime(coverage.acceptedAt)), to \(escape(coverage.targets.joined(separator: ", "))).</p>
            <p>\(coverage.targeted) villages targeted: \(escape(counts))</p>
            <table><tr><th>code</th><th>village</th><th>status</th><th>time to first audio</th><th>airtime</th><th>volume</th><th>reason</th></tr>
            \(rows)
            </table>
            """)
    }

    /// The levels a village played an announcement at, "—" when none is known; a level no station plays at is marked, since
    /// only something other than dalabad writes one.
    static func volumeCell(_ volume: CountyAPI.Coverage.PlayedVolume?) -> String {
        guard let volume else { return "<td class=\"num volume\">—</td>" }
        guard volume.isPlausible else {
            return "<td class=\"num volume bad\" title=\"not a level a station plays at\">\(escape(volume.text)) (implausible)</td>"
        }
        return "<td class=\"num volume\">\(escape(volume.text))</td>"
    }

    /// The county's copy of the villages' airtime rows, newest first, with the volume each played at (as in the log CSV).
    static func log(_ rows: [(village: String, row: LinkRow)], total: Int, county: CountyConfiguration, caller: CountyConfiguration.Token) -> String {
        let local = LocalTime(timeZone: county.timeZone)
        let names = Dictionary(county.villages.map { ($0.code.digits, $0.name) }, uniquingKeysWith: { first, _ in first })
        let lines = rows.map { village, r in
            """
            <tr data-village="\(escape(village))" data-seq="\(r.seq)"><td>\(escape(village))</td><td>\(escape(names[village] ?? ""))</td>
            <td class="num">\(r.seq)</td>
            <td>\(r.startedAt.map { local.dateTime(Date(timeIntervalSince1970: Double($0) / 1000)) } ?? "—")</td><td>\(escape(r.title))</td>
            <td>\(escape(r.kind))\(r.level.map { " L\($0)" } ?? "")\(r.isTest ? " (drill)" : "")</td><td>\(escape(r.outcome))</td>
            <td class="num">\(AirtimeText.hms(r.airtime))</td>
            <td class="num volume">\(r.volume.map { CountyController.decibels($0) + " dB" } ?? "—")</td></tr>
            """
        }.joined(separator: "\n")
        return page(
            "\(county.countyName.isEmpty ? county.county.digits : county.countyName) — airtime log",
            """
            <h1>\(escape(county.countyName.isEmpty ? "County \(county.county)" : county.countyName)): airtime log</h1>
            <p>Region \(escape(caller.scope.digits)): \(total) rows, the newest \(rows.count) shown · <a href="/v1/log?format=csv">CSV</a> ·
            <a href="/">villages</a></p>
            <table><tr><th>code</th><th>village</th><th>seq</th><th>started</th><th>title</th><th>kind</th><th>outcome</th><th>airtime</th>
            <th>volume</th></tr>
            \(lines)
            </table>
            """)
    }

    static func login(_ county: CountyConfiguration) -> String {
        page(
            "sign in",
            """
            <h1>\(escape(county.countyName.isEmpty ? "County \(county.county)" : county.countyName))</h1>
            <form method="post" action="/login"><label>Token <input type="password" name="token" autocomplete="current-password"></label>
            <button>Sign in</button></form>
            """)
    }
}
