import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost

/// Where rtvirtio keeps its journal and which cgroup subtree it may touch.
struct HostOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Journal and lock directory.", valueName: "dir"))
    var stateDir = "/var/lib/rtvirtio"

    @Option(help: ArgumentHelp("Cgroup subtree (relative to the io controller's mount) that discovery searches and writes stay in.", valueName: "path"))
    var cgroupRoot: String?

    var state: StateDirectory { StateDirectory(path: stateDir) }
}

/// Everything `apply` and the daemon need from the host for one plan.
struct HostView {
    var device: BlockDevice
    var hierarchy: CgroupHierarchy
    var cgroups: [String: String]
    var warnings: [String]
    var skipped: [String]

    static func observe(_ targets: Targets, options: HostOptions, fs: HostFS) throws -> HostView {
        let device = try BlockDevice.resolve(targets.device)
        _ = try device.scheduler(fs)     // fails early, naming what the device offers, when bfq is missing
        let hierarchy = try CgroupHierarchy.detect(root: options.cgroupRoot)
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
    func present(_ targets: Targets) -> Targets {
        var result = targets
        result.guests = targets.guests.filter { cgroups[$0.name] != nil }
        return result
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data("rtvirtio: \(text)\n".utf8))
}
