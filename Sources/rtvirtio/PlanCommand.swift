import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Search the best bfq settings and weights and explain them (a dry run: nothing is written).",
        discussion: "Example: rtvirtio plan --targets targets.yaml --format html --output plan.html")

    @OptionGroup var planning: PlanningOptions
    @Option(help: "text, json or html.") var format: ReportFormat = .text
    @Option(help: ArgumentHelp("Write the report to this file instead of standard output.", valueName: "file"))
    var output: String?

    func run() throws {
        let (targets, model) = try planning.load()
        // plan reads the device's scheduler where it can (nothing else): its own may already do
        let fs = HostFS()
        let current = try? BlockDevice.resolve(targets.device, fs: fs).scheduler(fs)
        let plan = try Optimizer(model: model, space: targets.search).plan(Scenario(targets: targets), currentScheduler: current)
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
