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
        let device = try BlockDevice.resolve(targets.device)
        _ = try device.scheduler(fs)     // fails early, naming what the device offers, when bfq is missing
        let hierarchy = try given ?? CgroupHierarchy.detect(root: cgroupRoot)
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

