/// What `rtvirtio top` shows each second: per guest and task, the guest's
/// measured tail in the last window and over the last minute, against the
/// task's target and the model's prediction at the settings in force.
/// The kernel sees a guest's requests, not its tasks: a guest's tasks share
/// its measurement.
public struct LiveView: Sendable {
    public var targets: Targets
    /// [guest][task] at the settings in force, where a model could say.
    public var predictedMs: [String: [String: Double]]
    public var settingsText: String
    public private(set) var recent: [[String: LatencyHistogram]] = []
    public static let minute = 60

    public init(targets: Targets, predictedMs: [String: [String: Double]], settingsText: String) {
        self.targets = targets
        self.predictedMs = predictedMs
        self.settingsText = settingsText
    }

    /// One second's requests per guest (all ops together).
    public mutating func add(window: [String: [IOOp: LatencyHistogram]]) {
        recent.append(window.mapValues { $0.values.reduce(LatencyHistogram(), +) })
        if recent.count > Self.minute { recent.removeFirst(recent.count - Self.minute) }
    }

    public struct Row: Sendable, Equatable {
        public var guest: String, task: String
        public var iops: Double
        public var lastMs: Double?, minuteMs: Double?
        public var targetMs: Double
        public var predictedMs: Double?
        /// (target − measured over the minute) / target; nil before any request.
        public var margin: Double?
        public var met: Bool?
    }

    public func rows() -> [Row] {
        let last = recent.last ?? [:]
        return targets.guestsByUrgency.flatMap { guest -> [Row] in
            let lastWindow = last[guest.name] ?? LatencyHistogram()
            let minute = recent.reduce(LatencyHistogram()) { $0 + ($1[guest.name] ?? LatencyHistogram()) }
            let tail = minute.percentileMs(targets.percentile)
            return guest.tasks.map { task in
                Row(guest: guest.name, task: task.name, iops: Double(lastWindow.count), lastMs: lastWindow.percentileMs(targets.percentile),
                    minuteMs: tail, targetMs: task.targetMs, predictedMs: predictedMs[guest.name]?[task.name],
                    margin: tail.map { (task.targetMs - $0) / task.targetMs }, met: tail.map { $0 <= task.targetMs })
            }
        }
    }

    public func render(header: String) -> String {
        func ms(_ v: Double?) -> String { v.map { formatNumber($0, decimals: 2) } ?? "–" }
        let table = Table(header: ["guest", "task", "IOPS", "p\(formatNumber(targets.percentile, decimals: 2)) last s", "last min", "target", "predicted", "margin", ""],
                          rows: rows().map { r in
            [r.guest, r.task, formatNumber(r.iops), ms(r.lastMs), ms(r.minuteMs), formatNumber(r.targetMs), ms(r.predictedMs),
             r.margin.map { (r.met == true ? "+" : "") + formatNumber($0 * 100, decimals: 0) + "%" } ?? "–",
             r.met.map { $0 ? "met" : "MISSED" } ?? "no I/O"]
        })
        return header + "\n" + settingsText + "\n\n" + table.render(indent: 0)
            + "\nms, measured in the host kernel (a request's insertion into the scheduler to its completion);\n"
            + "a guest's tasks share its measurement. Ctrl-C ends.\n"
    }
}
