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
