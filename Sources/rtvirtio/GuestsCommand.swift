import ArgumentParser
import RTVirtIO
import RTVirtIOHost

struct GuestsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guests",
        abstract: "List the QEMU processes on this host, their io cgroups and current bfq weights.",
        discussion: "Use what it prints to write `match:` entries. Example: rtvirtio guests --format json")

    @Option(help: ArgumentHelp("Cgroup subtree (relative to the io controller's mount) to report paths against.", valueName: "path"))
    var cgroupRoot: String?
    @Option(help: "text or json.") var format: OutputFormat = .text

    func run() throws {
        let hierarchy = try CgroupHierarchy.detect(root: cgroupRoot)
        let guests = QemuProcess.scan(hierarchy: hierarchy)
        if format == .json {
            print(try encodeJSON(guests), terminator: "")
        } else if guests.isEmpty {
            print("no QEMU processes found (io controller: cgroup \(hierarchy.version.rawValue) at \(hierarchy.mountPoint))")
        } else {
            print(Table(header: ["pid", "name", "cgroup", "weights"], rows: guests.map {
                [String($0.pid), $0.name ?? "?", $0.cgroup ?? "?", $0.weights.isEmpty ? noWeights(hierarchy) : $0.weights.joined(separator: ", ")]
            }).render(indent: 0))
        }
    }

    /// Why a cgroup shows no weight: on v2 its parent has not enabled io (its requests are the parent's).
    private func noWeights(_ hierarchy: CgroupHierarchy) -> String {
        hierarchy.version == .v2 ? "none (io not enabled in its parent)" : "none (no \(hierarchy.weightFileName))"
    }
}
