import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

struct LabAccuracyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accuracy",
        abstract: "How wrong a model is on measured rows: median and p90 |error| in % of the measured p99.99, underestimate rate.",
        discussion: """
        With --split test (the default) only the fixed test split is scored, which `lab fit` and `lab train-mlp` \
        never train on. Broken down by host slice_idle and guest count; "noise floor (repeats)" predicts each repeat \
        of a configuration measured more than once by the mean of its other repeats (with --per-configuration: \
        its mean over half its runs by the mean over the other half), and the line after it scales \
        that floor until at most 10 % are underestimates. HTML: scatter of predicted against measured \
        and an error histogram. Example: rtvirtio lab accuracy --data data/calibration/fast.csv --model config/models/analytical-fast.yaml --format html --out acc.html
        """)

    @Option(name: .customLong("data"), parsing: .upToNextOption, help: ArgumentHelp("Calibration CSVs.", valueName: "file"))
    var data: [String]
    @Option(help: ArgumentHelp("analytical, mlp, idling, or a model file (.json MLP, else YAML of its `kind:`).", valueName: "model"))
    var model: String = "analytical"
    @Option(help: "Rows to score: test (never trained on), train, or all.") var split: CalibrationDataset.Part = .test
    @Option(help: ArgumentHelp("Measured value to compare with: " + CalibrationDataset.Measure.choices + ".")) var measure: CalibrationDataset.Measure = .p9999
    @Flag(help: "Score each configuration once, against its tasks' measured values averaged over its repeats.")
    var perConfiguration = false
    @Option(help: "text, json or html.") var format: ReportFormat = .text
    @Option(help: ArgumentHelp("Write the report here instead of standard output.", valueName: "file")) var out: String?

    func run() throws {
        let loaded = try LabData.load(data, measure: measure, part: split)
        let dataset = perConfiguration ? loaded.averagedByConfiguration() : loaded
        let latencyModel = try ConfigFiles.loadModel(ModelChoice(model), params: nil)
        var report = AccuracyReport(model: latencyModel, data: data,
                                    rowsNote: "\(split.rawValue) split, \(dataset.points.count) \(perConfiguration ? "configurations (repeats averaged)" : "points"), \(measure.rawValue)",
                                    pairs: Accuracy.pairs(latencyModel, dataset.points))
        if perConfiguration {
            // the floor of the averages scored: the scored configurations' runs, half against the other half
            report.setFloor(Accuracy.halvesFloor(loaded.points), method: "noise floor (half the runs vs the rest)")
        } else {
            // repeats are never trained on apart from their configuration, so every split's files give the floor
            report.setFloor(Accuracy.repeatFloor(try LabData.load(data, measure: measure, part: .all).points))
        }
        let text: String
        switch format {
        case .text: text = report.text() + "\n"
        case .json: text = String(decoding: try report.summaryJSON(), as: UTF8.self) + "\n"
        case .html: text = report.html()
        }
        if let out { try text.write(toFile: out, atomically: true, encoding: .utf8) } else { print(text, terminator: "") }
    }
}
