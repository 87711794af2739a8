import Foundation

/// What the host has now, to show an operator what a plan changes.
public struct Baseline: Sendable {
    public var label: String
    public var host: BfqSettings
    public var weights: [String: Int]

    public init(label: String, host: BfqSettings, weights: [String: Int]) {
        self.label = label
        self.host = host
        self.weights = weights
    }

    /// Kernel defaults, for a plan made without reading the host.
    public static func kernelDefaults(guests: [String]) -> Baseline {
        Baseline(label: "kernel default", host: .kernelDefault,
                 weights: Dictionary(uniqueKeysWithValues: guests.map { ($0, BfqSettings.kernelDefaultWeight) }))
    }
}

/// The plan as an operator reads it: text, JSON or one self-contained HTML page.
public struct PlanReport: Sendable {
    public var plan: Plan
    public var device: String
    public var baseline: Baseline?
    /// What libvirt itself set for the guests' domains (blkiotune, iotune): shown, never changed.
    public var libvirt: [LibvirtTuning]

    public init(plan: Plan, device: String, baseline: Baseline? = nil, libvirt: [LibvirtTuning] = []) {
        self.plan = plan
        self.device = device
        self.baseline = baseline
        self.libvirt = libvirt
    }

    /// The lines that show libvirt's own settings, empty when there are none to show.
    public static func libvirtLines(_ tunings: [LibvirtTuning]) -> [String] {
        tunings.isEmpty ? [] : ["Set by libvirt itself (rtvirtio leaves these alone):"] + tunings.map { "  \($0.domain): \($0.summary)" }
    }

    var guestsMeeting: Int { plan.guests.filter(\.meets).count }

    public var summary: String {
        "\(guestsMeeting) of \(plan.guests.count) guests meet all targets; \(plan.tasksMet) of \(plan.taskCount) tasks meet"
    }

    // MARK: text

    /// Why a plan that keeps the device's own scheduler writes nothing.
    public var keptText: String? {
        guard let kept = plan.keptScheduler else { return nil }
        guard plan.bfqOffered else {
            return "The device offers no bfq: its own scheduler, \(kept), stays (predicted as bfq without idling and with equal weights, which split a device the same way); "
                + (plan.caps.isEmpty ? "no cap is planned, so nothing changes." : "the least urgent guests are capped.")
        }
        return "The current settings already meet every target (the device's own scheduler, \(kept), predicted as bfq without idling and "
            + "with equal weights, which split a device the same way): nothing to change."
    }

    public func text() -> String {
        var lines: [String] = []
        lines.append("rtvirtio plan for \(device) — model \(plan.model)")
        lines.append("")
        if let keptText { lines += [keptText, ""] }
        if plan.keptScheduler == nil {
            let from = baseline.map { "\($0.label)" } ?? "now"
            lines.append(Table(header: ["host bfq", from, "planned", ""], rows: [
                ["timeout_sync", baseline.map { "\($0.host.timeoutSyncMs) ms" } ?? "?", "\(plan.host.timeoutSyncMs) ms",
                 baseline.map { $0.host.timeoutSyncMs == plan.host.timeoutSyncMs ? "" : "changes" } ?? ""],
                ["slice_idle", baseline.map { "\(formatNumber($0.host.sliceIdleMs, decimals: 3)) ms" } ?? "?",
                 "\(formatNumber(plan.host.sliceIdleMs, decimals: 3)) ms",
                 baseline.map { $0.host.sliceIdleUs == plan.host.sliceIdleUs ? "" : "changes" } ?? ""],
            ]).render(indent: 0))
        }
        if let capacity = plan.capacityIops {
            let asked = plan.askedOfCapacity
            lines.append("")
            lines.append("Device capacity \(formatNumber(capacity, decimals: 0)) IOPS (4 KiB reads); the guests ask \(formatNumber(asked, decimals: 0)) in 4 KiB requests (\(formatNumber(asked / capacity * 100, decimals: 0)) %).")
            if let measured = plan.measuredDelivery {
                lines.append("Measured \(measured.underPlan == true ? "under the first plan" : "before planning"): the device delivered \(formatNumber(measured.deliveredIops4K, decimals: 0)) of the \(formatNumber(measured.askedIops4K, decimals: 0)) asked"
                             + (!measured.saturated ? " — not saturated."
                                : plan.measuredDeliveryUsed ? " — saturated; caps are sized from what it delivered, not from the fitted efficiency."
                                : " — far below what this device delivers saturated, so the guests asked for less than they declare; caps are sized from the fitted efficiency."))
            }
        }
        if !plan.caps.isEmpty {
            lines.append("")
            lines.append("Caps:")
            for cap in plan.caps { lines.append("  \(cap)") }
        }
        lines.append("")
        lines.append("Result: \(summary).")
        let total = Double(plan.guests.reduce(0) { $0 + $1.weight })
        for guest in plan.guests.sorted(by: { $0.criticality < $1.criticality }) {
            lines.append("")
            let before = baseline?.weights[guest.name].map(String.init) ?? "?"
            let weightText = before == String(guest.weight) ? "weight \(guest.weight) (unchanged)" : "weight \(before) → \(guest.weight)"
            // the cap is in the capacity's 4 KiB reads; a guest that writes or asks larger ones is told so
            let plain = guest.tasks.allSatisfy(\.doesText.isEmpty)
            let capText = guest.readIopsCap.map { "  capped at \($0) \(plain ? "read IOPS" : "IOPS of 4 KiB, reads and writes")" } ?? ""
            // a plan that keeps the device's own scheduler writes no weight: none to show
            let weightPart = plan.keptScheduler != nil ? "" : "  \(weightText)\(guest.weightPinned ? " pinned" : "")  share \(formatPercent(Double(guest.weight) / total))"
            lines.append("\(guest.name)  criticality \(guest.criticality)\(weightPart)\(capText)  \(guest.meets ? "MEETS" : "MISSES")")
            let withIops = plan.capacityIops != nil
            // what a task does, where any task of the plan is more than a 4 KiB read one at a time
            let withDoes = plan.guests.contains { $0.tasks.contains { !$0.doesText.isEmpty } }
            lines.append(Table(header: ["task"] + (withDoes ? ["does"] : []) + ["target ms", "predicted ms", "slack"] + (withIops ? ["asks IOPS", "predicted IOPS"] : []) + [""],
                               rows: guest.tasks.map { task in
                [task.name] + (withDoes ? [task.doesText.isEmpty ? "read 4 KiB" : task.doesText] : [])
                    + [formatNumber(task.targetMs), formatNumber(task.predictedMs), formatSlack(task)]
                    + (withIops ? [formatNumber(task.requestedIops, decimals: 0), formatNumber(task.predictedIops ?? 0, decimals: 0)] : [])
                    + [missText(task)]
            }).render(indent: 2))
        }
        if !plan.sacrificed.isEmpty {
            lines.append("")
            lines.append("Sacrificed (more urgent guests come first):")
            for item in plan.sacrificed { lines.append("  \(item.guest): \(item.reason)") }
        }
        if !plan.warnings.isEmpty {
            lines.append("")
            lines.append("Warnings:")
            for warning in plan.warnings { lines.append("  \(warning)") }
        }
        if !libvirt.isEmpty { lines += [""] + Self.libvirtLines(libvirt) }
        return lines.joined(separator: "\n") + "\n"
    }

    func missText(_ task: Plan.Task) -> String {
        if task.meets { return "ok" }
        var why: [String] = []
        if task.predictedMs > task.targetMs { why.append("by \(formatNumber(task.predictedMs - task.targetMs)) ms") }
        if !task.getsItsIops { why.append("gets \(formatNumber((task.predictedIops ?? 0) / task.requestedIops * 100, decimals: 0)) % of its IOPS") }
        return "MISS " + why.joined(separator: ", ")
    }

    func formatSlack(_ task: Plan.Task) -> String {
        guard task.predictedMs.isFinite else { return "-inf" }
        let slack = (task.targetMs - task.predictedMs) / task.targetMs * 100
        return (slack >= 0 ? "+" : "") + formatNumber(slack) + "%"
    }

    // MARK: JSON

    struct JSONPlan: Encodable {
        struct Host: Encodable { var timeoutSyncMs: Int; var sliceIdleMs: Double }
        struct Task: Encodable {
            var name: String; var targetMs: Double; var predictedMs: Double?; var requestedIops: Double; var predictedIops: Double?; var meets: Bool
            var op: String?; var requestKB: Double?; var queueDepth: Int?
        }
        struct Guest: Encodable {
            var name: String; var criticality: Int; var weight: Int; var weightPinned: Bool; var readIopsCap: Int?; var meets: Bool; var tasks: [Task]
        }
        var model: String
        var device: String
        var host: Host
        var guests: [Guest]
        var sacrificed: [Plan.Sacrifice]
        var warnings: [String]
        var tasksMet: Int
        var taskCount: Int
        var capacityIops: Double?
        var measuredDelivery: MeasuredDelivery?
        var caps: [String]
        var keptScheduler: String?
        var bfqOffered: Bool
        var libvirt: [LibvirtTuning]
    }

    public func json() throws -> String {
        let value = JSONPlan(
            model: plan.model, device: device,
            host: .init(timeoutSyncMs: plan.host.timeoutSyncMs, sliceIdleMs: plan.host.sliceIdleMs),
            guests: plan.guests.map { guest in
                .init(name: guest.name, criticality: guest.criticality, weight: guest.weight, weightPinned: guest.weightPinned,
                      readIopsCap: guest.readIopsCap, meets: guest.meets, tasks: guest.tasks.map {
                          .init(name: $0.name, targetMs: $0.targetMs, predictedMs: $0.predictedMs.isFinite ? $0.predictedMs : nil,
                                requestedIops: $0.requestedIops, predictedIops: $0.predictedIops, meets: $0.meets,
                                op: $0.op, requestKB: $0.requestKB, queueDepth: $0.queueDepth)
                      })
            },
            sacrificed: plan.sacrificed, warnings: plan.warnings, tasksMet: plan.tasksMet, taskCount: plan.taskCount,
            capacityIops: plan.capacityIops, measuredDelivery: plan.measuredDelivery, caps: plan.caps, keptScheduler: plan.keptScheduler, bfqOffered: plan.bfqOffered, libvirt: libvirt)
        return try encodeJSON(value)
    }
}
