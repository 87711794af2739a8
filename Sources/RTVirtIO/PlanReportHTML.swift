import Foundation

/// One self-contained HTML page: a table per guest and an inline SVG chart of
/// predicted tail latency against target per task (like the paper's Fig. 7).
extension PlanReport {
    public func html() -> String {
        let rows = plan.guests.sorted { $0.criticality < $1.criticality }.flatMap { guest in
            guest.tasks.map { (guest: guest.name, task: $0) }
        }
        // a log axis: a few-ms prediction and a 1 s target are both readable
        let finite = rows.flatMap { [$0.task.targetMs, $0.task.predictedMs] }.filter { $0.isFinite && $0 > 0 }
        let low = floor(log10(max(finite.min() ?? 1, 0.01))), high = max(ceil(log10((finite.max() ?? 10) * 1.1)), low + 1)
        let rowHeight = 26.0, left = 170.0, plotWidth = 560.0, top = 30.0
        let height = top + rowHeight * Double(rows.count) + 40
        func x(_ ms: Double) -> Double { left + plotWidth * (log10(min(max(ms, pow(10, low)), pow(10, high))) - low) / (high - low) }
        var svg = "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(left + plotWidth + 130))' height='\(Int(height))' role='img' aria-label='predicted tail latency against target per task'>"
        svg += "<style>text{font:12px sans-serif}.tick{fill:#555}</style>"
        for decade in Int(low)...Int(high) {
            let ms = pow(10, Double(decade)), xs = x(ms)
            svg += "<line x1='\(xs)' y1='\(top - 6)' x2='\(xs)' y2='\(height - 34)' stroke='#ddd'/>"
            svg += "<text class='tick' x='\(xs)' y='\(height - 18)' text-anchor='middle'>\(formatNumber(ms, decimals: 2)) ms</text>"
        }
        for (index, row) in rows.enumerated() {
            let y = top + rowHeight * Double(index)
            let color = row.task.meets ? "#2e7d32" : "#c62828"
            let predicted = row.task.predictedMs.isFinite ? row.task.predictedMs : pow(10, high)
            svg += "<text x='\(left - 8)' y='\(y + 16)' text-anchor='end'>\(escapeHTML(row.guest))/\(escapeHTML(row.task.name))</text>"
            svg += "<rect x='\(left)' y='\(y + 4)' width='\(max(x(predicted) - left, 1))' height='16' fill='\(color)' opacity='0.8'><title>predicted \(formatNumber(row.task.predictedMs)) ms, target \(formatNumber(row.task.targetMs)) ms</title></rect>"
            svg += "<line x1='\(x(row.task.targetMs))' y1='\(y + 1)' x2='\(x(row.task.targetMs))' y2='\(y + 23)' stroke='#000' stroke-width='2' stroke-dasharray='4 2'/>"
            let iops = row.task.predictedIops.map { ", \(formatNumber($0, decimals: 0)) of \(formatNumber(row.task.requestedIops, decimals: 0)) IOPS" } ?? ""
            svg += "<text x='\(max(x(predicted), x(row.task.targetMs)) + 6)' y='\(y + 16)'>\(formatNumber(row.task.predictedMs)) / \(formatNumber(row.task.targetMs)) ms\(iops)</text>"
        }
        svg += "<text x='\(left)' y='16'>bar: predicted p\(formatNumber(99.99, decimals: 2)) latency (log scale) · dashed line: target · green meets, red misses</text></svg>"

        var body = "<h1>rtvirtio plan for \(escapeHTML(device))</h1>"
        body += "<p>Model <b>\(escapeHTML(plan.model))</b>. \(escapeHTML(summary)).</p>"
        body += "<p>Host bfq: timeout_sync <b>\(plan.host.timeoutSyncMs) ms</b>, slice_idle <b>\(formatNumber(plan.host.sliceIdleMs, decimals: 3)) ms</b>"
        if let baseline {
            body += " (\(escapeHTML(baseline.label)): \(baseline.host.timeoutSyncMs) ms, \(formatNumber(baseline.host.sliceIdleMs, decimals: 3)) ms)"
        }
        body += ".</p>"
        if let keptText { body += "<p><b>\(escapeHTML(keptText))</b></p>" }
        if let capacity = plan.capacityIops {
            let asked = plan.askedOfCapacity
            body += "<p>Device capacity <b>\(formatNumber(capacity, decimals: 0)) IOPS</b> (4 KiB reads); the guests ask <b>\(formatNumber(asked, decimals: 0))</b> in 4 KiB requests (\(formatNumber(asked / capacity * 100, decimals: 0)) %).</p>"
        }
        if !plan.caps.isEmpty { body += "<h2>Caps</h2><ul>" + plan.caps.map { "<li>\(escapeHTML($0))</li>" }.joined() + "</ul>" }
        body += svg
        // a plan that keeps the device's own scheduler writes no weight: none to show (as the text)
        let showsWeights = plan.keptScheduler == nil
        body += "<table><tr><th>guest</th><th>criticality</th>\(showsWeights ? "<th>weight</th>" : "")<th>cap (IOPS of 4 KiB)</th><th>task</th><th>target ms</th><th>predicted ms</th><th>asks IOPS</th><th>predicted IOPS</th><th></th></tr>"
        for guest in plan.guests.sorted(by: { $0.criticality < $1.criticality }) {
            for task in guest.tasks {
                body += "<tr class='\(task.meets ? "ok" : "miss")'><td>\(escapeHTML(guest.name))</td><td>\(guest.criticality)</td>\(showsWeights ? "<td>\(guest.weight)</td>" : "")<td>\(guest.readIopsCap.map(String.init) ?? "–")</td><td>\(escapeHTML(task.name))\(task.doesText.isEmpty ? "" : " (\(escapeHTML(task.doesText)))")</td><td>\(formatNumber(task.targetMs))</td><td>\(formatNumber(task.predictedMs))</td><td>\(formatNumber(task.requestedIops, decimals: 0))</td><td>\(task.predictedIops.map { formatNumber($0, decimals: 0) } ?? "–")</td><td>\(escapeHTML(missText(task)))</td></tr>"
            }
        }
        body += "</table>"
        if !plan.sacrificed.isEmpty {
            body += "<h2>Sacrificed</h2><ul>" + plan.sacrificed.map { "<li><b>\(escapeHTML($0.guest))</b>: \(escapeHTML($0.reason))</li>" }.joined() + "</ul>"
        }
        if !plan.warnings.isEmpty {
            body += "<h2>Warnings</h2><ul>" + plan.warnings.map { "<li>\(escapeHTML($0))</li>" }.joined() + "</ul>"
        }
        return """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>rtvirtio plan</title>
        <style>body{font-family:sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse;margin-top:1em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}tr.miss td{background:#fdecea}tr.ok td{background:#edf7ed}</style>
        </head><body>\(body)</body></html>

        """
    }
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `value`: readable axis ends.
func niceCeiling(_ value: Double) -> Double {
    guard value > 0, value.isFinite else { return 1 }
    var power = 1.0
    while power * 10 <= value { power *= 10 }
    while power > value { power /= 10 }
    for step in [1.0, 2, 2.5, 5, 10] where power * step >= value { return power * step }
    return power * 10
}
