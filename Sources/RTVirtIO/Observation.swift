/// What a request did, as the block layer says (REQ_OP_READ, REQ_OP_WRITE, anything else).
public enum IOOp: String, Sendable, Codable, CaseIterable, Comparable {
    case read, write, other
    public static func < (a: IOOp, b: IOOp) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
}

/// Per-guest, per-op latency measured in the host kernel over a run of
/// 1-second windows: the run's histogram and each window's tail.
public struct Observation: Sendable {
    public struct Series: Sendable {
        public var total = LatencyHistogram()
        /// Each window's p99.99 (ms); nil for a window without requests.
        public var windowTailsMs: [Double?] = []
        public init() {}
    }

    public var percentile: Double
    public private(set) var windows = 0
    public private(set) var series: [String: [IOOp: Series]] = [:]

    public init(percentile: Double = 99.99) { self.percentile = percentile }

    /// One window's requests per guest and op; guests and ops absent from it had none.
    public mutating func add(window: [String: [IOOp: LatencyHistogram]], guests: [String]) {
        for guest in guests {
            for op in IOOp.allCases {
                let h = window[guest]?[op] ?? LatencyHistogram()
                if h.count == 0 && series[guest]?[op] == nil { continue }
                var s = series[guest]?[op] ?? Series()
                // a series that starts late gets empty windows before its first
                if s.windowTailsMs.count < windows { s.windowTailsMs += [Double?](repeating: nil, count: windows - s.windowTailsMs.count) }
                s.total = s.total + h
                s.windowTailsMs.append(h.percentileMs(percentile))
                series[guest, default: [:]][op] = s
            }
        }
        windows += 1
    }

    /// The report `rtvirtio observe` prints: per guest and op, count, IOPS,
    /// percentiles and, per task, the windows whose tail exceeded its target.
    public func report(device: String, durationS: Double, targets: Targets) -> ObservationReport {
        ObservationReport(device: device, durationS: durationS, percentile: percentile, windows: windows, guests: targets.guests.map { guest in
            let ops = (series[guest.name] ?? [:]).sorted { $0.key < $1.key }.map { op, s in
                ObservationReport.OpStats(
                    op: op, count: s.total.count, iops: durationS > 0 ? Double(s.total.count) / durationS : 0,
                    p50Ms: s.total.percentileMs(50), p99Ms: s.total.percentileMs(99), p999Ms: s.total.percentileMs(99.9),
                    p9999Ms: s.total.percentileMs(99.99), maxMs: s.total.maxMs,
                    windowsOverTarget: Dictionary(uniqueKeysWithValues: guest.tasks.map { task in
                        (task.name, s.windowTailsMs.filter { ($0 ?? 0) > task.targetMs }.count)
                    }),
                    lastWindowTailMs: s.windowTailsMs.last ?? nil)
            }
            return ObservationReport.Guest(name: guest.name, ops: ops)
        })
    }
}

public struct ObservationReport: Sendable, Encodable {
    public struct OpStats: Sendable {
        public var op: IOOp
        public var count: UInt64
        public var iops: Double
        public var p50Ms, p99Ms, p999Ms, p9999Ms, maxMs: Double?
        /// Per task of the guest: windows whose measured p99.99 exceeded that task's target.
        public var windowsOverTarget: [String: Int]
        public var lastWindowTailMs: Double?
    }
    public struct Guest: Sendable, Encodable {
        public var name: String
        public var ops: [OpStats]
        /// Requests per second over every op.
        public var iops: Double { ops.reduce(0) { $0 + $1.iops } }

        enum CodingKeys: String, CodingKey { case name, ops }
        struct OpKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        enum StatsKeys: String, CodingKey { case count, iops, p50Ms, p99Ms, p999Ms, p9999Ms, maxMs, windowsOverTarget }

        /// `"ops": {"read": {...}, "write": {...}}`, as the JSON shape has it.
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            var byOp = c.nestedContainer(keyedBy: OpKey.self, forKey: .ops)
            for stats in ops {
                var s = byOp.nestedContainer(keyedBy: StatsKeys.self, forKey: OpKey(stringValue: stats.op.rawValue))
                try s.encode(stats.count, forKey: .count)
                try s.encode(stats.iops, forKey: .iops)
                try s.encode(stats.p50Ms, forKey: .p50Ms); try s.encode(stats.p99Ms, forKey: .p99Ms)
                try s.encode(stats.p999Ms, forKey: .p999Ms); try s.encode(stats.p9999Ms, forKey: .p9999Ms)
                try s.encode(stats.maxMs, forKey: .maxMs)
                try s.encode(stats.windowsOverTarget, forKey: .windowsOverTarget)
            }
        }
    }

    public var device: String
    public var durationS: Double
    public var percentile: Double
    public var windows: Int
    public var guests: [Guest]

    /// One row per guest and op, what an operator reads at a glance.
    public func text() -> String {
        func ms(_ v: Double?) -> String { v.map { formatNumber($0, decimals: 2) } ?? "–" }
        var rows: [[String]] = []
        for guest in guests {
            if guest.ops.isEmpty { rows.append([guest.name, "–", "0", "0", "–", "–", "–", "–", "–", "–"]) }
            for s in guest.ops {
                let over = s.windowsOverTarget.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)/\(windows)" }.joined(separator: ", ")
                rows.append([guest.name, s.op.rawValue, String(s.count), formatNumber(s.iops), ms(s.p50Ms), ms(s.p99Ms), ms(s.p999Ms),
                             ms(s.p9999Ms), ms(s.maxMs), over.isEmpty ? "–" : over])
            }
        }
        return "Measured in the kernel on \(device) over \(formatNumber(durationS)) s (\(windows) one-second windows); latency from "
            + "the request's insertion into the scheduler (or its issue) to its completion, in ms.\n"
            + Table(header: ["guest", "op", "count", "IOPS", "p50", "p99", "p99.9", "p99.99", "max", "windows over target"], rows: rows).render(indent: 0)
    }
}
