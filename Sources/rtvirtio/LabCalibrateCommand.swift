import ArgumentParser
import Dispatch
import Foundation
import Glibc
import RTVirtIO
import RTVirtIOLab

struct LabCalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Measure the calibration dataset on the testbed: resumable, appends to the CSV, skips measured points.",
        discussion: """
        Samples the paper's Table II space plus slice_idle 0 (space-filling, seeded), one fio job per task in its own cgroup, all in one fio process \
        (4 KiB random O_DIRECT reads at the task's rate, one at a time), p99.99 over the run and in 1-second windows with \
        sample counts. --workload writers draws, beside those, each task's op (read, write, readwrite 70 or 30 % reads), \
        request size (4, 16, 64 KiB, the IOPS scaled to the same bytes) and queue depth (1, 4, 16, 32: libaio), \
        every point with at least one writer (ids wN). Every 20th point is measured 3 times to measure noise (--repeat-every, --repeats). Writes OUT and OUT's provenance \
        file (.provenance.yaml). Example: rtvirtio lab calibrate --regime fast --points 1000 --out data/calibration/fast.csv
        """)

    @Option(help: "fast or device-bound.") var regime: LabTestbed.Regime = .fast
    @Option(help: "Points in the design (repeats come on top).") var points = 1000
    @Option(help: "Seconds of load per point.") var durationS = 10
    @Option(help: "device-bound: the FUSE server's service time per 4 KiB, µs.") var serviceUs = LabTestbed.defaultServiceTimeUs
    @Option(help: ArgumentHelp("device-bound: per 4 KiB written, µs (--service-us if not given).", valueName: "µs"))
    var writeServiceUs: Int?
    @Option(help: "reads (Table II) or writers (ops, request sizes and queue depths too).")
    var workload: CalibrationPoint.Workload = .reads
    @Option(help: "Seed of the design.") var seed: UInt64 = 1
    @Option(help: "Stop after this many new points (0: all).") var limit = 0
    @Option(help: "Measure every K-th point of the design more than once (1: every point).") var repeatEvery = 20
    @Option(help: "Runs of a repeated point, the first included.") var repeats = 3
    @Option(help: ArgumentHelp("Only the design's points of this split: all, train or test (e.g. more repeats of the test split's configurations).",
                               valueName: "split"))
    var onlySplit: CalibrationDataset.Part = .all
    @Option(help: ArgumentHelp("Only the design's points at this host slice_idle (ms), e.g. 0 for a dataset without idling.",
                               valueName: "ms"))
    var onlySliceIdleMs: Double?
    @Option(help: ArgumentHelp("""
        The device's scheduler for every point: bfq (the design's knobs and weights written), or none or \
        mq-deadline (nothing written: what the device does on its own, which the models predict as bfq \
        without idling and with equal weights; `lab accuracy` scores that). Give each its own --out.
        """, valueName: "name"))
    var scheduler = "bfq"
    @Option(help: ArgumentHelp("The CSV to append to.", valueName: "file")) var out: String

    /// `--only-slice-idle-ms` in the design's unit.
    private var onlySliceIdleUs: Int? { onlySliceIdleMs.flatMap(BfqSettings.sliceIdleUs(ms:)) }

    func validate() throws {
        guard points > 0, durationS > 0 else { throw ValidationError("need --points ≥ 1 and --duration-s ≥ 1") }
        guard repeatEvery >= 1, repeats >= 1 else { throw ValidationError("need --repeat-every ≥ 1 and --repeats ≥ 1") }
        guard ["bfq", "none", "mq-deadline"].contains(scheduler) else { throw ValidationError("--scheduler must be bfq, none or mq-deadline") }
        if let writeServiceUs, !(1...1_000_000).contains(writeServiceUs) { throw ValidationError("--write-service-us must be 1…1000000") }
        if let onlySliceIdleMs, let onlySliceIdleUs, !CalibrationPoint.sliceIdleUs.contains(onlySliceIdleUs) {
            throw ValidationError("--only-slice-idle-ms \(formatNumber(onlySliceIdleMs)): the design's values are "
                                  + CalibrationPoint.sliceIdleUs.map { formatNumber(Double($0) / 1000) }.joined(separator: ", "))
        }
    }

    func run() throws {
        let existing = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        let done = Set(existing.split(separator: "\n").dropFirst().compactMap { $0.split(separator: ",").first.map(String.init) })
        if existing.isEmpty {
            try FileManager.default.createDirectory(atPath: (out as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try (CalibrationRow.header + "\n").write(toFile: out, atomically: true, encoding: .utf8)
        }
        // appending to a CSV from before the kernel or op columns keeps its columns
        let existingHeader = existing.split(separator: "\n").first.map(String.init) ?? CalibrationRow.header
        guard let columns = CalibrationRow.Columns(header: existingHeader) else {
            throw InputError(file: out, line: 1, message: "its columns are not the ones `lab calibrate` writes",
                             hint: "append to a CSV it wrote, or give a new file")
        }
        if columns != .withOps {
            guard workload == .reads else {
                throw InputError(file: out, line: 1, message: "predates the op and queue-depth columns, which a writers design needs",
                                 hint: "give a new file for --workload writers")
            }
            FileHandle.standardError.write(Data("calibrate: \(out) predates the newest columns; this run appends in its own (a new file has them)\n".utf8))
        }
        let lock = try LabTestbed.exclusive()
        defer { close(lock) }
        let testbed = try LabTestbed.current() ?? LabTestbed.up(regime: regime, serviceTimeUs: serviceUs, writeServiceTimeUs: writeServiceUs)
        guard testbed.regime == regime else { throw CommandFailure("the testbed that is up is \(testbed.regime.rawValue); run `rtvirtio lab testbed down` first") }
        if let writeServiceUs, let fuse = testbed.fuse, fuse.writeServiceUs != writeServiceUs {
            throw CommandFailure("the testbed that is up serves writes at \(fuse.writeServiceUs) µs per 4 KiB, not \(writeServiceUs); run `rtvirtio lab testbed down` first")
        }
        try Provenance.write(for: out, testbed: testbed, command: CommandLine.arguments.joined(separator: " "), scheduler: scheduler, workload: workload)
        let interrupts = LabCleanup.removeOnInterrupt(testbed, command: "calibrate")
        defer { interrupts.forEach { $0.cancel() } }
        // repeats draw nothing from the seed: every configuration is the same whatever --repeat-every says
        let design = CalibrationPoint.design(count: points, seed: seed, repeatEvery: repeatEvery, repeats: repeats, workload: workload).filter {
            !done.contains($0.id) && (onlySplit == .all || CalibrationDataset.isTest($0.id) == (onlySplit == .test))
                && (onlySliceIdleUs == nil || onlySliceIdleUs == $0.host.sliceIdleUs)
        }
        let todo = (limit > 0 ? Array(design.prefix(limit)) : design).map { $0.under(scheduler: scheduler) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        defer { try? output.close() }
        let runner = PointRunner(testbed: testbed, durationS: durationS)
        let started = Date()
        var measured: [CalibrationRow] = []
        do {
            for (index, point) in todo.enumerated() {
                let rows = try runner.run(point)
                measured += rows
                try output.seekToEnd()
                try output.write(contentsOf: Data(rows.map { $0.csv(columns) + "\n" }.joined().utf8))
                let eta = Date().timeIntervalSince(started) / Double(index + 1) * Double(todo.count - index - 1)
                FileHandle.standardError.write(Data("calibrate: \(point.id) done (\(index + 1)/\(todo.count), ETA \(Int(eta / 60)) min)\n".utf8))
            }
        } catch {
            // a failed point (or Ctrl-C reaching fio first) still removes the testbed; the CSV keeps what was measured
            try? testbed.down()
            throw error
        }
        try testbed.down()
        if let agreement = KernelAgreement(measured.compactMap { row in
            row.kernel.map { KernelAgreement.Pair(fioCount: row.stats.samples, fioP99Ms: row.stats.p99Ms, fioP9999Ms: row.stats.p9999Ms, kernel: $0) }
        }) {
            print(agreement.summary)
        }
    }
}
