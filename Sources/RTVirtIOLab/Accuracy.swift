import Foundation
import RTVirtIO

/// How wrong a model is on measured rows: the figures `lab accuracy` reports.
public struct Accuracy: Sendable, Codable, Equatable {
    public var samples: Int
    public var medianAbsErrorPct: Double
    public var p90AbsErrorPct: Double
    public var underestimateRate: Double

    /// A prediction beside its measurement: the point and the task it is of.
    public typealias Scored = (predicted: Double, measured: Double, point: CalibrationDataset.Point, task: TaskSpec)

    /// Every task of `points` as (predicted, measured, point, task).
    public static func pairs(_ model: any LatencyModel, _ points: [CalibrationDataset.Point]) -> [Scored] {
        points.flatMap { point in
            let predicted = model.predict(point.scenario, settings: point.settings)
            return point.measuredMs.enumerated().flatMap { guest, measured in
                measured.enumerated().filter { $0.element > 0 }.map {
                    (predicted[guest][$0.offset], $0.element, point, point.scenario.guests[guest].tasks[$0.offset])
                }
            }
        }
    }

    /// A noise floor's prediction of one measured value, with the host slice_idle it was measured at.
    public typealias FloorPair = (predicted: Double, measured: Double, sliceIdleUs: Int)

    /// The noise floor of the measured value: every task of a configuration
    /// measured more than once, predicted by its mean over the configuration's
    /// *other* repeats. No model that sees only the configuration can expect
    /// to do better than this on single runs.
    public static func repeatFloor(_ points: [CalibrationDataset.Point]) -> [FloorPair] {
        CalibrationDataset.runsByConfiguration(points).filter { $0.count > 1 }.flatMap { repeats in
            repeats.indices.flatMap { held in
                let others = repeats.indices.filter { $0 != held }.map { repeats[$0] }
                let sliceIdleUs = repeats[held].settings.host.sliceIdleUs
                return repeats[held].measuredMs.enumerated().flatMap { guest, tasks in
                    tasks.enumerated().compactMap { task, measured -> FloorPair? in
                        measured > 0 ? meanMeasured(others, guest, task).map { ($0, measured, sliceIdleUs) } : nil
                    }
                }
            }
        }
    }

    /// The noise floor of averaged runs (`lab accuracy --per-configuration`):
    /// every task of a configuration measured at least twice, its mean over
    /// the first half of the runs predicted by its mean over the second half,
    /// and the other way round (an odd last run is left out). Both sides are
    /// averages of n/2 runs, so this is noisier than what a perfect model meets
    /// against the mean of all n: an upper bound on that floor, not the floor.
    public static func halvesFloor(_ points: [CalibrationDataset.Point]) -> [FloorPair] {
        CalibrationDataset.runsByConfiguration(points).filter { $0.count > 1 }.flatMap { runs in
            let half = runs.count / 2
            let first = Array(runs[0..<half]), second = Array(runs[half..<2 * half])
            let sliceIdleUs = runs[0].settings.host.sliceIdleUs
            return runs[0].measuredMs.enumerated().flatMap { guest, tasks in
                tasks.indices.flatMap { task -> [FloorPair] in
                    guard let a = meanMeasured(first, guest, task), let b = meanMeasured(second, guest, task) else { return [] }
                    return [(b, a, sliceIdleUs), (a, b, sliceIdleUs)]
                }
            }
        }
    }

    /// A task's measured value averaged over `runs`, skipping runs without one (0); nil if none has one.
    static func meanMeasured(_ runs: [CalibrationDataset.Point], _ guest: Int, _ task: Int) -> Double? {
        let values = runs.map { $0.measuredMs[guest][task] }.filter { $0 > 0 }
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// The smallest factor (1…20, in 1 % steps) that brings `pairs`'
    /// underestimates to `rate` or below, and the figures it then gives: what
    /// a goal on underestimates costs in median error, even for the noise floor.
    public static func conservative(_ pairs: [(predicted: Double, measured: Double)], underestimateRate rate: Double)
        -> (factor: Double, accuracy: Accuracy)? {
        for step in 100...2000 {
            let factor = Double(step) / 100
            let scaled = Accuracy(pairs.map { ($0.predicted * factor, $0.measured) })
            if scaled.underestimateRate <= rate { return (factor, scaled) }
        }
        return nil
    }

    /// k-fold cross-validation: each fold predicted by a model fitted on the others.
    public static func crossValidate(_ dataset: CalibrationDataset, folds k: Int, seed: UInt64 = 1,
                                     fit: ([CalibrationDataset.Point]) -> any LatencyModel) -> [Scored] {
        let folds = dataset.folds(k, seed: seed)
        return folds.indices.flatMap { held in
            let model = fit(folds.indices.filter { $0 != held }.flatMap { folds[$0] }.map { dataset.points[$0] })
            return pairs(model, folds[held].map { dataset.points[$0] })
        }
    }

    public init(samples: Int, medianAbsErrorPct: Double, p90AbsErrorPct: Double, underestimateRate: Double) {
        self.samples = samples
        self.medianAbsErrorPct = medianAbsErrorPct
        self.p90AbsErrorPct = p90AbsErrorPct
        self.underestimateRate = underestimateRate
    }

    public init(_ floor: [FloorPair]) { self.init(floor.map { (predicted: $0.predicted, measured: $0.measured) }) }

    /// Errors in % of the measured value; an underestimate is predicted < measured.
    public init(_ pairs: [(predicted: Double, measured: Double)]) {
        let errors = pairs.map { abs($0.predicted - $0.measured) / $0.measured * 100 }.sorted()
        func quantile(_ q: Double) -> Double {
            errors.isEmpty ? .nan : errors[min(errors.count - 1, Int((q * Double(errors.count - 1)).rounded()))]
        }
        self.init(samples: pairs.count, medianAbsErrorPct: quantile(0.5), p90AbsErrorPct: quantile(0.9),
                  underestimateRate: pairs.isEmpty ? .nan : Double(pairs.filter { $0.predicted < $0.measured }.count) / Double(pairs.count))
    }
}
