import Foundation
import RTVirtIO

extension BenchResults {
    static let colours = ["#7f7f7f", "#e6ab02", "#7570b3", "#d95f02", "#1b9e77", "#66a61e", "#e7298a", "#1f78b4", "#a6761d", "#17becf"]

    func colour(_ scheme: Int) -> String { Self.colours[scheme % Self.colours.count] }

    /// One self-contained page: the scores per scheme, the urgent-first score
    /// and pass rate per case, and per case every scheme side by side — each
    /// task's measured p99.99 against its target and the scheme's prediction,
    /// each guest's delivered against demanded IOPS.
    public func html() -> String {
        let legend = schemeOrder.enumerated().map { index, name in
            "<span class='key'><span style='background:\(colour(index))'></span> \(escapeHTML(name))</span>"
        }.joined()
        let rows = schemeOrder.compactMap { name in schemes[name].map { (name, $0) } }.map { name, s in
            "<tr><td>\(escapeHTML(name))</td><td>\(percent(s.passRate))</td><td>\(percent(s.taskPassRate))</td><td>\(percent(s.mostUrgentMetRate))</td><td>\(formatNumber(s.urgentFirstScore, decimals: 3))</td></tr>"
        }.joined()
        return """
        <!doctype html><html><head><meta charset="utf-8"><title>rtvirtio benchmark</title>
        <style>body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}svg text{font:12px system-ui,sans-serif}
        table{border-collapse:collapse}td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}
        .key{margin-right:16px;white-space:nowrap}.key span{display:inline-block;width:12px;height:12px}
        .case{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}.prov{color:#555;font-size:12px}</style></head><body>
        <h1>rtvirtio benchmark on real schedulers</h1>
        <p class='prov'>\(escapeHTML(provenance.sorted { $0.key < $1.key }.filter { !$0.value.isEmpty }.map { "\($0.key): \($0.value)" }.joined(separator: " · ")))</p>
        <p>A run passes when every task's p99.99 over the run is within its target <b>and</b> it got ≥ 95 % of its demanded IOPS.
        The most urgent guest met: the share of runs in which it met every target (mean over cases).
        The urgent-first score of a run is the number of guests, most urgent first, that pass before the first that does not, over the number of guests.</p>
        <table><tr><th>scheme</th><th>pass rate</th><th>tasks passed</th><th>most urgent guest met</th><th>urgent-first score</th></tr>\(rows)</table>
        <p>\(legend)</p>
        <h2>Urgent-first score per case (mean over repeats)</h2>
        \(perCaseSVG { $0.urgentFirstScore })
        <h2>Most urgent guest met, per case (share of repeats)</h2>
        \(perCaseSVG { $0.mostUrgentMetRate })
        <h2>Pass rate per case (the paper's Fig. 8)</h2>
        \(perCaseSVG { $0.passRate })
        <h2>Per case: measured p99.99 against target and prediction; delivered against demanded IOPS</h2>
        <p>Left: bars are the median over repeats of each task's measured p99.99 (log scale); the black line is its target;
        a white dot is the scheme's prediction, where it has one. Right: each guest's delivered IOPS as a share of what it asked, the line at 95 %.</p>
        \(caseOrder.map { "<h3>\(escapeHTML($0))\(caseLoad($0))</h3><div class='case'>\(taskSVG($0))\(iopsSVG($0))</div>" }.joined(separator: "\n"))
        </body></html>
        """
    }

    /// " — 3 guests, 4 210 IOPS asked" from the first run recorded for the case.
    func caseLoad(_ caseName: String) -> String {
        guard let run = schemeOrder.lazy.compactMap({ self.schemes[$0]?.cases[caseName]?.runs.first }).first else { return "" }
        return " — \(run.guests.count) guest\(run.guests.count == 1 ? "" : "s"), \(formatNumber(run.guests.reduce(0) { $0 + $1.demandedIops }, decimals: 0)) IOPS asked"
    }

    /// A 0…1 score per case, a bar per scheme.
    func perCaseSVG(_ score: (CaseResult) -> Double) -> String {
        let bar = 8.0, group = Double(schemeOrder.count) * bar + 10, height = 220.0, left = 56.0, top = 12.0
        // room for the last case's slanted name (a one-case report clipped it to "deep-re")
        let width = left + group * Double(caseOrder.count) + 10 + 80
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height + top + 70))'>"
        for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
            let y = top + height * (1 - tick)
            svg += "<line x1='\(left)' x2='\(width)' y1='\(y)' y2='\(y)' stroke='#ddd'/><text x='\(left - 6)' y='\(y + 4)' text-anchor='end'>\(formatNumber(tick, decimals: 2))</text>"
        }
        for (c, caseName) in caseOrder.enumerated() {
            let x0 = left + Double(c) * group + 7
            for (s, name) in schemeOrder.enumerated() {
                guard let result = schemes[name]?.cases[caseName] else { continue }
                let value = score(result), h = max(height * value, 1)
                svg += "<rect x='\(x0 + Double(s) * bar)' y='\(top + height - h)' width='\(bar - 1)' height='\(h)' fill='\(colour(s))'><title>\(escapeHTML(name)) on \(escapeHTML(caseName)): \(formatNumber(value, decimals: 2))</title></rect>"
            }
            svg += "<text transform='translate(\(x0 + Double(schemeOrder.count) * bar / 2 - 4) \(top + height + 10)) rotate(50)'>\(escapeHTML(caseName))</text>"
        }
        return svg + "</svg>"
    }

    /// "1000 ms", "0.5 ms": whole labels however wide.
    static func msLabel(_ ms: Double) -> String { ms >= 1 ? "\(Int(ms.rounded())) ms" : "\(formatNumber(ms, decimals: 2)) ms" }

    /// Per task: a bar per scheme at the median measured p99.99 over repeats (log
    /// scale), the target as a black line, the scheme's median prediction as a dot.
    func taskSVG(_ caseName: String) -> String {
        guard let reference = schemeOrder.lazy.compactMap({ self.schemes[$0]?.cases[caseName]?.runs.first }).first else { return "" }
        let tasks = reference.tasks.map { ($0.guest, $0.task, $0.targetMs) }
        let runs = schemeOrder.flatMap { schemes[$0]?.cases[caseName]?.runs ?? [] }
        let values = runs.flatMap { $0.tasks.flatMap { [$0.p9999Ms] + ($0.predictedMs.map { [$0] } ?? []) } } + tasks.map(\.2)
        let low = floor(log10(max(values.filter { $0 > 0 }.min() ?? 1, 0.1))), high = ceil(log10(max(values.max() ?? 10, 1)))
        let height = 200.0, top = 10.0, left = 72.0, bar = 10.0, group = Double(schemeOrder.count) * bar + 22
        func y(_ ms: Double) -> Double { top + height * (1 - (log10(max(ms, pow(10, low))) - low) / max(high - low, 1)) }
        let width = left + group * Double(tasks.count) + 10
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height + top + 36))'>"
        for decade in Int(low)...Int(high) {
            let ms = pow(10, Double(decade))
            svg += "<line x1='\(left)' x2='\(width)' y1='\(y(ms))' y2='\(y(ms))' stroke='#ddd'/>"
            svg += "<text x='\(left - 6)' y='\(y(ms) + 4)' text-anchor='end'>\(Self.msLabel(ms))</text>"
        }
        for (t, (guest, task, target)) in tasks.enumerated() {
            let x0 = left + Double(t) * group + 11
            for (s, name) in schemeOrder.enumerated() {
                let mine = (schemes[name]?.cases[caseName]?.runs ?? []).compactMap { $0.tasks.first { $0.guest == guest && $0.task == task } }
                guard let measured = Self.median(mine.map(\.p9999Ms)) else { continue }
                let x = x0 + Double(s) * bar
                svg += "<rect x='\(x)' y='\(y(measured))' width='\(bar - 1)' height='\(top + height - y(measured))' fill='\(colour(s))'><title>\(escapeHTML(name)) \(escapeHTML(guest))/\(escapeHTML(task)): measured \(formatNumber(measured)) ms</title></rect>"
                if let predicted = Self.median(mine.compactMap(\.predictedMs)) {
                    svg += "<circle cx='\(x + bar / 2 - 0.5)' cy='\(y(predicted))' r='3' fill='#fff' stroke='#000'><title>\(escapeHTML(name)) predicted \(formatNumber(predicted)) ms</title></circle>"
                }
            }
            svg += "<line x1='\(x0 - 4)' x2='\(x0 + Double(schemeOrder.count) * bar + 3)' y1='\(y(target))' y2='\(y(target))' stroke='#000' stroke-width='2'><title>target \(formatNumber(target)) ms</title></line>"
            svg += "<text x='\(x0)' y='\(top + height + 18)'>\(escapeHTML(guest))/\(escapeHTML(task))</text>"
        }
        return svg + "</svg>"
    }

    /// Per guest: delivered as a share of demanded IOPS, a bar per scheme (median over repeats), 95 % marked.
    func iopsSVG(_ caseName: String) -> String {
        guard let reference = schemeOrder.lazy.compactMap({ self.schemes[$0]?.cases[caseName]?.runs.first }).first else { return "" }
        let guests = reference.urgencyOrder
        let height = 200.0, top = 10.0, left = 48.0, bar = 10.0, group = Double(schemeOrder.count) * bar + 22, scaleTop = 1.2
        func y(_ share: Double) -> Double { top + height * (1 - min(share, scaleTop) / scaleTop) }
        let width = left + group * Double(guests.count) + 10
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height + top + 36))'>"
        for tick in stride(from: 0.0, through: 1.2, by: 0.2) {
            svg += "<line x1='\(left)' x2='\(width)' y1='\(y(tick))' y2='\(y(tick))' stroke='#ddd'/><text x='\(left - 6)' y='\(y(tick) + 4)' text-anchor='end'>\(Int((tick * 100).rounded())) %</text>"
        }
        svg += "<line x1='\(left)' x2='\(width)' y1='\(y(0.95))' y2='\(y(0.95))' stroke='#000' stroke-dasharray='4 3'><title>95 % of demand</title></line>"
        for (g, guest) in guests.enumerated() {
            let x0 = left + Double(g) * group + 11
            for (s, name) in schemeOrder.enumerated() {
                let shares = (schemes[name]?.cases[caseName]?.runs ?? []).compactMap { run in
                    run.guests.first { $0.guest == guest }.map { $0.demandedIops > 0 ? $0.achievedIops / $0.demandedIops : 0 }
                }
                guard let share = Self.median(shares) else { continue }
                svg += "<rect x='\(x0 + Double(s) * bar)' y='\(y(share))' width='\(bar - 1)' height='\(top + height - y(share))' fill='\(colour(s))'><title>\(escapeHTML(name)) \(escapeHTML(guest)): \(formatNumber(share * 100)) % of its IOPS</title></rect>"
            }
            svg += "<text x='\(x0)' y='\(top + height + 18)'>\(escapeHTML(guest))</text>"
        }
        return svg + "</svg>"
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
