/// The daemon's closed loop: what each guest's tail was measured at, against
/// what the model predicted for it, kept per host setting (bfq timeout_sync
/// and slice_idle; weights and caps at that setting share it) so that what was
/// learnt at one setting does not leak to another. A corrected prediction is
/// the model's times the largest of the last few ratios: conservative, since
/// a miss is usually a stall, and one stall is enough to distrust a setting.
/// Only misses teach: a window within the target records 1 (the model stands),
/// so noise between settings that all meet never makes the daemon flap.
public struct MeasuredCorrections: Sendable, Equatable {
    public static let windowsKept = 5
    /// Ratios are kept within these bounds: a model that predicts almost 0 must not
    /// make a setting look infinitely bad.
    public static let bounds = 1.0...1000.0

    public private(set) var ratios: [BfqSettings: [String: [Double]]] = [:]

    public init() {}

    public mutating func record(host: BfqSettings, guest: String, measuredMs: Double, predictedMs: Double, targetMs: Double) {
        guard measuredMs.isFinite, predictedMs.isFinite, predictedMs > 0 else { return }
        let ratio = measuredMs <= targetMs ? 1 : min(max(measuredMs / predictedMs, 1), Self.bounds.upperBound)
        var recent = ratios[host]?[guest] ?? []
        recent.append(ratio)
        if recent.count > Self.windowsKept { recent.removeFirst(recent.count - Self.windowsKept) }
        ratios[host, default: [:]][guest] = recent
    }

    /// The factor for a guest's predictions at `host`, where it was measured there.
    public func factor(host: BfqSettings, guest: String) -> Double? { ratios[host]?[guest]?.max() }

    public var isEmpty: Bool { ratios.isEmpty }
}

/// A model whose predictions are scaled by what was measured at the same host setting.
public struct CorrectedModel: ModelWrapper {
    public let base: any LatencyModel
    public let corrections: MeasuredCorrections

    public init(base: any LatencyModel, corrections: MeasuredCorrections) {
        self.base = base
        self.corrections = corrections
    }

    public func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings, into out: UnsafeMutableBufferPointer<Double>) {
        base.predictGuest(scenario, guest: guest, share: share, host: host, into: out)
        guard let factor = corrections.factor(host: host, guest: scenario.guests[guest].name) else { return }
        for t in scenario.guests[guest].tasks.indices { out[t] *= factor }
    }
}
