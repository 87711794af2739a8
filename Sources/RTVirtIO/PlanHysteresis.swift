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
