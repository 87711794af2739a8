/// A guest's load (reads and writes) measured over one interval.
public struct MeasuredLoad: Sendable, Equatable {
    public var iops: Double
    public var requestKB: Double

    public init(iops: Double, requestKB: Double) {
        self.iops = iops
        self.requestKB = requestKB
    }

    /// From counter deltas; nil when there was no I/O (nothing to learn from).
    public init?(ios: UInt64, bytes: UInt64, seconds: Double) {
        guard ios > 0, seconds > 0 else { return nil }
        iops = Double(ios) / seconds
        requestKB = Units.kilobytes(bytes: Double(bytes) / Double(ios))
    }
}

/// The daemon's scenario: declared tasks keep their targets; a guest's
/// measured load scales its tasks' IOPS and request sizes by the same factors.
public enum LoadScaling {
    /// Factors are clamped so one odd interval cannot turn a plan upside down.
    public static let factorRange = 0.05...20.0

    public static func scaled(_ targets: Targets, measured: [String: MeasuredLoad]) -> Targets {
        var result = targets
        for index in result.guests.indices {
            let guest = result.guests[index]
            guard let load = measured[guest.name] else { continue }
            let declaredIops = guest.tasks.reduce(0) { $0 + $1.iops }
            let declaredKB = guest.demandKBps / declaredIops
            let iopsFactor = clamp(load.iops / declaredIops)
            let sizeFactor = clamp(load.requestKB / declaredKB)
            result.guests[index].tasks = guest.tasks.map { task in
                var task = task
                task.iops *= iopsFactor
                task.requestKB *= sizeFactor
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
