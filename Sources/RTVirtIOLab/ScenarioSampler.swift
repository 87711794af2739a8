import RTVirtIO

/// Scenarios drawn from the paper's Table II loads, with targets tiered by
/// criticality: material for benchmarks and property tests.
public enum ScenarioSampler {
    public static let paperIops: [Double] = [100, 500, 1500]

    public static func sample(guests: Int, maxTasks: Int = 3, using rng: inout some RandomNumberGenerator) -> Scenario {
        Scenario(guests: (0..<guests).map { index in
            let tasks = (0..<Int.random(in: 1...maxTasks, using: &rng)).map { t in
                TaskSpec(name: "t\(t)", iops: paperIops.randomElement(using: &rng)!, requestKB: 4,
                         targetMs: Double(Int.random(in: 2...40, using: &rng) * 25 * (index + 1)))
            }
            return Scenario.Guest(name: "vm\(index)", criticality: index + 1, pinnedWeight: nil,
                                  guestBfq: .kernelDefault, tasks: tasks)
        })
    }
}
