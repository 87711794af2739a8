import ArgumentParser
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

struct LabBenchPlannerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-planner",
        abstract: "Time the planner (4, 64, 512 guests), compare it with the exhaustive grid, time the MLP engine.",
        discussion: "Figures come with a baseline measured in the same run. Example: rtvirtio lab bench-planner --format json")

    @Option(help: ArgumentHelp("Analytical parameters to plan with (default: the bundled ones).", valueName: "file"))
    var params: String?
    @Option(help: "Random scenarios compared with the exhaustive grid.") var scenarios = 200
    @Option(help: "text or json.") var format: OutputFormat = .json

    func run() throws {
        guard let model = try ConfigFiles.loadModel(.analytical, params: params) as? AnalyticalModel else { return }
        var benchmark = PlannerBenchmark(model: model)
        benchmark.qualityScenarios = scenarios
        let result = try benchmark.run()
        if format == .json {
            print(try encodeJSON(result), terminator: "")
            return
        }
        print(Table(header: ["benchmark", "median ms", "baseline ms", "ratio", "goal"], rows: result.timings.map {
            [$0.name, formatNumber($0.medianMs, decimals: 3), formatNumber($0.baselineMedianMs, decimals: 4),
             formatNumber($0.ratioToBaseline), $0.goalMs.map { "< \(formatNumber($0)) ms: \($0 > 0 ? "" : "")" } ?? ""]
        }).render(indent: 0))
        let q = result.quality
        print("vs exhaustive grid on \(q.scenarios) scenarios: better \(q.better), equal \(q.equal), worse \(q.worse); tasks met \(q.optimizerTasksMet) vs \(q.exhaustiveTasksMet)")
        for t in result.throughput {
            print("\(t.name): \(formatNumber(t.predictionsPerSecond)) predictions/s (\(t.baseline): \(formatNumber(t.baselinePredictionsPerSecond)), ratio \(formatNumber(t.ratioToBaseline, decimals: 3)))")
        }
    }
}
