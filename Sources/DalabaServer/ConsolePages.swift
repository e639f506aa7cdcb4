import DalabaCore
import Foundation

/// HTML escaping: every value from the log, the queue or the request goes through it (a title is free text, and CAP alerts come
/// from outside the village).
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A query string from name-value pairs, percent-encoded, skipping empty values.
    static func query(_ pairs: [(String, String?)]) -> String {
        // ASCII only: CharacterSet.alphanumerics would leave Chinese letters unencoded.
        let allowed = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:")
        let items = pairs.compactMap { name, value -> String? in
            guard let value, !value.isEmpty else { return nil }
            return "\(name)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }
        return items.isEmpty ? "" : "?" + items.joined(separator: "&")
    }
}

/// The officials' console pages, rendered from plain values: no template engine, no script. Chinese first, English beside it
/// for the maintainers.
enum ConsolePages {
    enum Section: String {
        case overview, log, verify
    }

    /// The filter form's values as typed, so the page shows them back.
    struct FilterValues: Equatable {
        var from = ""
        var to = ""
        var kind = ""
        var outcome = ""
        var test = ""

        var pairs: [(String, String?)] { [("from", from), ("to", to), ("kind", kind), ("outcome", outcome), ("test", test)] }
    }

    struct Overview {
        var user: String
        var status: StationAPI.Status
        var timeZone: TimeZone
        var filters: FilterValues
        var error: String?
        /// Per day (or per month for long ranges), every day of the range present.
        var timeBars: [ConsoleCharts.Bar]
        var timeUnit: String
        var kindBars: [ConsoleCharts.Bar]
        var total: StationAPI.AirtimeTotals?
    }

    struct LogPage {
        var user: String
        var timeZone: TimeZone
        var filters: FilterValues
        var error: String?
        var entries: [StationAPI.LogEntry]
        var total: Int
        var page: Int
        var pageSize: Int
    }

    struct VerifyPage {
        var user: String
        var timeZone: TimeZone
        var result: StationAPI.LogVerification
        var seconds: Double
    }

    // MARK: - Pages

    static func login(error: String?, next: String) -> String {
        var body = "<section class=\"card signin\"><h1>大喇叭 · 播出监管</h1><p class=\"muted\">Dalaba officials' console</p>"
        if let error { body += "<p class=\"alert\" id=\"login-error\">\(HTML.escape(error))</p>" }
        body += """
            <form method="post" action="/login">
            <label for="token">访问令牌 Token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
            <input type="hidden" name="next" value="\(HTML.escape(next))">
            <button type="submit">登录 Sign in</button>
            </form></section>
            """
        return document(title: "登录 Sign in", user: nil, active: nil, timeZone: nil, body: body)
    }

    /// After a sign-in posted from elsewhere: a same-site hop to the console, since a SameSite=Strict cookie is not sent on a
    /// navigation that a cross-site page started (the redirect of such a post would arrive signed out).
    static func signedIn(next: String) -> String {
        let target = HTML.escape(next)
        let body = "<section class=\"card\"><p>已登录 Signed in. <a id=\"continue\" href=\"\(target)\">继续 Continue</a></p></section>"
        return document(title: "已登录 Signed in", user: nil, active: nil, timeZone: nil, body: body, refresh: next)
    }

    static func problem(title: String, message: String, user: String?) -> String {
        document(
            title: title, user: user, active: nil, timeZone: nil,
            body: "<section class=\"card\"><h1>\(HTML.escape(title))</h1><p class=\"alert\" id=\"problem\">\(HTML.escape(message))</p></section>")
    }

    static func overview(_ model: Overview) -> String {
        let status = model.status
        let local = LocalTime(timeZone: model.timeZone)
        var body = ""
        if let fault = status.storeFault {
            body += "<p class=\"alert\" id=\"store-fault\">日志数据库故障 Store fault: \(HTML.escape(fault))</p>"
        }
        for problem in status.scheduleProblems { body += "<p class=\"warning\">节目表问题 Schedule problem: \(HTML.escape(problem))</p>" }
        let device = status.device
        body += "<p class=\"device \(device.up ? "up" : "down")\" id=\"device\">功放设备 Device <b>\(HTML.escape(device.name))</b>: "
        body += device.up ? "正常 up" : "故障 DOWN\(device.lastError.map { " (\(HTML.escape($0)))" } ?? "")"
        body += "</p>"

        body += "<section class=\"card\" id=\"now-playing\"><h2>正在播出 Now playing</h2>"
        if let now = status.nowPlaying {
            body += "<p class=\"onair\"><b>\(HTML.escape(now.item.title))</b> \(badges(now.item.kind, now.item.level, now.item.test))</p>"
            let position = now.inSignal ? "提示音 \(now.signal)" : "\(AirtimeText.hms(now.position)) / \(AirtimeText.hms(now.duration))"
            body += "<p class=\"muted\">\(position) · 来源 \(HTML.escape(now.item.source)) · 第 \(now.playNumber)/\(now.item.repeat) 次"
            if let started = now.startedAt { body += " · 开始于 \(local.time(started))" }
            body += "</p>"
            if now.duration > 0 { body += "<progress max=\"\(now.duration)\" value=\"\(min(now.position, now.duration))\"></progress>" }
        } else {
            body += "<p class=\"muted\">当前没有播出 Nothing on air</p>"
        }
        body += "</section>"

        body += "<section class=\"card\" id=\"queue\"><h2>待播队列 Queue <span class=\"count\">\(status.queue.count)</span></h2>"
        if status.queue.isEmpty {
            body += "<p class=\"muted\">队列为空 The queue is empty</p>"
        } else {
            body += "<ol>"
            for item in status.queue {
                var notes: [String] = ["来源 \(HTML.escape(item.source))"]
                if let notBefore = item.notBefore { notes.append("不早于 \(local.dateTime(notBefore))") }
                if let expires = item.expires { notes.append("过期 \(local.dateTime(expires))") }
                if item.repeat > 1 { notes.append("共 \(item.repeat) 次") }
                body += "<li><b>\(HTML.escape(item.title))</b> \(badges(item.kind, item.level, item.test))"
                body += "<br><span class=\"muted\">\(notes.joined(separator: " · "))</span></li>"
            }
            body += "</ol>"
        }
        body += "</section>"

        body += "<section class=\"card\" id=\"airtime\"><h2>播出时长 Airtime</h2>"
        body += rangeForm(action: "/", filters: model.filters, withKinds: false)
        if let error = model.error { body += "<p class=\"alert\" id=\"filter-error\">\(HTML.escape(error))</p>" }
        if let total = model.total {
            body += totalsTable(total)
            body += "<h3>\(model.timeUnit == "day" ? "每日播出时长 Airtime per day" : "每月播出时长 Airtime per month")</h3>"
            body += ConsoleCharts.columns(model.timeBars, title: "播出时长 airtime per \(model.timeUnit)", id: "chart-\(model.timeUnit)")
            body += "<h3>各类别播出时长 Airtime per kind</h3>"
            body += ConsoleCharts.rows(model.kindBars, title: "各类别播出时长 airtime per kind", id: "chart-kind")
            body += ConsoleCharts.legend
            let range = HTML.query([("from", model.filters.from), ("to", model.filters.to)])
            let sep = range.isEmpty ? "?" : "&"
            body += "<p class=\"downloads\"><a id=\"csv-log\" href=\"/v1/log\(HTML.escape(range + sep))format=csv\">下载播出记录 CSV (log)</a>"
            body += "<a id=\"csv-report\" href=\"/v1/report\(HTML.escape(range + sep))by=day&amp;format=csv\">下载每日统计 CSV (report)</a></p>"
        }
        body += "</section>"
        return document(title: "概览 Overview", user: model.user, active: .overview, timeZone: model.timeZone, body: body)
    }

    static func log(_ model: LogPage) -> String {
        let local = LocalTime(timeZone: model.timeZone)
        var body = "<section class=\"card\" id=\"log\"><h1>播出记录 Broadcast log</h1>"
        body += rangeForm(action: "/log", filters: model.filters, withKinds: true)
        if let error = model.error {
            body += "<p class=\"alert\" id=\"filter-error\">\(HTML.escape(error))</p></section>"
            return document(title: "播出记录 Log", user: model.user, active: .log, timeZone: model.timeZone, body: body)
        }
        let first = model.total == 0 ? 0 : (model.page - 1) * model.pageSize + 1
        let last = (model.page - 1) * model.pageSize + model.entries.count
        body += "<p id=\"log-count\">共 <b>\(model.total)</b> 条记录 rows"
        if model.total > 0 { body += "，显示第 \(first)–\(last) 条" }
        let csv = HTML.query(model.filters.pairs + [("format", "csv")])
        body += " · <a id=\"csv-log\" href=\"/v1/log\(HTML.escape(csv))\">下载 CSV</a></p>"
        let summary = LogTable.Summary(model.entries)
        body += "<p class=\"muted\" id=\"page-summary\">本页 This page: 正式播出 \(summary.realPlays) 次 \(AirtimeText.hms(summary.realSeconds)) · "
        body += "演练 \(summary.drillPlays) 次 \(AirtimeText.hms(summary.drillSeconds))</p>"
        body += "<div class=\"scroll\"><table id=\"log-table\"><thead><tr><th>开始时间 Started</th><th>标题 Title</th><th>类别 Kind</th>"
        body += "<th>结果 Outcome</th><th class=\"num\">时长 Airtime</th><th>来源 Source</th></tr></thead><tbody>"
        for entry in model.entries {
            let when = entry.startedAt.map { local.dateTime($0) } ?? "（未播）" + local.dateTime(entry.endedAt)
            body += "<tr data-seq=\"\(entry.seq)\" class=\"outcome-\(entry.outcome.rawValue)\(entry.test ? " drill" : "")\">"
            body += "<td class=\"when\">\(when)</td><td>\(HTML.escape(entry.title))</td>"
            body += "<td>\(badges(entry.kind, entry.level, entry.test))</td>"
            body += "<td>\(AirtimeText.chineseName(entry.outcome)) <span class=\"muted\">\(entry.outcome.rawValue)</span>"
            if let error = entry.error { body += "<br><span class=\"muted\">\(HTML.escape(error))</span>" }
            body += "</td><td class=\"num\">\(AirtimeText.hms(entry.seconds))</td><td>\(HTML.escape(entry.source))</td></tr>"
        }
        if model.entries.isEmpty { body += "<tr><td colspan=\"6\" class=\"muted\">没有符合条件的记录 No rows match</td></tr>" }
        body += "</tbody></table></div>"
        let pages = max(1, (model.total + model.pageSize - 1) / model.pageSize)
        if pages > 1 {
            body += "<p class=\"pager\">"
            if model.page > 1 {
                body +=
                    "<a rel=\"prev\" href=\"/log\(HTML.escape(HTML.query(model.filters.pairs + [("page", String(model.page - 1))])))\">上一页 Newer</a>"
            }
            body += "<span>第 \(model.page) / \(pages) 页</span>"
            if model.page < pages {
                body +=
                    "<a rel=\"next\" href=\"/log\(HTML.escape(HTML.query(model.filters.pairs + [("page", String(model.page + 1))])))\">下一页 Older</a>"
            }
            body += "</p>"
        }
        body += "</section>"
        return document(title: "播出记录 Log", user: model.user, active: .log, timeZone: model.timeZone, body: body)
    }

    static func verify(_ model: VerifyPage) -> String {
        let local = LocalTime(timeZone: model.timeZone)
        let result = model.result
        var body = "<section class=\"card\" id=\"verify\"><h1>日志完整性校验 Log verification</h1>"
        if result.intact {
            body += "<p class=\"ok\" id=\"verify-result\" data-intact=\"true\">✔ 日志完整，未发现篡改 The log is intact: "
            body += "\(result.rows) 条记录 rows checked.</p>"
        } else {
            body += "<p class=\"alert\" id=\"verify-result\" data-intact=\"false\">✘ 日志已被改动 The log is NOT intact: "
            body += "\(HTML.escape(result.problem ?? "unknown problem"))</p>"
            if let seq = result.firstBadSeq { body += "<p>首个问题记录 First row at fault: <b>#\(seq)</b></p>" }
        }
        if let head = result.head {
            body += "<p>链头 Chain head: <code id=\"chain-head\">\(HTML.escape(head))</code></p>"
            body += "<p class=\"muted\">请抄录或上报链头；日后用 <code>dalaba log verify --expect \(HTML.escape(head))</code> "
            body += "可发现末尾记录被删除或整段重写。Keep this head elsewhere: checking against it later also detects removed or rewritten "
            body += "newest rows, which the chain alone cannot.</p>"
        }
        body += "<p class=\"muted\">校验时间 Checked at \(local.dateTime(result.checkedAt)) (\(String(format: "%.2f", model.seconds)) s)</p>"
        body += "</section>"
        return document(title: "完整性校验 Verify", user: model.user, active: .verify, timeZone: model.timeZone, body: body)
    }

    // MARK: - Pieces

    static func badges(_ kind: Kind, _ level: Int?, _ test: Bool) -> String {
        var text = "<span class=\"badge kind-\(kind.rawValue)\">\(AirtimeText.chineseName(kind))"
        if kind == .emergency, let level { text += " \(["", "Ⅰ级", "Ⅱ级", "Ⅲ级", "Ⅳ级"][min(max(level, 1), 4)])" }
        text += "</span>"
        if test { text += " <span class=\"badge drill\">演练</span>" }
        return text
    }

    static func totalsTable(_ total: StationAPI.AirtimeTotals) -> String {
        """
        <table id="totals" class="totals"><thead><tr><th></th><th class="num">次数 Plays</th><th class="num">时长 Airtime</th></tr></thead><tbody>
        <tr id="total-real"><th>正式播出 Real</th><td class="num">\(total.realCount)</td><td class="num">\(AirtimeText.hms(total.realSeconds))</td></tr>
        <tr id="total-drill"><th>演练 Drills</th><td class="num">\(total.drillCount)</td><td class="num">\(AirtimeText.hms(total.drillSeconds))</td></tr>
        <tr id="total-all" class="grand"><th>合计 Total</th><td class="num">\(total.totalCount)</td><td class="num">\(AirtimeText.hms(total.totalSeconds))</td></tr>
        </tbody></table>
        """
    }

    static func rangeForm(action: String, filters: FilterValues, withKinds: Bool) -> String {
        var form = "<form class=\"filters\" method=\"get\" action=\"\(action)\">"
        form += "<label>从 From <input type=\"date\" name=\"from\" value=\"\(HTML.escape(filters.from))\"></label>"
        form += "<label>至 To <input type=\"date\" name=\"to\" value=\"\(HTML.escape(filters.to))\"></label>"
        if withKinds {
            form += select("kind", "类别 Kind", filters.kind, Kind.allCases.map { ($0.rawValue, AirtimeText.chineseName($0)) })
            form += select("outcome", "结果 Outcome", filters.outcome, Outcome.allCases.map { ($0.rawValue, AirtimeText.chineseName($0)) })
            form += select("test", "性质 Type", filters.test, [("false", "正式播出 real"), ("true", "演练 drills")])
        }
        return form + "<button type=\"submit\">查询 Show</button></form>"
    }

    static func select(_ name: String, _ label: String, _ value: String, _ options: [(String, String)]) -> String {
        var html = "<label>\(label) <select name=\"\(name)\"><option value=\"\">全部 all</option>"
        for (key, text) in options {
            html += "<option value=\"\(HTML.escape(key))\"\(key == value ? " selected" : "")>\(HTML.escape(text))</option>"
        }
        return html + "</select></label>"
    }

    static func document(
        title: String, user: String?, active: Section?, timeZone: TimeZone?, body: String, refresh: String? = nil
    ) -> String {
        var html = """
            <!doctype html>
            <html lang="zh-CN"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <meta name="color-scheme" content="light">
            """
        if let refresh { html += "<meta http-equiv=\"refresh\" content=\"0; url=\(HTML.escape(refresh))\">" }
        html += "<title>\(HTML.escape(title)) · 大喇叭 Dalaba</title><style>\(stylesheet)</style></head><body>"
        html += "<header><a class=\"brand\" href=\"/\">大喇叭 <small>Dalaba</small></a>"
        if let user {
            html += "<nav>"
            for (section, label) in [(Section.overview, "概览"), (.log, "播出记录"), (.verify, "完整性校验")] {
                let href = section == .overview ? "/" : "/\(section.rawValue)"
                html += "<a href=\"\(href)\"\(section == active ? " class=\"active\" aria-current=\"page\"" : "")>\(label)</a>"
            }
            html += "</nav><form class=\"signout\" method=\"post\" action=\"/logout\"><span id=\"user\">\(HTML.escape(user))</span>"
            html += "<button type=\"submit\">退出 Sign out</button></form>"
        }
        html += "</header><main>\(body)</main>"
        if let timeZone { html += "<footer>时间均为 \(HTML.escape(timeZone.identifier)) 当地时间 · Times are local to the station</footer>" }
        return html + "</body></html>"
    }

    static let stylesheet = """
        *{box-sizing:border-box}
        body{margin:0;font:16px/1.5 system-ui,-apple-system,"PingFang SC","Noto Sans CJK SC","WenQuanYi Zen Hei","Microsoft YaHei",sans-serif;
        color:#1d1d1f;background:#f4f1ec}
        header{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;padding:.6rem 1rem;background:#8e1b14;color:#fff}
        header a{color:#fff;text-decoration:none}
        .brand{font-weight:700;font-size:1.15rem}.brand small{font-weight:400;opacity:.8}
        nav{display:flex;gap:.25rem;flex-wrap:wrap}nav a{padding:.2rem .6rem;border-radius:.4rem}nav a.active{background:rgba(255,255,255,.22)}
        .signout{margin-left:auto;display:flex;gap:.5rem;align-items:center;font-size:.9rem}
        .signout button{background:transparent;color:#fff;border:1px solid rgba(255,255,255,.6);padding:.15rem .5rem}
        main{max-width:960px;margin:0 auto;padding:.75rem}
        .card{background:#fff;border-radius:.6rem;padding:.8rem 1rem;margin:.75rem 0;box-shadow:0 1px 2px rgba(0,0,0,.08)}
        h1{font-size:1.3rem;margin:.2rem 0 .6rem}h2{font-size:1.1rem;margin:.2rem 0 .5rem}h3{font-size:1rem;margin:1rem 0 .3rem}
        .muted{color:#666;font-size:.9rem}.count{font-size:.85rem;background:#eee;border-radius:1rem;padding:0 .5rem;color:#444}
        .alert{background:#fde8e6;color:#8e1b14;border-left:4px solid #b3261e;padding:.5rem .75rem;border-radius:.3rem}
        .warning{background:#fff4dc;border-left:4px solid #f2a93b;padding:.5rem .75rem}
        .ok{background:#e6f4ea;color:#1e5b2e;border-left:4px solid #2e7d32;padding:.5rem .75rem;border-radius:.3rem}
        .device.up{color:#1e5b2e}.device.down{color:#b3261e;font-weight:700}
        .badge{display:inline-block;font-size:.78rem;padding:0 .45rem;border-radius:.8rem;background:#eee;color:#333;white-space:nowrap}
        .kind-emergency{background:#b3261e;color:#fff}.kind-rumor-rebuttal{background:#6a1b9a;color:#fff}
        .kind-policy{background:#1565c0;color:#fff}.kind-routine{background:#607d8b;color:#fff}.badge.drill{background:#f2a93b;color:#222}
        progress{width:100%}
        ol{padding-left:1.4rem;margin:.3rem 0}li{margin:.35rem 0}
        form.filters{display:flex;flex-wrap:wrap;gap:.5rem;align-items:end;margin:.3rem 0 .6rem}
        form.filters label{display:flex;flex-direction:column;font-size:.85rem;color:#444}
        input,select,button{font:inherit;padding:.3rem .45rem;border:1px solid #bbb;border-radius:.35rem;background:#fff}
        button{background:#8e1b14;color:#fff;border-color:#8e1b14;cursor:pointer}
        table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.35rem .45rem;border-bottom:1px solid #eee;
        vertical-align:top}
        .num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}.when{white-space:nowrap}
        table.totals{max-width:28rem}tr.grand{font-weight:700;border-top:2px solid #999}
        .scroll{overflow-x:auto}tr.drill{background:#fffaf0}
        svg.chart{width:100%;height:auto;max-width:640px;display:block}
        .legend{font-size:.85rem;color:#444}.swatch{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 .8rem;vertical-align:-.1rem}
        .downloads a,.pager a{display:inline-block;margin:.3rem 1rem .3rem 0}
        .signin{max-width:24rem;margin:3rem auto}.signin form{display:flex;flex-direction:column;gap:.6rem}
        footer{max-width:960px;margin:0 auto;padding:0 1rem 1.5rem;color:#777;font-size:.8rem}
        code{font-size:.8rem;word-break:break-all}
        """
}
