/// A guest's read load measured over one interval.
public struct MeasuredLoad: Sendable, Equatable {
    public var iops: Double
    public var requestKB: Double

    public init(iops: Double, requestKB: Double) {
        self.iops = iops
        self.requestKB = requestKB
    }

    /// From counter deltas; nil when there were no reads (nothing to learn from).
    public init?(readIos: UInt64, readBytes: UInt64, seconds: Double) {
        guard readIos > 0, seconds > 0 else { return nil }
        iops = Double(readIos) / seconds
        requestKB = Units.kilobytes(bytes: Double(readBytes) / Double(readIos))
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

    static func clamp(_ factor: Double) -> Double {
        min(max(factor.isFinite ? factor : 1, factorRange.lowerBound), factorRange.upperBound)
    }
}
