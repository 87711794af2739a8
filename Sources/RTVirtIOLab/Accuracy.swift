import Foundation
import RTVirtIO

/// How wrong a model is on measured rows: the figures `lab accuracy` reports.
public struct Accuracy: Sendable, Codable, Equatable {
    public var samples: Int
    public var medianAbsErrorPct: Double
    public var p90AbsErrorPct: Double
    public var underestimateRate: Double

    /// Every task of `points` as (predicted, measured, point).
    public static func pairs(_ model: any LatencyModel, _ points: [CalibrationDataset.Point])
        -> [(predicted: Double, measured: Double, point: CalibrationDataset.Point)] {
        points.flatMap { point in
            let predicted = model.predict(point.scenario, settings: point.settings)
            return point.measuredMs.enumerated().flatMap { guest, measured in
                measured.enumerated().filter { $0.element > 0 }.map { (predicted[guest][$0.offset], $0.element, point) }
            }
        }
    }

    /// The noise floor of the measured value: every task of a configuration
    /// measured more than once, predicted by its mean over the configuration's
    /// *other* repeats. No model that sees only the configuration can expect
    /// to do better than this on single runs.
    public static func repeatFloor(_ points: [CalibrationDataset.Point]) -> [(predicted: Double, measured: Double)] {
        Dictionary(grouping: points) { CalibrationDataset.configuration(of: $0.id) }.values.filter { $0.count > 1 }.flatMap { repeats in
            repeats.indices.flatMap { held in
                repeats[held].measuredMs.enumerated().flatMap { guest, tasks in
                    tasks.enumerated().compactMap { task, measured -> (predicted: Double, measured: Double)? in
                        let others = repeats.indices.filter { $0 != held }.map { repeats[$0].measuredMs[guest][task] }.filter { $0 > 0 }
                        return measured > 0 && !others.isEmpty ? (others.reduce(0, +) / Double(others.count), measured) : nil
                    }
                }
            }
        }
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
                                     fit: ([CalibrationDataset.Point]) -> any LatencyModel)
        -> [(predicted: Double, measured: Double, point: CalibrationDataset.Point)] {
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
