import Foundation
import RTVirtIO

/// Fits `OpAwareModel`'s terms to measured points with writers, larger requests and
/// deeper queues, the base idling model kept as it was fitted on reads: Nelder–Mead on
/// the logarithms of the five calm-tail terms (so each stays positive) and the four stall
/// terms as they are, by the asymmetric squared log error every fit here uses.
public struct OpAwareFit: Sendable {
    public var base: IdlingModel
    public var underestimatePenalty = 4.0

    public init(base: IdlingModel) { self.base = base }

    public func loss(_ terms: OpTerms, _ points: [CalibrationDataset.Point]) -> Double {
        Accuracy.pairs(OpAwareModel(base: base, terms: terms), points).reduce(0) { sum, pair in
            sum + FitLoss.asymmetric(max(pair.predicted, 1e-6), pair.measured, penalty: underestimatePenalty)
        }
    }

    /// Two stages, each where its terms show. The calm-tail terms (cost, own service,
    /// queueing; in logarithms, so each stays positive) on the points without idling, where
    /// nothing stalls, by the asymmetric loss on the measured value. Then, those kept, the
    /// stall terms on the points with idling from their 1-second windows, as the idling
    /// model's own expectation fit does: every window is a trial that stalled (tail ≥
    /// `stallCutMs`) or not, the base model's logit an offset, the three logit terms by
    /// binomial maximum likelihood (small L2, so separable data stays finite); the stall
    /// level's term by least squares on the stalled windows.
    public func fit(_ points: [CalibrationDataset.Point]) -> OpTerms {
        let calmPoints = points.filter { $0.settings.host.sliceIdleUs == 0 }
        var calm: [Double] = [0, log(0.01), log(0.01), log(20.0), log(2.0)]
        func calmTerms(_ x: [Double]) -> OpTerms {
            OpTerms(writeCost: exp(x[0]), perOwnKBMs: exp(x[1]), perQueuedKBMs: exp(x[2]), saturationMBps: exp(x[3]), saturationPower: exp(x[4]))
        }
        if !calmPoints.isEmpty {
            for _ in 0..<2 { calm = NelderMead.minimize({ loss(calmTerms($0), calmPoints) }, start: calm, step: 0.7, iterations: 1500).x }
        }
        var terms = calmTerms(calm)
        let trials = stallTrials(points.filter { $0.settings.host.sliceIdleUs > 0 })
        guard !trials.isEmpty else { return terms }
        let b = FitLoss.binomialLogit(trials.map(\.logit), features: 3, intercept: false)
        (terms.stallPerWriteShare, terms.stallPerLargeShare, terms.stallPerQueuedMB) = (b[0], b[1], b[2])
        // stalled window ≈ stallMs × (1 + c × the others' large share): c = Σ x (y/stallMs − 1) / Σ x²
        let stalled = trials.flatMap { t in t.stallTailsMs.map { (t.othersLargeShare, $0 / base.parameters.stallMs - 1) } }
        let xx = stalled.reduce(0) { $0 + $1.0 * $1.0 }
        terms.stallLevelPerLargeShare = xx > 0 ? stalled.reduce(0) { $0 + $1.0 * $1.1 } / xx : 0
        return terms
    }

    /// A window's p99.99 at or above this is a stall (as `IdlingFit` counts them).
    public var stallCutMs = 200.0

    struct StallTrial {
        var offset: Double, writeShare: Double, othersLargeShare: Double, othersQueuedMB: Double
        var stalled: Double, windows: Double, stallTailsMs: [Double]
        var logit: FitLoss.Trial {
            FitLoss.Trial(offset: offset, features: [writeShare, othersLargeShare, othersQueuedMB], stalled: stalled, windows: windows)
        }
    }

    /// Each task's windows on the points with idling, with the base model's logit for it.
    func stallTrials(_ points: [CalibrationDataset.Point]) -> [StallTrial] {
        points.flatMap { point -> [StallTrial] in
            let scenario = point.scenario
            let costed = OpAwareModel(base: base, terms: .none).inReadCost(scenario)
            return point.windowTailsMs.enumerated().flatMap { g, tasks in
                tasks.enumerated().compactMap { t, windows -> StallTrial? in
                    guard !windows.isEmpty else { return nil }
                    let risk = base.stallRisk(in: costed, guest: g, task: t, share: point.settings.share(of: g), host: point.settings.host)
                    let clamped = min(max(risk, 1e-9), 1 - 1e-9)
                    let stalls = windows.filter { $0 >= stallCutMs }
                    return StallTrial(offset: log(clamped / (1 - clamped)),
                                      writeShare: OpTerms.share(scenario, excluding: g) { 1 - $0.op.readFraction },
                                      othersLargeShare: OpTerms.largeShare(scenario, excluding: g),
                                      othersQueuedMB: Units.megabytes(kilobytes: OpTerms.queuedKB(scenario, excluding: g)),
                                      stalled: Double(stalls.count), windows: Double(windows.count), stallTailsMs: stalls)
                }
            }
        }
    }
}
