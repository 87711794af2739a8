import Foundation

/// rtvirtio's own model of bfq's tail on this kind of host, from what the
/// calibration data shows and the paper's E(SI) cannot express:
///
/// - `slice_idle` 0: no idling, so weights have (almost) no force and no
///   queue waits for another's idle window; the tail is a few ms, growing
///   with the device's load.
/// - `slice_idle` > 0: most runs still see a few ms, but a task may stall
///   for about a second (one long wait behind other queues' idling). The
///   chance of a stall grows with the device's load and the number of
///   queues, and falls with the guest's weight share. A task whose stall
///   risk is at or above `riskThreshold` is predicted at `stallMs`.
///
/// Latencies in ms; load is the scenario's total demand in MB/s.
public struct IdlingModel: LatencyModel {
    public var parameters: IdlingParameters
    public var name: String
    public var validity: Validity { parameters.validity }

    public init(parameters: IdlingParameters, name: String = "idling") {
        self.parameters = parameters
        self.name = name
    }

    /// The logistic stall risk of one guest's tasks, 0…1.
    @inlinable
    public func stallRisk(loadMBps: Double, share: Double, queues: Int, sliceIdleMs: Double) -> Double {
        guard sliceIdleMs > 0 else { return 0 }
        let s = parameters.stall
        let z = s.intercept + s.perLoadMBps * loadMBps + s.perShare * share + s.perQueue * Double(queues)
        return 1 / (1 + exp(-z))
    }

    public func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings,
                             into out: UnsafeMutableBufferPointer<Double>) {
        let p = parameters
        let loadMBps = scenario.totalDemandKBps / 1000
        let calm = host.sliceIdleUs == 0 ? p.noIdle : p.idleCalm
        var latency = calm.interceptMs + calm.perLoadMBpsMs * loadMBps
        if stallRisk(loadMBps: loadMBps, share: share, queues: scenario.taskCount, sliceIdleMs: host.sliceIdleMs) >= p.riskThreshold {
            latency = max(latency, p.stallMs)
        }
        for task in scenario.guests[guest].tasks.indices { out[task] = latency }
    }
}

public struct IdlingParameters: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var interceptMs: Double
        public var perLoadMBpsMs: Double
        public init(interceptMs: Double, perLoadMBpsMs: Double) { self.interceptMs = interceptMs; self.perLoadMBpsMs = perLoadMBpsMs }
    }
    public struct Stall: Sendable, Equatable {
        public var intercept: Double
        public var perLoadMBps: Double
        public var perShare: Double
        public var perQueue: Double
        public init(intercept: Double, perLoadMBps: Double, perShare: Double, perQueue: Double) {
            self.intercept = intercept; self.perLoadMBps = perLoadMBps; self.perShare = perShare; self.perQueue = perQueue
        }
    }

    public var noIdle: Line
    public var idleCalm: Line
    public var stall: Stall
    public var stallMs: Double
    public var riskThreshold: Double
    public var validity: Validity
    public var provenance: String?

    public init(noIdle: Line, idleCalm: Line, stall: Stall, stallMs: Double, riskThreshold: Double,
                validity: Validity = .unbounded, provenance: String? = nil) {
        self.noIdle = noIdle
        self.idleCalm = idleCalm
        self.stall = stall
        self.stallMs = stallMs
        self.riskThreshold = riskThreshold
        self.validity = validity
        self.provenance = provenance
    }
}
