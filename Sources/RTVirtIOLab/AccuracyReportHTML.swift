import Foundation
import RTVirtIO

extension AccuracyReport {
    /// One self-contained page: predicted against measured (log-log scatter,
    /// coloured by slice_idle) and a histogram of signed errors, like the paper's Figs. 5–6.
    public func html() -> String {
        """
        <!doctype html><html><head><meta charset="utf-8"><title>rtvirtio model accuracy: \(escapeHTML(model))</title>
        <style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}
        td,th{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right}th:first-child,td:first-child{text-align:left}
        svg text{font:11px system-ui,sans-serif}</style></head><body>
        <h1>Model accuracy: \(escapeHTML(model))</h1>
        <p>Data: \(escapeHTML(data.joined(separator: ", "))) — \(escapeHTML(rowsNote)). Error = |predicted − measured| / measured p99.99.</p>
        <pre>\(escapeHTML(text()))</pre>
        <h2>Predicted against measured p99.99 (ms, log scales)</h2>
        \(scatterSVG())
        <h2>Signed error, (predicted − measured) / measured</h2>
        \(histogramSVG())
        </body></html>
        """
    }

    static let sliceIdleColours = [0: "#1b9e77", 1000: "#d95f02", 2000: "#7570b3", 4000: "#e7298a", 6000: "#66a61e", 8000: "#e6ab02"]

    func scatterSVG() -> String {
        let size = 420.0, margin = 50.0
        let values = pairs.flatMap { [$0.predictedMs, $0.measuredMs] }.filter { $0.isFinite && $0 > 0 }
        let low = log10(max(values.min() ?? 0.1, 1e-3)).rounded(.down), high = log10(values.max() ?? 1000).rounded(.up)
        let span = max(high - low, 1)
        func position(_ ms: Double) -> Double { margin + (log10(min(max(ms, pow(10, low)), pow(10, high))) - low) / span * size }
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(size + 2 * margin + 120))' height='\(Int(size + 2 * margin))'>"
        svg += "<rect x='\(margin)' y='\(margin)' width='\(size)' height='\(size)' fill='none' stroke='#999'/>"
        svg += "<line x1='\(margin)' y1='\(margin + size)' x2='\(margin + size)' y2='\(margin)' stroke='#555' stroke-dasharray='4 3'/>"
        for decade in Int(low)...Int(high) {
            let p = margin + (Double(decade) - low) / span * size
            let label = formatNumber(pow(10, Double(decade)), decimals: 3)
            svg += "<text x='\(p)' y='\(margin + size + 16)' text-anchor='middle'>\(label)</text>"
            svg += "<text x='\(margin - 6)' y='\(2 * margin + size - p + 4)' text-anchor='end'>\(label)</text>"
        }
        svg += "<text x='\(margin + size / 2)' y='\(margin + size + 36)' text-anchor='middle'>measured p99.99 (ms)</text>"
        svg += "<text transform='translate(14 \(margin + size / 2)) rotate(-90)' text-anchor='middle'>predicted (ms)</text>"
        for pair in pairs where pair.predictedMs.isFinite {
            let colour = Self.sliceIdleColours[pair.hostSliceIdleUs] ?? "#333"
            svg += "<circle cx='\(position(pair.measuredMs))' cy='\(2 * margin + size - position(pair.predictedMs))' r='2.5' fill='\(colour)' fill-opacity='0.6'/>"
        }
        for (index, (us, colour)) in Self.sliceIdleColours.sorted(by: { $0.key < $1.key }).enumerated() {
            let y = margin + 10 + Double(index) * 18
            svg += "<circle cx='\(margin + size + 20)' cy='\(y)' r='4' fill='\(colour)'/><text x='\(margin + size + 30)' y='\(y + 4)'>slice_idle \(formatNumber(Double(us) / 1000)) ms</text>"
        }
        return svg + "<text x='\(margin + size - 4)' y='\(margin + 14)' text-anchor='end'>above the line: overestimate</text></svg>"
    }

    func histogramSVG() -> String {
        // bins of 25 % from −100 % to +400 %, the last one open
        let edges = stride(from: -100.0, through: 400, by: 25).map { $0 }
        var counts = [Int](repeating: 0, count: edges.count)
        for pair in pairs {
            let error = pair.predictedMs.isFinite ? (pair.predictedMs - pair.measuredMs) / pair.measuredMs * 100 : 400
            counts[min(edges.count - 1, max(0, Int(((error + 100) / 25).rounded(.down))))] += 1
        }
        let width = 600.0, height = 200.0, margin = 40.0, bar = width / Double(edges.count)
        let top = Double(max(counts.max() ?? 1, 1))
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width + 2 * margin))' height='\(Int(height + 2 * margin))'>"
        for (index, count) in counts.enumerated() {
            let h = Double(count) / top * height
            let x = margin + Double(index) * bar
            svg += "<rect x='\(x + 1)' y='\(margin + height - h)' width='\(bar - 2)' height='\(h)' fill='\(edges[index] < 0 ? "#d95f02" : "#1b9e77")'><title>\(count) rows</title></rect>"
            if index % 4 == 0 && index < edges.count - 1 {
                svg += "<text x='\(x)' y='\(margin + height + 16)' text-anchor='middle'>\(Int(edges[index])) %</text>"
            }
        }
        svg += "<text x='\(margin + width)' y='\(margin + height + 16)' text-anchor='end'>≥ 400 %</text>"
        svg += "<text x='\(margin)' y='\(margin - 8)'>rows (max \(Int(top))); orange: underestimates</text>"
        return svg + "</svg>"
    }
}
