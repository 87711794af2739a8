import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

extension ModelFitJob.Kind: ExpressibleByArgument {}

struct LabFitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit a model's parameters to measured data (analytical: the paper's λ, SW(n), throughput; idling: rtvirtio's stall model; op-aware: writes, request sizes, queue depths).",
        discussion: """
        analytical: squared log loss with underestimates weighted --underestimate-penalty times, from --base \
        (B_max and the guest λ are kept from it). idling: see `IdlingModel` — a line per regime, a logistic stall \
        risk, the stall level. op-aware: see `OpAwareModel` — the idling model --base, kept, with a write's cost, \
        a large request's own service and the wait behind deep queues fitted on data with writers (`lab calibrate \
        --workload writers`). Reports the k-fold held-out error and writes a parameter file with the data's \
        validity and the fit's provenance. Example: rtvirtio lab fit --data data/calibration/fast.csv --out config/models/analytical-fast.yaml
        """)

    @Option(name: .customLong("data"), parsing: .upToNextOption, help: ArgumentHelp("Calibration CSVs.", valueName: "file"))
    var data: [String]
    @Option(help: "Which model to fit: analytical, idling or op-aware.") var kind: ModelFitJob.Kind = .analytical
    @Option(help: ArgumentHelp("""
        idling: threshold (one run's worst case: a stall or the calm tail) or expectation (the 1-second windows' \
        mean tail, fitted on every window; needs CSVs with the windowP9999Ms column). Default: expectation \
        with --measure windowP9999MeanMs, else threshold.
        """, valueName: "output"))
    var output: IdlingParameters.Output?
    @Option(help: ArgumentHelp("analytical: parameter file to start from (default: the bundled analytical-paper.yaml); op-aware: the idling model file it extends (default: the bundled idling-fast.yaml).", valueName: "file"))
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
        var job = ModelFitJob(kind: kind, dataset: dataset, dataFiles: data, measure: measure, split: split)
        (job.folds, job.underestimatePenalty, job.idlingOutput) = (folds, underestimatePenalty, idlingOutput)
        switch kind {
        case .analytical: job.base = try ConfigFiles.loadAnalyticalParameters(base ?? ConfigFiles.bundled("analytical-paper.yaml"))
        case .opAware:
            let path = try base ?? ConfigFiles.bundledOrFail("idling-fast.yaml", what: "idling model")
            job.baseIdling = IdlingModel(parameters: try ModelFiles.parseIdling(try ConfigFiles.readText(path), file: path))
        case .idling: break
        }
        let fit = try job.run()
        let text = fit.text
        let model = try ModelFiles.parseModel(text, file: out, name: out)   // never write a file the planner cannot read
        try text.write(toFile: out, atomically: true, encoding: .utf8)
        print("""
            \(kind.rawValue) fitted on \(dataset.points.count) points (\(dataset.rowCount) tasks), measure \(measure.rawValue):
            \(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.prefix { $0 != "validity:" && $0 != "provenance:" }.map { "  " + $0 }.joined(separator: "\n"))
            \(AccuracyReport.table([("held out (\(folds)-fold)", fit.heldOut), ("in sample", fit.inSample)]))
            wrote \(out) (model \(model.name))
            """)
    }
}
