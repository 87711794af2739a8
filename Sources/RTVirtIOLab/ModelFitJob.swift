import Foundation
import RTVirtIO

/// `rtvirtio lab fit`, whole: one fit on every point (the model file, with the data's
/// validity and the fit's provenance), the k-fold held-out error beside it, and the
/// file checked to parse before anyone writes it. The command only parses its options.
public struct ModelFitJob {
    public enum Kind: String, CaseIterable, Sendable {
        case analytical, idling
        case opAware = "op-aware"
    }

    public var kind: Kind
    public var dataset: CalibrationDataset
    /// Where the data came from, for the provenance.
    public var dataFiles: [String]
    public var measure: CalibrationDataset.Measure
    public var split: CalibrationDataset.Part
    public var folds = 5
    public var underestimatePenalty = 4.0
    /// analytical: the parameters the fit starts from (B_max and the guest λ are kept from them).
    public var base: AnalyticalParameters?
    /// idling: what the fitted model outputs.
    public var idlingOutput: IdlingParameters.Output = .threshold
    /// op-aware: the idling model (fitted on reads) whose prediction the op terms extend.
    public var baseIdling: IdlingModel?

    public init(kind: Kind, dataset: CalibrationDataset, dataFiles: [String], measure: CalibrationDataset.Measure, split: CalibrationDataset.Part) {
        self.kind = kind
        self.dataset = dataset
        self.dataFiles = dataFiles
        self.measure = measure
        self.split = split
    }

    public struct Result {
        /// The parameter file's text, provenance included.
        public var text: String
        public var heldOut: Accuracy
        public var inSample: Accuracy
    }

    public func run() throws -> Result {
        // fitModel: for the held-out folds; fitted: the one fit on all the points, and its file text
        let fitModel: ([CalibrationDataset.Point]) -> any LatencyModel
        let fitted: (model: any LatencyModel, text: ([(String, String)]) -> String)
        switch kind {
        case .analytical:
            guard let base else { throw InputError(file: "lab fit", message: "the analytical fit needs parameters to start from") }
            var fit = AnalyticalFit(base: base)
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
            let output = idlingOutput
            let fitIdling = { (points: [CalibrationDataset.Point]) in output == .expectation ? fit.fitExpectation(points) : fit.fit(points) }
            fitModel = { IdlingModel(parameters: fitIdling($0)) }
            var parameters = fitIdling(dataset.points)
            parameters.validity = dataset.validity()
            fitted = (IdlingModel(parameters: parameters), { provenance in
                ModelFiles.idlingYAML(parameters, comment: """
                    rtvirtio's idling model (see IdlingModel): slice_idle 0 gives a few ms that grow with load;
                    slice_idle > 0 risks a ~1 s stall, more likely with more load and queues, less with a larger
                    weight share. Output \(output.rawValue): \(output == .expectation
                        ? "the 1-second windows' mean tail, calm + risk x (stall - calm), risk per window"
                        : "the stall level where the risk reaches riskThreshold, else the calm tail (one run's worst case)").
                    FITTED by `rtvirtio lab fit --kind idling` (see provenance).
                    """, provenance: provenance)
            })
        case .opAware:
            guard let baseIdling else { throw InputError(file: "lab fit", message: "the op-aware fit needs the idling model it extends (--base)") }
            var fit = OpAwareFit(base: baseIdling)
            fit.underestimatePenalty = underestimatePenalty
            fitModel = { OpAwareModel(base: baseIdling, terms: fit.fit($0)) }
            let model = OpAwareModel(base: baseIdling, terms: fit.fit(dataset.points))
            fitted = (model, { provenance in
                ModelFiles.opAwareYAML(model, comment: """
                    rtvirtio's op-aware model (see OpAwareModel): the idling model below, as fitted on reads (its
                    validity and output kept), told each task's op, request size and queue depth: writes cost writeCost
                    reads, a larger request its own service, and with the device busy a wait behind the requests kept
                    in flight. The ops terms FITTED by `rtvirtio lab fit --kind op-aware` (see provenance).
                    """, provenance: provenance)
            })
        }
        let heldOut = Accuracy(Accuracy.crossValidate(dataset, folds: folds, fit: fitModel).map { ($0.predicted, $0.measured) })
        let inSample = Accuracy(Accuracy.pairs(fitted.model, dataset.points).map { ($0.predicted, $0.measured) })
        let text = fitted.text([
            ("data", dataFiles.joined(separator: ", ")),
            ("rows", "\(dataset.rowCount) tasks in \(dataset.points.count) measured points"),
            ("measure", measure.rawValue),
            ("split", "\(split.rawValue) (lab accuracy --split test scores the rest)"),
            ("loss", "squared log error, underestimates x\(formatNumber(underestimatePenalty))"),
            ("heldOut", "\(folds)-fold: median |error| \(AccuracyReport.percent(heldOut.medianAbsErrorPct)), p90 \(AccuracyReport.percent(heldOut.p90AbsErrorPct)), underestimates \(AccuracyReport.percent(heldOut.underestimateRate * 100))"),
            ("gitCommit", Provenance.gitCommit()),
            ("binary", Provenance.binary()),
            ("date", ISO8601DateFormatter().string(from: Date())),
            ("command", CommandLine.arguments.joined(separator: " ")),
        ])
        return Result(text: text, heldOut: heldOut, inSample: inSample)
    }
}
