import Foundation
import RTVirtIO

/// Turns a plan into the kernel values that realise it, in the order they
/// must be written: scheduler, bfq knobs, v2 controller enabling, weights.
public enum HostSettings {
    public static func desired(plan: Plan, device: BlockDevice, hierarchy: CgroupHierarchy,
                               cgroups: [String: String], fs: HostFS, guests: [GuestSpec] = []) -> [JournalEntry] {
        // a plan that keeps the device's own scheduler writes nothing of bfq: no knob, no weight;
        // only its caps, where the device has no bfq (otherwise it meets every target as it is)
        let bfq = plan.keptScheduler == nil
        var entries: [JournalEntry] = []
        if bfq {
            entries.append(JournalEntry(kind: .scheduler, path: device.schedulerPath, original: nil, applied: "bfq"))
            entries.append(JournalEntry(kind: .value, path: "\(device.ioschedPath)/timeout_sync", original: nil,
                                        applied: String(plan.host.timeoutSyncMs)))
            let sliceIdle = device.sliceIdle(fs)
            entries.append(JournalEntry(kind: .value, path: sliceIdle.path, original: nil,
                                        applied: String(plan.host.sliceIdleUs * sliceIdle.perMs / 1000)))
        }
        var enabled = Set<String>()
        func enableIo(above cgroup: String) {
            for ancestor in hierarchy.ancestors(of: cgroup) where enabled.insert(ancestor).inserted {
                entries.append(JournalEntry(kind: .subtreeControl, path: "\(ancestor)/cgroup.subtree_control",
                                            original: nil, applied: "io"))
            }
        }
        // what a cap in 4 KiB requests is in the guests' own ones
        let capacity = plan.capacityIops.map { DeliveryModel(capacityIops: $0, largeReadMBps: plan.largeReadMBps) }
        for guest in plan.guests {
            guard let cgroup = cgroups[guest.name] else { continue }
            // the weight the guest already has on this device is not written again (a plan
            // keeps the kernel's 100 where weights have no force); nor is io enabled for it
            if bfq, hierarchy.weightWithoutDeviceLine(cgroup, majMin: device.majMin, fs: fs) != guest.weight {
                enableIo(above: cgroup)
                entries.append(JournalEntry(kind: .deviceWeight, path: hierarchy.weightFile(cgroup), original: nil,
                                            applied: String(guest.weight), majMin: device.majMin, guest: guest.name))
            }
            if let cap = guest.readIopsCap {
                enableIo(above: cgroup)
                let split = Self.splitCap(cap, tasks: guests.first { $0.name == guest.name }?.tasks ?? [], delivery: capacity)
                if let read = split.read {
                    entries.append(JournalEntry(kind: .readIopsCap, path: hierarchy.readIopsCapFile(cgroup), original: nil,
                                                applied: String(read), majMin: device.majMin, guest: guest.name))
                }
                if let write = split.write {
                    entries.append(JournalEntry(kind: .writeIopsCap, path: hierarchy.writeIopsCapFile(cgroup), original: nil,
                                                applied: String(write), majMin: device.majMin, guest: guest.name))
                }
            }
        }
        // guest-side knobs, inside each guest that has an agent channel: bfq first, then its knobs
        for spec in guests where bfq && cgroups[spec.name] != nil {
            guard let agent = spec.guestAgent else { continue }
            let queue = "/sys/block/\(agent.disk)/queue"
            entries += [
                JournalEntry(kind: .scheduler, path: "\(queue)/scheduler", original: nil, applied: "bfq", guest: spec.name, agent: agent.socket),
                JournalEntry(kind: .value, path: "\(queue)/iosched/timeout_sync", original: nil,
                             applied: String(spec.guestBfq.timeoutSyncMs), guest: spec.name, agent: agent.socket),
                JournalEntry(kind: .value, path: "\(queue)/iosched/slice_idle_us", original: nil,
                             applied: String(spec.guestBfq.sliceIdleUs), guest: spec.name, agent: agent.socket),
            ]
        }
        return entries
    }

    /// A guest's IOPS cap as the kernel limits it. The plan's cap is in 4 KiB requests (the
    /// unit of the device's capacity); blk-throttle counts requests of any size, so a guest of
    /// 1 MiB requests capped at 512 gets 2 of its own. Reads and writes get their own limits
    /// (blk-throttle has none on both together) in the shares its tasks ask for; a guest that
    /// only reads gets the read limit alone, one that only writes the write limit. Each limit
    /// is at least 1 (0 would lift a v1 limit). Unknown tasks (no targets at hand): all reads.
    /// A request's cost in 4 KiB ones is `delivery`'s (its large-read bandwidth), else its KiB / 4.
    public static func splitCap(_ cap: Int, tasks: [TaskSpec], delivery: DeliveryModel? = nil) -> (read: Int?, write: Int?) {
        let demand4K = tasks.reduce(0.0) { $0 + DeliveryModel.cost4K(iops: $1.iops, requestKB: $1.requestKB, on: delivery) }
        let readIos = tasks.reduce(0.0) { $0 + $1.iops * $1.op.readFraction }
        let writeIos = tasks.reduce(0.0) { $0 + $1.iops * (1 - $1.op.readFraction) }
        guard demand4K > 0 else { return (cap, nil) }
        let total = max(1, Int((Double(cap) * (readIos + writeIos) / demand4K).rounded()))
        guard writeIos > 0 else { return (total, nil) }
        guard readIos > 0 else { return (nil, total) }
        guard total >= 2 else { return readIos >= writeIos ? (total, nil) : (nil, total) }
        let read = min(total - 1, max(1, Int((Double(cap) * readIos / demand4K).rounded())))
        return (read, total - read)
    }
}
