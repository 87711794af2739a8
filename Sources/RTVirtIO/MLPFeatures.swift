/// The inputs an MLP model file may name, computed for one task of one guest
/// (the paper's Table I, in the units the names say).
public enum MLPFeature: String, CaseIterable, Sendable {
    case guestCount, tasksInGuest, guestWeightShare, taskWeightShare
    case taskIops, taskRequestKB, taskDemandKBps, guestDemandKBps, otherGuestsDemandKBps
    case hostTimeoutSyncMs, hostSliceIdleMs, guestTimeoutSyncMs, guestSliceIdleMs
    /// Issue 16, beyond the paper's Table I: the share of the task's requests that are reads (0…1),
    /// the requests it keeps in flight, and the KiB all other tasks keep in flight beyond one each.
    case taskReadFraction, taskQueueDepth, othersQueuedKB

    @inlinable
    public func value(_ scenario: Scenario, guest i: Int, task j: Int, share: Double, host: BfqSettings) -> Double {
        let g = scenario.guests[i]
        switch self {
        case .guestCount: return Double(scenario.guests.count)
        case .tasksInGuest: return Double(g.tasks.count)
        case .guestWeightShare: return share
        case .taskWeightShare: return g.taskShares[j]
        case .taskIops: return g.tasks[j].iops
        case .taskRequestKB: return g.tasks[j].requestKB
        case .taskDemandKBps: return g.tasks[j].demandKBps
        case .guestDemandKBps: return g.demandKBps
        case .otherGuestsDemandKBps: return scenario.totalDemandKBps - g.demandKBps
        case .hostTimeoutSyncMs: return Double(host.timeoutSyncMs)
        case .hostSliceIdleMs: return host.sliceIdleMs
        case .guestTimeoutSyncMs: return Double(g.guestBfq.timeoutSyncMs)
        case .guestSliceIdleMs: return g.guestBfq.sliceIdleMs
        case .taskReadFraction: return g.tasks[j].op.readFraction
        case .taskQueueDepth: return Double(g.tasks[j].queueDepth)
        case .othersQueuedKB:
            let own = g.tasks[j]
            return OpTerms.queuedKB(scenario) - Double(max(0, own.queueDepth - 1)) * own.requestKB
        }
    }
}
