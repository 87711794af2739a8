/// `apply --verify-s`: tuned's `verify` checks values; this checks outcomes.
/// What the guests got before a change and after it, measured, decides
/// whether the change stays.
public struct MeasuredOutcome: Sendable, Equatable {
    public struct Guest: Sendable, Equatable {
        public var name: String
        /// The guest's measured tail over all its requests, and its IOPS.
        public var tailMs: Double?
        public var iops: Double
        public var askedIops: Double
        /// Per task: its target met by the guest's tail.
        public var tailsMet: [String: Bool]
        /// ≥ 95 % of the IOPS the guest's tasks ask for.
        public var getsItsIops: Bool { iops >= DeliveryModel.minimumFraction * askedIops }
        /// Per task: its target met by the guest's tail, with ≥ 95 % of the IOPS the guest's tasks ask for.
        public var tasksMet: [String: Bool] { tailsMet.mapValues { $0 && getsItsIops } }
        public var met: Bool { tasksMet.values.allSatisfy { $0 } }
    }

    /// In urgency order.
    public var guests: [Guest]

    /// Guests, most urgent first, meeting every target before the first that does not.
    public var urgentFirst: Int { guests.prefix { $0.met }.count }

    public init(_ report: ObservationReport, targets: Targets) {
        let byName = Dictionary(uniqueKeysWithValues: report.guests.map { ($0.name, $0) })
        guests = targets.guestsByUrgency.map { spec in
            let ops = byName[spec.name]?.ops ?? []
            let tail = ops.compactMap(\.p9999Ms).max()
            let iops = byName[spec.name]?.iops ?? 0
            let asked = spec.tasks.reduce(0) { $0 + $1.iops }
            return Guest(name: spec.name, tailMs: tail, iops: iops, askedIops: asked,
                         tailsMet: Dictionary(uniqueKeysWithValues: spec.tasks.map { ($0.name, (tail ?? .infinity) <= $0.targetMs) }))
        }
    }

    /// Keep the change when more guests meet in urgency order, or as many and no
    /// task lost what it had (its target, or the IOPS it asks for) — a less urgent
    /// guest may be given up only for a more urgent one: the paper's compromise,
    /// measured. Tails and IOPS count apart, so that a guest short of its IOPS under
    /// both settings (a load near the device's capacity) still has its tail guarded.
    public static func verdict(before: MeasuredOutcome, after: MeasuredOutcome) -> (keep: Bool, reason: String) {
        let lost = zip(before.guests, after.guests).flatMap { b, a in
            b.tailsMet.filter { $0.value && a.tailsMet[$0.key] == false }.keys.sorted().map { "\(a.name)/\($0)" }
                + (b.getsItsIops && !a.getsItsIops ? ["\(a.name)'s IOPS"] : [])
        }
        if after.urgentFirst > before.urgentFirst {
            return (true, "kept: \(after.urgentFirst) guests meet every target in urgency order, \(before.urgentFirst) before"
                    + (lost.isEmpty ? "" : " (given up for them: \(lost.joined(separator: ", ")))"))
        }
        if after.urgentFirst < before.urgentFirst {
            return (false, "put back: \(after.urgentFirst) guests meet every target in urgency order, \(before.urgentFirst) before")
        }
        if !lost.isEmpty { return (false, "put back: \(lost.joined(separator: ", ")) met before and miss after") }
        return (true, "kept: no task that met its target before misses after")
    }

    /// Before and after, side by side, per guest.
    public static func table(before: MeasuredOutcome, after: MeasuredOutcome, seconds: Int) -> String {
        func ms(_ v: Double?) -> String { v.map { formatNumber($0, decimals: 2) } ?? "–" }
        return Table(header: ["guest", "asks IOPS", "before: p99.99 ms", "IOPS", "", "after: p99.99 ms", "IOPS", ""],
                     rows: zip(before.guests, after.guests).map { b, a in
            [a.name, formatNumber(a.askedIops, decimals: 0), ms(b.tailMs), formatNumber(b.iops, decimals: 0), b.met ? "meets" : "MISSES",
             ms(a.tailMs), formatNumber(a.iops, decimals: 0), a.met ? "meets" : "MISSES"]
        }).render(indent: 2) + "  (measured in the host kernel, \(seconds) s each)\n"
    }
}
