import Foundation
import Glibc
import Testing
import RTVirtIO
@testable import RTVirtIOHost

/// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
final class NotifySocket {
    let path: String
    let fd: Int32
    private(set) var received: [(at: Date, message: String)] = []

    init(directory: String) throws {
        path = directory + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in path.utf8CString.withUnsafeBytes { buffer.copyMemory(from: $0) } }
        let result = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard result == 0 else { throw HostError("bind", path: path, errno: errno) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Reads datagrams until `predicate` holds for one of them or `seconds` pass.
    @discardableResult
    func wait(seconds: Double, for predicate: (String) -> Bool) -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let message = String(decoding: buffer[0..<count], as: UTF8.self)
            received.append((Date(), message))
            if predicate(message) { return message }
        }
        return nil
    }

    deinit { close(fd); unlink(path) }
}

/// The real daemon binary against a real loop device and v1 cgroups.
@Suite(.serialized, .enabled(if: Live.available, "needs root, cgroup v1 blkio or v2 io, bfq on loop devices and losetup"))
struct LiveDaemonTests {
    final class Running {
        let process = Process()
        let log: String
        init(arguments: [String], environment: [String: String], log: String) throws {
            self.log = log
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.executableURL = URL(fileURLWithPath: Live.binary)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
        }
        func signal(_ number: Int32) { kill(process.processIdentifier, number) }
        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        }
    }

    /// A deliberately wrong model: 1 ms at slice_idle 8 ms, 2 ms at 0 — it prefers idling,
    /// which on a fast loop device stalls every guest for up to a second (TESTBED.md).
    static let wrongModel = """
        {"format": "rtvirtio-mlp", "version": 1, "features": ["hostSliceIdleMs"],
         "inputNormalization": {"mean": [0], "std": [1]}, "output": {"transform": "none", "mean": 2, "std": 1},
         "members": [{"layers": [{"weights": [[-0.125]], "biases": [0], "activation": "linear"}]}],
         "validity": {"hostSliceIdleMs": [0, 8]}, "provenance": {"note": "deliberately wrong: prefers idling"}}
        """

    /// Three guests (cgroups vm0–vm2) each reading 1000 IOPS on the FUSE-backed device, a
    /// targets file with the wrong model, target 50 ms: on a device serving about 3500, one
    /// request at a time, without idling each is served in turn (a few ms); with idling bfq
    /// keeps serving one guest's queue, waiting for its next request, for up to timeout_sync
    /// (124 ms) while the others wait. The host's scheduler is bfq with `sliceIdleUs`.
    final class WrongModelSetup {
        let slow: SlowDevice
        let cgroups: TestCgroups
        let targets: String
        let hostArguments: [String]
        var fio: [Process] = []
        var queue: String { "/sys/block/\(slow.name)/queue" }
        var directory: String { slow.scratch.directory }

        init?(sliceIdleUs: Int?, loadSeconds: Int) throws {
            guard FileManager.default.fileExists(atPath: BPFObserver.kernelBTF) else { print("skipping: no BTF"); return nil }
            guard let slow = try SlowDevice.make() else { return nil }
            self.slow = slow
            cgroups = try TestCgroups()
            for name in ["vm0", "vm1", "vm2"] { try cgroups.make(name) }
            let model = slow.scratch.directory + "/wrong.json"
            targets = slow.scratch.directory + "/targets.yaml"
            hostArguments = ["--state-dir", slow.scratch.directory + "/state", "--cgroup-root", cgroups.relativeRoot]
            try LiveDaemonTests.wrongModel.write(toFile: model, atomically: true, encoding: .utf8)
            try ("device: \(slow.path)\nmodel: \(model)\nsearch: {hostTimeoutSyncMs: [124], hostSliceIdleMs: [0, 8]}\nguests:\n" + ["vm0", "vm1", "vm2"].map {
                "  - {name: \($0), match: {cgroup: \($0)}, tasks: [{name: t, iops: 1000, targetMs: 50}]}\n"
            }.joined()).write(toFile: targets, atomically: true, encoding: .utf8)
            // the host runs bfq already (otherwise rtvirtio keeps `none`, which the model says meets everything)
            try HostFS().write("/sys/block/\(slow.name)/queue/scheduler", "bfq")
            if let sliceIdleUs { try HostFS().write("/sys/block/\(slow.name)/queue/iosched/slice_idle_us", String(sliceIdleUs)) }
            fio = try LiveVerifyTests.loads(cgroups, device: slow.path, names: ["vm0", "vm1", "vm2"], iops: 1000, seconds: loadSeconds)
        }

        deinit { for p in fio { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }

        func sliceIdle() -> String? { try? HostFS().readValue(queue + "/iosched/slice_idle_us") }
    }

    @Test("needs root: closed loop — with a model that prefers idling, the daemon measures the stalls and ends on slice_idle 0 within 8 intervals (the host as found measured until vm0 misses, the wrong model's plan on trial for 3), where the urgent guest meets; open loop it stays on the stalling setting",
          .timeLimit(.minutes(2)))
    func rootClosedLoopCorrectsAWrongModel() throws {
        guard let setup = try WrongModelSetup(sliceIdleUs: nil, loadSeconds: 60) else { return }
        let (targets, cgroups, directory, hostArguments) = (setup.targets, setup.cgroups, setup.directory, setup.hostArguments)
        func sliceIdle() -> String? { setup.sliceIdle() }
        func observeVm0() throws -> Double {
            let result = Live.run(Live.binary, ["observe", "--targets", targets, "--cgroup-root", cgroups.relativeRoot, "--duration-s", "6", "--format", "json"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stderr)")
            let vm0 = try #require((object["guests"] as? [[String: Any]])?.first { $0["name"] as? String == "vm0" })
            return try #require(((vm0["ops"] as? [String: Any])?["read"] as? [String: Any])?["p9999Ms"] as? Double)
        }

        // open loop: the wrong model's setting stays, and the urgent guest misses
        let open = try Running(arguments: ["daemon", "--open-loop", "--targets", targets, "--interval-s", "2"] + hostArguments,
                               environment: [:], log: directory + "/open.log")
        // idling's stalls come every few seconds, not in every window: a second window before the premise is judged
        // (a fresh clone's make test once measured 4.4 ms in the first 6 s)
        var openTail = try observeVm0()
        if openTail <= 50 { openTail = max(openTail, try observeVm0()) }
        #expect(sliceIdle() == "8000", "\(open.output)")
        #expect(openTail > 50, "premise: idling stalls vm0 past its 50 ms target (measured \(openTail) ms over 6 s)")
        open.signal(SIGTERM)
        open.process.waitUntilExit()

        // closed loop: within 8 intervals of 2 s, slice_idle 0, and vm0 measured within its target
        let closed = try Running(arguments: ["daemon", "--targets", targets, "--interval-s", "2"] + hostArguments,
                                 environment: [:], log: directory + "/closed.log")
        let started = Date()
        while sliceIdle() != "0", Date().timeIntervalSince(started) < 17 { usleep(200_000) }
        print("closed loop: slice_idle 0 after \(formatNumber(Date().timeIntervalSince(started), decimals: 1)) s (intervals of 2 s)")
        #expect(sliceIdle() == "0", "\(closed.output)")
        let closedTail = try observeVm0()
        #expect(closedTail <= 50, "vm0 measured \(closedTail) ms at the corrected setting\n\(closed.output)")
        print("closed-loop test: vm0 p99.99 \(openTail) ms open loop, \(closedTail) ms closed loop")
        closed.signal(SIGTERM)
        closed.process.waitUntilExit()
        #expect(closed.output.contains("closed loop: measuring each guest in the kernel"), "\(closed.output)")
        #expect(sliceIdle() == "8000", "restored on stop")
    }

    @Test("needs root: under overload the daemon caps the least urgent guests and keeps them capped while their reads sit at the caps (they used to come off every few intervals)",
          .timeLimit(.minutes(2)))
    func rootDaemonHoldsCapsUnderOverload() throws {
        guard FileManager.default.fileExists(atPath: BPFObserver.kernelBTF) else { print("skipping: no BTF"); return }
        guard let slow = try SlowDevice.make() else { return }
        let cgroups = try TestCgroups()
        for name in ["vm0", "vm1", "vm2"] { try cgroups.make(name) }
        let targets = slow.scratch.directory + "/targets.yaml"
        // three guests asking 1500 each of a device serving about 3400, one request at a time
        try ("device: \(slow.path)\ncapacity: {readIops: 3400}\nsearch: {hostTimeoutSyncMs: [32], hostSliceIdleMs: [0]}\nguests:\n" + (0..<3).map { g in
            "  - {name: vm\(g), criticality: \(g + 1), match: {cgroup: vm\(g)}, tasks: [{name: t, iops: 1500, targetMs: \([25, 50, 100][g])}]}\n"
        }.joined()).write(toFile: targets, atomically: true, encoding: .utf8)
        let fio = try LiveVerifyTests.loads(cgroups, device: slow.path, names: ["vm0", "vm1", "vm2"], iops: 1500, seconds: 27)
        defer { for p in fio { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        let majMin = try BlockDevice.resolve(slow.path).majMin
        func caps() -> [Int?] { (0..<3).map { Live.readIopsCap(in: "\(cgroups.root)/vm\($0)", majMin: majMin) } }
        let daemon = try Running(arguments: ["daemon", "--targets", targets, "--interval-s", "1", "--state-dir", slow.scratch.directory + "/state",
                                             "--cgroup-root", cgroups.relativeRoot], environment: [:], log: slow.scratch.directory + "/daemon.log")
        var seen: [[Int?]] = []
        for _ in 0..<24 { usleep(1_000_000); seen.append(caps()) }
        daemon.signal(SIGTERM)
        daemon.process.waitUntilExit()
        print("caps each second (vm0, vm1, vm2): \(seen.map { $0.map { $0.map(String.init) ?? "-" }.joined(separator: "/") }.joined(separator: " "))")
        let firstCapped = try #require(seen.firstIndex { $0.contains { $0 != nil } }, "the daemon never capped\n\(daemon.output)")
        #expect(seen.allSatisfy { $0[0] == nil }, "the most urgent guest is never capped")
        let after = seen[firstCapped...]
        #expect(after.allSatisfy { $0[2] != nil }, "vm2, the least urgent, stays capped once capped: \(seen)\n\(daemon.output.suffix(3000))")
        #expect(caps() == [nil, nil, nil], "the caps are taken off when the daemon stops")
    }

    @Test("needs root: the daemon's guard — a change that makes the urgent guest miss is measured (a settling interval, then 3), put back, and not tried again",
          .timeLimit(.minutes(2)))
    func rootDaemonPutsBackAChangeThatMadeThingsWorse() throws {
        // the host as an operator left it: bfq without idling (the udev rule), where every guest meets
        guard let setup = try WrongModelSetup(sliceIdleUs: 0, loadSeconds: 45) else { return }
        let (targets, cgroups, directory) = (setup.targets, setup.cgroups, setup.directory)
        func sliceIdle() -> String? { setup.sliceIdle() }

        let daemon = try Running(arguments: ["daemon", "--targets", targets, "--interval-s", "1", "--verify-intervals", "3",
                                             "--state-dir", directory + "/state", "--cgroup-root", cgroups.relativeRoot],
                                 environment: [:], log: directory + "/daemon.log")
        // 1 interval to start counting, 3 measuring the host as it is, then the wrong model's idling
        var started = Date()
        while sliceIdle() != "8000", Date().timeIntervalSince(started) < 10 { usleep(100_000) }
        #expect(sliceIdle() == "8000", "the wrong model's plan was never tried\n\(daemon.output)")
        // 3 intervals on trial, then back to the operator's setting
        started = Date()
        while sliceIdle() != "0", Date().timeIntervalSince(started) < 6 { usleep(100_000) }
        let putBackAfter = Date().timeIntervalSince(started)
        #expect(sliceIdle() == "0", "\(daemon.output)")
        print("guard: idling put back \(formatNumber(putBackAfter, decimals: 1)) s after it was applied (intervals of 1 s)")
        // and not tried again
        sleep(6)
        #expect(sliceIdle() == "0", "\(daemon.output)")
        daemon.signal(SIGTERM)
        daemon.process.waitUntilExit()
        let log = daemon.output
        #expect(log.contains("the change made things worse, put back: "), "\(log)")
        #expect(log.contains("vm0/t"), "the urgent guest named\n\(log)")
        #expect(log.contains("before: p99.99 ms"), "both measurements shown\n\(log)")
        #expect(sliceIdle() == "0", "the host as it was")
    }

    @Test("needs root: a guest agent that never answers (5 s per call) does not starve the watchdog: WATCHDOG=1 keeps coming during the slow tick (issue 18, 11)",
          .timeLimit(.minutes(1)))
    func rootSlowAgentDoesNotStarveTheWatchdog() throws {
        let s = try LiveCommandTests.Setup()
        let silent = try FakeAgent { client in sleep(30) }   // accepts, never answers
        try Self.targets(s.device, vm1TargetMs: 900)
            .replacingOccurrences(of: "{name: vm1, match: {cgroup: vm1},", with: "{name: vm1, match: {cgroup: vm1}, guestAgent: {socket: \(silent.path), disk: vdb},")
            .write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        let notify = try NotifySocket(directory: s.device.directory)
        let daemon = try Running(arguments: ["daemon", "--targets", s.targetsPath, "--interval-s", "0.5", "--open-loop"] + s.hostArguments,
                                 environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"],
                                 log: s.device.directory + "/daemon.log")
        // the first tick reads vm1's knobs through the silent agent: 5 s before it gives up on it
        let start = Date()
        notify.wait(seconds: 4) { _ in false }
        let pings = notify.received.filter { $0.at >= start && $0.message.contains("WATCHDOG=1") }.count
        #expect(pings >= 5, "\(pings) watchdog pings in 4 s of a tick waiting on the agent (every 0.5 s expected)\n\(daemon.output)")
        daemon.signal(SIGTERM)
        daemon.process.waitUntilExit()
    }

    static func targets(_ device: LoopDevice, vm1TargetMs: Int) -> String {
        """
        device: \(device.path)
        model: analytical   # these tests are about the host layer: pin the model whose plans they expect
        modelParams: \(Live.checkout)/config/models/analytical-paper.yaml
        guests:
          - {name: vm0, match: {cgroup: vm0}, tasks: [{name: db, iops: 500, targetMs: 300}]}
          - {name: vm1, match: {cgroup: vm1}, tasks: [{name: web, iops: 500, targetMs: \(vm1TargetMs)}]}
        """
    }

    @Test("needs root: READY after the first apply, WATCHDOG at half WATCHDOG_USEC, RELOADING/READY on SIGHUP with new weights, STOPPING and restore on SIGTERM",
          .timeLimit(.minutes(1)))
    func rootDaemonLifecycle() throws {
        let s = try LiveCommandTests.Setup()
        try Self.targets(s.device, vm1TargetMs: 900).write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        let notify = try NotifySocket(directory: s.device.directory)
        let daemon = try Running(arguments: ["daemon", "--targets", s.targetsPath, "--interval-s", "0.3"] + s.hostArguments,
                                 environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"],
                                 log: s.device.directory + "/daemon.log")
        let ready = notify.wait(seconds: 10) { $0.contains("READY=1") }
        #expect(ready?.contains("STATUS=2 guests") == true, "\(daemon.output)")
        let before = try #require(s.weight("vm1"))
        #expect(try s.device.scheduler().contains("[bfq]"))
        // while it runs, a manual restore (or apply) is refused with the daemon's pid and changes nothing (issue 18, 24)
        let manual = Live.run(Live.binary, ["restore"] + s.hostArguments)
        #expect(manual.status != 0 && manual.stderr.contains("held by pid \(daemon.process.processIdentifier)"), "\(manual)")
        #expect(try s.device.scheduler().contains("[bfq]"))

        // WATCHDOG=1 every 200 ms: count them over 1.5 s
        let start = Date()
        notify.wait(seconds: 1.5) { _ in false }
        let pings = notify.received.filter { $0.at >= start && $0.message.contains("WATCHDOG=1") }.count
        #expect((4...12).contains(pings), "\(pings) watchdog pings in 1.5 s")

        // a tighter target for vm1 needs a larger weight
        try Self.targets(s.device, vm1TargetMs: 450).write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        let reloading = notify.wait(seconds: 5) { $0.contains("RELOADING=1") }
        #expect(reloading?.contains("MONOTONIC_USEC=") == true)
        #expect(notify.wait(seconds: 5) { $0.contains("READY=1") } != nil)
        // applied at once, or once the guard's trial of the previous change ends (3 intervals of 0.3 s)
        let reloaded = Date()
        var after = before
        while after == before, Date().timeIntervalSince(reloaded) < 3 {
            after = try #require(s.weight("vm1"))
            usleep(100_000)
        }
        #expect(after > before, "vm1 weight \(before) → \(after)")

        // a broken file keeps the old targets
        try "device: [".write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        #expect(notify.wait(seconds: 5) { $0.contains("READY=1") } != nil)
        #expect(daemon.output.contains("failed, keeping the previous targets"))
        #expect(s.weight("vm1") == after)

        daemon.signal(SIGTERM)
        #expect(notify.wait(seconds: 5) { $0.contains("STOPPING=1") } != nil)
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 0, "\(daemon.output)")
        try s.expectPristine()
    }

    @Test("needs root: a guest that comes back in a new cgroup (a restarted domain, its pid file rewritten) gets its weight there within a few intervals",
          .timeLimit(.minutes(1)))
    func rootDaemonFollowsARestartedGuest() throws {
        let s = try LiveCommandTests.Setup()
        let pidfile = s.device.directory + "/vm1.pid"
        let first = try s.cgroups.spawn(in: "vm1")
        try "\(first)".write(toFile: pidfile, atomically: true, encoding: .utf8)
        try Self.targets(s.device, vm1TargetMs: 900).replacingOccurrences(of: "match: {cgroup: vm1}", with: "match: {pidfile: \(pidfile)}")
            .write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        let daemon = try Running(arguments: ["daemon", "--targets", s.targetsPath, "--interval-s", "0.3", "--open-loop"] + s.hostArguments,
                                 environment: [:], log: s.device.directory + "/daemon.log")
        let majMin = try BlockDevice.resolve(s.device.path).majMin
        func weight(_ cgroup: String) -> Int? { Live.weight(in: "\(s.cgroups.root)/\(cgroup)", majMin: majMin) }
        func wait(_ seconds: Double, until condition: () -> Bool) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline { if condition() { return true }; usleep(100_000) }
            return condition()
        }
        #expect(wait(10) { weight("vm1") != nil }, "\(daemon.output)")
        let applied = weight("vm1")
        // the domain restarts: a new QEMU in a new cgroup, libvirt's pid file rewritten
        try s.cgroups.make("vm1-restarted")
        let second = try s.cgroups.spawn(in: "vm1-restarted")
        try "\(second)".write(toFile: pidfile, atomically: true, encoding: .utf8)
        kill(first, SIGKILL)
        #expect(wait(5) { weight("vm1-restarted") == applied }, "vm1-restarted: \(String(describing: weight("vm1-restarted"))), applied \(String(describing: applied))\n\(daemon.output)")
        #expect(daemon.output.contains("vm1 came back in a new cgroup"), "\(daemon.output)")
        daemon.signal(SIGTERM)
        daemon.process.waitUntilExit()
        #expect(daemon.process.terminationStatus == 0, "\(daemon.output)")
    }

    @Test("needs root: a load change measured in a real cgroup (fio) leads to a new plan within two intervals",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/fio"), "needs fio"), .timeLimit(.minutes(1)))
    func rootDaemonFollowsMeasuredLoad() throws {
        let s = try LiveCommandTests.Setup()
        try Self.targets(s.device, vm1TargetMs: 900).write(toFile: s.targetsPath, atomically: true, encoding: .utf8)
        let notify = try NotifySocket(directory: s.device.directory)
        let daemon = try Running(arguments: ["daemon", "--targets", s.targetsPath, "--interval-s", "1"] + s.hostArguments,
                                 environment: ["NOTIFY_SOCKET": notify.path], log: s.device.directory + "/daemon.log")
        #expect(notify.wait(seconds: 10) { $0.contains("READY=1") } != nil, "\(daemon.output)")
        let before = try #require(s.weight("vm1"))
        // the first change is on trial (a settling interval and 3 of 1 s): no other change meanwhile
        usleep(5_000_000)
        // vm1 reads 3× what it declared: its tasks' load scales, its share must grow
        let fio = Live.run("/bin/sh", ["-c", "echo $$ > \(s.cgroups.root)/vm1/cgroup.procs; exec fio --name=rtvirtio-test --filename=\(s.device.path) --rw=randread --bs=4k --direct=1 --ioengine=psync --rate_iops=1500 --time_based --runtime=3 --output=/dev/null"])
        #expect(fio.status == 0, "\(fio.stderr)")
        let after = try #require(s.weight("vm1"))
        #expect(after > before, "vm1 weight \(before) → \(after) after 3 s of 1500 IOPS; log:\n\(daemon.output)")
        daemon.signal(SIGTERM)
        daemon.process.waitUntilExit()
        try s.expectPristine()
    }
}
