/// What an operator declares: one shared device, the guests on it, each
/// guest's tasks and their tail-latency targets.
public struct Targets: Sendable, Equatable {
    public var device: String
    public var percentile: Double
    public var model: ModelChoice
    public var modelParams: String?
    public var search: SearchSpace
    public var onStop: OnStop
    public var guests: [GuestSpec]
    /// The device's capacity in 4 KiB random-read IOPS, where the operator measured it:
    /// then delivered IOPS are predicted and the least urgent guests may be capped.
    public var capacityReadIops: Double?
    /// `capacity: {readMBps:}`: MB/s of large random reads, where measured (`rtvirtio probe`).
    public var capacityReadMBps: Double?
    /// `libvirt: {uri}`: guests are also declared in the running domains' metadata (LibvirtMetadata).
    public var libvirtURI: String?

    public init(device: String, percentile: Double = 99.99, model: ModelChoice = .bundledDefault,
                modelParams: String? = nil, search: SearchSpace = .standard, onStop: OnStop = .restore,
                guests: [GuestSpec]) {
        self.device = device
        self.percentile = percentile
        self.model = model
        self.modelParams = modelParams
        self.search = search
        self.onStop = onStop
        self.guests = guests
    }

    /// Guests in order of urgency: criticality 1 first, file order breaking ties.
    public var guestsByUrgency: [GuestSpec] {
        guests.enumerated().sorted { ($0.element.criticality, $0.offset) < ($1.element.criticality, $1.offset) }
            .map(\.element)
    }
}

public enum ModelChoice: Sendable, Equatable {
    /// The model a targets file gets without `model:`: the bundled one with the best held-out error
    /// (README, "Models").
    public static let bundledDefault = ModelChoice.idling

    case analytical
    case mlp
    case idling
    /// The idling model told each task's op, request size and queue depth (`OpAwareModel`).
    case opAware
    case file(String)

    public init(_ text: String) {
        switch text {
        case "analytical": self = .analytical
        case "mlp": self = .mlp
        case "idling": self = .idling
        case "op-aware": self = .opAware
        default: self = .file(text)
        }
    }

    public var text: String {
        switch self {
        case .analytical: "analytical"
        case .mlp: "mlp"
        case .idling: "idling"
        case .opAware: "op-aware"
        case .file(let path): path
        }
    }
}

public enum OnStop: String, Sendable, Equatable { case restore, keep }

/// The host knobs the optimizer may choose from.
public struct SearchSpace: Sendable, Equatable {
    public var hostTimeoutSyncMs: [Int]
    public var hostSliceIdleUs: [Int]

    public init(hostTimeoutSyncMs: [Int], hostSliceIdleUs: [Int]) {
        self.hostTimeoutSyncMs = hostTimeoutSyncMs
        self.hostSliceIdleUs = hostSliceIdleUs
    }

    /// The paper's Table II: timeout_sync {32,64,124} ms, slice_idle {1,2,4,6,8} ms.
    public static let paper = SearchSpace(hostTimeoutSyncMs: [32, 64, 124],
                                          hostSliceIdleUs: [1000, 2000, 4000, 6000, 8000])

    /// What a targets file searches without `search:`: Table II plus slice_idle 0,
    /// which the paper leaves out and which is what removes bfq's second-long
    /// stalls on this kernel (README, Models; TESTBED.md).
    public static let standard = SearchSpace(hostTimeoutSyncMs: paper.hostTimeoutSyncMs, hostSliceIdleUs: [0] + paper.hostSliceIdleUs)
}

/// bfq knobs of one scheduler instance. slice_idle is kept in µs so that the
/// sub-millisecond and zero values `slice_idle_us` allows stay exact.
public struct BfqSettings: Sendable, Equatable, Hashable, Codable {
    public var timeoutSyncMs: Int
    public var sliceIdleUs: Int

    public init(timeoutSyncMs: Int, sliceIdleUs: Int) {
        self.timeoutSyncMs = timeoutSyncMs
        self.sliceIdleUs = sliceIdleUs
    }

    public var sliceIdleMs: Double { Double(sliceIdleUs) / 1000 }

    /// The kernel's defaults: timeout_sync 124 ms (HZ/8), slice_idle 8 ms.
    public static let kernelDefault = BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 8000)
    /// bfq's weight for a cgroup nobody set one for (BFQ_DEFAULT_GRP_WEIGHT).
    public static let kernelDefaultWeight = 100

    /// The knobs' ranges rtvirtio accepts anywhere (targets files, the command line).
    public static let timeoutSyncMsRange = 1.0...10_000.0
    public static let sliceIdleMsRange = 0.0...1000.0

    /// The one conversion of a slice_idle in ms (as operators write it) to the µs kept
    /// here (and written to slice_idle_us): nil outside 0...1000 ms, for a value that is
    /// no whole number of µs (0.0004 ms would silently become 0: idling off against the
    /// plan), or not a number (1e300, inf, nan) — never a trap.
    public static func sliceIdleUs(ms: Double) -> Int? {
        guard sliceIdleMsRange.contains(ms) else { return nil }
        let us = (ms * 1000).rounded()
        return abs(ms * 1000 - us) < 1e-6 ? Int(us) : nil
    }

    /// A timeout_sync in whole ms within 1...10000, else nil.
    public static func timeoutSyncMs(_ ms: Double) -> Int? {
        timeoutSyncMsRange.contains(ms) && ms == ms.rounded() ? Int(ms) : nil
    }
}

/// How rtvirtio finds a guest's cgroup on the host.
public enum GuestMatch: Sendable, Equatable {
    case libvirt(String)
    case cgroup(String)
    case pid(Int32)
    case pidfile(String)

    public var description: String {
        switch self {
        case .libvirt(let name): "libvirt: \(name)"
        case .cgroup(let path): "cgroup: \(path)"
        case .pid(let pid): "pid: \(pid)"
        case .pidfile(let path): "pidfile: \(path)"
        }
    }
}

public struct GuestSpec: Sendable, Equatable {
    public var name: String
    public var criticality: Int
    public var match: GuestMatch?
    public var weight: Int?
    public var guestBfq: BfqSettings
    /// When set, rtvirtio also writes `guestBfq` inside the guest through its QEMU guest agent.
    public var guestAgent: GuestAgentSpec?
    public var tasks: [TaskSpec]

    public init(name: String, criticality: Int, match: GuestMatch? = nil, weight: Int? = nil,
                guestBfq: BfqSettings = .kernelDefault, guestAgent: GuestAgentSpec? = nil, tasks: [TaskSpec]) {
        self.name = name
        self.criticality = criticality
        self.match = match
        self.weight = weight
        self.guestBfq = guestBfq
        self.guestAgent = guestAgent
        self.tasks = tasks
    }

    /// Bytes per second this guest asks for, in KB (the paper's A^{G_i}).
    public var demandKBps: Double { tasks.reduce(0) { $0 + $1.demandKBps } }
}

/// What a task's requests are: the paper's tasks read and write. The op-aware model
/// predicts from it; the others were fitted on reads and predict a writer's tail as a
/// reader's (README, "Writers, large requests and deep queues").
public enum TaskOp: Sendable, Equatable {
    case read, write
    /// `readPercent` of the requests are reads (0…100), the rest writes.
    case readWrite(readPercent: Int)

    /// The word targets.yaml and the calibration CSV use: read, write or readwrite.
    public var csvName: String {
        switch self {
        case .read: "read"
        case .write: "write"
        case .readWrite: "readwrite"
        }
    }

    /// From `csvName` and the percent of reads (used by readwrite only); nil for any other word or a percent outside 0…100.
    public init?(csvName: String, readPercent: Int) {
        switch csvName {
        case "read": self = .read
        case "write": self = .write
        case "readwrite" where (0...100).contains(readPercent): self = .readWrite(readPercent: readPercent)
        default: return nil
        }
    }

    /// The share of the task's requests that are reads, 0…1.
    public var readFraction: Double {
        switch self {
        case .read: 1
        case .write: 0
        case .readWrite(let percent): Double(percent) / 100
        }
    }
}

/// The guest agent channel of a VM (libvirt: /var/lib/libvirt/qemu/channel/target/domain-N-NAME/org.qemu.guest_agent.0)
/// and the disk inside the guest whose bfq knobs rtvirtio sets.
public struct GuestAgentSpec: Sendable, Equatable {
    public var socket: String
    public var disk: String
    public init(socket: String, disk: String = "vda") { self.socket = socket; self.disk = disk }
}

public struct TaskSpec: Sendable, Equatable {
    public var name: String
    public var iops: Double
    public var requestKB: Double
    public var targetMs: Double
    public var weight: Int
    /// Reads, writes, or both (`rw:` in targets.yaml; reads by default).
    public var op: TaskOp
    /// Requests the task keeps in flight (`queueDepth:`; 1, one at a time, by default).
    public var queueDepth: Int

    public init(name: String, iops: Double, requestKB: Double = 4, targetMs: Double, weight: Int = 100,
                op: TaskOp = .read, queueDepth: Int = 1) {
        self.name = name
        self.iops = iops
        self.requestKB = requestKB
        self.targetMs = targetMs
        self.weight = weight
        self.op = op
        self.queueDepth = queueDepth
    }

    /// The paper's A^{τ_j}: KB requested in one second.
    public var demandKBps: Double { iops * requestKB }
}
