import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost

/// How many windows the daemon's closed loop takes to bring the urgent guest
/// within its target when it starts from the paper's model: guests loading the
/// device-bound testbed (bfq at the kernel's defaults, as a host that selected
/// bfq has it), the real daemon managing them — closed loop, then open loop on
/// the same load — and every guest measured in the kernel each second beside it.
public struct ClosedLoopBenchmark {
    public struct Window: Codable, Sendable {
        public var second: Int
        public var urgentP9999Ms: Double?
        public var urgentIops: Double
        public var sliceIdleMs: Double?
        public var scheduler: String
        /// Each guest's read IOPS cap in force at the window's end (nil: none); absent in older results.
        public var capsIops: [Int?]?
    }
    public struct Mode: Codable, Sendable {
        public var name: String
        public var windows: [Window]
        /// The first window from which the urgent guest met its target `hold` windows in a row (1-based); nil: never.
        public var windowsToMeet: Int?
        /// Windows the urgent guest met its target in, of all.
        public var windowsMet: Int
        /// What the daemon said it did (its "applied plan" and "put back" lines).
        public var changes: [String]
        /// Windows whose caps differ from the window before: how often the daemon moved them.
        public var capChanges: Int?
    }
    public struct Result: Codable, Sendable {
        public var kernel: String
        public var device: String
        public var model: String
        public var guestsIops: [Int]
        public var targetsMs: [Double]
        /// The targets file's `capacity:`, where given (IOPS of 4 KiB reads).
        public var capacityIops: Int?
        public var intervalS: Double
        public var seconds: Int
        public var hold: Int
        public var modes: [Mode]
    }

    public var binary: String
    /// The model the daemon starts from (a targets file's `modelParams`).
    public var params: String
    public var seconds = 60
    public var intervalS = 1.0
    public var guestsIops = [1000, 1000, 1000]
    public var targetsMs: [Double] = [50, 200, 1000]
    /// Written as the targets file's `capacity:`, so the daemon may cap the least urgent guests.
    public var capacityIops: Int?
    public var hold = 5

    public init(binary: String, params: String) {
        self.binary = binary
        self.params = params
    }

    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        let lock = try LabTestbed.exclusive()
        defer { close(lock) }
        let existing = try LabTestbed.current()
        let testbed = try existing ?? LabTestbed.up(regime: .deviceBound)
        let cleanup = LabCleanup.add { if existing == nil { try? testbed.down() } }
        defer { LabCleanup.remove(cleanup); if existing == nil { try? testbed.down() } }
        guard testbed.regime == .deviceBound else {
            throw LabTestbed.Failure.unsupported("the testbed that is up is \(testbed.regime.rawValue); run `rtvirtio lab testbed down` first")
        }
        let block = try BlockDevice.resolve(testbed.device)
        var modes: [Mode] = []
        for closedLoop in [true, false] {
            let name = closedLoop ? "closed loop" : "open loop"
            progress("\(name): \(seconds) s")
            modes.append(try runMode(closedLoop: closedLoop, testbed: testbed, block: block))
            let mode = modes.last!
            progress("\(name): the urgent guest met its target in \(mode.windowsMet)/\(mode.windows.count) windows; "
                     + (mode.windowsToMeet.map { "\(hold) in a row from window \($0)" } ?? "never \(hold) in a row"))
        }
        return Result(kernel: (try? HostFS().readValue("/proc/sys/kernel/osrelease")) ?? "?",
                      device: "device-bound testbed (\(testbed.fuse?.serviceTimeUs ?? 0) µs per 4 KiB read, one at a time)",
                      model: params, guestsIops: guestsIops, targetsMs: targetsMs, capacityIops: capacityIops, intervalS: intervalS, seconds: seconds, hold: hold, modes: modes)
    }

    func runMode(closedLoop: Bool, testbed: LabTestbed, block: BlockDevice) throws -> Mode {
        let fs = HostFS()
        // the host as one that selected bfq has it: the kernel's defaults
        try fs.write(block.schedulerPath, "bfq")
        try fs.write("\(block.ioschedPath)/timeout_sync", String(BfqSettings.kernelDefault.timeoutSyncMs))
        let sliceIdle = block.sliceIdle(fs)
        try fs.write(sliceIdle.path, String(BfqSettings.kernelDefault.sliceIdleUs * sliceIdle.perMs / 1000))
        let work = "\(LabTestbed.workDirectory)/closed-loop-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let names = guestsIops.indices.map { "vm\($0)" }
        defer {
            try? FileManager.default.removeItem(atPath: work)
            for directory in LabTestbed.cgroupsDeepestFirst(testbed.cgroupRoot) where directory != testbed.cgroupRoot { rmdir(directory) }
        }
        let targets = "\(work)/targets.yaml"
        // the model file names its own kind (analytical, idling, MLP)
        try ("device: \(testbed.device)\nmodel: \(params)\n" + (capacityIops.map { "capacity: {readIops: \($0)}\n" } ?? "")
             + "guests:\n" + names.indices.map { g in
            "  - {name: \(names[g]), criticality: \(g + 1), match: {cgroup: \(names[g])}, tasks: [{name: t, iops: \(guestsIops[g]), targetMs: \(formatNumber(targetsMs[g]))}]}\n"
        }.joined()).write(toFile: targets, atomically: true, encoding: .utf8)
        let cgroups = names.map { "\(testbed.cgroupRoot)/\($0)" }
        for cgroup in cgroups { mkdir(cgroup, 0o755) }
        let load = try FioLoad.start(device: testbed.device, seconds: seconds + 10, jobs: names.indices.map { g in
            FioLoad.Job(name: names[g], cgroup: cgroups[g], iops: guestsIops[g])
        })
        LabCleanup.add(process: load)
        // SIGTERM first: fio stops its jobs (SIGKILL alone would leave them running to their end, orphaned)
        defer { LabCleanup.stop(load) }
        let observer = try BPFObserver(device: block)
        let session = GuestObserver(observer: observer, guests: Array(zip(names, cgroups)))
        let log = "\(work)/daemon.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: binary)
        daemon.arguments = ["daemon", "--targets", targets, "--interval-s", formatNumber(intervalS), "--state-dir", "\(work)/state",
                            "--cgroup-root", (testbed.cgroupRoot as NSString).lastPathComponent] + (closedLoop ? [] : ["--open-loop"])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        (daemon.standardOutput, daemon.standardError) = (handle, handle)
        try daemon.run()
        LabCleanup.add(process: daemon)   // first in line on a signal: it restores the host before the testbed goes
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL); daemon.waitUntilExit() } }
        var windows: [Window] = []
        try session.windows(seconds: seconds) { second, window in
            let urgent = (window[names[0]] ?? [:]).values.reduce(LatencyHistogram(), +)
            let scheduler = BlockDevice.parseScheduler((try? fs.read(block.schedulerPath)) ?? "").selected ?? "?"
            let sliceIdleMs = scheduler == "bfq" ? (try? fs.readValue(sliceIdle.path)).flatMap(Double.init).map { $0 / Double(sliceIdle.perMs) } : nil
            let caps = names.map { ThrottleLines.readIops(for: block.majMin, in: (try? fs.read("\(testbed.cgroupRoot)/\($0)/blkio.throttle.read_iops_device")) ?? "") }
            windows.append(Window(second: second, urgentP9999Ms: urgent.percentileMs(99.99), urgentIops: Double(urgent.count),
                                  sliceIdleMs: sliceIdleMs, scheduler: scheduler, capsIops: caps))
        }
        // a daemon that exited early (bad targets, a crash) managed nothing: that is no result
        guard daemon.isRunning else {
            let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(1500)
            throw LabTestbed.Failure.unsupported("the daemon exited (status \(daemon.terminationStatus)) before the \(seconds) s were up, so these windows measured the host unmanaged; its log:\n\(tail)")
        }
        kill(daemon.processIdentifier, SIGTERM)
        daemon.waitUntilExit()
        // met: within its target and ≥ 95 % of its IOPS (a starved guest's few requests can be fast)
        let met = windows.map { ($0.urgentP9999Ms ?? .infinity) <= targetsMs[0] && $0.urgentIops >= DeliveryModel.minimumFraction * Double(guestsIops[0]) }
        let capChanges = zip(windows.dropFirst(), windows).filter { $0.capsIops != $1.capsIops }.count
        let firstHeld = met.indices.first { i in i + hold <= met.count && met[i..<(i + hold)].allSatisfy { $0 } }
        let changes = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            .filter { $0.contains("applied plan") || $0.contains("made things worse") || $0.contains("measured no worse") || $0.contains("re-planning") }
        return Mode(name: closedLoop ? "closed loop" : "open loop", windows: windows, windowsToMeet: firstHeld.map { $0 + 1 },
                    windowsMet: met.filter { $0 }.count, changes: changes, capChanges: capChanges)
    }
}
