import DalabaCore
import Foundation

/// The console's bar charts, drawn by the server as inline SVG: no script, no chart library, readable on a phone. Real
/// broadcasts and drills are stacked in two colours; every bar carries a `<title>` with its exact figures.
enum ConsoleCharts {
    /// One bar: its label under the axis, the full key in its tooltip, and the two stacked amounts.
    struct Bar: Equatable {
        var key: String
        var label: String
        var real: Double
        var drill: Double
        var realCount: Int
        var drillCount: Int

        init(key: String, label: String, totals: StationAPI.AirtimeTotals?) {
            self.key = key
            self.label = label
            real = totals?.realSeconds ?? 0
            drill = totals?.drillSeconds ?? 0
            realCount = totals?.realCount ?? 0
            drillCount = totals?.drillCount ?? 0
        }

        var tooltip: String {
            "\(key): 正式播出 \(AirtimeText.hms(real)) (\(realCount) 次), 演练 \(AirtimeText.hms(drill)) (\(drillCount) 次)"
        }
    }

    static let width = 400.0
    static let realColour = "#b3261e"
    static let drillColour = "#f2a93b"

    /// Vertical bars over time (days or months), with a scale in hours:minutes and at most about eight labels under the axis.
    static func columns(_ bars: [Bar], title: String, id: String) -> String {
        let height = 200.0
        let left = 40.0
        let bottom = 22.0
        let top = 8.0
        let plotWidth = width - left - 6
        let plotHeight = height - top - bottom
        let step = scaleStep(bars.map { $0.real + $0.drill }.max() ?? 0)
        let maximum = max(step, ceil((bars.map { $0.real + $0.drill }.max() ?? 0) / step) * step)
        var svg = open(id: id, title: title, height: height)
        var tick = 0.0
        while tick <= maximum + 0.5 {
            let y = top + plotHeight - tick / maximum * plotHeight
            svg += "<line class=\"grid\" x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(width - 6))\" y2=\"\(f(y))\" stroke=\"#ddd\"/>"
            svg += "<text x=\"\(f(left - 4))\" y=\"\(f(y + 4))\" text-anchor=\"end\" font-size=\"10\" fill=\"#555\">\(hoursMinutes(tick))</text>"
            tick += step
        }
        let slot = plotWidth / Double(max(bars.count, 1))
        let barWidth = max(1, slot * 0.72)
        let labelEvery = max(1, Int((Double(bars.count) / 8).rounded(.up)))
        for (index, bar) in bars.enumerated() {
            let x = left + Double(index) * slot + (slot - barWidth) / 2
            let realHeight = bar.real / maximum * plotHeight
            let drillHeight = bar.drill / maximum * plotHeight
            let base = top + plotHeight
            svg += "<g class=\"bar\" data-key=\"\(HTML.escape(bar.key))\" data-real-seconds=\"\(AirtimeText.seconds(bar.real))\""
            svg += " data-drill-seconds=\"\(AirtimeText.seconds(bar.drill))\"><title>\(HTML.escape(bar.tooltip))</title>"
            svg +=
                "<rect class=\"real\" x=\"\(f(x))\" y=\"\(f(base - realHeight))\" width=\"\(f(barWidth))\" height=\"\(f(realHeight))\" fill=\"\(realColour)\"/>"
            if bar.drill > 0 {
                svg += "<rect class=\"drill\" x=\"\(f(x))\" y=\"\(f(base - realHeight - drillHeight))\" width=\"\(f(barWidth))\""
                svg += " height=\"\(f(drillHeight))\" fill=\"\(drillColour)\"/>"
            }
            svg += "</g>"
            if index % labelEvery == 0 {
                svg += "<text x=\"\(f(x + barWidth / 2))\" y=\"\(f(height - 6))\" text-anchor=\"middle\" font-size=\"10\" fill=\"#555\">"
                svg += "\(HTML.escape(bar.label))</text>"
            }
        }
        svg += "<line x1=\"\(f(left))\" y1=\"\(f(top + plotHeight))\" x2=\"\(f(width - 6))\" y2=\"\(f(top + plotHeight))\" stroke=\"#888\"/>"
        return svg + "</svg>"
    }

    /// Horizontal bars, one per category (kinds), with the label on the left and the total airtime at the end of the bar.
    static func rows(_ bars: [Bar], title: String, id: String) -> String {
        let rowHeight = 30.0
        let left = 78.0
        let right = 62.0
        let height = Double(bars.count) * rowHeight + 8
        let plotWidth = width - left - right
        let maximum = max(bars.map { $0.real + $0.drill }.max() ?? 0, 1)
        var svg = open(id: id, title: title, height: height)
        for (index, bar) in bars.enumerated() {
            let y = 4 + Double(index) * rowHeight
            let realWidth = bar.real / maximum * plotWidth
            let drillWidth = bar.drill / maximum * plotWidth
            svg += "<g class=\"bar\" data-key=\"\(HTML.escape(bar.key))\" data-real-seconds=\"\(AirtimeText.seconds(bar.real))\""
            svg += " data-drill-seconds=\"\(AirtimeText.seconds(bar.drill))\"><title>\(HTML.escape(bar.tooltip))</title>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 17))\" text-anchor=\"end\" font-size=\"12\" fill=\"#222\">\(HTML.escape(bar.label))</text>"
            svg += "<rect class=\"real\" x=\"\(f(left))\" y=\"\(f(y + 4))\" width=\"\(f(realWidth))\" height=\"18\" fill=\"\(realColour)\"/>"
            if bar.drill > 0 {
                svg +=
                    "<rect class=\"drill\" x=\"\(f(left + realWidth))\" y=\"\(f(y + 4))\" width=\"\(f(drillWidth))\" height=\"18\" fill=\"\(drillColour)\"/>"
            }
            svg += "<text x=\"\(f(left + realWidth + drillWidth + 4))\" y=\"\(f(y + 17))\" font-size=\"11\" fill=\"#222\">"
            svg += "\(AirtimeText.hms(bar.real + bar.drill))</text></g>"
        }
        return svg + "</svg>"
    }

    /// The legend shared by both charts.
    static var legend: String {
        "<p class=\"legend\"><span class=\"swatch\" style=\"background:\(realColour)\"></span>正式播出 real"
            + "<span class=\"swatch\" style=\"background:\(drillColour)\"></span>演练 drills</p>"
    }

    private static func open(id: String, title: String, height: Double) -> String {
        "<svg id=\"\(id)\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\" "
            + "aria-labelledby=\"\(id)-title\"><title id=\"\(id)-title\">\(HTML.escape(title))</title>"
    }

    /// A round scale step (1, 5, 10, 15, 30 minutes; 1, 2, 3, 6, 12, 24 hours; then days) giving at most five grid lines.
    static func scaleStep(_ maximum: Double) -> Double {
        let steps: [Double] = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
        for step in steps where maximum / step <= 5 { return step }
        var step = 86400.0
        while maximum / step > 5 { step *= 2 }
        return step
    }

    /// "1:30" (hours:minutes) for the scale.
    static func hoursMinutes(_ seconds: Double) -> String {
        let minutes = Int((seconds / 60).rounded())
        return "\(minutes / 60):\(minutes % 60 < 10 ? "0" : "")\(minutes % 60)"
    }

    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }
}
