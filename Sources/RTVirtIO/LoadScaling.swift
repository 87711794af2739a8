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

/// What a guest asks, from its last few intervals: the one with the most reads. A guest
/// stalled for an interval reads little in it, and planning on that would lower its
/// weight and stall it more (measured: the open-loop daemon flipped vm0's weight from
/// 1000 to 60 after one such interval, and vm0 then waited 927 ms).
public struct LoadHistory: Sendable {
    public static let intervalsKept = 5
    public private(set) var recent: [String: [MeasuredLoad]] = [:]

    public init() {}

    /// Adds this interval's loads (guests absent from it are forgotten) and returns each guest's demand.
    public mutating func add(_ loads: [String: MeasuredLoad]) -> [String: MeasuredLoad] {
        recent = recent.filter { loads[$0.key] != nil }
        for (guest, load) in loads {
            recent[guest, default: []].append(load)
            if recent[guest]!.count > Self.intervalsKept { recent[guest]!.removeFirst() }
        }
        return recent.compactMapValues { $0.max { $0.iops < $1.iops } }
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

/// Whether a new plan differs from the applied one enough to rewrite the
/// kernel: other host knobs, another set of guests, or a weight that moved by
/// more than `relativeWeightChange` (and by more than 2). Keeps the daemon
/// from flapping between two nearly equal plans.
public struct PlanHysteresis: Sendable {
    public var relativeWeightChange = 0.15

    public init(relativeWeightChange: Double = 0.15) { self.relativeWeightChange = relativeWeightChange }

    public func matters(from old: Plan?, to new: Plan) -> Bool {
        guard let old else { return true }
        if old.host != new.host { return true }
        // a cap set or lifted is a different plan, and so is one moved by more than the weights' tolerance
        let capsBefore = Dictionary(old.guests.map { ($0.name, $0.readIopsCap) }, uniquingKeysWith: { a, _ in a })
        if new.guests.contains(where: { guest in
            switch (capsBefore[guest.name] ?? nil, guest.readIopsCap) {
            case (nil, nil): return false
            case let (before?, after?): return abs(Double(after - before)) > relativeWeightChange * Double(max(before, 1))
            default: return true
            }
        }) { return true }
        let before = Dictionary(uniqueKeysWithValues: old.guests.map { ($0.name, $0.weight) })
        let after = Dictionary(uniqueKeysWithValues: new.guests.map { ($0.name, $0.weight) })
        guard Set(before.keys) == Set(after.keys) else { return true }
        return after.contains { name, weight in
            let previous = before[name]!
            let change = abs(Double(weight - previous))
            return change > 2 && change / Double(previous) > relativeWeightChange
        }
    }
}
