import Foundation
import RTVirtIO

/// Fits `IdlingModel` to measured points: a line per regime (no idling,
/// idling without a stall) by the asymmetric log loss, the stall level as the
/// median stalled tail, a logistic stall risk by maximum likelihood, and the
/// risk threshold that minimises the asymmetric loss of the whole model.
/// `fitExpectation` fits the `expectation` output from each task's 1-second windows.
public struct IdlingFit: Sendable {
    /// A run's p99.99 at or above this is a stall (the data is bimodal: a few ms or about a second).
    public var stallCutMs = 200.0
    public var underestimatePenalty = 4.0

    public init() {}

    struct Row {
        var loadMBps: Double, share: Double, queues: Int, sliceIdleMs: Double, measuredMs: Double
        var stalled: Bool
        var taskIops = 0.0
    }

    func rows(_ points: [CalibrationDataset.Point]) -> [Row] {
        points.flatMap { point in
            point.measuredMs.enumerated().flatMap { guest, measured in
                measured.enumerated().filter { $0.element > 0 }.map { task, ms in
                    Row(loadMBps: Units.megabytes(kilobytes: point.scenario.totalDemandKBps), share: point.settings.share(of: guest),
                        queues: point.scenario.taskCount, sliceIdleMs: point.settings.host.sliceIdleMs, measuredMs: ms,
                        stalled: ms >= stallCutMs, taskIops: point.scenario.guests[guest].tasks[task].iops)
                }
            }
        }
    }

    func asymmetric(_ predicted: Double, _ measured: Double) -> Double {
        FitLoss.asymmetric(predicted, measured, penalty: underestimatePenalty)
    }

    /// The calm tail's line by the asymmetric log loss; `perTask` adds the
    /// queues × slice_idle and task-rate terms (the expectation fit; the
    /// threshold fit keeps two terms).
    func line(_ rows: [Row], fallback: IdlingParameters.Line, perTask: Bool = false) -> IdlingParameters.Line {
        guard rows.count >= 3 else { return fallback }
        let median = rows.map(\.measuredMs).sorted()[rows.count / 2]
        func make(_ x: [Double]) -> IdlingParameters.Line {
            .init(interceptMs: exp(x[0]), perLoadMBpsMs: exp(x[1]),
                  perQueueSliceIdleMs: perTask ? exp(x[2]) : 0, perTaskKiopsMs: perTask ? exp(x[3]) : 0)
        }
        let best = NelderMead.minimize({ x in
            let line = make(x)
            return rows.reduce(0) {
                $0 + asymmetric(line.ms(loadMBps: $1.loadMBps, queues: $1.queues, sliceIdleMs: $1.sliceIdleMs, taskIops: $1.taskIops), $1.measuredMs)
            }
        }, start: [log(median), log(0.01)] + (perTask ? [log(0.01), log(0.01)] : []), step: 0.5).x
        return make(best)
    }

    public func fit(_ points: [CalibrationDataset.Point]) -> IdlingParameters {
        let all = rows(points)
        let idle = all.filter { $0.sliceIdleMs > 0 }
        let stalls = idle.filter(\.stalled).map(\.measuredMs).sorted()
        let calmFallback = IdlingParameters.Line(interceptMs: 5, perLoadMBpsMs: 0)
        // logistic regression, small L2 so that separable data stays finite
        let stall = NelderMead.minimize({ b in
            idle.reduce(0.0) { sum, row in
                let z = b[0] + b[1] * row.loadMBps + b[2] * row.share + b[3] * Double(row.queues)
                let logP = -log1p(exp(-z)), logQ = -log1p(exp(z))
                return sum - (row.stalled ? logP : logQ)
            } + 0.01 * b.dropFirst().reduce(0) { $0 + $1 * $1 }
        }, start: [0, 0, 0, 0], step: 0.5).x
        var parameters = IdlingParameters(
            noIdle: line(all.filter { $0.sliceIdleMs == 0 }, fallback: calmFallback),
            idleCalm: line(idle.filter { !$0.stalled }, fallback: calmFallback),
            stall: .init(intercept: stall[0], perLoadMBps: stall[1], perShare: stall[2], perQueue: stall[3]),
            stallMs: stalls.isEmpty ? 1000 : stalls[stalls.count / 2], riskThreshold: 0.5)
        let thresholds = stride(from: 0.05, through: 0.95, by: 0.05).map { $0 }
        parameters.riskThreshold = thresholds.min { a, b in
            loss(parameters, threshold: a, points) < loss(parameters, threshold: b, points)
        }!
        return parameters
    }

    func loss(_ parameters: IdlingParameters, threshold: Double, _ points: [CalibrationDataset.Point]) -> Double {
        var p = parameters
        p.riskThreshold = threshold
        return Accuracy.pairs(IdlingModel(parameters: p), points).reduce(0) { $0 + asymmetric($1.predicted, $1.measured) }
    }

    /// The `expectation` output, from each task's 1-second windows (CSVs with
    /// `windowP9999Ms`). Every window is a trial that stalled (tail ≥
    /// `stallCutMs`) or not, so the stall risk is a per-window probability,
    /// fitted by binomial maximum likelihood on load, share, queues (all, and
    /// the other guests'), slice_idle and the task's own rate. The calm lines
    /// (with queues × slice_idle and task-rate terms) are fitted on the windows
    /// that did not stall, the stall level is the stalled windows' mean, and
    /// one factor (`margin`) on the whole prediction minimises the asymmetric
    /// loss against the windows' mean.
    public func fitExpectation(_ points: [CalibrationDataset.Point]) -> IdlingParameters {
        var trials: [FitLoss.Trial] = [], calmRows: [Row] = [], stallTails: [Double] = []
        for point in points {
            let loadMBps = Units.megabytes(kilobytes: point.scenario.totalDemandKBps), queues = point.scenario.taskCount   // as the model predicts
            let sliceIdleMs = point.settings.host.sliceIdleMs
            guard sliceIdleMs > 0 else { continue }
            for (guest, tasks) in point.windowTailsMs.enumerated() {
                let share = point.settings.share(of: guest)
                for (task, windows) in tasks.enumerated() where !windows.isEmpty {
                    let stalls = windows.filter { $0 >= stallCutMs }, calm = windows.filter { $0 < stallCutMs }
                    stallTails += stalls   // their mean is the stall level: an expectation wants E[stall], not the typical one
                    let taskIops = point.scenario.guests[guest].tasks[task].iops
                    trials.append(FitLoss.Trial(features: [loadMBps, share, Double(queues), sliceIdleMs, taskIops / 1000,
                                                           Double(queues - tasks.count)],
                                                stalled: Double(stalls.count), windows: Double(windows.count)))
                    if !calm.isEmpty {
                        calmRows.append(Row(loadMBps: loadMBps, share: share, queues: queues, sliceIdleMs: sliceIdleMs,
                                            measuredMs: calm.reduce(0, +) / Double(calm.count), stalled: false, taskIops: taskIops))
                    }
                }
            }
        }
        let b = FitLoss.binomialLogit(trials, features: 6, intercept: true)
        let calmFallback = IdlingParameters.Line(interceptMs: 5, perLoadMBpsMs: 0)
        var parameters = IdlingParameters(
            noIdle: line(rows(points).filter { $0.sliceIdleMs == 0 }, fallback: calmFallback, perTask: true),
            idleCalm: line(calmRows, fallback: calmFallback, perTask: true),
            stall: .init(intercept: b[0], perLoadMBps: b[1], perShare: b[2], perQueue: b[3], perSliceIdleMs: b[4], perTaskKiops: b[5],
                         perOtherGuestsQueue: b[6]),
            stallMs: stallTails.isEmpty ? 1000 : stallTails.reduce(0, +) / Double(stallTails.count), riskThreshold: 0.5, output: .expectation)
        let unscaled = Accuracy.pairs(IdlingModel(parameters: parameters), points)
        // one bounded factor: a grid from 1 to 4 in 1 % steps (a simplex stalls where the loss is flat)
        func loss(_ margin: Double) -> Double { unscaled.reduce(0) { $0 + asymmetric($1.predicted * margin, $1.measured) } }
        parameters.margin = stride(from: 1.0, through: 4.0, by: 0.01).map { ($0, loss($0)) }.min { $0.1 < $1.1 }!.0
        return parameters
    }
}
