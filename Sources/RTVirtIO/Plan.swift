/// The optimizer's answer: host knobs, a weight per guest, and what the model
/// predicts at exactly those settings.
public struct Plan: Sendable {
    public struct Task: Sendable, Codable, Equatable {
        public var name: String
        public var targetMs: Double
        public var predictedMs: Double
        public var requestedIops: Double
        /// Its requests' size (nil in plans from before it was recorded: 4 KiB).
        public var requestKB: Double?
        /// What it does: read, write or readwrite with its percent of reads, and its requests in
        /// flight (nil in plans from before they were recorded: reads, one at a time).
        public var op: String?
        public var queueDepth: Int?

        /// "write 16 KiB ×4": what the task does, for the reports; empty for a 4 KiB read one at a time.
        public var doesText: String {
            let kb = requestKB ?? 4, depth = queueDepth ?? 1
            guard (op ?? "read") != "read" || kb != 4 || depth != 1 else { return "" }
            return "\(op ?? "read") \(formatNumber(kb)) KiB" + (depth > 1 ? " ×\(depth)" : "")
        }
        /// What the device will deliver, where its capacity is known.
        public var predictedIops: Double?
        public var meets: Bool
        public var getsItsIops: Bool { predictedIops.map { $0 >= DeliveryModel.minimumFraction * requestedIops - 1e-9 } ?? true }
    }
    public struct Guest: Sendable, Codable, Equatable {
        public var name: String
        public var criticality: Int
        public var weight: Int
        public var weightPinned: Bool
        /// A limit on the read IOPS (4 KiB) the guest may ask of the device.
        public var readIopsCap: Int?
        public var tasks: [Task]
        public var meets: Bool { tasks.allSatisfy(\.meets) }
    }
    public struct Sacrifice: Sendable, Codable, Equatable {
        public var guest: String
        public var reason: String
    }

    public var model: String
    public var host: BfqSettings
    public var guests: [Guest]
    public var sacrificed: [Sacrifice]
    public var warnings: [String]
    public var score: Score
    public var candidatesEvaluated: Int
    /// The device's capacity (4 KiB read IOPS) the plan was made for, where known.
    public var capacityIops: Double?
    /// MB/s of large reads, where the targets gave it: what a cap in 4 KiB requests is in larger ones.
    public var largeReadMBps: Double?
    /// What the guests ask, in the capacity's 4 KiB requests.
    public var asked4K: Double?
    /// What the device was measured delivering (4 KiB requests per second) before the plan, where it was.
    public var measuredDelivery: MeasuredDelivery?
    /// Whether that measurement sized the usable IOPS (not when it was far below what the device delivers saturated).
    public var measuredDeliveryUsed = false
    /// One sentence per cap: how much, what the guest asks, for whom.
    public var caps: [String]
    /// Set when the device's own scheduler already meets every target: the plan changes nothing
    /// (`host` and the weights are then only how the models predicted it).
    public var keptScheduler: String?
    /// False where the device had no bfq: the plan keeps its scheduler and may cap guests (`caps`).
    public var bfqOffered = true

    public init(model: String, host: BfqSettings, guests: [Guest], sacrificed: [Sacrifice], warnings: [String], score: Score,
                candidatesEvaluated: Int, capacityIops: Double? = nil, caps: [String] = [], keptScheduler: String? = nil) {
        (self.model, self.host, self.guests, self.sacrificed, self.warnings) = (model, host, guests, sacrificed, warnings)
        (self.score, self.candidatesEvaluated, self.capacityIops, self.caps) = (score, candidatesEvaluated, capacityIops, caps)
        self.keptScheduler = keptScheduler
    }

    /// The device the plan was made for, where the scenario knows its capacity: that capacity,
    /// its large-read bandwidth, and what the guests ask of it.
    public mutating func describeDevice(of scenario: Scenario) {
        (capacityIops, largeReadMBps, asked4K) = (scenario.delivery?.capacityIops, scenario.delivery?.largeReadMBps, scenario.asked4K)
        measuredDelivery = scenario.delivery?.measured
        measuredDeliveryUsed = scenario.delivery?.usesMeasurement(idling: false) ?? false
    }

    /// What the guests ask, in the capacity's 4 KiB requests (their IOPS where the plan did not record it).
    public var askedOfCapacity: Double { asked4K ?? guests.flatMap(\.tasks).reduce(0) { $0 + $1.requestedIops } }

    public var settings: Settings {
        Settings(host: host, weights: guests.map(\.weight), capsIops: guests.contains { $0.readIopsCap != nil } ? guests.map(\.readIopsCap) : nil)
    }
    public var tasksMet: Int { guests.reduce(0) { $0 + $1.tasks.filter(\.meets).count } }
    public var taskCount: Int { guests.reduce(0) { $0 + $1.tasks.count } }

    /// Predictions of `model` for `scenario` at `settings`, in the plan's shape: latency from
    /// the load the model sees (`scenario`), IOPS against what the tasks ask (`requested`).
    public static func predicted(model: any LatencyModel, scenario: Scenario, settings: Settings, requested: Scenario? = nil) -> [Guest] {
        let requested = requested ?? scenario
        let predictions = model.predict(scenario, settings: settings)
        let delivered = requested.delivery?.delivered(requested, settings: settings)
        return scenario.guests.enumerated().map { index, guest in
            Guest(name: guest.name, criticality: guest.criticality, weight: settings.weights[index],
                  weightPinned: guest.pinnedWeight != nil, readIopsCap: settings.capsIops?[index],
                  tasks: requested.guests[index].tasks.enumerated().map { t, task in
                      var planned = Task(name: task.name, targetMs: task.targetMs, predictedMs: predictions[index][t], requestedIops: task.iops,
                                         predictedIops: delivered?[index][t], meets: false)
                      planned.requestKB = task.requestKB
                      planned.queueDepth = task.queueDepth
                      planned.op = switch task.op {
                      case .readWrite(let percent): "readwrite \(percent) % reads"
                      default: task.op.csvName
                      }
                      planned.meets = predictions[index][t] <= task.targetMs && planned.getsItsIops
                      return planned
                  })
        }
    }
}
