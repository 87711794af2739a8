import RTVirtIO
/// The settings `rtvirtio bench --sweep` measures for one case, to tell "the
/// model chose badly" from "no setting can pass": every host knob pair of the
/// sweep's space × a few weight shapes. Measuring every weight vector of
/// Table II (7^guests) is hours per case; the shapes span what weights can do
/// — none (equal), graded by urgency, and all for the most urgent guest.
public enum SettingsSweep {
    public enum WeightShape: String, CaseIterable, Sendable {
        /// Every guest 100 (the kernel's default).
        case equal
        /// 1000, 500, 250, 125 … down the urgency order.
        case graded
        /// 1000 for the most urgent guest, 50 for the others.
        case urgentFirst = "urgent-first"

        public func weights(urgencyOrder: [Int]) -> [Int] {
            var weights = [Int](repeating: 100, count: urgencyOrder.count)
            for (rank, guest) in urgencyOrder.enumerated() {
                switch self {
                case .equal: weights[guest] = 100
                case .graded: weights[guest] = max(1, 1000 >> rank)
                case .urgentFirst: weights[guest] = rank == 0 ? 1000 : 50
                }
            }
            return weights
        }
    }

    /// The sweep's host knobs: the ends of timeout_sync and slice_idle 0, 1 ms
    /// and the kernel's 8 ms, where the case's search space has them.
    public static func hostSettings(in space: SearchSpace) -> [BfqSettings] {
        let timeouts = Set([space.hostTimeoutSyncMs.min(), space.hostTimeoutSyncMs.max()].compactMap { $0 }).sorted()
        let idles = space.hostSliceIdleUs.filter { [0, 1000, 8000].contains($0) }
        return timeouts.flatMap { ts in idles.map { BfqSettings(timeoutSyncMs: ts, sliceIdleUs: $0) } }
    }

    /// Named settings, pinned weights kept; one guest needs no weight shapes.
    public static func settings(for scenario: Scenario, space: SearchSpace) -> [(name: String, settings: SchemeSettings)] {
        let shapes: [WeightShape] = scenario.guests.count == 1 ? [.equal] : WeightShape.allCases
        let none = [IOPriority?](repeating: nil, count: scenario.guests.count)
        return hostSettings(in: space).flatMap { host in
            shapes.map { shape in
                let weights = zip(shape.weights(urgencyOrder: scenario.urgencyOrder), scenario.guests).map { $1.pinnedWeight ?? $0 }
                let name = "sweep ts\(host.timeoutSyncMs) si\(formatNumber(host.sliceIdleMs)) \(shape.rawValue)"
                return (name, SchemeSettings(host: host, weights: weights, ioPriorities: none))
            }
        }
    }
}
