import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost

/// The daemon's footprint: RSS and CPU of a real `rtvirtio daemon` process
/// with many guests on a cgroup-v2 fixture tree whose io.stat counters move,
/// beside a one-guest daemon as the baseline of the same run; and RSS over
/// many in-process iterations, to show it stays flat.
public struct DaemonBenchmark: Sendable {
    public var binary: String
    public var guests = 64
    public var durationS = 600.0
    public var intervalS = 1.0
    public var iterations = 100_000

    public init(binary: String) { self.binary = binary }

    public struct Footprint: Codable, Sendable {
        public var guests: Int
        public var rssStartMB: Double
        public var rssMaxMB: Double
        public var rssEndMB: Double
        public var anonMaxMB: Double
        public var cpuPercentOfOneCore: Double
    }

    public struct Result: Codable, Sendable {
        public var durationS: Double
        public var intervalS: Double
        public var daemon: Footprint
        public var baseline: Footprint
        public var rssRatioToBaseline: Double
        public var cpuRatioToBaseline: Double
        public var goals: [String: Bool]
        public var iterations: Int
        public var iterationRssMB: [Double]
        public var iterationSeconds: Double
    }

    /// A v2 tree shaped like /sys/fs/cgroup with `count` guests under machine.slice.
    static func fixture(at root: String, guests count: Int, majMin: String) throws -> [String] {
        let files = ["cgroup.controllers": "cpu io memory\n", "cgroup.subtree_control": "io\n",
                     "machine.slice/cgroup.controllers": "io\n", "machine.slice/cgroup.subtree_control": "io\n"]
        for (path, content) in files { try write(content, to: "\(root)/\(path)") }
        return try (0..<count).map { index in
            let cgroup = "\(root)/machine.slice/vm\(index).scope"
            try write("default 100\n", to: "\(cgroup)/io.bfq.weight")
            try write("\(majMin) rbytes=0 wbytes=0 rios=0 wios=0 dbytes=0 dios=0\n", to: "\(cgroup)/io.stat")
            return cgroup
        }
    }

    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func targets(device: String, guests: Int) -> String {
        "device: \(device)\nguests:\n" + (0..<guests).map { index in
            "  - {name: vm\(index), match: {cgroup: machine.slice/vm\(index).scope}, tasks: [{name: a, iops: \(ScenarioSampler.paperIops[index % 3]), targetMs: \(400 + 50 * (index % 20))}, {name: b, iops: 100, targetMs: 2000}]}"
        }.joined(separator: "\n") + "\n"
    }

    struct Setup {
        let root: String
        let cgroups: [String]
        let majMin: String
        let process: Process
        var log: String { "\(root.dropLast("-cgroup".count)).log" }
    }

    func start(_ scratch: ScratchDirectory, name: String, guests: Int) throws -> Setup {
        let device = try scratch.loopDevice(sizeMB: 16)
        let majMin = try BlockDevice.resolve(device).majMin
        let root = "\(scratch.path)/\(name)-cgroup"
        let cgroups = try Self.fixture(at: root, guests: guests, majMin: majMin)
        let targets = "\(scratch.path)/\(name).yaml"
        try Self.targets(device: device, guests: guests).write(toFile: targets, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["daemon", "--targets", targets, "--state-dir", "\(scratch.path)/\(name)-state",
                             "--interval-s", String(intervalS), "--cgroup-v2-fixture", root]
        let log = "\(scratch.path)/\(name).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        try process.run()
        LabCleanup.add(process: process)   // stopped with the benchmark, whatever stops it
        return Setup(root: root, cgroups: cgroups, majMin: majMin, process: process)
    }

    /// Advances every guest's read counters as if it read `iops` 4 KiB blocks per second.
    static func advance(_ setup: Setup, seconds: Double, step: Int) throws {
        for (index, cgroup) in setup.cgroups.enumerated() {
            let iops = ScenarioSampler.paperIops[index % 3] * (1 + 0.2 * sin(Double(step + index) / 10))
            let text = try HostFS().read("\(cgroup)/io.stat")
            let counters = IoCounters.parseV2(text, majMin: setup.majMin) ?? .zero
            let ios = counters.ios + UInt64(iops * seconds)
            try write("\(setup.majMin) rbytes=\(ios * 4096) wbytes=0 rios=\(ios) wios=0 dbytes=0 dios=0\n", to: "\(cgroup)/io.stat")
        }
    }

    public func run(progress: (String) -> Void = { _ in }) async throws -> Result {
        let scratch = try ScratchDirectory(prefix: "rtvirtio-bench-daemon")
        let daemon = try start(scratch, name: "many", guests: guests)
        let baseline = try start(scratch, name: "one", guests: 1)
        defer {
            for process in [daemon.process, baseline.process] where process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
        }
        var samples: [[ProcessSample]] = [[], []]
        var firstCPU: [Double] = [0, 0]
        let started = Date()
        var step = 0
        while Date().timeIntervalSince(started) < durationS {
            try await Task.sleep(for: .milliseconds(200))
            step += 1
            try Self.advance(daemon, seconds: 0.2, step: step)
            try Self.advance(baseline, seconds: 0.2, step: step)
            guard step % 5 == 0 else { continue }
            for (index, process) in [daemon.process, baseline.process].enumerated() {
                guard let sample = ProcessSample.read(pid: process.processIdentifier) else {
                    let log = index == 0 ? daemon.log : baseline.log
                    let tail = ((try? HostFS().read(log)) ?? "").split(separator: "\n").suffix(5).joined(separator: "\n")
                    throw HostError("sample", path: "/proc/\(process.processIdentifier)", detail: "the daemon exited; its log ends:\n\(tail)")
                }
                if samples[index].isEmpty { firstCPU[index] = sample.cpuSeconds }
                samples[index].append(sample)
            }
            if step % 150 == 0 { progress("\(Int(Date().timeIntervalSince(started))) s of \(Int(durationS)) s, RSS \(samples[0].last!.rssKB / 1024) MB") }
        }
        let wall = Date().timeIntervalSince(started) - 1
        func footprint(_ index: Int, guests: Int) -> Footprint {
            let list = samples[index]
            let warm = list.dropFirst(min(5, max(0, list.count - 1)))
            return Footprint(guests: guests, rssStartMB: Double(warm.first?.rssKB ?? 0) / 1024,
                             rssMaxMB: Double(list.map(\.rssKB).max() ?? 0) / 1024, rssEndMB: Double(list.last?.rssKB ?? 0) / 1024,
                             anonMaxMB: Double(list.map(\.anonKB).max() ?? 0) / 1024,
                             cpuPercentOfOneCore: ((list.last?.cpuSeconds ?? 0) - firstCPU[index]) / wall * 100)
        }
        let many = footprint(0, guests: guests), one = footprint(1, guests: 1)
        let (rssSeries, iterationSeconds) = try await iterate(daemon, scratch: scratch, progress: progress)
        return Result(durationS: durationS, intervalS: intervalS, daemon: many, baseline: one,
                      rssRatioToBaseline: many.rssMaxMB / max(one.rssMaxMB, 0.001),
                      cpuRatioToBaseline: many.cpuPercentOfOneCore / max(one.cpuPercentOfOneCore, 0.001),
                      goals: ["rss <= 30 MB": many.rssMaxMB <= 30, "cpu <= 1 % of one core": many.cpuPercentOfOneCore <= 1,
                              "rss flat over iterations (last <= first sample + 10 %)": (rssSeries.last ?? 0) <= (rssSeries.dropFirst().first ?? 0) * 1.1],
                      iterations: iterations, iterationRssMB: rssSeries, iterationSeconds: iterationSeconds)
    }

    /// The daemon's step `iterations` times in this process, on the same
    /// fixture, with RSS sampled ten times along the way.
    func iterate(_ setup: Setup, scratch: ScratchDirectory, progress: (String) -> Void) async throws -> ([Double], Double) {
        kill(setup.process.processIdentifier, SIGTERM)
        setup.process.waitUntilExit()
        let configuration = DaemonConfiguration(
            targetsPath: "\(scratch.path)/many.yaml", modelOverride: nil, paramsOverride: nil, cgroupRoot: nil,
            state: StateDirectory(path: "\(scratch.path)/iterate-state"), interval: .seconds(1), metricsTextfile: nil)
            .with(hierarchy: CgroupHierarchy(version: .v2, mountPoint: setup.root))
        let core = try DaemonCore(configuration: configuration, logger: .init(label: "bench", factory: { _ in SwallowingLogHandler() }))
        var series: [Double] = []
        let started = Date()
        for iteration in 0..<iterations {
            if iteration % 10 == 0 { try Self.advance(setup, seconds: 1, step: iteration) }
            await core.tick()
            if iteration % max(1, iterations / 10) == 0 || iteration == iterations - 1 {
                series.append(Double(ProcessSample.read(pid: getpid())?.rssKB ?? 0) / 1024)
                progress("iteration \(iteration + 1) of \(iterations), RSS \(formatNumber(series.last!)) MB")
            }
        }
        await core.stop()
        return (series, Date().timeIntervalSince(started))
    }
}

import Logging

/// Drops log records (the iteration benchmark measures the loop, not logging).
struct SwallowingLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .critical
    subscript(metadataKey key: String) -> Logger.Metadata.Value? { get { nil } set {} }
    func log(event: LogEvent) {}
}
