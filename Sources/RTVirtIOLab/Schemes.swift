import RTVirtIO
import Foundation

/// An I/O priority for a guest's load processes (ioprio_set classes).
public struct IOPriority: Sendable, Codable, Equatable {
    public enum Class: Int, Sendable, Codable { case realtime = 1, bestEffort = 2 }
    public var ioClass: Class
    public var level: Int
    public init(_ ioClass: Class, _ level: Int) { self.ioClass = ioClass; self.level = level }
}

/// What a scheme sets for one case: the device's scheduler, and under bfq its
/// host knobs and the guests' weights; optionally the I/O priority of each
/// guest's processes.
public struct SchemeSettings: Sendable, Codable, Equatable {
    /// The device's I/O scheduler (`bfq`, `none`, `mq-deadline`); `host` and
    /// `weights` mean something only under bfq.
    public var scheduler: String
    public var host: BfqSettings
    public var weights: [Int]
    public var ioPriorities: [IOPriority?]
    /// What the scheme's model predicted for each task ([guest][task], ms), for the model-driven schemes.
    public var predictedMs: [[Double]]?
    /// And the IOPS it predicted each task gets, where the device's capacity was known.
    public var predictedIops: [[Double]]?
    /// Per guest, a read IOPS cap (4 KiB); nil: no caps.
    public var capsIops: [Int?]?

    public init(scheduler: String = "bfq", host: BfqSettings, weights: [Int], ioPriorities: [IOPriority?], predictedMs: [[Double]]? = nil,
                predictedIops: [[Double]]? = nil, capsIops: [Int?]? = nil) {
        self.scheduler = scheduler
        self.host = host
        self.weights = weights
        self.ioPriorities = ioPriorities
        self.predictedMs = predictedMs
        self.predictedIops = predictedIops
        self.capsIops = capsIops
    }

    public var usesBfq: Bool { scheduler == "bfq" }
    /// Whether running under these settings writes anything to the bench's device: bfq, another
    /// scheduler than its own, or a cap (the device's own scheduler without caps writes nothing).
    public var changesTheDevice: Bool { scheduler != Scheme.deviceDefaultScheduler || capsIops?.contains { $0 != nil } == true }

    enum CodingKeys: String, CodingKey { case scheduler, host, weights, ioPriorities, predictedMs, predictedIops, capsIops }
    /// Results written before `scheduler` existed were all bfq, and had no caps.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(scheduler: try c.decodeIfPresent(String.self, forKey: .scheduler) ?? "bfq",
                  host: try c.decode(BfqSettings.self, forKey: .host), weights: try c.decode([Int].self, forKey: .weights),
                  ioPriorities: try c.decode([IOPriority?].self, forKey: .ioPriorities),
                  predictedMs: try c.decodeIfPresent([[Double]].self, forKey: .predictedMs),
                  predictedIops: try c.decodeIfPresent([[Double]].self, forKey: .predictedIops),
                  capsIops: try c.decodeIfPresent([Int?].self, forKey: .capsIops))
    }
}

/// The strategies the benchmark compares, each written down so that it can be
/// checked: what operators use today, the paper's baselines, and rtvirtio.
public enum Scheme: Sendable {
    /// The kernel's defaults: weights 100, timeout_sync 124 ms, slice_idle 8 ms.
    case kernelDefault
    /// What an operator gets without rtvirtio: the device's own scheduler —
    /// `none` (NVMe, loop devices) or `mq-deadline` (SATA). No knobs, no weights.
    case deviceScheduler(String)
    /// The one-line udev rule: bfq with `slice_idle` 0, everything else at the
    /// kernel's defaults, weights untouched.
    case bfqNoIdle
    /// The paper's ionice setup: kernel defaults; the most urgent guest's
    /// processes in the real-time class, the others best-effort, priority
    /// levels in order of urgency (0 for the next most urgent, up to 7).
    case ionice
    /// RT-Xen's server model adapted to I/O: guest i is a periodic server with
    /// period Π_i = half its tightest target (a deferrable server answers within
    /// 2Π) and budget Θ_i = the service its demand needs in a period, at least
    /// one 4 KiB request per task; its bfq weight is proportional to the
    /// bandwidth Θ_i/Π_i = max(demand_i, tasks_i × 4 KB / Π_i). Kernel knobs.
    case mimicRTXen
    /// Weight proportional to demanded bandwidth divided by the tightest target; kernel knobs.
    case naive
    /// rtvirtio's optimizer with a model over a search space.
    case rtvirtio(model: any LatencyModel, space: SearchSpace)
    /// Settings fixed in advance (`rtvirtio bench --sweep`).
    case fixed(SchemeSettings)

    /// `offersBfq`: whether the device has bfq; without it rtvirtio keeps the device's own scheduler and caps only.
    public func settings(for scenario: Scenario, offersBfq: Bool = true) throws -> SchemeSettings {
        let guests = scenario.guests
        let none = [IOPriority?](repeating: nil, count: guests.count)
        func tightest(_ g: Scenario.Guest) -> Double { g.tasks.map(\.targetMs).min() ?? 1 }
        switch self {
        case .kernelDefault:
            return SchemeSettings(host: .kernelDefault, weights: scenario.untouchedWeights, ioPriorities: none)
        case .deviceScheduler(let name):
            return SchemeSettings(scheduler: name, host: .kernelDefault, weights: scenario.untouchedWeights, ioPriorities: none)
        case .bfqNoIdle:
            return SchemeSettings(host: BfqSettings(timeoutSyncMs: BfqSettings.kernelDefault.timeoutSyncMs, sliceIdleUs: 0),
                                  weights: scenario.untouchedWeights, ioPriorities: none)
        case .ionice:
            let order = scenario.urgencyOrder
            var priorities = none
            for (rank, guest) in order.enumerated() {
                priorities[guest] = rank == 0 ? IOPriority(.realtime, 0) : IOPriority(.bestEffort, min(rank - 1, 7))
            }
            return SchemeSettings(host: .kernelDefault, weights: scenario.untouchedWeights, ioPriorities: priorities)
        case .mimicRTXen:
            let bandwidth = guests.map { g in max(g.demandKBps, Double(g.tasks.count) * 4 / (tightest(g) / 2 / 1000)) }
            return SchemeSettings(host: .kernelDefault, weights: Self.scaled(bandwidth, pinned: guests.map(\.pinnedWeight)), ioPriorities: none)
        case .naive:
            return SchemeSettings(host: .kernelDefault, weights: Self.scaled(guests.map { $0.demandKBps / tightest($0) }, pinned: guests.map(\.pinnedWeight)),
                                  ioPriorities: none)
        case .rtvirtio(let model, let space):
            // The device starts as an operator's would: with its own scheduler, `none` (loop
            // devices, NVMe), which rtvirtio keeps where the model says it meets every target.
            let plan = try Optimizer(model: model, space: space).plan(scenario, currentScheduler: Self.deviceDefaultScheduler, offersBfq: offersBfq)
            return SchemeSettings(scheduler: plan.keptScheduler ?? "bfq", host: plan.host, weights: plan.guests.map(\.weight), ioPriorities: none,
                                  predictedMs: plan.guests.map { $0.tasks.map(\.predictedMs) },
                                  predictedIops: plan.capacityIops == nil ? nil : plan.guests.map { $0.tasks.map { $0.predictedIops ?? 0 } },
                                  capsIops: plan.settings.capsIops)
        case .fixed(let settings):
            return settings
        }
    }

    /// Whether the scheme writes bfq whatever the case: rtvirtio's keep the device's own scheduler
    /// where it has no bfq, the device's own scheduler never sets it.
    public var setsBfq: Bool {
        switch self {
        case .kernelDefault, .bfqNoIdle, .ionice, .mimicRTXen, .naive: return true
        case .deviceScheduler, .rtvirtio: return false
        case .fixed(let settings): return settings.usesBfq
        }
    }

    /// rtvirtio's optimizer: it plans from a model, and may plan from a measurement too.
    public var isModelDriven: Bool {
        if case .rtvirtio = self { return true }
        return false
    }

    /// The scheduler the benchmark's device has before any scheme touches it.
    public static let deviceDefaultScheduler = "none"

    /// Proportional weights in bfq's 1…1000, the largest at 1000; pinned weights kept.
    public static func scaled(_ raw: [Double], pinned: [Int?]) -> [Int] {
        let largest = raw.max() ?? 1
        return zip(raw, pinned).map { value, pin in pin ?? max(1, min(1000, Int((1000 * value / largest).rounded()))) }
    }
}
