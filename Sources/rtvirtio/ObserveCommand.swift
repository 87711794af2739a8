import ArgumentParser
import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost

struct ObserveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "observe",
        abstract: "Measure each guest's I/O latency in the host kernel (eBPF), per op, over 1-second windows.",
        discussion: """
        Needs root and a kernel with BTF. Guests are found as `apply` finds them. For every request on the \
        targets file's device: the time from its insertion into the I/O scheduler (so bfq's idling counts), or \
        its issue where it bypasses the scheduler, to its completion, charged to the cgroup that issued it. \
        Prints count, IOPS, p50/p99/p99.9/p99.99/max and, per task, the windows whose p99.99 exceeded its target. \
        Changes nothing on the host. Example: rtvirtio observe --targets /etc/rtvirtio/targets.yaml --duration-s 30
        """)

    @Option(name: .long, help: ArgumentHelp("The targets file (YAML or JSON).", valueName: "file")) var targets: String
    @OptionGroup var host: HostOptions
    @Option(help: "Seconds to observe (1-86400).") var durationS = 10
    @Option(help: "text or json.") var format: OutputFormat = .text
    @Option(help: ArgumentHelp("The kernel's BTF type information (where a distribution ships it apart from the kernel).", valueName: "file"))
    var btf = BPFObserver.kernelBTF

    func validate() throws {
        guard (1...86_400).contains(durationS) else { throw ValidationError("--duration-s wants 1 to 86400 seconds (got \(durationS))") }
    }

    func run() throws {
        let targets = try ConfigFiles.loadTargets(self.targets)
        let view = try host.observeGuests(targets, fs: HostFS(), nothingTo: "observe")
        guard let session = guestObserver(targets, view: view, btf: btf) else { throw ExitCode(1) }
        let observer = session.observer
        printError("observing \(view.device.devicePath) (\(view.device.majMin)) for \(durationS) s: \(session.guests.map(\.name).joined(separator: ", "))")
        let progress = format == .text && isatty(STDERR_FILENO) != 0
        let observation = try session.observe(seconds: durationS, percentile: targets.percentile) { second in
            if progress { FileHandle.standardError.write(Data("\r\(second)/\(durationS) s".utf8)) }
        }
        if progress { FileHandle.standardError.write(Data("\r".utf8)) }
        if observer.droppedRequests() > 0 { printError("warning: \(observer.droppedRequests()) requests found no room in the kernel's map and are not counted") }
        let report = observation.report(device: view.device.devicePath, durationS: Double(durationS), targets: view.present(targets))
        print(format == .json ? try encodeJSON(report) : report.text(), terminator: format == .json ? "" : "\n")
    }
}
