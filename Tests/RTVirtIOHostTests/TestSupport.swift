import Foundation
import Glibc
@testable import RTVirtIOHost
import RTVirtIOLab

/// Helpers for tests that touch the live kernel. Everything they make is
/// named for the project and removed in `deinit`/`defer`, failure or not.
enum Live {
    /// The io controller's hierarchy the live suites write to: v1 blkio where this machine mounts
    /// it, else cgroup v2 with its io controller (Debian 12's default), as rtvirtio itself finds it.
    static let hierarchy: CgroupHierarchy? = try? CgroupHierarchy.detect()
    /// Where the suites make their cgroups: the controller's mount.
    static var cgroupMount: String { hierarchy?.mountPoint ?? "/sys/fs/cgroup/blkio" }
    static var isV2: Bool { hierarchy?.version == .v2 }

    /// Why live tests cannot run here, or nil when they can: on v1 blkio or v2 io alike (their files
    /// and counts come from `hierarchy`; CgroupV2GuestTests runs them in a v2 guest).
    static let skipReason: String? = {
        if geteuid() != 0 { return "needs root" }
        guard hierarchy != nil else { return "neither a v1 blkio hierarchy nor cgroup v2 with the io controller" }
        if (try? HostFS().read("/sys/block/loop0/queue/scheduler"))?.contains("bfq") == false { return "loop devices offer no bfq" }
        if run("/sbin/losetup", ["--version"]).status != 0 { return "losetup (util-linux) is missing" }
        return nil
    }()

    /// Why the suite of a device without bfq cannot run here: the same needs, but a loop device
    /// that offers no bfq (a kernel built without it); where loop devices offer bfq it has nothing to test.
    static let noBfqSkipReason: String? = {
        if geteuid() != 0 { return "needs root" }
        guard hierarchy != nil else { return "neither a v1 blkio hierarchy nor cgroup v2 with the io controller" }
        if (try? HostFS().read("/sys/block/loop0/queue/scheduler"))?.contains("bfq") != false { return offersBfqReason }
        if run("/sbin/losetup", ["--version"]).status != 0 { return "losetup (util-linux) is missing" }
        return nil
    }()
    static let offersBfqReason = "loop devices offer bfq here (this suite is for kernels without it)"
    /// Where bfq is there the suite has nothing to test: said by its own skip comment, not as a missing interface
    /// (CgroupV2GuestTests counts those lines as suites that could not run).
    static var availableWithoutBfq: Bool { noBfqSkipReason == offersBfqReason ? false : availability(noBfqSkipReason) }
    /// For the suites whose plans need no bfq (caps, the observer): root, a hierarchy, losetup.
    static var availableWithOrWithoutBfq: Bool { availability(noBfqSkipReason == nil ? nil : skipReason) }
    static var loopDevicesOfferBfq: Bool { (try? HostFS().read("/sys/block/loop0/queue/scheduler"))?.contains("bfq") == true }

    /// For the suites no run on cgroup v2 has checked yet (the lab on its FUSE device, libvirt, the
    /// e2e guests): why they cannot run here.
    static let v1SkipReason: String? = skipReason
        ?? (isV2 ? "on cgroup v2 this suite is not yet verified (CgroupV2GuestTests runs the verified ones in a v2 guest)" : nil)

    /// A cgroup's weight line for `majMin` (v1 blkio.bfq.weight_device, v2 io.bfq.weight); nil when none
    /// is set or the file is absent (on v2: io not enabled in its parent).
    static func weight(in cgroup: String, majMin: String) -> Int? {
        guard let hierarchy, let text = try? HostFS().read(hierarchy.weightFile(cgroup)) else { return nil }
        return WeightLines.weight(for: majMin, in: text)
    }

    /// A cgroup's weight on devices without a line of their own: v1 blkio.bfq.weight, v2 io.bfq.weight's "default N".
    static func defaultWeight(in cgroup: String) -> Int? {
        guard let hierarchy else { return nil }
        return hierarchy.version == .v2
            ? (try? HostFS().read(hierarchy.weightFile(cgroup))).flatMap { WeightLines.weight(for: "default", in: $0) }
            : (try? HostFS().readValue("\(cgroup)/blkio.bfq.weight")).flatMap { Int($0) }
    }

    /// A cgroup's read IOPS limit on `majMin` (v1 blkio.throttle.read_iops_device, v2 io.max riops=); nil for none.
    static func readIopsCap(in cgroup: String, majMin: String) -> Int? {
        guard let hierarchy, let text = try? HostFS().read(hierarchy.readIopsCapFile(cgroup)) else { return nil }
        return ThrottleLines.readIops(for: majMin, in: text)
    }

    /// Its write IOPS limit (v1 blkio.throttle.write_iops_device, v2 io.max wiops=); nil for none.
    static func writeIopsCap(in cgroup: String, majMin: String) -> Int? {
        guard let hierarchy, let text = try? HostFS().read(hierarchy.writeIopsCapFile(cgroup)) else { return nil }
        return ThrottleLines.writeIops(for: majMin, in: text)
    }

    /// How many of those files apply gives `+io` (v2: the ones without it; v1: none).
    static func ioEnableWrites(_ subtreeControls: [String: String]) -> Int {
        subtreeControls.values.filter { !WeightLines.controllerEnabled("io", in: $0) }.count
    }

    /// v2: each ancestor's cgroup.subtree_control (where apply enables io), by path; v1: none.
    static func subtreeControls(above cgroup: String) -> [String: String] {
        guard let hierarchy else { return [:] }
        return Dictionary(uniqueKeysWithValues: hierarchy.ancestors(of: cgroup).map {
            ($0, (try? HostFS().read("\($0)/cgroup.subtree_control")) ?? "")
        })
    }

    static var isRoot: Bool { geteuid() == 0 }

    static var available: Bool { availability(skipReason) }
    static var availableOnV1: Bool { availability(v1SkipReason) }
    private static func availability(_ reason: String?) -> Bool {
        if let reason { print("skipping live-kernel test: \(reason)") }
        return reason == nil
    }

    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { return (127, "", "\(error)") }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return (status, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// The checkout the tests run from.
    static var checkout: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// The rtvirtio binary `swift build` made beside the tests.
    static var binary: String { "\(checkout)/.build/debug/rtvirtio" }
}

/// A loop device over a file in a temp dir, with --direct-io=on; detached and deleted on deinit.
final class LoopDevice {
    let directory: String
    let path: String
    var name: String { (path as NSString).lastPathComponent }

    init(sizeMB: Int = 64) throws {
        directory = NSTemporaryDirectory() + "rtvirtio-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let image = "\(directory)/disk.img"
        _ = FileManager.default.createFile(atPath: image, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: image))
        try handle.truncate(atOffset: UInt64(sizeMB) << 20)
        try handle.close()
        do { path = try LoopDevices.attach(image) } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        pristineScheduler = (try? HostFS().read("/sys/block/\((path as NSString).lastPathComponent)/queue/scheduler"))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }

    /// The scheduler line as attached ("[none] mq-deadline kyber bfq" here; kernels without kyber list less).
    private(set) var pristineScheduler = ""

    /// A scheduler line as (the selected one, all offered): kernels order them differently once one is
    /// selected (6.1 shows "mq-deadline [bfq] none" for "[none] mq-deadline bfq" with bfq selected).
    static func schedulers(_ line: String) -> (selected: String?, offered: Set<String>) {
        let names = line.split(separator: " ").map(String.init)
        return (names.first { $0.hasPrefix("[") }?.trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
                Set(names.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) }))
    }

    func scheduler() throws -> String { try HostFS().read("/sys/block/\(name)/queue/scheduler").trimmingCharacters(in: .whitespacesAndNewlines) }

    deinit {
        LoopDevices.detach(path)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Cgroups under the controller's mount, in rtvirtio-test-PID-XXXX (named for the project and the
/// process: two runs never clean up each other's); processes moved in are killed and every
/// directory removed (deepest first) on deinit.
final class TestCgroups {
    let root: String
    var relativeRoot: String { String(root.dropFirst(Live.cgroupMount.count + 1)) }
    private var made: [String] = []
    private var processes: [Process] = []
    /// v2: the mount's subtree_control when this enabled io there (given back on deinit)
    private var ioEnabledAtMount = false

    /// `chargedToThem`: on cgroup v2, io enabled in the mount's and this root's subtree_control, so
    /// that the kernel charges the guests' requests to their own cgroups before any apply (as on a
    /// host where systemd enables io); the mount's is given back on deinit. No effect on v1.
    init(chargedToThem: Bool = false) throws {
        root = "\(Live.cgroupMount)/rtvirtio-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        try make("")
        guard chargedToThem, Live.isV2 else { return }
        let mount = "\(Live.cgroupMount)/cgroup.subtree_control"
        if !WeightLines.controllerEnabled("io", in: try HostFS().read(mount)) {
            try HostFS().write(mount, "+io")
            ioEnabledAtMount = true
        }
        try HostFS().write("\(root)/cgroup.subtree_control", "+io")
    }

    @discardableResult
    func make(_ relative: String) throws -> String {
        let path = relative.isEmpty ? root : "\(root)/\(relative)"
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw HostError("mkdir", path: path, errno: errno) }
        made.append(path)
        return path
    }

    /// Starts `sleep` (named as given via exec -a) inside a cgroup; returns its pid.
    func spawn(in relative: String, name: String = "sleep") throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "exec -a \(name) sleep 600"]
        try process.run()
        processes.append(process)
        let pid = process.processIdentifier
        try HostFS().write("\(root)/\(relative)/cgroup.procs", String(pid))
        // wait for the exec, so /proc/PID/cmdline shows `name`, not bash
        for _ in 0..<200 {
            if (try? HostFS().read("/proc/\(pid)/cmdline"))?.hasPrefix(name + "\0") == true { break }
            usleep(10_000)
        }
        return pid
    }

    deinit {
        // SIGKILL: a child may inherit a blocked SIGTERM from the test runner
        for process in processes { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        // and whatever else a test left running in them (a load whose own clean-up has not run yet:
        // Swift may release these cgroups after their last use, before the test's defers)
        func members() -> [Int32] { made.flatMap { ((try? HostFS().read("\($0)/cgroup.procs")) ?? "").split(separator: "\n").compactMap { Int32($0) } } }
        for _ in 0..<50 {
            let pids = members()
            if pids.isEmpty { break }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(40_000)
        }
        for path in made.reversed() { rmdir(path) }
        if ioEnabledAtMount { try? HostFS().write("\(Live.cgroupMount)/cgroup.subtree_control", "-io") }
    }
}

/// A device the guests contend for: a read-only loop device over rtvirtio-fused (a FUSE
/// file serving one 4 KiB read at a time, 200 µs each: about 3500 IOPS), all in a temp
/// directory; unmounted, detached and removed on deinit.
final class SlowDevice {
    let scratch: LoopDevice   // for its temp directory, removed with it
    let server = Process()
    let mountpoint: String
    var path = ""

    /// nil, with the reason printed, where rtvirtio-fused or FUSE is missing.
    static func make(serviceUs: Int = LabTestbed.defaultServiceTimeUs) throws -> SlowDevice? {
        let fused = URL(fileURLWithPath: Live.binary).deletingLastPathComponent().appendingPathComponent("rtvirtio-fused").path
        guard FileManager.default.isExecutableFile(atPath: fused), FileManager.default.fileExists(atPath: "/dev/fuse") else {
            print("skipping: needs rtvirtio-fused beside the binary and /dev/fuse"); return nil
        }
        return try SlowDevice(fused: fused, serviceUs: serviceUs)
    }

    private init(fused: String, serviceUs: Int) throws {
        scratch = try LoopDevice(sizeMB: 1)
        let image = scratch.directory + "/slow.img"
        mountpoint = scratch.directory + "/fuse"
        _ = FileManager.default.createFile(atPath: image, contents: nil)
        try FileHandle(forWritingTo: URL(fileURLWithPath: image)).truncate(atOffset: 64 << 20)
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        server.executableURL = URL(fileURLWithPath: fused)
        server.arguments = [image, mountpoint, String(serviceUs)]
        try server.run()
        for _ in 0..<50 where !FileManager.default.fileExists(atPath: mountpoint + "/disk") { usleep(100_000) }
        path = try LoopDevices.attach(mountpoint + "/disk", readOnly: true)
    }

    var name: String { (path as NSString).lastPathComponent }

    deinit {
        if !path.isEmpty { LoopDevices.detach(path) }
        _ = Live.run("/bin/umount", [mountpoint])
        kill(server.processIdentifier, SIGTERM)
        server.waitUntilExit()
    }
}

extension Live {
    /// `rtvirtio observe --format json` for `seconds` while fio runs `loads` (3 s each, every job in its
    /// own cgroup below `cgroups`, started once the observer has attached); fio's exit statuses, and
    /// observe's report with its stderr.
    static func observeDuring(targets: String, cgroups: TestCgroups, device: String, seconds: Int,
                              loads: [(cgroup: String, fio: [String])]) throws -> (fioStatuses: [Int32], report: [String: Any]?, stderr: String) {
        let observe = Process()
        observe.executableURL = URL(fileURLWithPath: binary)
        observe.arguments = ["observe", "--targets", targets, "--cgroup-root", cgroups.relativeRoot, "--duration-s", String(seconds), "--format", "json"]
        let out = Pipe(), err = Pipe()
        (observe.standardOutput, observe.standardError) = (out, err)
        try observe.run()
        defer { if observe.isRunning { kill(observe.processIdentifier, SIGKILL) } }
        usleep(1_500_000)   // attached well before the first request
        let fios = try loads.map { load in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", #"echo $$ > "$1" && shift && exec fio "$@""#, "sh", "\(cgroups.root)/\(load.cgroup)/cgroup.procs",
                                 "--name=\(load.cgroup)", "--filename=\(device)", "--direct=1", "--time_based", "--runtime=3"] + load.fio
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        let statuses = fios.map { $0.waitUntilExit(); return $0.terminationStatus }
        let json = out.fileHandleForReading.readDataToEndOfFile()
        observe.waitUntilExit()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let report = observe.terminationStatus == 0 ? (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] : nil
        return (statuses, report, stderr)
    }
}
