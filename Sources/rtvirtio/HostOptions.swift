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

    func observe(_ targets: Targets, fs: HostFS) throws -> HostView {
        try HostView.observe(targets, cgroupRoot: cgroupRoot, fs: fs)
    }

    /// `HostView.observeGuests` under these options.
    func observeGuests(_ targets: Targets, fs: HostFS, nothingTo what: String) throws -> HostView {
        try HostView.observeGuests(targets, cgroupRoot: cgroupRoot, fs: fs, nothingTo: what)
    }
}

extension HostView {
    /// The host as discovery sees it, its warnings printed; one line and exit 1 when none of the
    /// targets' guests was found (`what`: what the command then has nothing to do).
    static func observeGuests(_ targets: Targets, cgroupRoot: String?, fs: HostFS, nothingTo what: String) throws -> HostView {
        let view = try HostView.observe(targets, cgroupRoot: cgroupRoot, fs: fs)
        for warning in view.warnings { printError("warning: \(warning)") }
        guard !view.cgroups.isEmpty else {
            throw CommandFailure("none of the guests was found; nothing to \(what) (the reasons are above; `rtvirtio guests` lists what runs)")
        }
        return view
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data("rtvirtio: \(text)\n".utf8))
}

/// The targets' guests found on the host, measured by the kernel observer; nil, with the
/// one-line reason printed (and `otherwise`, what the command does instead), where BPF cannot run.
func guestObserver(_ targets: Targets, view: HostView, btf: String = BPFObserver.kernelBTF, otherwise: String? = nil) -> GuestObserver? {
    let guests = targets.guests.compactMap { g in view.cgroups[g.name].map { (name: g.name, cgroup: $0) } }
    for warning in GuestObserver.unchargedWarnings(guests, hierarchy: view.hierarchy) { printError("warning: \(warning)") }
    do {
        return GuestObserver(observer: try BPFObserver(device: view.device, btfPath: btf), guests: guests)
    } catch {
        printError("\(error)" + (otherwise.map { "; \($0)" } ?? ""))
        return nil
    }
}

/// A failure while running (the host's state, a file that cannot be written): said in one
/// line and exit 1, without the usage text a `ValidationError` (bad arguments) prints.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
