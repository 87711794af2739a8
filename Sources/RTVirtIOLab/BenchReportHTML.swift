import Foundation
import RTVirtIO

extension BenchResults {
    static let colours = ["#7f7f7f", "#e6ab02", "#7570b3", "#d95f02", "#1b9e77", "#66a61e", "#e7298a", "#1f78b4"]

    /// One self-contained page: pass rate per case per scheme (like the paper's
    /// Fig. 8) and, per case, each task's achieved p99.99 against its target (like Fig. 7).
    public func html() -> String {
        let legend = schemeOrder.enumerated().map { index, name in
            "<span style='margin-right:14px'><span style='display:inline-block;width:12px;height:12px;background:\(Self.colours[index % Self.colours.count])'></span> \(escapeHTML(name)) (\(percent(schemes[name]?.passRate ?? 0)))</span>"
        }.joined()
        return """
        <!doctype html><html><head><meta charset="utf-8"><title>rtvirtio benchmark</title>
        <style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}svg text{font:11px system-ui,sans-serif}
        table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd}</style></head><body>
        <h1>rtvirtio benchmark: pass rates on real bfq</h1>
        <p>\(escapeHTML(provenance.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: " · ")))</p>
        <p>A run passes when every task's p99.99 over the run is within its target and it achieved ≥ 95 % of its demanded IOPS.</p>
        <p>\(legend)</p>
        <h2>Pass rate per case (Fig. 8)</h2>
        \(passRateSVG())
        <h2>Achieved p99.99 against target, per task (Fig. 7)</h2>
        \(caseOrder.map { "<h3>\(escapeHTML($0))</h3>" + taskSVG($0) }.joined(separator: "\n"))
        </body></html>
        """
    }

    func passRateSVG() -> String {
        let group = Double(schemeOrder.count * 8 + 12), height = 200.0, left = 44.0, top = 10.0
        let width = left + group * Double(caseOrder.count) + 10
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height + top + 90))'>"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            let y = top + height * (1 - tick)
            svg += "<line x1='\(left)' x2='\(width)' y1='\(y)' y2='\(y)' stroke='#eee'/><text x='\(left - 4)' y='\(y + 4)' text-anchor='end'>\(Int(tick * 100)) %</text>"
        }
        for (c, caseName) in caseOrder.enumerated() {
            let x0 = left + Double(c) * group + 6
            for (s, name) in schemeOrder.enumerated() {
                let rate = schemes[name]?.cases[caseName]?.passRate ?? 0
                let h = max(height * rate, 1)
                svg += "<rect x='\(x0 + Double(s) * 8)' y='\(top + height - h)' width='7' height='\(h)' fill='\(Self.colours[s % Self.colours.count])'><title>\(escapeHTML(name)) on \(escapeHTML(caseName)): \(percent(rate))</title></rect>"
            }
            svg += "<text transform='translate(\(x0 + Double(schemeOrder.count) * 4) \(top + height + 8)) rotate(60)'>\(escapeHTML(caseName))</text>"
        }
        return svg + "</svg>"
    }

    /// Per task: a bar per scheme at the median achieved p99.99 over repeats (log scale), the target as a line.
    func taskSVG(_ caseName: String) -> String {
        guard let reference = schemeOrder.compactMap({ schemes[$0]?.cases[caseName]?.runs.first }).first else { return "" }
        let tasks = reference.tasks.map { ($0.guest, $0.task, $0.targetMs) }
        let values = schemeOrder.flatMap { schemes[$0]?.cases[caseName]?.runs.flatMap { $0.tasks.map(\.p9999Ms) } ?? [] } + tasks.map(\.2)
        let low = floor(log10(max(values.filter { $0 > 0 }.min() ?? 1, 0.1))), high = ceil(log10(max(values.max() ?? 10, 1)))
        let height = 140.0, top = 8.0, left = 44.0, group = Double(schemeOrder.count * 8 + 16)
        func y(_ ms: Double) -> Double { top + height * (1 - (log10(max(ms, pow(10, low))) - low) / max(high - low, 1)) }
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(left + group * Double(tasks.count) + 10))' height='\(Int(height + top + 30))'>"
        for decade in Int(low)...Int(high) {
            svg += "<line x1='\(left)' x2='\(left + group * Double(tasks.count))' y1='\(y(pow(10, Double(decade))))' y2='\(y(pow(10, Double(decade))))' stroke='#eee'/>"
            svg += "<text x='\(left - 4)' y='\(y(pow(10, Double(decade))) + 4)' text-anchor='end'>\(formatNumber(pow(10, Double(decade)), decimals: 1)) ms</text>"
        }
        for (t, (guest, task, target)) in tasks.enumerated() {
            let x0 = left + Double(t) * group + 8
            for (s, name) in schemeOrder.enumerated() {
                let measured = (schemes[name]?.cases[caseName]?.runs ?? []).compactMap { $0.tasks.first { $0.guest == guest && $0.task == task }?.p9999Ms }.sorted()
                guard !measured.isEmpty else { continue }
                let median = measured[measured.count / 2]
                svg += "<rect x='\(x0 + Double(s) * 8)' y='\(y(median))' width='7' height='\(top + height - y(median))' fill='\(Self.colours[s % Self.colours.count])'><title>\(escapeHTML(name)): \(formatNumber(median)) ms</title></rect>"
            }
            svg += "<line x1='\(x0 - 3)' x2='\(x0 + Double(schemeOrder.count) * 8 + 3)' y1='\(y(target))' y2='\(y(target))' stroke='#000' stroke-width='2'><title>target \(formatNumber(target)) ms</title></line>"
            svg += "<text x='\(x0)' y='\(top + height + 14)'>\(escapeHTML(guest))/\(escapeHTML(task))</text>"
        }
        return svg + "</svg>"
    }
}
