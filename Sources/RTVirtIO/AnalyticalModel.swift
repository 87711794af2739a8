/// The RT-VirtIO paper's analytical model, Eqs. 1–5, term for term.
/// Latencies in ms, loads in KB per second, throughput converted to KB per ms.
public struct AnalyticalModel: LatencyModel {
    public var parameters: AnalyticalParameters
    public var name: String
    public var validity: Validity { parameters.validity }

    public init(parameters: AnalyticalParameters, name: String = "analytical") {
        self.parameters = parameters
        self.name = name
    }

    /// E(SI) = 1 − λ × SI / SI_default (Sec. IV-B2).
    @inlinable
    public static func sliceIdleEffect(sliceIdleMs: Double, lambda: Double, defaultMs: Double) -> Double {
        1 - lambda * sliceIdleMs / defaultMs
    }

    /// E(TS) = λ × TS / 1000 (Sec. IV-B1).
    @inlinable
    public static func timeoutSyncEffect(timeoutSyncMs: Double, lambda: Double) -> Double {
        lambda * timeoutSyncMs / 1000
    }

    /// SW(n): task-switch time for n entities sharing a scheduler.
    @inlinable
    public func switchMs(_ entities: Int) -> Double {
        parameters.switchInterceptMs + parameters.switchPerEntityMs * Double(entities)
    }

    /// Eq. 2: the host portion of every task of guest i.
    public func hostPortionMs(_ scenario: Scenario, guest i: Int, share: Double, host: BfqSettings) -> Double {
        let p = parameters
        let hostKBperMs = p.hostThroughputKBps / 1000
        let guestKBperMs = p.lambdaPhi * share * hostKBperMs                       // Eq. 3
        let esi = Self.sliceIdleEffect(sliceIdleMs: host.sliceIdleMs, lambda: p.hostLambdaSliceIdle,
                                       defaultMs: p.sliceIdleDefaultMs)
        guard esi > 0, guestKBperMs > 0 else { return .infinity }
        let g = scenario.guests[i]
        let own = (g.demandKBps + p.maxBudgetKB - g.minRequestKB) / (esi * guestKBperMs)
        let others = (scenario.totalDemandKBps - g.demandKBps + p.maxBudgetKB) / (esi * hostKBperMs)
        return switchMs(scenario.guests.count) + own + others
            + Self.timeoutSyncEffect(timeoutSyncMs: Double(host.timeoutSyncMs), lambda: p.hostLambdaTimeoutSync)
    }

    /// Eq. 4: the guest portion of task j in guest i.
    public func guestPortionMs(_ scenario: Scenario, guest i: Int, task j: Int, share: Double) -> Double {
        let p = parameters
        let g = scenario.guests[i]
        let task = g.tasks[j]
        let guestKBperMs = p.lambdaPhi * share * p.hostThroughputKBps / 1000        // Eq. 3
        let taskKBperMs = p.lambdaPhi * g.taskShares[j] * guestKBperMs             // Eq. 5
        let esi = Self.sliceIdleEffect(sliceIdleMs: g.guestBfq.sliceIdleMs, lambda: p.guestLambdaSliceIdle,
                                       defaultMs: p.sliceIdleDefaultMs)
        guard esi > 0, taskKBperMs > 0 else { return .infinity }
        let own = (task.demandKBps + p.maxBudgetKB - task.requestKB) / (esi * taskKBperMs)
        let siblings = (g.demandKBps - task.demandKBps + p.maxBudgetKB) / (esi * guestKBperMs)
        return switchMs(g.tasks.count) + own + siblings
            + Self.timeoutSyncEffect(timeoutSyncMs: Double(g.guestBfq.timeoutSyncMs), lambda: p.guestLambdaTimeoutSync)
    }

    public func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings,
                             into out: UnsafeMutableBufferPointer<Double>) {
        let hostMs = hostPortionMs(scenario, guest: guest, share: share, host: host)
        for task in scenario.guests[guest].tasks.indices {                        // Eq. 1
            out[task] = guestPortionMs(scenario, guest: guest, task: task, share: share) + hostMs
        }
    }
}

/// λ values and constants of the analytical model, from a parameter file.
public struct AnalyticalParameters: Sendable, Equatable {
    public var lambdaPhi: Double
    public var hostLambdaTimeoutSync: Double
    public var hostLambdaSliceIdle: Double
    public var guestLambdaTimeoutSync: Double
    public var guestLambdaSliceIdle: Double
    public var sliceIdleDefaultMs: Double
    public var switchInterceptMs: Double
    public var switchPerEntityMs: Double
    public var hostThroughputKBps: Double
    public var maxBudgetKB: Double
    public var validity: Validity
    public var provenance: String?

    public init(lambdaPhi: Double, hostLambdaTimeoutSync: Double, hostLambdaSliceIdle: Double,
                guestLambdaTimeoutSync: Double, guestLambdaSliceIdle: Double, sliceIdleDefaultMs: Double,
                switchInterceptMs: Double, switchPerEntityMs: Double, hostThroughputKBps: Double,
                maxBudgetKB: Double, validity: Validity = .unbounded, provenance: String? = nil) {
        self.lambdaPhi = lambdaPhi
        self.hostLambdaTimeoutSync = hostLambdaTimeoutSync
        self.hostLambdaSliceIdle = hostLambdaSliceIdle
        self.guestLambdaTimeoutSync = guestLambdaTimeoutSync
        self.guestLambdaSliceIdle = guestLambdaSliceIdle
        self.sliceIdleDefaultMs = sliceIdleDefaultMs
        self.switchInterceptMs = switchInterceptMs
        self.switchPerEntityMs = switchPerEntityMs
        self.hostThroughputKBps = hostThroughputKBps
        self.maxBudgetKB = maxBudgetKB
        self.validity = validity
        self.provenance = provenance
    }

}
