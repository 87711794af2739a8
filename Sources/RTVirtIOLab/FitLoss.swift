import Foundation

/// What every fit here minimises, written once: the asymmetric squared log error (an
/// underestimate costs `penalty` times an overestimate, as the paper intends), and the
/// binomial likelihood of windows that stalled or not under a logistic risk.
enum FitLoss {
    /// (log predicted − log measured)², × `penalty` when it is an underestimate.
    static func asymmetric(logRatio r: Double, penalty: Double) -> Double { r < 0 ? penalty * r * r : r * r }

    static func asymmetric(_ predicted: Double, _ measured: Double, penalty: Double) -> Double {
        asymmetric(logRatio: log(predicted) - log(measured), penalty: penalty)
    }

    /// A task's windows under a logistic risk: `offset` fixed, the rest fitted.
    struct Trial {
        var offset = 0.0
        var features: [Double]
        var stalled: Double
        var windows: Double
    }

    /// The logistic coefficients (an intercept first where asked, then one per feature) that
    /// maximise the binomial likelihood of `trials`, with a small L2 on the feature
    /// coefficients so that separable data stays finite. Nelder–Mead from 0.
    static func binomialLogit(_ trials: [Trial], features: Int, intercept: Bool) -> [Double] {
        func softplus(_ x: Double) -> Double { x > 30 ? x : log1p(exp(x)) }
        let first = intercept ? 1 : 0
        return NelderMead.minimize({ b in
            trials.reduce(0.0) { sum, t in
                let z = zip(b[first...], t.features).reduce(t.offset + (intercept ? b[0] : 0)) { $0 + $1.0 * $1.1 }
                return sum + t.stalled * softplus(-z) + (t.windows - t.stalled) * softplus(z)
            } + 0.01 * b[first...].reduce(0) { $0 + $1 * $1 }
        }, start: [Double](repeating: 0, count: first + features), step: 0.5).x
    }
}
