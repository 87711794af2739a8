import Foundation
import RTVirtIO

/// Fits `OpAwareModel`'s terms to measured points with writers, larger requests and
/// deeper queues, the base idling model kept as it was fitted on reads: Nelder–Mead on
/// the logarithms of the four calm-tail terms (so each stays positive) and the two stall
/// logit terms as they are, by the asymmetric squared log error every fit here uses.
public struct OpAwareFit: Sendable {
    public var base: IdlingModel
    public var underestimatePenalty = 4.0

    public init(base: IdlingModel) { self.base = base }

    public func loss(_ terms: OpTerms, _ points: [CalibrationDataset.Point]) -> Double {
        Accuracy.pairs(OpAwareModel(base: base, terms: terms), points).reduce(0) { sum, pair in
            let r = log(max(pair.predicted, 1e-6)) - log(pair.measured)
            return sum + (r < 0 ? underestimatePenalty * r * r : r * r)
        }
    }

    /// Two stages, each where its terms show: the calm-tail terms (cost, own service, queueing;
    /// in logarithms, so each stays positive) on the points without idling, where nothing
    /// stalls; then, those kept, the stall terms on the points with idling. Each simplex is
    /// restarted once from its first optimum.
    public func fit(_ points: [CalibrationDataset.Point]) -> OpTerms {
        let calmPoints = points.filter { $0.settings.host.sliceIdleUs == 0 }
        let idlePoints = points.filter { $0.settings.host.sliceIdleUs > 0 }
        var calm: [Double] = [0, log(0.01), log(0.01), log(20.0)]
        func calmTerms(_ x: [Double]) -> OpTerms {
            OpTerms(writeCost: exp(x[0]), perOwnKBMs: exp(x[1]), perQueuedKBMs: exp(x[2]), saturationMBps: exp(x[3]))
        }
        if !calmPoints.isEmpty {
            for _ in 0..<2 { calm = NelderMead.minimize({ loss(calmTerms($0), calmPoints) }, start: calm, step: 0.7, iterations: 1500).x }
        }
        var terms = calmTerms(calm)
        guard !idlePoints.isEmpty else { return terms }
        func stallTerms(_ x: [Double]) -> OpTerms {
            var t = terms
            (t.stallPerWriteShare, t.stallPerQueuedMB) = (x[0], x[1])
            return t
        }
        var stall: [Double] = [0, 0]
        for _ in 0..<2 { stall = NelderMead.minimize({ loss(stallTerms($0), idlePoints) }, start: stall, step: 0.7, iterations: 1500).x }
        terms = stallTerms(stall)
        return terms
    }
}
