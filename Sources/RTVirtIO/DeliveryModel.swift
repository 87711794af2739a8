/// Predicts the IOPS each task gets, which the latency models cannot: a task
/// that asks for more than the device can give it misses however short its
/// latencies (TESTBED.md; issue 14's measurements).
///
/// The device delivers `capacityIops` (4 KiB reads) times an efficiency when
/// the guests ask for more than that: without idling (bfq `slice_idle` 0, or
/// the kernel's `none`/`mq-deadline`) one-request-at-a-time tasks are served in
/// turn, so the capacity is shared max-min fairly among tasks and the weights
/// do nothing (measured: the same split, within 1 %, under all three); with
/// idling, bfq serves each guest in proportion to its weight — max-min fairly
/// weighted among guests, then fairly among a guest's tasks — and idling wastes
/// part of the device. A cap limits what a guest asks of the device.
public struct DeliveryModel: Sendable, Equatable, Codable {
    /// What `rtvirtio lab testbed up` (or the operator's `capacity:`) measured: IOPS of 4 KiB reads.
    public var capacityIops: Double
    /// Delivered / capacity when saturated, without idling and with it.
    public var noIdleEfficiency: Double
    public var idleEfficiency: Double

    /// Fitted on data/calibration/device-bound-30s.csv: the medians over its
    /// configurations that asked for more than 110 % of the capacity (5 without
    /// idling: 0.78–0.87; 32 with idling: 0.47–0.80), capacity 3520 IOPS.
    public static let deviceBoundNoIdleEfficiency = 0.86
    public static let deviceBoundIdleEfficiency = 0.67

    public init(capacityIops: Double, noIdleEfficiency: Double = Self.deviceBoundNoIdleEfficiency,
                idleEfficiency: Double = Self.deviceBoundIdleEfficiency) {
        self.capacityIops = capacityIops
        self.noIdleEfficiency = noIdleEfficiency
        self.idleEfficiency = idleEfficiency
    }

    /// A task that gets less than this share of the IOPS it asks for has missed (the benchmark's rule too).
    public static let minimumFraction = 0.95

    /// What the device serves when every guest asks for more than it can give.
    public func usableIops(idling: Bool) -> Double { capacityIops * (idling ? idleEfficiency : noIdleEfficiency) }

    /// A task's demand in 4 KiB requests per second (the unit of the capacity).
    static func demand4K(_ task: TaskSpec) -> Double { task.iops * max(task.requestKB, 4) / 4 }

    /// Delivered IOPS per task ([guest][task], in the task's own request size).
    /// `caps[g]`: guest g's read IOPS limit (4 KiB), nil for none.
    public func delivered(_ scenario: Scenario, settings: Settings) -> [[Double]] {
        let idling = settings.host.sliceIdleUs > 0
        let caps = settings.capsIops ?? [Int?](repeating: nil, count: scenario.guests.count)
        // what each guest asks of the device: its tasks' demands, limited by its cap
        let asked: [[Double]] = scenario.guests.enumerated().map { g, guest in
            let demands = guest.tasks.map(Self.demand4K)
            guard let cap = caps[g] else { return demands }
            return Self.maxMinFair(demands: demands, weights: demands.map { _ in 1 }, capacity: Double(cap))
        }
        let usable = usableIops(idling: idling)
        let got4K: [[Double]]
        if asked.joined().reduce(0, +) <= usable {
            got4K = asked
        } else if idling {
            let guestGets = Self.maxMinFair(demands: asked.map { $0.reduce(0, +) }, weights: settings.weights.map(Double.init), capacity: usable)
            got4K = asked.indices.map { g in Self.maxMinFair(demands: asked[g], weights: asked[g].map { _ in 1 }, capacity: guestGets[g]) }
        } else {
            let flat = Self.maxMinFair(demands: Array(asked.joined()), weights: asked.joined().map { _ in 1 }, capacity: usable)
            var index = 0
            got4K = asked.map { tasks in tasks.map { _ in defer { index += 1 }; return flat[index] } }
        }
        return zip(scenario.guests, got4K).map { guest, got in
            zip(guest.tasks, got).map { task, value in value * 4 / max(task.requestKB, 4) }
        }
    }

    /// Weighted max-min fair shares (water-filling): no one gets more than it
    /// asks; what the satisfied leave is shared by the rest in proportion to weight.
    public static func maxMinFair(demands: [Double], weights: [Double], capacity: Double) -> [Double] {
        var result = [Double](repeating: 0, count: demands.count)
        var open = Set(demands.indices.filter { demands[$0] > 0 && weights[$0] > 0 })
        var left = max(0, capacity)
        while !open.isEmpty, left > 1e-9 {
            let totalWeight = open.reduce(0) { $0 + weights[$1] }
            let satisfied = open.filter { demands[$0] - result[$0] <= left * weights[$0] / totalWeight }
            if satisfied.isEmpty {
                for i in open { result[i] += left * weights[i] / totalWeight }
                break
            }
            for i in satisfied { left -= demands[i] - result[i]; result[i] = demands[i]; open.remove(i) }
        }
        return result
    }
}
