import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Search the best bfq settings and weights and explain them (a dry run: nothing is written).",
        discussion: """
        With --measure-s S (root and BPF) the guests are first measured in the kernel for S seconds, and where the \
        targets give the device's capacity the caps are sized from what the device delivered to them, as \
        `apply --verify-s` plans. Example: rtvirtio plan --targets targets.yaml --format html --output plan.html
        """)

    @OptionGroup var planning: PlanningOptions
    @Option(help: "text, json or html.") var format: ReportFormat = .text
    @Option(help: ArgumentHelp("Write the report to this file instead of standard output.", valueName: "file"))
    var output: String?
    @Option(help: ArgumentHelp("Measure the guests S seconds first and plan on what the device delivered (1-3600; root and BPF).", valueName: "S"))
    var measureS: Int?
    @Option(help: ArgumentHelp("With --measure-s: the cgroup subtree where the guests are found (relative to the io controller's mount).", valueName: "path"))
    var cgroupRoot: String?

    func validate() throws {
        if let measureS, !(1...3600).contains(measureS) { throw ValidationError("--measure-s wants 1 to 3600 seconds (got \(measureS))") }
        if cgroupRoot != nil, measureS == nil { throw ValidationError("--cgroup-root says where to measure the guests: it goes with --measure-s") }
    }

    func run() throws {
        let (targets, model) = try planning.load()
        // plan reads the device's scheduler where it can (nothing else): its own may already do
        let fs = HostFS()
        let schedulers = try? BlockDevice.resolve(targets.device, fs: fs).schedulers(fs)
        let current = schedulers?.selected
        let offersBfq = schedulers?.offersBfq ?? true   // a device not on this host: plan for one with bfq
        var scenario = Scenario(targets: targets)
        if let measureS {
            let view = try HostView.observeGuests(targets, cgroupRoot: cgroupRoot, fs: fs, nothingTo: "measure")
            let present = view.present(targets)
            scenario = Scenario(targets: present)
            scenario.delivery?.measured = try GuestsBefore.measure(view: view, targets: present, seconds: measureS, fs: fs,
                                                                   otherwise: "nothing planned (--measure-s needs the measurement)").delivery
        }
        let plan = try Optimizer(model: model, space: targets.search).plan(scenario, currentScheduler: current, offersBfq: offersBfq)
        let (libvirt, problems) = LibvirtDomains.tunings(targets)
        problems.forEach(printError)
        let report = PlanReport(plan: plan, device: targets.device,
                                baseline: .kernelDefaults(guests: targets.guests.map(\.name)), libvirt: libvirt)
        try emit(report.render(format), to: output)
    }
}

extension PlanReport {
    func render(_ format: ReportFormat) throws -> String {
        switch format {
        case .text: text()
        case .json: try json()
        case .html: html()
        }
    }
}

/// Writes a report to a file (atomically) or to standard output.
func emit(_ text: String, to path: String?) throws {
    guard let path else { print(text, terminator: ""); return }
    do {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    } catch {
        throw CommandFailure("cannot write \(path): \(error.localizedDescription)")
    }
}
