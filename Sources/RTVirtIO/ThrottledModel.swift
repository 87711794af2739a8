/// What a cap does to the capped guest's own latency, which none of the latency models
/// knows: blk-throttle holds a capped guest's requests until its budget refills, so its
/// tasks wait up to a throttle slice whatever the device does. Measured on the
/// device-bound testbed, every task of a capped guest in the contended benchmark
/// (bench/results/contended24-efficiency: 93 tasks, caps 35–1134 IOPS): p99.99 median
/// 98 ms, p90 104 ms, max 106 ms, where the models predicted ~5 ms (all 93 under).
/// So a capped guest's tasks are predicted at least `tailMs`; the others as the base
/// model says (their error did not grow: 30 % median in capped runs, 38 % without caps).
/// The observer cannot see this wait either (it happens before a request exists).
public struct ThrottledModel: ModelWrapper {
    public static let tailMs = 106.0

    public let base: any LatencyModel
    /// Per guest of the scenarios it is asked about: its cap, or nil.
    public let caps: [Int?]

    public init(base: any LatencyModel, caps: [Int?]) {
        self.base = base
        self.caps = caps
    }

    public func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings, into out: UnsafeMutableBufferPointer<Double>) {
        base.predictGuest(scenario, guest: guest, share: share, host: host, into: out)
        guard guest < caps.count, caps[guest] != nil else { return }
        for t in scenario.guests[guest].tasks.indices { out[t] = max(out[t], Self.tailMs) }
    }
}

/// A model over another (a correction, a term it lacks): it plans under the base's name and validity.
public protocol ModelWrapper: LatencyModel {
    var base: any LatencyModel { get }
}

extension ModelWrapper {
    public var name: String { base.name }
    public var validity: Validity { base.validity }
}
