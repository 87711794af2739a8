/// Every combination of host knobs and grid weights: the yardstick the
/// optimizer is benchmarked against (exponential in guests — small cases only).
public enum ExhaustiveSearch {
    /// The paper's Table II guest weights.
    public static let paperWeights = [50, 100, 150, 250, 300, 500, 700]

    public static func best(model: any LatencyModel, scenario: Scenario, space: SearchSpace,
                            weights grid: [Int] = paperWeights) throws -> (settings: Settings, score: Score) {
        try best(Evaluator(model: model, scenario: scenario), space: space, weights: grid)
    }

    static func best(_ evaluator: Evaluator, space: SearchSpace, weights grid: [Int] = paperWeights) throws -> (settings: Settings, score: Score) {
        let model = evaluator.model, scenario = evaluator.scenario
        let hosts = try Optimizer(model: model, space: space).knobCandidates()
        let free = scenario.guests.indices.filter { scenario.guests[$0].pinnedWeight == nil }
        var best: (settings: Settings, score: Score)?
        for host in hosts {
            var settings = Settings(host: host, weights: scenario.guests.map { $0.pinnedWeight ?? grid[0] })
            var digits = [Int](repeating: 0, count: free.count)
            while true {
                for (slot, guest) in free.enumerated() { settings.weights[guest] = grid[digits[slot]] }
                let score = evaluator.score(settings)
                if best == nil || score > best!.score { best = (settings, score) }
                // next combination, odometer style
                var slot = 0
                while slot < digits.count {
                    digits[slot] += 1
                    if digits[slot] < grid.count { break }
                    digits[slot] = 0
                    slot += 1
                }
                if slot == digits.count { break }
            }
        }
        return best!
    }
}

/// A small, fast, seedable generator, so sampled scenarios repeat exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

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
