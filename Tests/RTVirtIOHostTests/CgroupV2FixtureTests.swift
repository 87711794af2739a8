import Foundation
import Testing
@testable import RTVirtIO
@testable import RTVirtIOHost

/// cgroup v2 cannot be mounted live on this machine: these tests run the v2
/// writers against a directory tree shaped like /sys/fs/cgroup on a v2 host.
struct CgroupV2FixtureTests {
    final class Tree {
        let mount: String
        init() throws {
            mount = NSTemporaryDirectory() + "rtvirtio-v2-\(UUID().uuidString.prefix(8))"
            let files = [
                "cgroup.controllers": "cpuset cpu io memory pids\n",
                "cgroup.subtree_control": "cpu memory\n",
                "machine.slice/cgroup.controllers": "cpu memory\n",
                "machine.slice/cgroup.subtree_control": "\n",
                "machine.slice/machine-qemu\\x2d1\\x2dvm0.scope/io.bfq.weight": "default 100\n",
                "machine.slice/machine-qemu\\x2d2\\x2dvm1.scope/io.bfq.weight": "default 100\n8:16 250\n",
            ]
            for (path, content) in files {
                let full = "\(mount)/\(path)"
                try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try content.write(toFile: full, atomically: false, encoding: .utf8)
            }
        }
        func read(_ path: String) throws -> String { try String(contentsOfFile: "\(mount)/\(path)", encoding: .utf8) }
        deinit { try? FileManager.default.removeItem(atPath: mount) }
    }

    @Test func enablesIoInAncestorsWritesDeviceLinesAndRestores() throws {
        let tree = try Tree()
        let hierarchy = CgroupHierarchy(version: .v2, mountPoint: tree.mount)
        #expect(hierarchy.weightFileName == "io.bfq.weight")
        let vm0 = try GuestLocator(hierarchy: hierarchy).locate(
            GuestSpec(name: "vm0", criticality: 1, match: .libvirt("vm0"), tasks: []), fs: HostFS()).cgroup
        #expect(hierarchy.ancestors(of: vm0) == [tree.mount, "\(tree.mount)/machine.slice"])

        let device = BlockDevice(devicePath: "/dev/sdb", name: "sdb", major: 8, minor: 16, sysfsPath: "/nonexistent")
        let plan = Plan(model: "t", host: .kernelDefault, guests: [
            Plan.Guest(name: "vm0", criticality: 1, weight: 800, weightPinned: false, tasks: []),
            Plan.Guest(name: "vm1", criticality: 2, weight: 100, weightPinned: false, tasks: []),
        ], sacrificed: [], warnings: [], score: Score(guestsMet: [], tasksMet: 0, minSlack: 0), candidatesEvaluated: 0)
        let cgroups = ["vm0": vm0, "vm1": "\(tree.mount)/machine.slice/machine-qemu\\x2d2\\x2dvm1.scope"]
        let desired = HostSettings.desired(plan: plan, device: device, hierarchy: hierarchy, cgroups: cgroups, fs: HostFS())
            .filter { $0.kind == .deviceWeight || $0.kind == .subtreeControl }     // the fixture has no block device
        #expect(desired.map(\.kind) == [.subtreeControl, .subtreeControl, .deviceWeight, .deviceWeight])

        var state = StateDirectory(path: tree.mount + "-state")
        state.allowedRoots.append(tree.mount)
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let kernel = KernelLikeCgroupfs.fs()
        let changes = try Applier(fs: kernel, state: state).apply(desired, device: device)
        #expect(changes.map(\.new) == ["io", "io", "800", "100"])
        #expect(changes.map(\.current) == [nil, nil, nil, "250"])
        // what the kernel shows after rtvirtio's writes ("+io", "8:16 800"), as the v2 guest read back
        #expect(try tree.read("cgroup.subtree_control") == "cpu io memory\n")
        #expect(try tree.read("machine.slice/cgroup.subtree_control") == "io\n")
        #expect(try tree.read("machine.slice/machine-qemu\\x2d1\\x2dvm0.scope/io.bfq.weight") == "default 100\n8:16 800\n")
        #expect(try tree.read("machine.slice/machine-qemu\\x2d2\\x2dvm1.scope/io.bfq.weight") == "default 100\n8:16 100\n")

        let journal = try #require(try state.loadJournal())
        #expect(journal.entries.map(\.original) == [nil, nil, nil, "250"])
        try Applier(fs: kernel, state: state).restore()
        #expect(try tree.read("machine.slice/machine-qemu\\x2d2\\x2dvm1.scope/io.bfq.weight") == "default 100\n8:16 250\n")
        #expect(try tree.read("machine.slice/machine-qemu\\x2d1\\x2dvm0.scope/io.bfq.weight") == "default 100\n")
        #expect(try tree.read("machine.slice/cgroup.subtree_control") == "\n")
        #expect(try tree.read("cgroup.subtree_control") == "cpu memory\n")
        #expect(try state.loadJournal() == nil)
    }

    @Test func aWeightTheGuestAlreadyHasIsNotWritten() throws {
        let tree = try Tree()
        let hierarchy = CgroupHierarchy(version: .v2, mountPoint: tree.mount)
        let device = BlockDevice(devicePath: "/dev/sdb", name: "sdb", major: 8, minor: 16, sysfsPath: "/nonexistent")
        let plan = Plan(model: "t", host: .kernelDefault, guests: [
            Plan.Guest(name: "vm0", criticality: 1, weight: 100, weightPinned: false, tasks: []),   // "default 100", no line: as it is
            Plan.Guest(name: "vm1", criticality: 2, weight: 100, weightPinned: false, tasks: []),   // its line says 250: written
        ], sacrificed: [], warnings: [], score: Score(guestsMet: [], tasksMet: 0, minSlack: 0), candidatesEvaluated: 0)
        let scope = { (n: Int, name: String) in "\(tree.mount)/machine.slice/machine-qemu\\x2d\(n)\\x2d\(name).scope" }
        let desired = HostSettings.desired(plan: plan, device: device, hierarchy: hierarchy,
                                           cgroups: ["vm0": scope(1, "vm0"), "vm1": scope(2, "vm1")], fs: HostFS())
            .filter { $0.kind == .deviceWeight }
        #expect(desired.map(\.guest) == ["vm1"])
        #expect(hierarchy.weightWithoutDeviceLine(scope(1, "vm0"), majMin: "8:16", fs: HostFS()) == 100)
        #expect(hierarchy.weightWithoutDeviceLine(scope(2, "vm1"), majMin: "8:16", fs: HostFS()) == nil)
        #expect(hierarchy.weightWithoutDeviceLine("\(tree.mount)/machine.slice", majMin: "8:16", fs: HostFS()) == nil, "no weight file")
    }

    @Test("the report's 'before' weight on v2: the device's line, else 'default N', else — io not yet enabled in the parent, no io.bfq.weight at all — bfq's 100, what enabling io gives the guest")
    func baselineWeightBeforeIoIsEnabled() throws {
        let tree = try Tree()
        try FileManager.default.createDirectory(atPath: "\(tree.mount)/machine.slice/vm2", withIntermediateDirectories: true)
        let scope = { (n: Int, name: String) in "\(tree.mount)/machine.slice/machine-qemu\\x2d\(n)\\x2d\(name).scope" }
        let view = HostView(device: BlockDevice(devicePath: "/dev/sdb", name: "sdb", major: 8, minor: 16, sysfsPath: "/nonexistent"),
                            hierarchy: CgroupHierarchy(version: .v2, mountPoint: tree.mount),
                            cgroups: ["vm0": scope(1, "vm0"), "vm1": scope(2, "vm1"), "vm2": "\(tree.mount)/machine.slice/vm2"],
                            warnings: [], skipped: [])
        #expect(view.baseline(fs: HostFS()).weights == ["vm0": 100, "vm1": 250, "vm2": 100])
    }

    @Test func anAlreadyEnabledControllerIsLeftAlone() throws {
        let tree = try Tree()
        try "cpu io memory\n".write(toFile: "\(tree.mount)/cgroup.subtree_control", atomically: false, encoding: .utf8)
        let entry = JournalEntry(kind: .subtreeControl, path: "\(tree.mount)/cgroup.subtree_control", original: nil, applied: "io")
        #expect(try entry.current(HostFS()) == "io")
        var state = StateDirectory(path: tree.mount + "-state")
        state.allowedRoots.append(tree.mount)
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        #expect(try Applier(state: state).apply([entry], device: BlockDevice(devicePath: "/dev/x", name: "x", major: 1, minor: 1, sysfsPath: "/x")).isEmpty)
        #expect(try tree.read("cgroup.subtree_control") == "cpu io memory\n")
    }

    @Test("a plan that keeps the device's own scheduler (no bfq on it) writes its caps and nothing of bfq: no scheduler, no knob, no weight")
    func keptSchedulerWritesOnlyCaps() throws {
        let tree = try Tree()
        let hierarchy = CgroupHierarchy(version: .v2, mountPoint: tree.mount)
        let vm1 = "\(tree.mount)/machine.slice/machine-qemu\\x2d2\\x2dvm1.scope"
        let device = BlockDevice(devicePath: "/dev/sdb", name: "sdb", major: 8, minor: 16, sysfsPath: "/nonexistent")
        var plan = Plan(model: "t", host: .kernelDefault, guests: [Plan.Guest(name: "vm1", criticality: 2, weight: 250, weightPinned: false, readIopsCap: 400, tasks: [])],
                        sacrificed: [], warnings: [], score: Score(guestsMet: [], tasksMet: 0, minSlack: 0), candidatesEvaluated: 0, keptScheduler: "none")
        plan.bfqOffered = false
        let kept = HostSettings.desired(plan: plan, device: device, hierarchy: hierarchy, cgroups: ["vm1": vm1], fs: HostFS())
        #expect(kept.map(\.kind) == [.subtreeControl, .subtreeControl, .readIopsCap], "\(kept.map(\.path))")
        #expect(kept.last?.path == "\(vm1)/io.max" && kept.last?.applied == "400")
        // the same plan with bfq: the scheduler, its two knobs and the weight come first
        plan.keptScheduler = nil
        let withBfq = HostSettings.desired(plan: plan, device: device, hierarchy: hierarchy, cgroups: ["vm1": vm1], fs: HostFS())
        #expect(withBfq.map(\.kind).prefix(1) == [.scheduler] && withBfq.contains { $0.kind == .deviceWeight } && withBfq.contains { $0.kind == .readIopsCap })
        // kept with nothing to cap: nothing at all
        plan.keptScheduler = "none"
        plan.guests[0].readIopsCap = nil
        #expect(HostSettings.desired(plan: plan, device: device, hierarchy: hierarchy, cgroups: ["vm1": vm1], fs: HostFS()).isEmpty)
    }

    @Test("v2 caps: io.max gets 'MAJ:MIN riops=N', read back in the kernel's own format; restore writes riops=max; a later plan without the cap lifts it")
    func capsGoToIoMax() throws {
        let tree = try Tree()
        let hierarchy = CgroupHierarchy(version: .v2, mountPoint: tree.mount)
        let vm1 = "\(tree.mount)/machine.slice/machine-qemu\\x2d2\\x2dvm1.scope"
        try "".write(toFile: "\(vm1)/io.max", atomically: false, encoding: .utf8)   // the kernel's io.max is empty until a limit is set
        #expect(hierarchy.readIopsCapFile(vm1) == "\(vm1)/io.max")
        let device = BlockDevice(devicePath: "/dev/sdb", name: "sdb", major: 8, minor: 16, sysfsPath: "/nonexistent")
        func plan(cap: Int?) -> Plan {
            Plan(model: "t", host: .kernelDefault, guests: [Plan.Guest(name: "vm1", criticality: 2, weight: 250, weightPinned: false, readIopsCap: cap, tasks: [])],
                 sacrificed: [], warnings: [], score: Score(guestsMet: [], tasksMet: 0, minSlack: 0), candidatesEvaluated: 0)
        }
        func desired(_ plan: Plan) -> [JournalEntry] {
            HostSettings.desired(plan: plan, device: device, hierarchy: hierarchy, cgroups: ["vm1": vm1], fs: HostFS())
                .filter { $0.kind == .readIopsCap || $0.kind == .subtreeControl }   // the fixture has no block device
        }
        var state = StateDirectory(path: tree.mount + "-state")
        state.allowedRoots.append(tree.mount)
        defer { try? FileManager.default.removeItem(atPath: state.path) }
        let kernel = KernelLikeCgroupfs.fs()
        let changes = try Applier(fs: kernel, state: state).apply(desired(plan(cap: 400)), device: device)
        #expect(changes.last.map { [$0.current, $0.new] } == ["max", "400"])
        // the kernel answers with every limit of the device: read as 400
        #expect(try tree.read("machine.slice/machine-qemu\\x2d2\\x2dvm1.scope/io.max") == "8:16 rbps=max wbps=max riops=400 wiops=max\n")
        #expect(try JournalEntry(kind: .readIopsCap, path: "\(vm1)/io.max", original: nil, applied: "400", majMin: "8:16").current(HostFS()) == "400")
        // a later plan without the cap puts it back to what it was: no limit, no line
        _ = try Applier(fs: kernel, state: state).apply(desired(plan(cap: nil)), device: device)
        #expect(try tree.read("machine.slice/machine-qemu\\x2d2\\x2dvm1.scope/io.max") == "")
        _ = try Applier(fs: kernel, state: state).apply(desired(plan(cap: 300)), device: device)
        try Applier(fs: kernel, state: state).restore()
        #expect(try tree.read("machine.slice/machine-qemu\\x2d2\\x2dvm1.scope/io.max") == "")
    }
}

struct PlantedJournalTests {
    @Test("a journal naming a file rtvirtio does not manage, or one outside /sys, is refused and nothing is written (issue 18, 18)")
    func plantedJournalIsRefused() throws {
        let directory = NSTemporaryDirectory() + "rtvirtio-planted-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let victim = directory + "/shadow"
        try "secret\n".write(toFile: victim, atomically: true, encoding: .utf8)
        let state = StateDirectory(path: directory + "/state")
        for (path, says) in [(victim, "is not a file rtvirtio manages"), (directory + "/scheduler", "is outside /sys/"),
                             ("/sys/block/../../etc/io.max", "is not a file rtvirtio manages")] {
            try state.save(Journal(device: "/dev/x", majMin: "7:0", entries: [
                JournalEntry(kind: .value, path: path, original: "pwned", applied: "x")]))
            let error = try #require(throws: StateDirectory.Failure.self) { try Applier(state: state).restore() }
            #expect("\(error)".contains(says) && "\(error)".contains("refusing to write anything it names"), "\(error)")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "secret\n")
        // inside a guest only its queue's files
        try state.save(Journal(device: "/dev/x", majMin: "7:0", entries: [
            JournalEntry(kind: .value, path: "/sys/fs/cgroup/io.max", original: nil, applied: "x", agent: "/run/agent.sock")]))
        #expect(throws: StateDirectory.Failure.self) { try state.loadJournal() }
    }
}

/// Files rtvirtio writes as root follow nothing planted (issue 18, 19 and 21).
struct PlantedFilesTests {
    static func scratch() throws -> (String, String) {
        let directory = NSTemporaryDirectory() + "rtvirtio-planted-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let victim = directory + "/victim"
        try "secret\n".write(toFile: victim, atomically: true, encoding: .utf8)
        return (directory, victim)
    }
    static let journal = Journal(device: "/dev/x", majMin: "7:0", entries: [])

    @Test("a state directory that is a symlink, writable by others, or owned by someone else is refused before anything is written")
    func unsafeStateDirectoriesAreRefused() throws {
        let (directory, _) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let real = directory + "/real"
        mkdir(real, 0o700)
        symlink(real, directory + "/link")
        let link = try #require(throws: HostError.self) { try StateDirectory(path: directory + "/link").save(Self.journal) }
        #expect("\(link)".contains("symbolic link"), "\(link)")
        chmod(real, 0o777)
        let open = try #require(throws: HostError.self) { try StateDirectory(path: real).lock() }
        #expect("\(open)".contains("writable by group or others (mode 777)"), "\(open)")
        chmod(real, 0o700)
        if geteuid() == 0 {
            chown(real, 65534, 65534)
            let owner = try #require(throws: HostError.self) { try StateDirectory(path: real).save(Self.journal) }
            #expect("\(owner)".contains("owned by uid 65534"), "\(owner)")
            chown(real, 0, 0)
        }
        #expect(!FileManager.default.fileExists(atPath: real + "/journal.json") && !FileManager.default.fileExists(atPath: real + "/lock"))
        try StateDirectory(path: real).save(Self.journal)   // and a sound one works
    }

    @Test("symlinks planted at the journal, its old temporary name, the lock and the metrics textfile are replaced or refused, never followed")
    func plantedSymlinksAreNotFollowed() throws {
        let (directory, victim) = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = StateDirectory(path: directory + "/state")
        try state.save(Self.journal)
        for planted in [state.journalPath + ".tmp", state.journalPath] {
            unlink(planted)
            symlink(victim, planted)
        }
        try state.save(Self.journal)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "secret\n")
        var info = stat()
        #expect(lstat(state.journalPath, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG, "the link was replaced by the journal")
        symlink(victim, state.lockPath)
        #expect(throws: HostError.self) { try state.lock() }
        let textfile = directory + "/rtvirtio.prom"
        symlink(victim, textfile + ".tmp")
        try DaemonMetrics().writeTextfile(textfile)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "secret\n")
        #expect(try String(contentsOfFile: textfile, encoding: .utf8).contains("# TYPE"))
    }
}

struct TestHookTests {
    @Test("the SIGKILL test hook is in debug builds only: a release binary does not even hold the variable's name (issue 18, 25)")
    func releaseBinaryHasNoTestHook() throws {
        let name = Data("RTVIRTIO_TEST_KILL_AFTER_WRITE".utf8)
        let debug = try Data(contentsOf: URL(fileURLWithPath: Live.binary))
        #expect(debug.range(of: name) != nil, "premise: the debug build the live tests run has the hook")
        let release = "\(Live.checkout)/.build/release/rtvirtio"
        guard FileManager.default.fileExists(atPath: release) else {
            print("skipping the release half: no release build at \(release) (make build, make demo and make bench make one)")
            return
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: release)).range(of: name) == nil, "\(release) holds the test hook")
    }
}

/// Writers under caps, and the counters that see them (issue 16).
struct WriterCapTests {
    @Test("a guest's cap becomes read and write limits in the shares its tasks ask for, counted in its own request size")
    func splitCap() {
        let reader = TaskSpec(name: "r", iops: 500, targetMs: 50), writer = TaskSpec(name: "w", iops: 500, targetMs: 50, op: .write)
        #expect(HostSettings.splitCap(293, tasks: [reader]) == (293, nil))
        #expect(HostSettings.splitCap(293, tasks: [writer]) == (nil, 293))
        // 50 % reads: 146.5 rounds to 147 read, 146 write
        #expect(HostSettings.splitCap(293, tasks: [TaskSpec(name: "m", iops: 500, targetMs: 50, op: .readWrite(readPercent: 50))]) == (147, 146))
        // 300 read + 100 write of 400: 75 / 25 of 100
        #expect(HostSettings.splitCap(100, tasks: [TaskSpec(name: "r", iops: 300, targetMs: 50), TaskSpec(name: "w", iops: 100, targetMs: 50, op: .write)]) == (75, 25))
        // a sliver of writes still gets a limit of 1 (0 would lift a v1 limit); unknown tasks: reads
        #expect(HostSettings.splitCap(10, tasks: [TaskSpec(name: "r", iops: 999, targetMs: 50), TaskSpec(name: "w", iops: 1, targetMs: 50, op: .write)]) == (9, 1))
        #expect(HostSettings.splitCap(10, tasks: []) == (10, nil))
        // with the device's large-read bandwidth, a cap of 2104 in 4 KiB requests is 2104 / 11.577 = 182 of 64 KiB (not 2104 / 16)
        let scan = [TaskSpec(name: "scan", iops: 200, requestKB: 64, targetMs: 200)]
        #expect(HostSettings.splitCap(2104, tasks: scan, delivery: DeliveryModel(capacityIops: 3520, largeReadMBps: 19.5)) == (182, nil))
        #expect(HostSettings.splitCap(2104, tasks: scan) == (132, nil))
        // the plan's cap is in 4 KiB requests, the kernel's in the guest's own: 512 × 4 KiB = 2 × 1 MiB
        #expect(HostSettings.splitCap(512, tasks: [TaskSpec(name: "scan", iops: 3000, requestKB: 1024, targetMs: 200)]) == (2, nil))
        // a 4 KiB reader beside a 1 MiB writer: 100 + 256 × 10 = 2660 4 KiB units; cap 266 → 10 reads, 1 write
        #expect(HostSettings.splitCap(266, tasks: [TaskSpec(name: "r", iops: 100, targetMs: 50),
                                                   TaskSpec(name: "w", iops: 10, requestKB: 1024, targetMs: 50, op: .write)]) == (10, 1))
    }

    @Test("the counters the daemon plans on count writes as well as reads: v1 Read and Write lines, v2 rios and wios")
    func countersCountWrites() {
        let v1 = "7:0 Read 1000\n7:0 Write 500\n7:0 Sync 1500\n7:0 Async 0\n7:0 Total 1500\n8:0 Read 7\nTotal 1507\n"
        #expect(IoCounters.parseV1(v1, majMin: "7:0").map { [$0.read, $0.write] } == [1000, 500])
        #expect(IoCounters.parseV1("7:0 Read 0\n7:0 Write 0\n", majMin: "7:0").map { [$0.read, $0.write] } == [0, 0])
        #expect(IoCounters.parseV1("", majMin: "7:0") == nil)
        let v2 = IoCounters.parseV2("8:16 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n", majMin: "8:16")
        #expect(v2 == IoCounters(readIos: 1, writeIos: 2, readBytes: 4096, writeBytes: 8192))
        #expect(v2?.ios == 3 && v2?.bytes == 12288)
        // the daemon's load from two readings: 3 s, 300 requests of which 100 reads
        let before = IoCounters(readIos: 10, writeIos: 0, readBytes: 40960, writeBytes: 0)
        let after = IoCounters(readIos: 110, writeIos: 200, readBytes: 40960 + 409600, writeBytes: 819200)
        #expect(after.isLater(than: before) && !before.isLater(than: after))
        let load = MeasuredLoad(ios: after.ios - before.ios, bytes: after.bytes - before.bytes, seconds: 3, readIos: after.readIos - before.readIos)
        #expect(load == MeasuredLoad(iops: 100, requestKB: 4, readFraction: 1.0 / 3))
        // v2 lines for the write limit
        #expect(ThrottleLines.writeIops(for: "8:16", in: "8:16 rbps=max wbps=max riops=147 wiops=146\n") == 146)
        #expect(ThrottleLines.line(majMin: "8:16", writeIops: 146, v2: true) == "8:16 wiops=146")
        #expect(ThrottleLines.line(majMin: "8:16", writeIops: nil, v2: false) == "8:16 0")
    }
}
