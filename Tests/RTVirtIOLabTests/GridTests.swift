import Testing
@testable import RTVirtIO
import RTVirtIOLab

/// The optimizer against the exhaustive grid on the benchmark's sampled scenarios.
struct GridTests {
    static let model = AnalyticalModel(parameters: AnalyticalParameters(
        lambdaPhi: 1, hostLambdaTimeoutSync: 1000, hostLambdaSliceIdle: 0.5, guestLambdaTimeoutSync: 0, guestLambdaSliceIdle: 0,
        sliceIdleDefaultMs: 8, switchInterceptMs: 0.1, switchPerEntityMs: 0.05, hostThroughputKBps: 245_000, maxBudgetKB: 8192))

    /// The optimizer's own search, without the grid as a start (issue 17, 7: seeded with the grid,
    /// the comparison cannot fail), against the exhaustive grid on the same sample.
    @Test("the optimizer's own search, grid seed off, meets as many guests in urgency order as the exhaustive grid")
    func ownSearchAgainstTheGrid() throws {
        var rng = SplitMix64(seed: 7)
        var worse: [String] = []
        for index in 0..<40 {
            let scenario = ScenarioSampler.sample(guests: Int.random(in: 1...3, using: &rng), using: &rng)
            var optimizer = Optimizer(model: Self.model, space: .paper)
            optimizer.gridSeedUpToGuests = 0
            let plan = try optimizer.plan(scenario)
            let grid = try ExhaustiveSearch.best(model: Self.model, scenario: scenario, space: .paper)
            if grid.score > plan.score && grid.score.guestsMet != plan.score.guestsMet { worse.append("\(index): plan \(plan.score), grid \(grid.score)") }
        }
        #expect(worse.isEmpty, "\(worse.count) of 40 scenarios meet fewer guests than the grid: \(worse.joined(separator: "; "))")
    }

    /// The benchmark runs hundreds of these; here a quick property check.
    @Test func neverWorseThanTheExhaustiveGrid() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<40 {
            let scenario = ScenarioSampler.sample(guests: Int.random(in: 1...3, using: &rng), using: &rng)
            let plan = try Optimizer(model: Self.model, space: .paper).plan(scenario)
            let grid = try ExhaustiveSearch.best(model: Self.model, scenario: scenario, space: .paper)
            #expect(plan.score.guestsMet == grid.score.guestsMet || grid.score < plan.score, "plan \(plan.score) grid \(grid.score)")
            #expect(plan.score.tasksMet >= grid.score.tasksMet || grid.score < plan.score)
        }
    }
}
