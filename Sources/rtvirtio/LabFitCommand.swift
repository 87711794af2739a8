import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

struct LabFitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit the analytical model's λ, SW(n) and host throughput to measured data; report k-fold held-out error.",
        discussion: """
        Loss: squared log error, underestimates weighted --underestimate-penalty times. Starts from --base \
        (constants such as B_max and the guest λ are kept from it). Writes a parameter file with the data's \
        validity and the fit's provenance. Example: rtvirtio lab fit --data data/calibration/fast.csv --out config/models/analytical-fast.yaml
        """)

    @Option(name: .customLong("data"), parsing: .upToNextOption, help: ArgumentHelp("Calibration CSVs.", valueName: "file"))
    var data: [String]
    @Option(help: ArgumentHelp("Parameter file to start from (default: the bundled analytical-paper.yaml).", valueName: "file"))
    var base: String?
    @Option(help: "Measured value to fit: p9999Ms (whole run) or windowP9999MedianMs.") var measure: CalibrationDataset.Measure = .p9999
    @Option(help: "Folds for the held-out error.") var folds = 5
    @Option(help: "Rows to fit on: train (all but the fixed test split that `lab accuracy --split test` scores), or all.")
    var split: CalibrationDataset.Part = .train
    @Option(help: "How much more an underestimate costs than an overestimate.") var underestimatePenalty = 4.0
    @Option(help: ArgumentHelp("Where to write the fitted parameter file.", valueName: "file")) var out: String

    func run() throws {
        let dataset = try LabData.load(data, measure: measure, part: split)
        let baseParameters = try ConfigFiles.loadAnalyticalParameters(base)
        var fit = AnalyticalFit(base: baseParameters)
        fit.underestimatePenalty = underestimatePenalty
        let heldOut = Accuracy(fit.crossValidate(dataset, folds: folds).map { ($0.predicted, $0.measured) })
        let baseline = Accuracy(Accuracy.pairs(AnalyticalModel(parameters: baseParameters), dataset.points).map { ($0.predicted, $0.measured) })
        var fitted = fit.fit(dataset.points)
        fitted.validity = dataset.validity()
        let inSample = Accuracy(Accuracy.pairs(AnalyticalModel(parameters: fitted), dataset.points).map { ($0.predicted, $0.measured) })
        let provenance: [(String, String)] = [
            ("data", data.joined(separator: ", ")),
            ("rows", "\(dataset.rowCount) tasks in \(dataset.points.count) measured points"),
            ("measure", measure.rawValue),
            ("split", "\(split.rawValue) (lab accuracy --split test scores the rest)"),
            ("loss", "mean squared log error, underestimates x\(formatNumber(underestimatePenalty))"),
            ("heldOut", "\(folds)-fold: median |error| \(AccuracyReport.percent(heldOut.medianAbsErrorPct)), p90 \(AccuracyReport.percent(heldOut.p90AbsErrorPct)), underestimates \(AccuracyReport.percent(heldOut.underestimateRate * 100))"),
            ("base", base ?? "bundled analytical-paper.yaml"),
            ("gitCommit", Provenance.gitCommit()),
            ("date", ISO8601DateFormatter().string(from: Date())),
            ("command", CommandLine.arguments.joined(separator: " ")),
        ]
        let text = ModelFiles.analyticalYAML(fitted, comment: """
            The RT-VirtIO paper's analytical model (Eqs. 1-5) with parameters FITTED by `rtvirtio lab fit`
            to measured tail latencies (see provenance). The guest-side lambda are not fitted (no guest kernel
            on the testbed); B_max and the slice_idle default are the paper's constants.
            """, provenance: provenance)
        _ = try ModelFiles.parseAnalytical(text, file: out)   // never write a file the planner cannot read
        try text.write(toFile: out, atomically: true, encoding: .utf8)
        print("""
            fitted on \(dataset.points.count) points (\(dataset.rowCount) tasks), measure \(measure.rawValue):
              lambdaPhi \(formatNumber(fitted.lambdaPhi, decimals: 4)), host lambdaTimeoutSync \(formatNumber(fitted.hostLambdaTimeoutSync, decimals: 4)), \
            host lambdaSliceIdle \(formatNumber(fitted.hostLambdaSliceIdle, decimals: 4))
              SW(n) = \(formatNumber(fitted.switchInterceptMs, decimals: 4)) + \(formatNumber(fitted.switchPerEntityMs, decimals: 4)) n ms, \
            host throughput \(formatNumber(fitted.hostThroughputKBps / 1000, decimals: 1)) MB/s
            \(AccuracyReport.table([("held out (\(folds)-fold)", heldOut), ("in sample", inSample), ("base parameters", baseline)]))
            wrote \(out)
            """)
    }
}
