import Foundation
import Glibc
import Testing
import RTVirtIO
@testable import RTVirtIOHost
import RTVirtIOLab

/// `rtvirtio observe` against fio on a real loop device: the kernel's count
/// of every request, charged to the cgroup that issued it.
@Suite(.serialized, .enabled(if: Live.availableWithOrWithoutBfq, "needs root, cgroup v1 blkio or v2 io and losetup"))
struct LiveObserveTests {
    struct Fio {
        var name: String, rw: String, iops: Int
    }

    /// fio's JSON for one job: (completed I/Os of op, clat p50 ms, clat p99 ms).
    static func fioResult(_ path: String, op: String) throws -> (ios: Int, p50Ms: Double, p99Ms: Double) {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        let job = try #require((object["jobs"] as? [[String: Any]])?.first)
        let stats = try #require(job[op] as? [String: Any])
        let percentiles = try #require((stats["clat_ns"] as? [String: Any])?["percentile"] as? [String: Double])
        return (try #require(stats["total_ios"] as? Int), try #require(percentiles["50.000000"]) / 1e6, try #require(percentiles["99.000000"]) / 1e6)
    }

    @Test("needs root: observe counts every request of two readers and a writer as fio completed them, writes as writes", .timeLimit(.minutes(1)))
    func rootObserveAgreesWithFio() throws {
        guard FileManager.default.fileExists(atPath: BPFObserver.kernelBTF) else {
            print("skipping: no BTF at \(BPFObserver.kernelBTF)"); return
        }
        let device = try LoopDevice(sizeMB: 64)
        let cgroups = try TestCgroups(chargedToThem: true)
        let jobs = [Fio(name: "r0", rw: "randread", iops: 300), Fio(name: "r1", rw: "randread", iops: 150), Fio(name: "w0", rw: "randwrite", iops: 100)]
        for job in jobs { try cgroups.make(job.name) }
        // under bfq where the kernel has it (the scheduler rtvirtio plans with); the observer counts below any
        if Live.loopDevicesOfferBfq { try HostFS().write("/sys/block/\(device.name)/queue/scheduler", "bfq") }
        let targets = device.directory + "/targets.yaml"
        try ("device: \(device.path)\nguests:\n" + jobs.map {
            "  - {name: \($0.name), match: {cgroup: \($0.name)}, tasks: [{name: t, iops: \($0.iops), targetMs: 0.001}]}\n"
        }.joined()).write(toFile: targets, atomically: true, encoding: .utf8)

        let run = try Live.observeDuring(targets: targets, cgroups: cgroups, device: device.path, seconds: 6, loads: jobs.map { job in
            (job.name, ["--rw=\(job.rw)", "--bs=4k", "--ioengine=psync", "--rate_iops=\(job.iops)", "--output-format=json",
                        "--output=\(device.directory)/\(job.name).json"])
        })
        #expect(run.fioStatuses.allSatisfy { $0 == 0 })
        let report = try #require(run.report, "\(run.stderr)")
        let guests = try #require(report["guests"] as? [[String: Any]])
        for job in jobs {
            let op = job.rw == "randwrite" ? "write" : "read"
            let fio = try Self.fioResult("\(device.directory)/\(job.name).json", op: op)
            let ops = try #require(guests.first { $0["name"] as? String == job.name }?["ops"] as? [String: [String: Any]])
            #expect(Set(ops.keys) == [op], "\(job.name): ops seen \(ops.keys.sorted())")
            let seen = try #require(ops[op])
            let count = try #require(seen["count"] as? Int)
            #expect(abs(Double(count - fio.ios)) <= 0.01 * Double(fio.ios), "\(job.name): kernel \(count), fio \(fio.ios)")
            let p50 = try #require(seen["p50Ms"] as? Double), p99 = try #require(seen["p99Ms"] as? Double)
            // The block layer's time is part of the system call's: never much more than fio's
            // (bucket error 0.8 %, fio's own ~1.6 %). Below it by the time outside the block
            // layer (system call, psync, wake-up): at most 70 % of fio's, or 80 µs where the
            // device is so fast that this overhead is most of it (CI saw 17 µs vs fio's 57 µs).
            let outsideMs = fio.p50Ms - p50
            #expect(p99 <= fio.p99Ms * 1.25 && p50 <= fio.p50Ms * 1.25 && p50 > 0 && outsideMs <= max(0.7 * fio.p50Ms, 0.08),
                    "\(job.name): kernel p50 \(p50) p99 \(p99) ms, fio p50 \(fio.p50Ms) p99 \(fio.p99Ms) ms")
            print("observe vs fio, \(job.name) \(op): count \(count)/\(fio.ios), p50 \(p50)/\(fio.p50Ms) ms, p99 \(p99)/\(fio.p99Ms) ms")
            // a 1 µs target: every window with requests is over it
            #expect((seen["windowsOverTarget"] as? [String: Int])?["t"] ?? 0 >= 3)
        }
    }

    /// A small loop device, one cgroup vm0, and a targets file with one task for it.
    static func oneGuest(task: String) throws -> (device: LoopDevice, cgroups: TestCgroups, targets: String) {
        let device = try LoopDevice(sizeMB: 16)
        let cgroups = try TestCgroups(chargedToThem: true)
        try cgroups.make("vm0")
        let targets = device.directory + "/targets.yaml"
        try "device: \(device.path)\nguests:\n  - {name: vm0, match: {cgroup: vm0}, tasks: [\(task)]}\n".write(toFile: targets, atomically: true, encoding: .utf8)
        return (device, cgroups, targets)
    }

    @Test("needs root: top refreshes once a second with what the kernel measured, beside the target and the prediction", .timeLimit(.minutes(1)))
    func rootTopShowsTheMeasurement() throws {
        guard FileManager.default.fileExists(atPath: BPFObserver.kernelBTF) else { print("skipping: no BTF"); return }
        let (device, cgroups, targets) = try Self.oneGuest(task: "{name: db, iops: 200, targetMs: 5000}")
        let load = try LiveVerifyTests.loads(cgroups, device: device.path, names: ["vm0"], iops: 200, seconds: 6)
        defer { for p in load { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let top = Live.run(Live.binary, ["top", "--targets", targets, "--cgroup-root", cgroups.relativeRoot, "--count", "3"])
        #expect(top.status == 0, "\(top.stderr)")
        let screens = top.stdout.components(separatedBy: "rtvirtio top — ").dropFirst()
        #expect(screens.count == 3, "\(top.stdout)")
        // the last screen: vm0/db at about 200 IOPS, its 5 s target met, the prediction at the scheduler in force (none)
        let row = try #require(screens.last?.split(separator: "\n").first { $0.hasPrefix("vm0") })
        let cells = row.split(separator: " ", omittingEmptySubsequences: true)
        #expect(cells.count == 9 && cells[1] == "db" && (150...250).contains(Double(cells[2]) ?? 0) && cells[5] == "5000" && cells[8] == "met", "\(row)")
        #expect(screens.last?.contains("scheduler none (predicted as bfq without idling); model idling") == true, "\(top.stdout)")
    }

    @Test("needs root: status --measure-s shows each guest measured in the kernel beside its targets", .timeLimit(.minutes(1)))
    func rootStatusMeasures() throws {
        guard FileManager.default.fileExists(atPath: BPFObserver.kernelBTF) else { print("skipping: no BTF"); return }
        let (device, cgroups, targets) = try Self.oneGuest(task: "{name: db, iops: 200, targetMs: 5000}")
        let load = try LiveVerifyTests.loads(cgroups, device: device.path, names: ["vm0"], iops: 200, seconds: 6)
        defer { for p in load { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        usleep(1_000_000)   // fio at its rate before the measurement starts
        let status = Live.run(Live.binary, ["status", "--targets", targets, "--measure-s", "2", "--state-dir", device.directory + "/state",
                                            "--cgroup-root", cgroups.relativeRoot])
        #expect(status.status == 0 && status.stdout.contains("rtvirtio has changed nothing on this host"), "\(status)")
        let line = try #require(status.stdout.split(separator: "\n").first { $0.hasPrefix("vm0: ") }, "\(status.stdout)")
        #expect(line.hasPrefix("vm0: meets every target (p99.99 ") && line.contains(" of 200 IOPS asked)"), "\(line)")
    }

    @Test("needs root: where the program cannot load, observe says why in one line and exits 1; the host is untouched")
    func rootObserveWithoutBPF() throws {
        let (device, cgroups, targets) = try Self.oneGuest(task: "{name: t, iops: 10, targetMs: 5}")
        let garbage = device.directory + "/not-btf"
        try "this is no BTF".write(toFile: garbage, atomically: true, encoding: .utf8)
        let before = try device.scheduler()
        for (btf, says) in [(garbage, "cannot observe in the kernel: the kernel refused the program"),
                            (device.directory + "/absent", "cannot observe in the kernel: the kernel has no BTF at \(device.directory)/absent")] {
            let result = Live.run(Live.binary, ["observe", "--targets", targets, "--cgroup-root", cgroups.relativeRoot, "--duration-s", "1", "--btf", btf])
            #expect(result.status == 1 && result.stdout.isEmpty, "\(result)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("rtvirtio: \(says)"), "\(result.stderr)")
        }
        #expect(try device.scheduler() == before)
    }
}

/// `apply --verify-s`: the change stays only if the guests, measured in the kernel, are not worse.
@Suite(.serialized, .enabled(if: Live.availableWithOrWithoutBfq && FileManager.default.fileExists(atPath: BPFObserver.kernelBTF),
                             "needs root, cgroup v1 blkio or v2 io, losetup and BTF"))
struct LiveVerifyTests {
    /// fio in each of the cgroups for `seconds`, at `iops` (nil: as fast as it can), random reads of `blockKB`.
    static func loads(_ cgroups: TestCgroups, device: String, names: [String], iops: Int?, seconds: Int, blockKB: Int = 4) throws -> [Process] {
        try names.map { name in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", #"echo $$ > "$1" && shift && exec fio "$@""#, "sh", "\(cgroups.root)/\(name)/cgroup.procs", "--name=verify",
                                 "--filename=\(device)", "--rw=randread", "--bs=\(blockKB)k", "--direct=1", "--ioengine=psync",
                                 "--time_based", "--runtime=\(seconds)", "--output=/dev/null"] + (iops.map { ["--rate_iops=\($0)"] } ?? [])
            try process.run()
            return process
        }
    }

    /// Three guests (vm0 most urgent) asking `iops` each of `device` under fio, then
    /// `apply --verify-s 5` with the targets file `header` (device, model, capacity) begins.
    static func applyVerifying(header: String, device: String, directory: String, iops: Int, targetMs: Int) throws
        -> (result: (status: Int32, stdout: String, stderr: String), cgroups: TestCgroups, state: String) {
        try underLoad(header: header, device: device, directory: directory, iops: iops, targetMs: targetMs) { targets, state, root in
            ["apply", "--targets", targets, "--verify-s", "5", "--state-dir", state, "--cgroup-root", root]
        }
    }

    /// The same three guests under fio, and rtvirtio run with `arguments(targets, stateDir, cgroupRoot)`.
    static func underLoad(header: String, device: String, directory: String, iops: Int, targetMs: Int, loadS: Int = 14,
                          prepare: (TestCgroups) throws -> Void = { _ in },
                          arguments: (String, String, String) -> [String]) throws
        -> (result: (status: Int32, stdout: String, stderr: String), cgroups: TestCgroups, state: String) {
        let cgroups = try TestCgroups(chargedToThem: true)
        let names = ["vm0", "vm1", "vm2"]
        for name in names { try cgroups.make(name) }
        try prepare(cgroups)
        let targets = directory + "/targets.yaml", state = directory + "/state"
        try (header + "guests:\n" + names.map {
            "  - {name: \($0), match: {cgroup: \($0)}, tasks: [{name: t, iops: \(iops), targetMs: \(targetMs)}]}\n"
        }.joined()).write(toFile: targets, atomically: true, encoding: .utf8)
        let fio = try loads(cgroups, device: device, names: names, iops: iops, seconds: loadS)
        defer { for p in fio { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        usleep(500_000)
        let result = Live.run(Live.binary, arguments(targets, state, cgroups.relativeRoot))
        return (result, cgroups, state)
    }

    @Test("needs root: a plan that idles on a fast device makes the guests worse; verify measures it and puts everything back, exit 5", .timeLimit(.minutes(1)))
    func rootWorsePlanIsPutBack() throws {
        guard Live.loopDevicesOfferBfq else { print("skipping: loop devices offer no bfq (this test's plan must idle)"); return }
        let device = try LoopDevice(sizeMB: 64)
        // the paper's constants know only slice_idle 1-8 ms: the plan must idle, and idling stalls (TESTBED.md)
        let (result, _, state) = try Self.applyVerifying(
            header: "device: \(device.path)\nmodel: analytical\nmodelParams: \(Live.checkout)/config/models/analytical-paper.yaml\n",
            device: device.path, directory: device.directory, iops: 500, targetMs: 10)
        #expect(result.status == 5, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("before: p99.99 ms") && result.stdout.contains("put back:"), "\(result.stdout)")
        // exactly as before: loop's own scheduler, no journal
        #expect(try device.scheduler() == device.pristineScheduler)
        #expect(!FileManager.default.fileExists(atPath: state + "/journal.json"))
    }

    @Test("needs root: where the plan helps (caps on a saturated device), verify keeps it", .timeLimit(.minutes(1)))
    func rootBetterPlanIsKept() throws {
        guard let slow = try SlowDevice.make() else { return }
        // 3 × 1500 IOPS against about 3500: none gives each about 1165, short of 95 %; the plan caps
        // vm1 and vm2 so that vm0 gets its 1500. (At 3 × 1200 none gave each 97 % here: the plan's
        // caps then made vm2 miss, and verify put them back — the measurement overruling the model.)
        let (result, cgroups, state) = try Self.applyVerifying(header: "device: \(slow.path)\ncapacity: {readIops: 3500}\n",
                                                               device: slow.path, directory: slow.scratch.directory, iops: 1500, targetMs: 50)
        let verified = result.stdout.components(separatedBy: "Verified by measurement:").last ?? ""
        #expect(result.status == 0 && verified.contains("kept: ") && verified.contains("0 before"), "\(verified)\n\(result.stderr)")
        let majMin = try BlockDevice.resolve(slow.path).majMin
        #expect(Live.readIopsCap(in: "\(cgroups.root)/vm2", majMin: majMin) != nil, "vm2 keeps its cap")
        // the caps were sized from what the device delivered in the 5 s before, as the plan says
        // (or, where verify planned once more, what it delivered under the first plan)
        let said = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("Measured before planning: the device delivered ") || $0.hasPrefix("Measured under the first plan: the device delivered ") },
                                "\(result.stdout)")
        #expect(said.contains(" of the 4500 asked — saturated; caps are sized from what it delivered"), "\(said)")
        let delivered = try #require(Double(said.components(separatedBy: " delivered ")[1].split(separator: " ")[0]), "\(said)")
        // never more than the declared capacity (this device measured 3524 once against its 3500)
        #expect(result.stdout.contains("the device was measured delivering \(formatNumber(min(3500, delivered), decimals: 0)) IOPS without idling"), "\(result.stdout)")
        var scenario = Scenario(guests: (0..<3).map { g in
            .init(name: "vm\(g)", criticality: 1, pinnedWeight: nil, guestBfq: .kernelDefault, tasks: [TaskSpec(name: "t", iops: 1500, targetMs: 50)])
        }, delivery: DeliveryModel(capacityIops: 3500))
        scenario.delivery?.measured = MeasuredDelivery(deliveredIops4K: delivered, askedIops4K: 4500, tasks: 3)
        let planned = try #require(Optimizer.capsByUrgency(scenario))
        let written = ["vm1", "vm2"].map { Live.readIopsCap(in: "\(cgroups.root)/\($0)", majMin: majMin) }
        // the caps written are the report's (its plan's)
        for (name, wrote) in zip(["vm1", "vm2"], written) {
            #expect(wrote.map { result.stdout.contains("\(name) capped at \($0) read IOPS") } ?? !result.stdout.contains("\(name) capped at"), "\(name): \(written)")
        }
        // the printed delivery is rounded: a cap within 1 IOPS of the one planned from it — unless the device then delivered
        // less than that plan was sized for and verify planned once more (rootShortfallPlansAgain)
        if !verified.contains("Planned again") {
            for (cap, wrote) in zip(planned.dropFirst(), written) { #expect(abs((cap ?? 0) - (wrote ?? 0)) <= 1, "planned \(planned), wrote \(written)") }
        }
        #expect(Live.run(Live.binary, ["restore", "--state-dir", state]).status == 0)
        #expect(Live.readIopsCap(in: "\(cgroups.root)/vm2", majMin: majMin) == nil)
    }

    @Test("needs root: where the device delivers less under the plan than it was sized for, verify plans again on what it delivered, applies that, keeps it, and restore puts back the first original",
          .timeLimit(.minutes(1)))
    func rootShortfallPlansAgain() throws {
        guard let slow = try SlowDevice.make() else { return }
        let majMin = try BlockDevice.resolve(slow.path).majMin
        // a cap in force (not rtvirtio's, far above anything) sets the measurement before aside, so the first plan is
        // sized from the declared 4500 IOPS, more than this device serves (about 3500): 4500 × (1.010 − 3 × 0.0256) × 0.92
        // = 3863.4, so vm0 and vm1 keep their 1500 and vm2 is capped at 863 — and under it vm0 and vm1 get about 1270 each
        let (result, cgroups, state) = try Self.underLoad(header: "device: \(slow.path)\ncapacity: {readIops: 4500}\n", device: slow.path,
                                                          directory: slow.scratch.directory, iops: 1500, targetMs: 50, loadS: 30, prepare: { cgroups in
            try HostFS().write("\(cgroups.root)/vm2/\((Live.hierarchy!.readIopsCapFile("x") as NSString).lastPathComponent)",
                               Live.isV2 ? "\(majMin) riops=100000" : "\(majMin) 100000")
        }) { targets, state, root in
            ["apply", "--targets", targets, "--verify-s", "3", "--state-dir", state, "--cgroup-root", root]
        }
        #expect(result.stderr.contains("caps are sized from the delivery model, not from this measurement: caps are in force"), "\(result.stderr)")
        #expect(result.stderr.contains(" IOPS asked, and a guest the plan leaves uncapped got less than its tasks ask (its fastest under 95 %): planning again on that (1 of at most \(MeasuredDelivery.maxReplans))…"), "\(result.stderr)")
        let verified = result.stdout.components(separatedBy: "Verified by measurement:").last ?? ""
        #expect(result.status == 0 && verified.contains("Planned again on what the device delivered under the plan before:"), "\(verified)\n\(result.stderr)")
        // the second plan is in force: vm2's cap sized from what the device delivered, below the first plan's 863
        let second = verified.components(separatedBy: "Planned again").last ?? ""
        #expect(second.contains("kept: "), "\(second)")
        let cap = try #require(Live.readIopsCap(in: "\(cgroups.root)/vm2", majMin: majMin))
        #expect(cap < 863, "vm2 capped at \(cap)")
        #expect(result.stdout.contains("vm2 capped at \(cap) read IOPS"), "the report is the second plan's: \(result.stdout)")
        // restore puts back what was there before the first apply
        #expect(Live.run(Live.binary, ["restore", "--state-dir", state]).status == 0)
        #expect(Live.readIopsCap(in: "\(cgroups.root)/vm2", majMin: majMin) == 100000)
        #expect(Live.readIopsCap(in: "\(cgroups.root)/vm1", majMin: majMin) == nil)
    }

    @Test("needs root: plan --measure-s plans on the delivery it measured, as apply --verify-s would, and writes nothing", .timeLimit(.minutes(1)))
    func rootPlanMeasuresFirst() throws {
        guard let slow = try SlowDevice.make() else { return }
        let schedulerBefore = try String(contentsOfFile: "/sys/block/\((slow.path as NSString).lastPathComponent)/queue/scheduler", encoding: .utf8)
        let (result, cgroups, _) = try Self.underLoad(header: "device: \(slow.path)\ncapacity: {readIops: 3500}\n", device: slow.path,
                                                      directory: slow.scratch.directory, iops: 1500, targetMs: 50) { targets, _, root in
            ["plan", "--targets", targets, "--measure-s", "3", "--cgroup-root", root]
        }
        #expect(result.status == 0 && result.stderr.contains("measuring the guests 3 s before planning"), "\(result)")
        #expect(result.stdout.contains("Measured before planning: the device delivered ") && result.stdout.contains(" of the 4500 asked — saturated"), "\(result.stdout)")
        #expect(result.stdout.contains("vm2 capped at ") && result.stdout.contains("the device was measured delivering "), "\(result.stdout)")
        // a dry run: the device's scheduler and the guests' caps as they were
        let majMin = try BlockDevice.resolve(slow.path).majMin
        #expect(try String(contentsOfFile: "/sys/block/\((slow.path as NSString).lastPathComponent)/queue/scheduler", encoding: .utf8) == schedulerBefore)
        #expect(["vm0", "vm1", "vm2"].allSatisfy { Live.readIopsCap(in: "\(cgroups.root)/\($0)", majMin: majMin) == nil })
        // a bad number is refused before anything is measured
        let bad = Live.run(Live.binary, ["plan", "--targets", "/nonexistent.yaml", "--measure-s", "0"])
        #expect(bad.status == 64 && bad.stderr.contains("--measure-s wants 1 to 3600 seconds (got 0)"), "\(bad)")
    }
}
