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
///   queues, and falls with the guest's weight share.
///
/// Two outputs (`IdlingParameters.output`): `threshold` predicts `stallMs`
/// for a task whose stall risk is at or above `riskThreshold`, else the calm
/// tail — a run's worst case, fitted to one run's p99.99; `expectation`
/// reads the risk as the chance that a 1-second window stalls and predicts
/// the windows' mean tail, calm + risk × (stall − calm) — the paper's
/// reference, p99.99 in 1-second windows averaged over many of them. The
/// task's own rate may raise its risk: more reads per second, more chances
/// to be the one caught behind an idling queue.
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

    /// The logistic stall risk of one guest's tasks (of `taskIops` each), 0…1.
    @inlinable
    public func stallRisk(loadMBps: Double, share: Double, queues: Int, sliceIdleMs: Double, taskIops: Double = 0,
                          otherGuestsQueues: Int = 0, extraLogit: Double = 0) -> Double {
        guard sliceIdleMs > 0 else { return 0 }
        let s = parameters.stall
        let z = extraLogit + s.intercept + s.perLoadMBps * loadMBps + s.perShare * share + s.perQueue * Double(queues)
            + s.perSliceIdleMs * sliceIdleMs + s.perTaskKiops * taskIops / 1000 + s.perOtherGuestsQueue * Double(otherGuestsQueues)
        return 1 / (1 + exp(-z))
    }

    /// The stall risk of task `task` of `guest` in `scenario`, as a prediction computes it.
    @inlinable
    public func stallRisk(in scenario: Scenario, guest: Int, task: Int, share: Double, host: BfqSettings, extraLogit: Double = 0) -> Double {
        stallRisk(loadMBps: Units.megabytes(kilobytes: scenario.totalDemandKBps), share: share, queues: scenario.taskCount,
                  sliceIdleMs: host.sliceIdleMs, taskIops: scenario.guests[guest].tasks[task].iops,
                  otherGuestsQueues: scenario.taskCount - scenario.guests[guest].tasks.count, extraLogit: extraLogit)
    }

    public func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings,
                             into out: UnsafeMutableBufferPointer<Double>) {
        predictGuest(scenario, guest: guest, share: share, host: host, extraCalmMs: { _ in 0 }, extraLogit: 0, into: out)
    }

    /// The prediction with what an extension of the model (`OpAwareModel`) adds: ms on each
    /// task's calm tail, a logit on every task's stall risk, and a factor on the stall level.
    @inlinable
    public func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings,
                             extraCalmMs: (Int) -> Double, extraLogit: Double, stallFactor: Double = 1,
                             into out: UnsafeMutableBufferPointer<Double>) {
        let p = parameters
        let stallMs = p.stallMs * stallFactor
        let loadMBps = Units.megabytes(kilobytes: scenario.totalDemandKBps)
        let calm = host.sliceIdleUs == 0 ? p.noIdle : p.idleCalm
        let tasks = scenario.guests[guest].tasks
        for (index, task) in tasks.enumerated() {
            let calmMs = calm.ms(loadMBps: loadMBps, queues: scenario.taskCount, sliceIdleMs: host.sliceIdleMs, taskIops: task.iops)
                + extraCalmMs(index)
            let risk = stallRisk(in: scenario, guest: guest, task: index, share: share, host: host, extraLogit: extraLogit)
            switch p.output {
            case .threshold: out[index] = risk >= p.riskThreshold ? max(calmMs, stallMs) : calmMs
            case .expectation: out[index] = p.margin * (calmMs + risk * max(0, stallMs - calmMs))
            }
        }
    }
}

public struct IdlingParameters: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var interceptMs: Double
        public var perLoadMBpsMs: Double
        /// ms per queue × ms of slice_idle: with idling, a read may wait out other queues' idle windows
        public var perQueueSliceIdleMs: Double
        /// ms per 1000 IOPS of the task itself: more reads a second, more chances to meet the worst one
        public var perTaskKiopsMs: Double
        public init(interceptMs: Double, perLoadMBpsMs: Double, perQueueSliceIdleMs: Double = 0, perTaskKiopsMs: Double = 0) {
            self.interceptMs = interceptMs; self.perLoadMBpsMs = perLoadMBpsMs
            self.perQueueSliceIdleMs = perQueueSliceIdleMs; self.perTaskKiopsMs = perTaskKiopsMs
        }

        @inlinable
        public func ms(loadMBps: Double, queues: Int, sliceIdleMs: Double, taskIops: Double = 0) -> Double {
            interceptMs + perLoadMBpsMs * loadMBps + perQueueSliceIdleMs * Double(queues) * sliceIdleMs + perTaskKiopsMs * taskIops / 1000
        }
    }
    public struct Stall: Sendable, Equatable {
        public var intercept: Double
        public var perLoadMBps: Double
        public var perShare: Double
        public var perQueue: Double
        public var perSliceIdleMs: Double
        /// per 1000 IOPS of the task itself
        public var perTaskKiops: Double
        /// per queue in the *other* guests: a stall is a wait behind another group's idle window (a lone guest rarely stalls)
        public var perOtherGuestsQueue: Double
        public init(intercept: Double, perLoadMBps: Double, perShare: Double, perQueue: Double,
                    perSliceIdleMs: Double = 0, perTaskKiops: Double = 0, perOtherGuestsQueue: Double = 0) {
            self.intercept = intercept; self.perLoadMBps = perLoadMBps; self.perShare = perShare; self.perQueue = perQueue
            self.perSliceIdleMs = perSliceIdleMs; self.perTaskKiops = perTaskKiops; self.perOtherGuestsQueue = perOtherGuestsQueue
        }
    }

    /// What a prediction is: one run's worst case or the 1-second windows' mean (see `IdlingModel`).
    public enum Output: String, Sendable, Equatable, CaseIterable {
        case threshold, expectation
    }

    public var noIdle: Line
    public var idleCalm: Line
    public var stall: Stall
    public var stallMs: Double
    /// `threshold` output only: the risk from which a task is predicted to stall.
    public var riskThreshold: Double
    public var output: Output
    /// `expectation` output only: a factor ≥ 1 on the expected tail, fitted so
    /// that underestimates cost more than overestimates (the paper's intent).
    public var margin: Double
    public var validity: Validity
    public var provenance: String?

    public init(noIdle: Line, idleCalm: Line, stall: Stall, stallMs: Double, riskThreshold: Double,
                output: Output = .threshold, margin: Double = 1, validity: Validity = .unbounded, provenance: String? = nil) {
        self.output = output
        self.margin = margin
        self.noIdle = noIdle
        self.idleCalm = idleCalm
        self.stall = stall
        self.stallMs = stallMs
        self.riskThreshold = riskThreshold
        self.validity = validity
        self.provenance = provenance
    }
}
