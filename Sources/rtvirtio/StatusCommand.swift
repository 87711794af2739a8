import ArgumentParser
import RTVirtIO
import RTVirtIOHost

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every value rtvirtio manages: original, applied, current, and drift.",
        discussion: """
        Exit status 4 when something drifted (someone else changed a value). With --targets, also what libvirt itself \
        set for the guests found by `libvirt: NAME` (blkiotune, each disk's iotune), which rtvirtio leaves alone; with \
        --measure-s too, each guest measured in the host kernel for that long (as `observe`), beside its targets.
        """)

    @OptionGroup var host: HostOptions
    @Option(help: "text or json.") var format: OutputFormat = .text
    @Option(help: ArgumentHelp("The targets file: libvirt's own settings of its guests, and their measurements with --measure-s.", valueName: "file")) var targets: String?
    @Option(help: ArgumentHelp("Measure each guest this many seconds (1-3600; needs --targets, root and BPF).", valueName: "S")) var measureS: Int?

    func validate() throws {
        if let measureS {
            guard targets != nil else { throw ValidationError("--measure-s needs --targets") }
            guard (1...3600).contains(measureS) else { throw ValidationError("--measure-s wants 1 to 3600 seconds (got \(measureS))") }
        }
    }

    struct Output: Encodable {
        var device: String?
        var values: [Applier.Status]
        var measured: ObservationReport?
        var libvirt: [LibvirtTuning]
    }

    func run() throws {
        let (journal, values) = try Applier(state: host.state).status()
        // read once: with `libvirt:` in it, loading asks virsh for every domain's metadata
        let loaded = try targets.map { try ConfigFiles.loadTargets($0) }
        let measured = try measure(loaded)
        let libvirt = libvirtTunings(loaded)
        if format == .json {
            print(try encodeJSON(Output(device: journal?.device, values: values, measured: measured, libvirt: libvirt)), terminator: "")
        } else if let journal {
            print("device \(journal.device) (\(journal.majMin)), applied since \(journal.createdAt)")
            print(Table(header: ["path", "guest", "original", "applied", "current", ""], rows: values.map {
                [$0.path, $0.guest ?? "", $0.original ?? "(absent)", $0.applied, $0.current ?? "(absent)", $0.drift ? "DRIFT" : ""]
            }).render(indent: 0))
        } else {
            print("rtvirtio has changed nothing on this host (no journal in \(host.stateDir))")
        }
        if let measured, format != .json, let targets = loaded {
            print("\n" + measured.text())
            for guest in MeasuredOutcome(measured, targets: targets).guests {
                print("\(guest.name): \(guest.met ? "meets every target" : "MISSES") (p99.99 \(guest.tailMs.map { formatNumber($0, decimals: 2) } ?? "–") ms; "
                      + "\(formatNumber(guest.iops, decimals: 0)) of \(formatNumber(guest.askedIops, decimals: 0)) IOPS asked)")
            }
        }
        if format != .json, !libvirt.isEmpty { print("\n" + PlanReport.libvirtLines(libvirt).joined(separator: "\n")) }
        if values.contains(where: \.drift) { throw ExitCode(4) }
    }

    /// With --targets, what libvirt itself set for the guests it finds by `libvirt: NAME`.
    func libvirtTunings(_ targets: Targets?) -> [LibvirtTuning] {
        guard let targets else { return [] }
        let (tunings, problems) = LibvirtDomains.tunings(targets)
        problems.forEach(printError)
        return tunings
    }

    /// The guests measured in the kernel for --measure-s seconds, where asked.
    func measure(_ targets: Targets?) throws -> ObservationReport? {
        guard let measureS, let targets else { return nil }
        let view = try host.observe(targets, fs: HostFS())
        guard let session = guestObserver(targets, view: view, otherwise: "showing the managed values only") else { return nil }
        return try session.observe(seconds: measureS, percentile: targets.percentile)
            .report(device: view.device.devicePath, durationS: Double(measureS), targets: view.present(targets))
    }
}
