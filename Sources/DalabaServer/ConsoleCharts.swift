import DalabaCore
import Foundation

/// The console's bar charts, drawn by the server as inline SVG (`chart.mustache`): no script, no chart library, readable on
/// a phone. Real broadcasts and drills are stacked in two colours; every bar carries a `<title>` with its exact figures.
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

    /// What `chart.mustache` draws: every coordinate is worked out here, every element is written by the template (which
    /// also escapes the text); colours come from the stylesheet, shared with the legend.
    struct Chart {
        var id: String
        var title: String
        var width: String
        var height: String
        var grid: [GridLine]
        var bars: [DrawnBar]
        /// The line along the bottom of columns (a unique name, as in `DrawnBar`).
        var chartAxis: Line?
    }

    struct GridLine {
        var line: Line
        var label: Label
    }

    struct Line {
        var x1: String
        var y1: String
        var x2: String
        var y2: String
    }

    struct Label {
        var x: String
        var y: String
        var anchor: String
        var size: Int
        var text: String
    }

    struct Rect {
        var x: String
        var y: String
        var width: String
        var height: String
    }

    struct DrawnBar {
        var key: String
        var realSeconds: String
        var drillSeconds: String
        var tooltip: String
        var realRect: Rect
        var drillRect: Rect?
        /// The bar's name: under the axis (columns, only every few bars) or left of the bar (rows).
        var barName: Label?
        /// The total at the end of a row.
        var barTotal: Label?
        // Names unique on the page: a section over an absent value falls back to the enclosing contexts in Mustache.

        init(_ bar: Bar, real: Rect, drill: Rect?, label: Label?, total: Label?) {
            key = bar.key
            realSeconds = AirtimeText.seconds(bar.real)
            drillSeconds = AirtimeText.seconds(bar.drill)
            tooltip = bar.tooltip
            realRect = real
            drillRect = bar.drill > 0 ? drill : nil
            barName = label
            barTotal = total
        }
    }

    static let width = 400.0

    /// Vertical bars over time (days or months), with a scale in hours:minutes and at most about eight labels under the axis.
    static func columns(_ bars: [Bar], title: String, id: String) -> Chart {
        let height = 200.0
        let left = 40.0
        let bottom = 22.0
        let top = 8.0
        let plotWidth = width - left - 6
        let plotHeight = height - top - bottom
        let step = scaleStep(bars.map { $0.real + $0.drill }.max() ?? 0)
        let maximum = max(step, ceil((bars.map { $0.real + $0.drill }.max() ?? 0) / step) * step)
        var grid: [GridLine] = []
        var tick = 0.0
        while tick <= maximum + 0.5 {
            let y = top + plotHeight - tick / maximum * plotHeight
            grid.append(
                GridLine(
                    line: Line(x1: f(left), y1: f(y), x2: f(width - 6), y2: f(y)),
                    label: Label(x: f(left - 4), y: f(y + 4), anchor: "end", size: 10, text: hoursMinutes(tick))))
            tick += step
        }
        let slot = plotWidth / Double(max(bars.count, 1))
        let barWidth = max(1, slot * 0.72)
        let labelEvery = max(1, Int((Double(bars.count) / 8).rounded(.up)))
        let base = top + plotHeight
        let drawn = bars.enumerated().map { index, bar in
            let x = left + Double(index) * slot + (slot - barWidth) / 2
            let realHeight = bar.real / maximum * plotHeight
            let drillHeight = bar.drill / maximum * plotHeight
            return DrawnBar(
                bar, real: Rect(x: f(x), y: f(base - realHeight), width: f(barWidth), height: f(realHeight)),
                drill: Rect(x: f(x), y: f(base - realHeight - drillHeight), width: f(barWidth), height: f(drillHeight)),
                label: index % labelEvery == 0 ? Label(x: f(x + barWidth / 2), y: f(height - 6), anchor: "middle", size: 10, text: bar.label) : nil,
                total: nil)
        }
        return Chart(
            id: id, title: title, width: f(width), height: f(height), grid: grid, bars: drawn,
            chartAxis: Line(x1: f(left), y1: f(base), x2: f(width - 6), y2: f(base)))
    }

    /// Horizontal bars, one per category (kinds), with the label on the left and the total airtime at the end of the bar.
    static func rows(_ bars: [Bar], title: String, id: String) -> Chart {
        let rowHeight = 30.0
        let left = 78.0
        let right = 62.0
        let height = Double(bars.count) * rowHeight + 8
        let plotWidth = width - left - right
        let maximum = max(bars.map { $0.real + $0.drill }.max() ?? 0, 1)
        let drawn = bars.enumerated().map { index, bar in
            let y = 4 + Double(index) * rowHeight
            let realWidth = bar.real / maximum * plotWidth
            let drillWidth = bar.drill / maximum * plotWidth
            return DrawnBar(
                bar, real: Rect(x: f(left), y: f(y + 4), width: f(realWidth), height: "18"),
                drill: Rect(x: f(left + realWidth), y: f(y + 4), width: f(drillWidth), height: "18"),
                label: Label(x: f(left - 6), y: f(y + 17), anchor: "end", size: 12, text: bar.label),
                total: Label(
                    x: f(left + realWidth + drillWidth + 4), y: f(y + 17), anchor: "start", size: 11, text: AirtimeText.hms(bar.real + bar.drill)))
        }
        return Chart(id: id, title: title, width: f(width), height: f(height), grid: [], bars: drawn, chartAxis: nil)
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
