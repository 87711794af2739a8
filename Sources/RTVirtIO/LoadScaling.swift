/// A guest's load (reads and writes) measured over one interval.
public struct MeasuredLoad: Sendable, Equatable {
    public var iops: Double
    public var requestKB: Double
    /// The share of the requests that were reads, 0…1; nil where the counters do not say.
    public var readFraction: Double?

    public init(iops: Double, requestKB: Double, readFraction: Double? = nil) {
        self.iops = iops
        self.requestKB = requestKB
        self.readFraction = readFraction
    }

    /// From counter deltas (`readIos` of the `ios` were reads); nil when there was no I/O (nothing to learn from).
    public init?(ios: UInt64, bytes: UInt64, seconds: Double, readIos: UInt64? = nil) {
        guard ios > 0, seconds > 0 else { return nil }
        iops = Double(ios) / seconds
        requestKB = Units.kilobytes(bytes: Double(bytes) / Double(ios))
        readFraction = readIos.map { min(1, Double($0) / Double(ios)) }
    }
}

/// The daemon's scenario: declared tasks keep their targets; a guest's
/// measured load scales its tasks' IOPS and request sizes by the same factors,
/// and where its measured share of reads is far from what its tasks declare, every
/// task takes the measured mix (the op-aware model and the read/write cap split use it).
public enum LoadScaling {
    /// Factors are clamped so one odd interval cannot turn a plan upside down.
    public static let factorRange = 0.05...20.0
    /// A measured share of reads this far (0…1) from the declared one replaces the declared ops.
    public static let readShareTolerance = 0.10

    public static func scaled(_ targets: Targets, measured: [String: MeasuredLoad]) -> Targets {
        var result = targets
        for index in result.guests.indices {
            let guest = result.guests[index]
            guard let load = measured[guest.name] else { continue }
            let declaredIops = guest.tasks.reduce(0) { $0 + $1.iops }
            let declaredKB = guest.demandKBps / declaredIops
            let iopsFactor = clamp(load.iops / declaredIops)
            let sizeFactor = clamp(load.requestKB / declaredKB)
            let declaredReads = guest.tasks.reduce(0) { $0 + $1.iops * $1.op.readFraction } / declaredIops
            let measuredOp = load.readFraction.flatMap { fraction -> TaskOp? in
                guard abs(fraction - declaredReads) > readShareTolerance else { return nil }
                let percent = Int((fraction * 100).rounded())
                return percent == 100 ? .read : percent == 0 ? .write : .readWrite(readPercent: percent)
            }
            result.guests[index].tasks = guest.tasks.map { task in
                var task = task
                task.iops *= iopsFactor
                task.requestKB *= sizeFactor
                if let measuredOp { task.op = measuredOp }
                return task
            }
        }
        return result
    }

    /// A capped guest reading at this share of its cap or more is taken as held by it. Not
    /// near 1: a saturated device gives a capped guest less than its cap (measured: 30 of 34,
    /// 1000 of 1145), and blk-throttle lets a little less through than the cap; only reads far
    /// below the cap show that the guest asks for less.
    public static let capBoundFraction = 0.5

    /// The loads that say what the guests ask for, under the caps in force (read IOPS per
    /// guest): a guest held by its cap reads at most what the cap lets through, not what it asks,
    /// so it is planned on what it declares. Planning on its reads made the daemon lift the
    /// cap (the device looked unsaturated), the demand came back, and the cap went on again:
    /// measured on the device-bound testbed, caps on and off 8 times in 40 s, the urgent
    /// guest missing whenever they were off.
    public static func demandEvidence(_ measured: [String: MeasuredLoad], capsIops: [String: Int]) -> [String: MeasuredLoad] {
        measured.filter { guest, load in
            guard let cap = capsIops[guest] else { return true }
            return load.iops < capBoundFraction * Double(cap)
        }
    }

    static func clamp(_ factor: Double) -> Double {
        min(max(factor.isFinite ? factor : 1, factorRange.lowerBound), factorRange.upperBound)
    }
}
