import Foundation
import RTVirtIO

/// `make bench`: planner speed, planner quality against the exhaustive grid,
/// and MLP engine throughput. Every figure comes with a baseline measured in
/// the same run, because the machine is shared and noisy.
public struct PlannerBenchmark: Sendable {
    public var model: AnalyticalModel
    public var qualityScenarios = 200
    public var seed: UInt64 = 2024

    public init(model: AnalyticalModel) { self.model = model }

    public struct Timing: Codable, Sendable {
        public var name: String
        public var guests: Int
        public var tasks: Int
        public var runs: Int
        public var medianMs: Double
        public var baseline: String
        public var baselineMedianMs: Double
        public var ratioToBaseline: Double
        public var goalMs: Double?
        public var meetsGoal: Bool?
    }

    public struct Quality: Codable, Sendable {
        public var scenarios: Int
        public var better: Int
        public var equal: Int
        public var worse: Int
        public var optimizerTasksMet: Int
        public var exhaustiveTasksMet: Int
        public var optimizerMedianMs: Double
        public var exhaustiveMedianMs: Double
    }

    public struct Throughput: Codable, Sendable {
        public var name: String
        public var predictionsPerSecond: Double
        public var baseline: String
        public var baselinePredictionsPerSecond: Double
        public var ratioToBaseline: Double
        public var goalPerSecond: Double?
        public var meetsGoal: Bool?
    }

    public struct Result: Codable, Sendable {
        public var timings: [Timing]
        public var quality: Quality
        public var throughput: [Throughput]
        public var machine: String
        public var date: String
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
    }

    /// Median wall time of `body` in ms over `runs` runs.
    static func time(runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var samples: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return median(samples)
    }

    func scenario(guests: Int, tasks: Int) -> Scenario {
        var rng = SplitMix64(seed: seed &+ UInt64(guests))
        let sampled = ScenarioSampler.sample(guests: guests, maxTasks: tasks, using: &rng)
        // exactly `tasks` per guest
        return Scenario(guests: sampled.guests.map { guest in
            Scenario.Guest(name: guest.name, criticality: guest.criticality, pinnedWeight: nil, guestBfq: guest.guestBfq,
                           tasks: (0..<tasks).map { t in guest.tasks[t % guest.tasks.count].renamed("t\(t)") })
        })
    }

    public func run() throws -> Result {
        let optimizer = Optimizer(model: model, space: .paper)
        var timings: [Timing] = []
        // Baseline per size: one prediction of every task at one setting — the unit of work the planner repeats.
        for (guests, tasks, runs, goal) in [(4, 3, 200, 1.0), (64, 3, 20, 100.0), (512, 3, 5, 100.0)] {
            let scenario = self.scenario(guests: guests, tasks: tasks)
            let planMs = try Self.time(runs: runs) { _ = try optimizer.plan(scenario) }
            let settings = Settings(host: .kernelDefault, weights: [Int](repeating: 100, count: guests))
            let predictMs = Self.time(runs: max(runs, 50)) { _ = model.predict(scenario, settings: settings) }
            timings.append(Timing(name: "plan \(guests)x\(tasks)", guests: guests, tasks: tasks, runs: runs, medianMs: planMs,
                                  baseline: "one prediction of every task", baselineMedianMs: predictMs,
                                  ratioToBaseline: planMs / max(predictMs, 1e-9), goalMs: goal, meetsGoal: planMs < goal))
        }
        // Quality: optimizer against the exhaustive grid on random small scenarios.
        var rng = SplitMix64(seed: seed)
        var quality = Quality(scenarios: qualityScenarios, better: 0, equal: 0, worse: 0, optimizerTasksMet: 0,
                              exhaustiveTasksMet: 0, optimizerMedianMs: 0, exhaustiveMedianMs: 0)
        var optimizerTimes: [Double] = [], exhaustiveTimes: [Double] = []
        for _ in 0..<qualityScenarios {
            let scenario = ScenarioSampler.sample(guests: Int.random(in: 1...3, using: &rng), using: &rng)
            var plan: Plan?
            optimizerTimes.append(try Self.time(runs: 1) { plan = try optimizer.plan(scenario) })
            var grid: (settings: Settings, score: Score)?
            exhaustiveTimes.append(try Self.time(runs: 1) { grid = try ExhaustiveSearch.best(model: model, scenario: scenario, space: .paper) })
            let ours = plan!.score, theirs = grid!.score
            if ours > theirs { quality.better += 1 } else if theirs > ours { quality.worse += 1 } else { quality.equal += 1 }
            quality.optimizerTasksMet += ours.tasksMet
            quality.exhaustiveTasksMet += theirs.tasksMet
        }
        quality.optimizerMedianMs = Self.median(optimizerTimes)
        quality.exhaustiveMedianMs = Self.median(exhaustiveTimes)
        return Result(timings: timings, quality: quality, throughput: try throughput(), machine: Self.machine(),
                      date: ISO8601DateFormatter().string(from: Date()))
    }

    /// MLP engine throughput (the paper's shape: 13 inputs, 3 × 15 ReLU, 5 members) against
    /// the analytical model's, single predictions on one core.
    func throughput() throws -> [Throughput] {
        let mlp = try MLPModel(json: Self.randomNetwork(seed: seed), file: "benchmark network")
        let count = 200_000
        var rng = SplitMix64(seed: seed)
        let rows = (0..<(count * mlp.featureCount)).map { _ in Double.random(in: 0...1000, using: &rng) }
        var out = [Double](repeating: 0, count: count)
        let mlpMs = Self.time(runs: 5) {
            rows.withUnsafeBufferPointer { input in out.withUnsafeMutableBufferPointer { mlp.predictBatch(input, count: count, into: $0) } }
        }
        let scenario = self.scenario(guests: 4, tasks: 3)
        let settings = Settings(host: .kernelDefault, weights: [100, 200, 300, 400])
        let repeats = count / scenario.taskCount
        let analyticalMs = Self.time(runs: 5) {
            var buffer = [Double](repeating: 0, count: 3)
            buffer.withUnsafeMutableBufferPointer { out in
                for r in 0..<repeats {
                    let guest = r % 4
                    model.predictGuest(scenario, guest: guest, share: settings.share(of: guest), host: settings.host, into: out)
                }
            }
        }
        let mlpRate = Double(count) / (mlpMs / 1000)
        let analyticalRate = Double(repeats * 3) / (analyticalMs / 1000)
        return [Throughput(name: "mlp 13-15-15-15-1 x5, batch (\(MLPModel.usesWideKernel ? "AVX2+FMA" : "baseline x86-64") kernel)", predictionsPerSecond: mlpRate, baseline: "analytical model",
                           baselinePredictionsPerSecond: analyticalRate, ratioToBaseline: mlpRate / analyticalRate,
                           goalPerSecond: 5_000_000, meetsGoal: mlpRate >= 5_000_000)]
    }

    /// A network of the paper's shape with seeded random weights: for timing the engine only.
    static func randomNetwork(seed: UInt64) throws -> Data {
        var rng = SplitMix64(seed: seed)
        let features = MLPFeature.allCases.map(\.rawValue)
        func layer(_ inputs: Int, _ outputs: Int, _ activation: String) -> MLPModelFile.Layer {
            MLPModelFile.Layer(weights: (0..<outputs).map { _ in (0..<inputs).map { _ in Double.random(in: -0.5...0.5, using: &rng) } },
                               biases: (0..<outputs).map { _ in Double.random(in: -0.1...0.1, using: &rng) }, activation: activation)
        }
        let members = (0..<5).map { _ in
            MLPModelFile.Member(layers: [layer(features.count, 15, "relu"), layer(15, 15, "relu"), layer(15, 15, "relu"), layer(15, 1, "linear")])
        }
        let file = MLPModelFile(format: MLPModelFile.formatName, version: 1, features: features,
                                inputNormalization: .init(mean: [Double](repeating: 500, count: features.count),
                                                          std: [Double](repeating: 300, count: features.count)),
                                output: .init(transform: "log1p", mean: 4, std: 1), members: members, validity: nil)
        return try JSONEncoder().encode(file)
    }

    static func machine() -> String {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return "\(ProcessInfo.processInfo.processorCount) CPUs, Linux \(release)"
    }
}

extension TaskSpec {
    func renamed(_ name: String) -> TaskSpec {
        var copy = self
        copy.name = name
        return copy
    }
}
