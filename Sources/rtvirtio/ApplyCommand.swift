import ArgumentParser
import Glibc
import Foundation
import RTVirtIO
import RTVirtIOHost

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Plan, then write bfq settings and cgroup weights to the kernel, transactionally.",
        discussion: """
        Originals are journaled (fsynced) in the state directory before the first write; every write is read \
        back; on any failure the values this run changed are put back. `rtvirtio restore` undoes everything. \
        Exit status: 0 applied, 1 failed (host as before), 2 bad input, 3 applied without missing guests.
        Example: rtvirtio apply --targets /etc/rtvirtio/targets.yaml --dry-run
        """)

    @OptionGroup var planning: PlanningOptions
    @OptionGroup var host: HostOptions
    @Flag(help: "Print the plan and the exact writes; write nothing.") var dryRun = false
    @Option(help: "text or json.") var format: ReportFormat = .text

    func validate() throws {
        guard format != .html else { throw ValidationError("apply prints text or json") }
    }

    struct Output: Encodable {
        var dryRun: Bool
        var device: String
        var changes: [Applier.Change]
        var skipped: [String]
        var warnings: [String]
    }

    func run() throws {
        let (targets, model) = try planning.load()
        let fs = HostFS()
        guard dryRun || geteuid() == 0 else {
            throw ValidationError("apply writes sysfs and cgroup files: run it as root (or use --dry-run)")
        }
        let view = try host.observe(targets, fs: fs)
        for warning in view.warnings { printError("warning: \(warning)") }
        let present = view.present(targets)
        guard !present.guests.isEmpty else { throw ValidationError("none of the guests was found; nothing to apply") }
        let plan = try Optimizer(model: model, space: present.search).plan(Scenario(targets: present), currentScheduler: try view.device.scheduler(fs))
        let desired = HostSettings.desired(plan: plan, device: view.device, hierarchy: view.hierarchy,
                                           cgroups: view.cgroups, fs: fs, guests: present.guests)
        let before = view.baseline(fs: fs)   // read before anything is written
        let applier = Applier(fs: fs, state: host.state)
        let changes = dryRun ? try applier.entries(for: desired, device: view.device).changes
                             : try applier.apply(desired, device: view.device)
        let report = PlanReport(plan: plan, device: targets.device, baseline: before)
        if format == .json {
            print(try encodeJSON(Output(dryRun: dryRun, device: view.device.devicePath, changes: changes,
                                        skipped: view.skipped, warnings: view.warnings + plan.warnings)), terminator: "")
        } else {
            print(report.text())
            print(dryRun ? "Would write (nothing written, --dry-run):" : "Wrote:")
            print(changes.isEmpty ? "  nothing: the host already has these values" : Table(
                header: ["path", "current", "new"],
                rows: changes.map { [$0.path, $0.current ?? "(absent)", $0.new] }).render(indent: 2))
        }
        if !view.skipped.isEmpty { throw ExitCode(3) }
    }
}
