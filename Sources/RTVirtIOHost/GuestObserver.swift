import Foundation
import Glibc
import RTVirtIO

/// Per-guest latency windows from the kernel observer: requests are charged
/// to the cgroup that issued them, which may be a guest's cgroup or any cgroup
/// below it (libvirt's emulator and vcpu groups, a task's own group), so each
/// guest's subtree is mapped to its cgroup ids (inode numbers) and summed.
public final class GuestObserver: @unchecked Sendable {
    public let observer: BPFObserver
    /// guest name → its cgroup directory
    public let guests: [(name: String, cgroup: String)]
    private var previous: [BPFObserver.Key: LatencyHistogram] = [:]
    private var owners: [UInt64: String] = [:]

    public init(observer: BPFObserver, guests: [(name: String, cgroup: String)]) {
        self.observer = observer
        self.guests = guests
        refreshOwners()
    }

    /// cgroup id → guest, for every directory at or below each guest's cgroup
    /// (refreshed each window: a guest's subgroups come and go).
    func refreshOwners() {
        var map: [UInt64: String] = [:]
        for (name, cgroup) in guests {
            for directory in [cgroup] + cgroupSubdirectories(of: cgroup) {
                var info = stat()
                if stat(directory, &info) == 0 { map[UInt64(info.st_ino)] = name }
            }
        }
        owners = map
    }

    /// On cgroup v2 the kernel charges a request to a guest's cgroup only where io is enabled in
    /// the parent's subtree_control; elsewhere it is the root's, and the guest measures nothing.
    public static func unchargedWarnings(_ guests: [(name: String, cgroup: String)], hierarchy: CgroupHierarchy, fs: HostFS = HostFS()) -> [String] {
        guard hierarchy.version == .v2 else { return [] }
        return guests.compactMap { guest in
            let parent = (guest.cgroup as NSString).deletingLastPathComponent
            let control = (try? fs.read(parent + "/cgroup.subtree_control")) ?? ""
            return WeightLines.controllerEnabled("io", in: control) ? nil
                : "\(guest.name)'s requests are charged to the root cgroup: io is not enabled in \(parent)/cgroup.subtree_control (`rtvirtio apply` enables it)"
        }
    }

    /// What each guest's requests did since the previous call, by op; requests
    /// of cgroups outside every guest are left out.
    public func window() throws -> [String: [IOOp: LatencyHistogram]] {
        refreshOwners()
        let now = try observer.histograms()
        var result: [String: [IOOp: LatencyHistogram]] = [:]
        for (key, histogram) in now {
            guard let guest = owners[key.cgroupID] else { continue }
            let delta = histogram.since(previous[key] ?? LatencyHistogram())
            result[guest, default: [:]][key.op] = (result[guest]?[key.op] ?? LatencyHistogram()) + delta
        }
        previous = now
        return result
    }
}

extension GuestObserver {
    /// `seconds` one-second windows, each ending on the second after the start
    /// however long reading took, handed to `each` with their number.
    public func windows(seconds: Int, each: (Int, [String: [IOOp: LatencyHistogram]]) throws -> Void) throws {
        _ = try window()   // what came before the first window is not part of it
        let started = Date()
        for second in 1...max(1, seconds) {
            let wait = started.addingTimeInterval(Double(second)).timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
            try each(second, try window())
        }
    }

    /// The windows gathered into an observation; `tick(n)` after each.
    public func observe(seconds: Int, percentile: Double, tick: (Int) -> Void = { _ in }) throws -> Observation {
        var observation = Observation(percentile: percentile)
        try windows(seconds: seconds) { second, window in
            observation.add(window: window, guests: guests.map(\.name))
            tick(second)
        }
        return observation
    }
}

/// Every directory below `root` (a cgroup's subtree), in enumeration order.
public func cgroupSubdirectories(of root: String) -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
    var result: [String] = []
    while let item = enumerator.nextObject() as? String {
        if (enumerator.fileAttributes?[.type] as? FileAttributeType) == .typeDirectory { result.append("\(root)/\(item)") }
    }
    return result
}
