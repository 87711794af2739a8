import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

struct LabFitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit a model's parameters to measured data (analytical: the paper's λ, SW(n), throughput; idling: rtvirtio's stall model).",
        discussion: """
        analytical: squared log loss with underestimates weighted --underestimate-penalty times, from --base \
        (B_max and the guest λ are kept from it). idling: see `IdlingModel` — a line per regime, a logistic stall \
        risk, the stall level. Reports the k-fold held-out error and writes a parameter file with the data's \
        validity and the fit's provenance. Example: rtvirtio lab fit --data data/calibration/fast.csv --out config/models/analytical-fast.yaml
        """)

    enum Kind: String, ExpressibleByArgument, CaseIterable { case analytical, idling }

    @Option(name: .customLong("data"), parsing: .upToNextOption, help: ArgumentHelp("Calibration CSVs.", valueName: "file"))
    var data: [String]
    @Option(help: "Which model to fit: analytical or idling.") var kind: Kind = .analytical
    @Option(help: ArgumentHelp("""
        idling: threshold (one run's worst case: a stall or the calm tail) or expectation (the 1-second windows' \
        mean tail, fitted on every window; needs CSVs with the windowP9999Ms column). Default: expectation \
        with --measure windowP9999MeanMs, else threshold.
        """, valueName: "output"))
    var output: IdlingParameters.Output?
    @Option(help: ArgumentHelp("analytical: parameter file to start from (default: the bundled analytical-paper.yaml).", valueName: "file"))
    var base: String?
    @Option(help: ArgumentHelp("Measured value to fit: " + CalibrationDataset.Measure.choices + ".")) var measure: CalibrationDataset.Measure = .p9999
    @Option(help: "Folds for the held-out error.") var folds = 5
    @Option(help: "Rows to fit on: train (all but the fixed test split that `lab accuracy --split test` scores), or all.")
    var split: CalibrationDataset.Part = .train
    @Option(help: "How much more an underestimate costs than an overestimate.") var underestimatePenalty = 4.0
    @Option(help: ArgumentHelp("Where to write the fitted parameter file.", valueName: "file")) var out: String

    func validate() throws {
        if output != nil && kind != .idling { throw ValidationError("--output is for --kind idling") }
        guard (2...100).contains(folds) else { throw ValidationError("--folds must be in 2...100 (a held-out error needs data held out)") }
    }

    func run() throws {
        let dataset = try LabData.load(data, measure: measure, part: split)
        let idlingOutput = output ?? (measure == .windowMean ? .expectation : .threshold)
        if kind == .idling, idlingOutput == .expectation,
           let point = dataset.points.first(where: { $0.windowTailsMs.isEmpty }) {
            throw InputError(file: data.joined(separator: ", "), key: "windowP9999Ms",
                             message: "point \(point.id) has no per-window tails, which --output expectation fits on",
                             hint: "measure with `rtvirtio lab calibrate` (CSVs from 2026-11-25 on), or use --output threshold")
        }
        // fitModel: for the held-out folds; fitted: the one fit on all the points, and its file text
        let fitModel: ([CalibrationDataset.Point]) -> any LatencyModel
        let fitted: (model: any LatencyModel, text: ([(String, String)]) -> String)
        switch kind {
        case .analytical:
            var fit = AnalyticalFit(base: try ConfigFiles.loadAnalyticalParameters(base ?? ConfigFiles.bundled("analytical-paper.yaml")))
            fit.underestimatePenalty = underestimatePenalty
            fitModel = { AnalyticalModel(parameters: fit.fit($0)) }
            var parameters = fit.fit(dataset.points)
            parameters.validity = dataset.validity()
            fitted = (AnalyticalModel(parameters: parameters), { provenance in
                ModelFiles.analyticalYAML(parameters, comment: """
                    The RT-VirtIO paper's analytical model (Eqs. 1-5) with parameters FITTED by `rtvirtio lab fit`
                    to measured tail latencies (see provenance). The guest-side lambda are not fitted (no guest kernel
                    on the testbed); B_max and the slice_idle default are the paper's constants.
                    """, provenance: provenance)
            })
        case .idling:
            var fit = IdlingFit()
            fit.underestimatePenalty = underestimatePenalty
            let fitIdling = { (points: [CalibrationDataset.Point]) in
                idlingOutput == .expectation ? fit.fitExpectation(points) : fit.fit(points)
            }
            fitModel = { IdlingModel(parameters: fitIdling($0)) }
            var parameters = fitIdling(dataset.points)
            parameters.validity = dataset.validity()
            fitted = (IdlingModel(parameters: parameters), { provenance in
                ModelFiles.idlingYAML(parameters, comment: """
                    rtvirtio's idling model (see IdlingModel): slice_idle 0 gives a few ms that grow with load;
                    slice_idle > 0 risks a ~1 s stall, more likely with more load and queues, less with a larger
                    weight share. Output \(idlingOutput.rawValue): \(idlingOutput == .expectation
                        ? "the 1-second windows' mean tail, calm + risk x (stall - calm), risk per window"
                        : "the stall level where the risk reaches riskThreshold, else the calm tail (one run's worst case)").
                    FITTED by `rtvirtio lab fit --kind idling` (see provenance).
                    """, provenance: provenance)
            })
        }
        let heldOut = Accuracy(Accuracy.crossValidate(dataset, folds: folds, fit: fitModel).map { ($0.predicted, $0.measured) })
        let inSample = Accuracy(Accuracy.pairs(fitted.model, dataset.points).map { ($0.predicted, $0.measured) })
        let text = fitted.text([
            ("data", data.joined(separator: ", ")),
            ("rows", "\(dataset.rowCount) tasks in \(dataset.points.count) measured points"),
            ("measure", measure.rawValue),
            ("split", "\(split.rawValue) (lab accuracy --split test scores the rest)"),
            ("loss", "squared log error, underestimates x\(formatNumber(underestimatePenalty))"),
            ("heldOut", "\(folds)-fold: median |error| \(AccuracyReport.percent(heldOut.medianAbsErrorPct)), p90 \(AccuracyReport.percent(heldOut.p90AbsErrorPct)), underestimates \(AccuracyReport.percent(heldOut.underestimateRate * 100))"),
            ("gitCommit", Provenance.gitCommit()),
            ("date", ISO8601DateFormatter().string(from: Date())),
            ("command", CommandLine.arguments.joined(separator: " ")),
        ])
        let model = try ModelFiles.parseModel(text, file: out, name: out)   // never write a file the planner cannot read
        try text.write(toFile: out, atomically: true, encoding: .utf8)
        print("""
            \(kind.rawValue) fitted on \(dataset.points.count) points (\(dataset.rowCount) tasks), measure \(measure.rawValue):
            \(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.prefix { $0 != "validity:" && $0 != "provenance:" }.map { "  " + $0 }.joined(separator: "\n"))
            \(AccuracyReport.table([("held out (\(folds)-fold)", heldOut), ("in sample", inSample)]))
            wrote \(out) (model \(model.name))
            """)
    }
}
