import Foundation
import RTVirtIO

/// Fits the analytical model's free parameters (λφ, host λTS and λSI, SW(n)
/// intercept and slope, effective host throughput) to measured tail latencies.
///
/// The loss is the mean squared error of log latencies, an underestimate
/// weighing `underestimatePenalty` times an overestimate: an underestimate
/// makes the planner give a guest too little bandwidth (the paper's intent).
/// Guest-side λ stay as the base file has them (not varied on the testbed).
public struct AnalyticalFit: Sendable {
    public var base: AnalyticalParameters
    public var underestimatePenalty = 4.0
    /// Restarts of Nelder–Mead from the best point so far (it stalls on ridges).
    public var restarts = 4

    public init(base: AnalyticalParameters) { self.base = base }

    /// The largest slice_idle the fitted E(SI) must stay positive at.
    var largestSliceIdleMs: Double { base.sliceIdleDefaultMs }

    /// x ↦ parameters; logs and a squashed λSI keep every parameter in its domain.
    func parameters(_ x: [Double]) -> AnalyticalParameters {
        var p = base
        p.lambdaPhi = exp(x[0])
        p.hostLambdaTimeoutSync = exp(x[1])
        p.hostLambdaSliceIdle = 0.99 * base.sliceIdleDefaultMs / largestSliceIdleMs / (1 + exp(-x[2]))
        p.switchInterceptMs = exp(x[3])
        p.switchPerEntityMs = exp(x[4])
        p.hostThroughputKBps = exp(x[5])
        return p
    }

    func coordinates(_ p: AnalyticalParameters) -> [Double] {
        let limit = 0.99 * base.sliceIdleDefaultMs / largestSliceIdleMs
        let fraction = min(max(p.hostLambdaSliceIdle / limit, 1e-6), 1 - 1e-6)
        return [log(p.lambdaPhi), log(max(p.hostLambdaTimeoutSync, 1e-6)), log(fraction / (1 - fraction)),
                log(max(p.switchInterceptMs, 1e-6)), log(max(p.switchPerEntityMs, 1e-6)), log(p.hostThroughputKBps)]
    }

    /// Asymmetric squared log error over every task of `points`.
    public func loss(_ model: some LatencyModel, _ points: [CalibrationDataset.Point]) -> Double {
        var sum = 0.0, count = 0
        for point in points {
            let predicted = model.predict(point.scenario, settings: point.settings)
            for (guest, measured) in point.measuredMs.enumerated() {
                for (task, measuredMs) in measured.enumerated() where measuredMs > 0 {
                    let p = predicted[guest][task]
                    sum += FitLoss.asymmetric(logRatio: p.isFinite && p > 0 ? log(p) - log(measuredMs) : -20, penalty: underestimatePenalty)
                    count += 1
                }
            }
        }
        return count == 0 ? 0 : sum / Double(count)
    }

    public func fit(_ points: [CalibrationDataset.Point]) -> AnalyticalParameters {
        var x = coordinates(base)
        for _ in 0...restarts {
            x = NelderMead.minimize({ self.loss(AnalyticalModel(parameters: self.parameters($0)), points) }, start: x, step: 0.7).x
        }
        return parameters(x)
    }
}
