import Foundation
import Glibc
import Testing
import RTVirtIO
@testable import RTVirtIOHost
@testable import RTVirtIOLab

/// The rtvirtio binary itself against a real loop device and real cgroups (v1 blkio here, v2 io in
/// CgroupV2GuestTests' guest); files and counts come from the hierarchy rtvirtio detects.
@Suite(.serialized, .enabled(if: Live.available, "needs root, cgroup v1 blkio or v2 io, bfq on loop devices and losetup"))
struct LiveCommandTests {
    static func targets(_ device: LoopDevice, extra: String = "") -> String {
        """
        device: \(device.path)
        model: analytical   # these tests are about the host layer: pin the model whose plans they expect
        modelParams: \(Live.checkout)/config/models/analytical-paper.yaml
        guests:
          - {name: vm0, match: {cgroup: vm0}, tasks: [{name: db, iops: 500, targetMs: 300}]}
          - {name: vm1, match: {cgroup: vm1}, tasks: [{name: web, iops: 500, targetMs: 900}]}
        \(extra)
        """
    }

    struct Setup {
        let device: LoopDevice
        let cgroups: TestCgroups
        let targetsPath: String
        let stateDir: String
        let majMin: String
        /// v2: the subtree_control files apply may change (the mount's and the test root's), as they were
        let subtreeBefore: [String: String]
        init(extra: String = "") throws {
            device = try LoopDevice()
            cgroups = try TestCgroups()
            try cgroups.make("vm0")
            try cgroups.make("vm1")
            targetsPath = device.directory + "/targets.yaml"
            stateDir = device.directory + "/state"
            majMin = try BlockDevice.resolve(device.path).majMin
            subtreeBefore = Live.subtreeControls(above: "\(cgroups.root)/vm0")
            try LiveCommandTests.targets(device, extra: extra).write(toFile: targetsPath, atomically: true, encoding: .utf8)
        }
        var hostArguments: [String] { ["--state-dir", stateDir, "--cgroup-root", cgroups.relativeRoot] }
        func weight(_ guest: String) -> Int? { Live.weight(in: "\(cgroups.root)/\(guest)", majMin: majMin) }
        func readIopsCap(_ guest: String) -> Int? { Live.readIopsCap(in: "\(cgroups.root)/\(guest)", majMin: majMin) }
        func writeIopsCap(_ guest: String) -> Int? { Live.writeIopsCap(in: "\(cgroups.root)/\(guest)", majMin: majMin) }
        /// The writes apply adds on cgroup v2 only: +io where a parent lacks it.
        var controllerWrites: Int { Live.ioEnableWrites(subtreeBefore) }
        /// What `status` calls a cap's file: v1 blkio.throttle.*_iops_device, v2 io.max.
        func capFileName(write: Bool = false) -> String {
            let hierarchy = Live.hierarchy!
            return ((write ? hierarchy.writeIopsCapFile("x") : hierarchy.readIopsCapFile("x")) as NSString).lastPathComponent
        }
        func expectPristine(sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(try device.scheduler() == device.pristineScheduler, sourceLocation: sourceLocation)
            for guest in ["vm0", "vm1"] {
                #expect(weight(guest) == nil && readIopsCap(guest) == nil && writeIopsCap(guest) == nil, "\(guest)", sourceLocation: sourceLocation)
            }
            // v1's blkio.bfq.weight, where the kernel has bfq
            #expect(Live.isV2 || !device.pristineScheduler.contains("bfq") || Live.defaultWeight(in: "\(cgroups.root)/vm0") == 100, sourceLocation: sourceLocation)
            #expect(Live.subtreeControls(above: "\(cgroups.root)/vm0") == subtreeBefore, "io enabled as before", sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: stateDir + "/journal.json"), sourceLocation: sourceLocation)
        }
    }

    @Test("needs root: SIGKILL after any write leaves a journal that restore completes exactly", arguments: 1...5)
    func rootKilledApplyIsRestored(afterWrite count: Int) throws {
        let s = try Setup()
        let killed = Live.run(Live.binary, ["apply", "--targets", s.targetsPath] + s.hostArguments,
                              environment: ["RTVIRTIO_TEST_KILL_AFTER_WRITE": String(count)])
        #expect(killed.status == 128 + SIGKILL, "\(killed.stderr)")
        #expect(FileManager.default.fileExists(atPath: s.stateDir + "/journal.json"))
        let restored = Live.run(Live.binary, ["restore"] + s.hostArguments)
        #expect(restored.status == 0, "\(restored.stderr)")
        try s.expectPristine()
    }

    @Test("needs root: dry run lists (path, current, new) and writes nothing; apply then status then restore")
    func rootDryRunApplyStatusRestore() throws {
        let s = try Setup()
        let dry = Live.run(Live.binary, ["apply", "--dry-run", "--format", "json", "--targets", s.targetsPath] + s.hostArguments)
        #expect(dry.status == 0, "\(dry.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any])
        let changes = try #require(object["changes"] as? [[String: Any]])
        #expect(changes.first?["path"] as? String == "/sys/block/\(s.device.name)/queue/scheduler".replacingOccurrences(of: "/sys/block/\(s.device.name)", with: try BlockDevice.resolve(s.device.path).sysfsPath))
        #expect(changes.first?["current"] as? String == "none" && changes.first?["new"] as? String == "bfq")
        #expect(changes.count == 5 + s.controllerWrites)
        try s.expectPristine()

        let apply = Live.run(Live.binary, ["apply", "--targets", s.targetsPath] + s.hostArguments)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(try s.device.scheduler().contains("[bfq]"))
        // the report's "before" is what the host had: bfq's defaults (another scheduler was selected), v1 default weights
        #expect(apply.stdout.contains("now (bfq defaults)") && apply.stdout.contains("124 ms"), "\(apply.stdout)")
        #expect(apply.stdout.contains("weight 100 → "), "\(apply.stdout)")
        let status = Live.run(Live.binary, ["status", "--format", "json"] + s.hostArguments)
        #expect(status.status == 0)
        #expect(status.stdout.contains("\"drift\" : false") && !status.stdout.contains("\"drift\" : true"))
        let restore = Live.run(Live.binary, ["restore"] + s.hostArguments)
        #expect(restore.status == 0)
        try s.expectPristine()
    }

    /// vm0 and vm1 ask 500 IOPS each of a device said to serve 900: 900 × (1.010 − 2 × 0.0256)
    /// = 862.9 without idling, so vm1, the less urgent, is capped at ⌊0.92 × 862.9 − 500⌋ = 293
    /// read IOPS (planned with the bundled idling model, whose validity has slice_idle 0).
    static let saturating = "capacity: {readIops: 900}\nsearch: {hostTimeoutSyncMs: [32], hostSliceIdleMs: [0, 1]}"

    static func saturated() throws -> Setup {
        let s = try Setup(extra: saturating)
        let text = try String(contentsOfFile: s.targetsPath, encoding: .utf8).split(separator: "\n")
            .filter { !$0.hasPrefix("model:") && !$0.hasPrefix("modelParams:") }.joined(separator: "\n")
        try ("model: idling\n" + text).write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        return s
    }

    @Test("needs root: a cap is written to the kernel's blkio.throttle.read_iops_device, read back, and restore lifts it")
    func rootCapsAppliedAndRestored() throws {
        let s = try Self.saturated()
        let plan = Live.run(Live.binary, ["plan", "--targets", s.targetsPath])
        #expect(plan.stdout.contains("vm1 capped at 293 read IOPS (asks 500) so that vm0 gets the IOPS it asks for"), "\(plan.stdout)")
        let apply = Live.run(Live.binary, ["apply", "--targets", s.targetsPath] + s.hostArguments)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(s.readIopsCap("vm1") == 293, "the kernel's own line")
        #expect(s.readIopsCap("vm0") == nil)
        let status = Live.run(Live.binary, ["status"] + s.hostArguments)
        #expect(status.status == 0 && status.stdout.contains("\(s.capFileName()) [\(s.majMin)]") && status.stdout.contains("293"), "\(status.stdout)")
        #expect(Live.run(Live.binary, ["restore"] + s.hostArguments).status == 0)
        try s.expectPristine()
    }

    @Test("needs root: a capped guest that writes gets the kernel's write limit too, in its tasks' shares, read back; restore lifts both (issue 16)",
          arguments: [("write", 0, 293), ("readwrite, readPercent: 50", 147, 146)])
    func rootWriterCapApplied(rw: String, read: Int, write: Int) throws {
        let s = try Self.saturated()
        let text = try String(contentsOfFile: s.targetsPath, encoding: .utf8)
            .replacingOccurrences(of: "{name: web, iops: 500, targetMs: 900}", with: "{name: web, iops: 500, targetMs: 900, rw: \(rw)}")
        try text.write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        let apply = Live.run(Live.binary, ["apply", "--targets", s.targetsPath] + s.hostArguments)
        #expect(apply.status == 0, "\(apply.stderr)")
        #expect(s.writeIopsCap("vm1") == write, "the kernel's own line")
        #expect(s.readIopsCap("vm1") == (read > 0 ? read : nil))
        let status = Live.run(Live.binary, ["status"] + s.hostArguments)
        #expect(status.status == 0 && status.stdout.contains("\(s.capFileName(write: true)) [\(s.majMin)]"), "\(status.stdout)")
        #expect(Live.run(Live.binary, ["restore"] + s.hostArguments).status == 0)
        try s.expectPristine()
    }

    // four writes: scheduler, timeout_sync, slice_idle, vm1's cap (the weights stay at 100)
    @Test("needs root: SIGKILL after any write of a capped plan leaves a journal that restore completes exactly", arguments: 1...4)
    func rootKilledCappedApplyIsRestored(afterWrite count: Int) throws {
        let s = try Self.saturated()
        let killed = Live.run(Live.binary, ["apply", "--targets", s.targetsPath] + s.hostArguments,
                              environment: ["RTVIRTIO_TEST_KILL_AFTER_WRITE": String(count)])
        #expect(killed.status == 128 + SIGKILL, "\(killed.stderr)")
        #expect(Live.run(Live.binary, ["restore"] + s.hostArguments).status == 0)
        try s.expectPristine()
    }

    @Test("needs root: probe measures a device's 4 KiB read IOPS and 1 MiB read MB/s read-only and prints the capacity line; a non-device is refused before fio runs")
    func rootProbeMeasuresCapacity() throws {
        let device = try LoopDevice()
        let result = Live.run(Live.binary, ["probe", "--device", device.path, "--seconds", "1", "--jobs", "2"])
        #expect(result.status == 0, "\(result)")
        let line = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("capacity: {readIops: ") }, "\(result.stdout)")
        // "capacity: {readIops: N, readMBps: M}", the line the targets parser reads
        let targets = try TargetsParser.parse("device: \(device.path)\n\(line)\nguests: [{name: vm0, criticality: 1, tasks: [{name: t, iops: 1, targetMs: 1}]}]\n", file: "t.yaml")
        let iops = try #require(targets.capacityReadIops), mbps = try #require(targets.capacityReadMBps)
        #expect(iops > 100 && mbps > 1, "\(result.stdout)")
        // large reads move at least half the bytes per second that 4 KiB ones do (on a loop device, many times more)
        #expect(mbps * 1024 > iops * 4 * 0.5, "\(result.stdout)")
        #expect(result.stderr.contains("(read-only)"))
        let notADevice = Live.run(Live.binary, ["probe", "--device", device.directory + "/disk.img", "--seconds", "1"])
        #expect(notADevice.status != 0 && !notADevice.stderr.contains("fio"), "\(notADevice)")
    }

    @Test("needs root: a guest whose cgroup is missing is skipped with a warning, the rest applied, exit 3")
    func rootMissingGuestIsPartial() throws {
        let s = try Setup()
        // alone on the device vm0's weight has no force: pin one, so that there is a weight to write
        let pinned = try String(contentsOfFile: s.targetsPath, encoding: .utf8)
            .replacingOccurrences(of: "{name: vm0, match:", with: "{name: vm0, weight: 300, match:")
        try pinned.write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        rmdir("\(s.cgroups.root)/vm1")
        defer { _ = try? s.cgroups.make("vm1") }
        let apply = Live.run(Live.binary, ["apply", "--targets", s.targetsPath] + s.hostArguments)
        #expect(apply.status == 3)
        #expect(apply.stderr.contains("guest 'vm1' (cgroup: vm1): no cgroup found"))
        #expect(s.weight("vm0") == 300)
        #expect(Live.run(Live.binary, ["restore"] + s.hostArguments).status == 0)
    }

    @Test("needs root: not a block device is a named error that changes nothing")
    func rootBadDevices() throws {
        let s = try Setup()
        let path = s.device.directory + "/t.yaml"
        try LiveCommandTests.targets(s.device).replacingOccurrences(of: s.device.path, with: "/dev/null")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = Live.run(Live.binary, ["apply", "--targets", path] + s.hostArguments)
        #expect(result.status == 1)
        #expect(result.stderr.contains("find device /dev/null: not a block device"))
        try s.expectPristine()
    }
}

/// The binary's input handling; no root needed.
struct CommandLineTests {
    static func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "rtvirtio-cli-\(UUID().uuidString.prefix(8)).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func badTargetsExitTwoWithFileLineAndKey() throws {
        let path = try Self.write("device: /dev/sdb\nguests:\n  - name: vm0\n    tasks: [{name: t, iops: -1, targetMs: 5}]\n")
        defer { unlink(path) }
        let result = Live.run(Live.binary, ["plan", "--targets", path])
        #expect(result.status == 2)
        #expect(result.stderr == "rtvirtio: error: \(path):4:29: guests[0].tasks[0].iops: must be from 0.001 to 10000000 IOPS, found -1\n")
        #expect(result.stdout.isEmpty, "no plan on bad input")
        let missing = Live.run(Live.binary, ["plan", "--targets", "/nonexistent/targets.yaml"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/targets.yaml: no such file"))
    }

    @Test("absurd knob values on the command line are refused with a short message, never a trap (issue 18, 1)", arguments: [
        ("--host-slice-idle-ms", "1e300", "wants 0 to 1000 ms in whole µs (got 1e+300)"), ("--host-slice-idle-ms", "inf", "(got inf)"),
        ("--guest-slice-idle-ms", "1e19", "(got 1e+19)"), ("--host-timeout-sync-ms", "9223372036854775807", "wants whole ms from 1 to 10000"),
    ])
    func absurdKnobsAreRefused(option: String, value: String, says: String) throws {
        let path = try Self.write("device: /dev/sdb\nguests:\n  - {name: vm0, tasks: [{name: t, iops: 100, targetMs: 500}]}\n")
        defer { unlink(path) }
        let result = Live.run(Live.binary, ["predict", "--targets", path, option, value])
        #expect(result.status == 64 && result.stderr.contains(says) && result.stderr.count < 2000, "\(result)")
    }

    @Test("bench --render-only rewrites results.md from results.json and measures nothing")
    func benchRendersFromResults() throws {
        let out = NSTemporaryDirectory() + "rtvirtio-render-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: out) }
        var results = BenchResults(schemes: ["none": .init()])
        results.schemes["none"]!.cases["c"] = .init()
        results.schemes["none"]!.cases["c"]!.runs = [BenchResults.Run(repeatIndex: 0, order: 0, settings: SchemeSettings(scheduler: "none", host: .kernelDefault,
            weights: [100], ioPriorities: [nil]), tasks: [BenchResults.TaskResult(guest: "vm0", task: "t", targetMs: 25, demandedIops: 100, predictedMs: nil, p9999Ms: 5,
                                                 achievedIops: 100, samples: 1000, windowPassFraction: 1, windowMinSamples: 100, pass: true)])]
        (results.caseOrder, results.schemeOrder) = (["c"], ["none"])
        results.summarise()
        try JSONEncoder().encode(results).write(to: URL(fileURLWithPath: out + "/results.json"))
        let rendered = Live.run(Live.binary, ["bench", "--render-only", "--out", out])
        #expect(rendered.status == 0, "\(rendered)")
        #expect(try String(contentsOfFile: out + "/results.md", encoding: .utf8).contains("| none | 100 % | 100 % | 100 % | 1 |"))
        #expect(FileManager.default.fileExists(atPath: out + "/report.html"))
        #expect(Live.run(Live.binary, ["bench"]).stderr.contains("--cases is required"))
    }

    @Test func versionIsPrintedAndExitsZero() {
        let result = Live.run(Live.binary, ["--version"])
        #expect(result.status == 0)
        #expect(result.stdout == RTVirtIOVersion.current + "\n")
        #expect(Live.run(Live.binary, ["--help"]).stdout.contains("--version"))
    }

    @Test func predictJSONHasTheDocumentedKeys() throws {
        let path = try Self.write("device: /dev/sdb\nguests:\n  - {name: vm0, tasks: [{name: t, iops: 100, targetMs: 500}]}\n")
        defer { unlink(path) }
        let result = Live.run(Live.binary, ["predict", "--targets", path, "--format", "json", "--weight", "vm0=300", "--host-slice-idle-ms", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["model"] as? String == "idling", "the bundled default model (README, Models)")
        let task = try #require((object["tasks"] as? [[String: Any]])?.first)
        #expect(task["guest"] as? String == "vm0" && task["task"] as? String == "t" && task["targetMs"] as? Double == 500)
        #expect((task["predictedMs"] as? Double ?? 0) > 0)
        let unknown = Live.run(Live.binary, ["predict", "--targets", path, "--weight", "vm9=3"])
        #expect(unknown.status != 0 && unknown.stderr.contains("'vm9', which is not a guest"))
        let range = Live.run(Live.binary, ["predict", "--targets", path, "--weight", "vm0=0"])
        #expect(range.status != 0 && range.stderr.contains("W in 1...1000"))
    }

    @Test func planWritesHTMLToAFile() throws {
        let path = try Self.write("device: /dev/sdb\nguests:\n  - {name: vm0, tasks: [{name: t, iops: 100, targetMs: 500}]}\n")
        let output = path + ".html"
        defer { unlink(path); unlink(output) }
        let result = Live.run(Live.binary, ["plan", "--targets", path, "--format", "html", "--output", output])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try String(contentsOfFile: output, encoding: .utf8).contains("<svg"))
        // a file that cannot be written is a runtime failure: one line, exit 1, no usage text (issue 17, 4)
        let failed = Live.run(Live.binary, ["plan", "--targets", path, "--format", "html", "--output", "/nonexistent/plan.html"])
        #expect(failed.status == 1 && failed.stderr.contains("cannot write /nonexistent/plan.html") && !failed.stderr.contains("USAGE"), "\(failed)")
    }

    @Test("lab fit: --folds 0 is refused (it divided by zero); a CSV with nan or 1e300 in an integer column is a file:line error, not a trap (issue 18, 7)")
    func labFitRefusesBadFoldsAndBadNumbers() throws {
        let out = NSTemporaryDirectory() + "rtvirtio-fit-\(UUID().uuidString.prefix(8))"
        defer { for suffix in [".csv", ".yaml"] { unlink(out + suffix) } }
        let folds = Live.run(Live.binary, ["lab", "fit", "--data", "/nonexistent.csv", "--folds", "0", "--out", out + ".yaml"])
        #expect(folds.status == 64 && folds.stderr.contains("--folds must be in 2...100"), "\(folds)")
        let row = "p0,0,fast,1,0,100,1,1,0,100,4,124,8000,124,8000,0,100,10,1000,0.1,0.2,0.3,0.4,0.5,10,0.4,0.5,100,0.4,0.4"
        for (bad, line) in [(row.replacingOccurrences(of: "p0,0,fast,1,0,", with: "p0,0,fast,1,nan,"), "nan"),
                            (row.replacingOccurrences(of: ",124,8000,124,", with: ",1e300,8000,124,"), "1e300")] {
            try (CalibrationRow.headerWithoutKernel + "\n" + bad + "\n").write(toFile: out + ".csv", atomically: true, encoding: .utf8)
            let result = Live.run(Live.binary, ["lab", "fit", "--data", out + ".csv", "--split", "all", "--out", out + ".yaml"])
            #expect(result.status != 0 && result.status < 128, "\(line): no trap\n\(result)")
            #expect(result.stderr.contains("\(out).csv:2:") && result.stderr.contains(line), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: out + ".yaml"), "nothing written for bad input")
    }

    @Test func calibrateRefusesASliceIdleOutsideTheDesignBeforeTouchingTheHost() {
        let out = NSTemporaryDirectory() + "rtvirtio-cli-\(UUID().uuidString.prefix(8)).csv"
        let result = Live.run(Live.binary, ["lab", "calibrate", "--only-slice-idle-ms", "3", "--out", out])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("--only-slice-idle-ms 3: the design's values are 0, 1, 2, 4, 6, 8"))
        #expect(!FileManager.default.fileExists(atPath: out), "no CSV for a refused run")
    }

    @Test func benchRefusesABadSearchBeforeTouchingTheHost() throws {
        // validate() runs before the testbed or the lab lock: nothing is made for a typo
        let result = Live.run(Live.binary, ["bench", "--cases", "/nonexistent.yaml", "--search-slice-idle-ms", "1,x"])
        #expect(result.status == 64, "\(result.stderr)")
        #expect(result.stderr.contains("--search-slice-idle-ms wants milliseconds from 0 to 1000, comma-separated (got '1,x')"))
        #expect(!result.stderr.contains("nonexistent"))
    }
}

/// A kernel without bfq (this project's CI machines had none on 2026-12-04): rtvirtio keeps the
/// device's own scheduler and protects the urgent guest with caps alone.
@Suite(.serialized, .enabled(if: Live.availableWithoutBfq, "needs root, cgroup v1 blkio or v2 io, losetup, and loop devices without bfq"))
struct LiveWithoutBfqTests {
    @Test("needs root, a kernel without bfq: apply caps the less urgent guest under the device's own scheduler and writes nothing of bfq; restore lifts the cap")
    func rootCapsWithoutBfq() throws {
        // vm0 and vm1 ask 500 each of a device said to serve 900: vm1 capped at 293, as with bfq without idling
        let s = try LiveCommandTests.saturated()
        let line = try s.device.scheduler()
        let scheduler = LoopDevice.schedulers(line).selected ?? "none"
        #expect(!line.contains("bfq"))
        let plan = Live.run(Live.binary, ["plan", "--targets", s.targetsPath])
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(plan.stdout.contains("The device offers no bfq: its own scheduler, \(scheduler), stays"), "\(plan.stdout)")
        #expect(plan.stdout.contains("vm1 capped at 293 read IOPS (asks 500) so that vm0 gets the IOPS it asks for"), "\(plan.stdout)")
        #expect(plan.stdout.contains("the device offers no bfq: its own scheduler (\(scheduler)) stays and only caps are planned"), "\(plan.stdout)")
        let apply = Live.run(Live.binary, ["apply", "--targets", s.targetsPath] + s.hostArguments)
        #expect(apply.status == 0, "\(apply.stdout)\n\(apply.stderr)")
        // the kernel's own files, read back: the cap, and nothing else
        #expect(s.readIopsCap("vm1") == 293 && s.readIopsCap("vm0") == nil)
        #expect(try s.device.scheduler() == line, "the device's own scheduler stays")
        #expect(s.weight("vm0") == nil && s.weight("vm1") == nil, "no weight line without bfq")
        let journal = try String(contentsOfFile: s.stateDir + "/journal.json", encoding: .utf8)
        #expect(!journal.contains("/queue/scheduler") && !journal.contains("timeout_sync"), "\(journal)")
        // a second apply changes nothing
        let again = Live.run(Live.binary, ["apply", "--targets", s.targetsPath] + s.hostArguments)
        #expect(again.status == 0 && again.stdout.contains("nothing: the host already has these values"), "\(again.stdout)")
        #expect(Live.run(Live.binary, ["restore"] + s.hostArguments).status == 0)
        try s.expectPristine()
    }
}
