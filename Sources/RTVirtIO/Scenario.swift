/// The model's view of a host: guests and tasks with their loads, ready for
/// many predictions (sums precomputed once, not per prediction).
public struct Scenario: Sendable {
    public struct Guest: Sendable {
        public var name: String
        public var criticality: Int
        public var pinnedWeight: Int?
        public var guestBfq: BfqSettings
        public var tasks: [TaskSpec]
        /// A^{G_i}: KB per second over all tasks.
        public let demandKBps: Double
        /// L_min^{G_i}: the smallest request of the guest's tasks.
        public let minRequestKB: Double
        /// φ_j = u_j / Σu within the guest.
        public let taskShares: [Double]

        public init(name: String, criticality: Int, pinnedWeight: Int?, guestBfq: BfqSettings, tasks: [TaskSpec]) {
            self.name = name
            self.criticality = criticality
            self.pinnedWeight = pinnedWeight
            self.guestBfq = guestBfq
            self.tasks = tasks
            demandKBps = tasks.reduce(0) { $0 + $1.demandKBps }
            minRequestKB = tasks.map(\.requestKB).min() ?? 0
            let totalWeight = Double(tasks.reduce(0) { $0 + $1.weight })
            taskShares = tasks.map { Double($0.weight) / totalWeight }
        }

        /// The same guest with other tasks (its sums computed again).
        public func replacingTasks(_ tasks: [TaskSpec]) -> Guest {
            Guest(name: name, criticality: criticality, pinnedWeight: pinnedWeight, guestBfq: guestBfq, tasks: tasks)
        }

        /// The same guest with each task replaced by `transform`'s.
        public func mapTasks(_ transform: (TaskSpec) -> TaskSpec) -> Guest { replacingTasks(tasks.map(transform)) }
    }

    public let guests: [Guest]
    /// What the device can deliver, where the operator (or the lab) measured it: then
    /// delivered IOPS are predicted and caps may be planned.
    public var delivery: DeliveryModel?
    /// Σ A over all guests, KB per second.
    public let totalDemandKBps: Double
    public let taskCount: Int

    /// Every guest at bfq's default weight, 100, except where the targets pin one:
    /// what the host has when nobody has tuned it.
    public var untouchedWeights: [Int] { guests.map { $0.pinnedWeight ?? 100 } }

    public init(guests: [Guest], delivery: DeliveryModel? = nil) {
        self.guests = guests
        self.delivery = delivery
        totalDemandKBps = guests.reduce(0) { $0 + $1.demandKBps }
        taskCount = guests.reduce(0) { $0 + $1.tasks.count }
    }

    public init(targets: Targets) {
        self.init(guests: targets.guests.map {
            Guest(name: $0.name, criticality: $0.criticality, pinnedWeight: $0.weight,
                  guestBfq: $0.guestBfq, tasks: $0.tasks)
        }, delivery: targets.capacityReadIops.map { DeliveryModel(capacityIops: $0, largeReadMBps: targets.capacityReadMBps) })
    }

    /// What the guests ask of the device in its 4 KiB requests per second, where its capacity is known.
    public var asked4K: Double? {
        delivery.map { delivery in guests.reduce(0) { sum, guest in guest.tasks.reduce(sum) { $0 + delivery.cost4K($1) } } }
    }

    /// Guest indices, most urgent first (criticality, then position).
    public var urgencyOrder: [Int] {
        guests.indices.sorted { (guests[$0].criticality, $0) < (guests[$1].criticality, $1) }
    }
}

/// One candidate setting of everything rtvirtio controls.
public struct Settings: Sendable, Equatable, Hashable {
    /// How the models predict the device's own scheduler (`none`, `mq-deadline`): bfq without
    /// idling, weights untouched, no caps — the same split of a device (bench/results/contended24),
    /// and what `lab accuracy` scores against measurements under those schedulers.
    public static func deviceSchedulerProxy(weights: [Int]) -> Settings {
        Settings(host: BfqSettings(timeoutSyncMs: BfqSettings.kernelDefault.timeoutSyncMs, sliceIdleUs: 0), weights: weights)
    }

    public var host: BfqSettings
    public var weights: [Int]
    /// Per guest, a limit on the read IOPS (4 KiB) it may ask of the device; nil: no caps at all.
    public var capsIops: [Int?]?

    public init(host: BfqSettings, weights: [Int], capsIops: [Int?]? = nil) {
        self.host = host
        self.weights = weights
        self.capsIops = capsIops
    }

    /// φ_i = w_i / Σ w_k.
    public func share(of guest: Int) -> Double {
        Double(weights[guest]) / Double(weights.reduce(0, +))
    }
}
