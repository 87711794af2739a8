import RTVirtIO

/// Everything `apply` and the daemon need from the host for one plan.
public struct HostView: Sendable {
    public var device: BlockDevice
    public var hierarchy: CgroupHierarchy
    public var cgroups: [String: String]
    public var warnings: [String]
    public var skipped: [String]

    public static func observe(_ targets: Targets, cgroupRoot: String?, fs: HostFS,
                               hierarchy given: CgroupHierarchy? = nil) throws -> HostView {
        let device = try BlockDevice.resolve(targets.device, fs: fs)
        _ = try device.scheduler(fs)     // fails early where the device's scheduler cannot be read
        let hierarchy = try given ?? CgroupHierarchy.detect(root: cgroupRoot, fs: fs)
        let locator = GuestLocator(hierarchy: hierarchy)
        var view = HostView(device: device, hierarchy: hierarchy, cgroups: [:], warnings: [], skipped: [])
        for guest in targets.guests {
            do {
                let found = try locator.locate(guest, fs: fs)
                view.cgroups[guest.name] = found.cgroup
                if let warning = found.warning { view.warnings.append(warning) }
            } catch let failure as GuestLocator.Failure {
                if case .outsideRoot = failure { throw failure }
                view.warnings.append("\(failure); skipped")
                view.skipped.append(guest.name)
            }
        }
        return view
    }

    /// The targets without the guests whose cgroups are missing.
    public func present(_ targets: Targets) -> Targets {
        var result = targets
        result.guests = targets.guests.filter { cgroups[$0.name] != nil }
        return result
    }
}


extension HostView {
    /// What the host has now, for the report's "before" column: the bfq knobs
    /// (bfq's defaults when another scheduler is selected: they are what
    /// selecting bfq gives) and each found guest's weight on this device (its
    /// per-device line, else its default weight; on v2 without io.bfq.weight —
    /// io not enabled in its parent, its requests charged there — bfq's default,
    /// what enabling io gives it).
    public func baseline(fs: HostFS) -> Baseline {
        func number(_ path: String) -> Int? { (try? fs.readValue(path)).flatMap { Int($0) } }
        var host = BfqSettings.kernelDefault
        let bfqSelected = fs.exists("\(device.ioschedPath)/timeout_sync")
        if bfqSelected {
            host.timeoutSyncMs = number("\(device.ioschedPath)/timeout_sync") ?? host.timeoutSyncMs
            let sliceIdle = device.sliceIdle(fs)
            host.sliceIdleUs = number(sliceIdle.path).map { $0 * 1000 / sliceIdle.perMs } ?? host.sliceIdleUs
        }
        var weights: [String: Int] = [:]
        for (guest, cgroup) in cgroups {
            let lines = try? fs.read(hierarchy.weightFile(cgroup))
            if lines == nil, hierarchy.version == .v2 {
                weights[guest] = BfqSettings.kernelDefaultWeight
                continue
            }
            weights[guest] = lines.flatMap { WeightLines.weight(for: device.majMin, in: $0) } ?? hierarchy.defaultWeight(cgroup, lines: lines, fs: fs)
        }
        return Baseline(label: bfqSelected ? "now" : "now (bfq defaults)", host: host, weights: weights)
    }
}

extension HostView {
    /// The settings in force as the models see them, and a line saying what they are:
    /// bfq's knobs and each guest's weight and cap, or the device's own scheduler
    /// as bfq without idling with equal weights.
    public func settingsInForce(_ targets: Targets, fs: HostFS) -> (settings: Settings, text: String) {
        let now = baseline(fs: fs)
        let selected = (try? device.scheduler(fs)) ?? "?"
        let weights = targets.guests.map { now.weights[$0.name] ?? 100 }
        let caps = targets.guests.map { guest in
            cgroups[guest.name].flatMap { (try? fs.read(hierarchy.readIopsCapFile($0))).flatMap { ThrottleLines.readIops(for: device.majMin, in: $0) } }
        }
        let capsIops: [Int?]? = caps.contains { $0 != nil } ? caps : nil
        guard selected == "bfq" else {
            return (Settings(host: BfqSettings(timeoutSyncMs: BfqSettings.kernelDefault.timeoutSyncMs, sliceIdleUs: 0),
                             weights: targets.guests.map { _ in 100 }, capsIops: capsIops),
                    "scheduler \(selected) (predicted as bfq without idling)")
        }
        let capText = zip(targets.guests, caps).compactMap { guest, cap in cap.map { "\(guest.name) capped at \($0)" } }
        return (Settings(host: now.host, weights: weights, capsIops: capsIops),
                "bfq, timeout_sync \(now.host.timeoutSyncMs) ms, slice_idle \(formatNumber(now.host.sliceIdleMs, decimals: 3)) ms, weights "
                + zip(targets.guests, weights).map { "\($0.name) \($1)" }.joined(separator: ", ")
                + (capText.isEmpty ? "" : "; " + capText.joined(separator: ", ")))
    }
}
