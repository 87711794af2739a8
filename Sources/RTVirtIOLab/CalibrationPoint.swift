import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost

/// One measured configuration: guests (weights, task IOPS) and host knobs.
public struct CalibrationPoint: Sendable, Equatable {
    public struct Guest: Sendable, Equatable {
        public var weight: Int
        public var taskIops: [Int]
        /// Per task: reads, writes or both, and the requests kept in flight (reads one at a time by default).
        public var taskOps: [TaskOp]
        public var taskQueueDepths: [Int]
        /// Per task, its request size in KiB (4 by default, as the calibration measures).
        public var taskRequestKB: [Int]

        public init(weight: Int, taskIops: [Int], taskOps: [TaskOp]? = nil, taskQueueDepths: [Int]? = nil, taskRequestKB: [Int]? = nil) {
            self.weight = weight
            self.taskIops = taskIops
            self.taskOps = taskOps ?? taskIops.map { _ in .read }
            self.taskQueueDepths = taskQueueDepths ?? taskIops.map { _ in 1 }
            self.taskRequestKB = taskRequestKB ?? taskIops.map { _ in 4 }
        }

        /// Task t's op, depth and request size: a task given only in `taskIops` (the arrays are
        /// public and may be set apart) is a 4 KiB read, one at a time, as the calibration began.
        public func op(_ t: Int) -> TaskOp { t < taskOps.count ? taskOps[t] : .read }
        public func queueDepth(_ t: Int) -> Int { t < taskQueueDepths.count ? taskQueueDepths[t] : 1 }
        public func requestKB(_ t: Int) -> Int { t < taskRequestKB.count ? taskRequestKB[t] : 4 }
    }

    public var id: String
    public var guests: [Guest]
    public var host: BfqSettings
    public var repeatIndex: Int
    /// The device's scheduler for this point; `host` and the weights are written only under bfq.
    public var scheduler = "bfq"
    /// Per guest, a read IOPS cap (4 KiB); nil: none.
    public var capsIops: [Int?] = []
    /// The device as the plan that set the caps saw it: what a large request costs in 4 KiB ones.
    public var delivery: DeliveryModel?

    public init(id: String, guests: [Guest], host: BfqSettings, repeatIndex: Int, scheduler: String = "bfq", capsIops: [Int?] = [],
                delivery: DeliveryModel? = nil) {
        (self.id, self.guests, self.host, self.repeatIndex, self.scheduler, self.capsIops) = (id, guests, host, repeatIndex, scheduler, capsIops)
        self.delivery = delivery
    }

    /// A guest's cap split among its tasks as the delivery model assumes (max-min fair
    /// by demand), in 4 KiB requests like the cap: v1 throttling is not hierarchical and
    /// each task runs in its own cgroup.
    public func taskCaps(guest g: Int) -> [Int]? {
        guard g < capsIops.count, let cap = capsIops[g] else { return nil }
        let guest = guests[g]
        let demands = guest.taskIops.indices.map { t in
            DeliveryModel.cost4K(iops: Double(guest.taskIops[t]), requestKB: Double(guest.requestKB(t)), on: delivery)
        }
        return DeliveryModel.maxMinFair(demands: demands, capacity: Double(cap)).map { max(1, Int($0.rounded())) }
    }

    /// The point measured under `scheduler`: for any but bfq nothing of bfq is written, so it
    /// is recorded as the models' proxy for that scheduler (no idling, equal weights).
    public func under(scheduler: String) -> CalibrationPoint {
        guard scheduler != "bfq" else { return self }
        var other = self
        (other.scheduler, other.host) = (scheduler, Settings.deviceSchedulerProxy(weights: []).host)
        for g in other.guests.indices { other.guests[g].weight = 100 }
        return other
    }

    /// The paper's Table II, plus slice_idle 0 (see TESTBED.md).
    public static let weights = [50, 100, 150, 250, 300, 500, 700]
    public static let iops = [100, 500, 1500]
    public static let sliceIdleUs = [0, 1000, 2000, 4000, 6000, 8000]
    public static let timeoutSyncMs = [32, 64, 124]

    /// What a design's tasks do: the paper's Table II loads (one 4 KiB read at a time), or
    /// writers (issue 16): every point holds at least one task that writes.
    public enum Workload: String, Sendable, CaseIterable { case reads, writers }

    /// The writers design's axes beside Table II's (`Workload.writers`).
    public static let ops: [TaskOp] = [.read, .write, .readWrite(readPercent: 70), .readWrite(readPercent: 30)]
    public static let requestKBs = [4, 16, 64]
    public static let queueDepths = [1, 4, 16, 32]

    /// A space-filling sample: the 18 knob pairs are cycled so every pair is
    /// equally represented; guests, weights and loads are drawn at random
    /// (seeded, so the n-th point is always the same and runs can resume).
    /// `writers` also draws each task's op, request size and queue depth, its IOPS
    /// scaled by 4 KiB / request size (the same bytes as Table II's loads), ids "wN".
    public static func design(count: Int, seed: UInt64, repeatEvery: Int = 20, repeats: Int = 3,
                              workload: Workload = .reads) -> [CalibrationPoint] {
        var rng = SplitMix64(seed: seed)
        let knobs = timeoutSyncMs.flatMap { ts in sliceIdleUs.map { BfqSettings(timeoutSyncMs: ts, sliceIdleUs: $0) } }
        let prefix = workload == .reads ? "p" : "w"
        var points: [CalibrationPoint] = []
        for index in 0..<count {
            var guests = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                Guest(weight: weights.randomElement(using: &rng)!,
                      taskIops: (0..<Int.random(in: 1...3, using: &rng)).map { _ in iops.randomElement(using: &rng)! })
            }
            if workload == .writers { drawWriters(&guests, using: &rng) }
            let point = CalibrationPoint(id: "\(prefix)\(index)", guests: guests, host: knobs[index % knobs.count], repeatIndex: 0)
            points.append(point)
            // every `repeatEvery`-th point is measured `repeats` times, to measure noise
            if index % repeatEvery == 0 {
                for r in 1..<repeats { points.append(CalibrationPoint(id: "\(prefix)\(index)r\(r)", guests: guests, host: point.host, repeatIndex: r)) }
            }
        }
        return points
    }

    /// Each task's op, request size and queue depth; one task made a writer if none drew one.
    private static func drawWriters(_ guests: inout [Guest], using rng: inout SplitMix64) {
        for g in guests.indices {
            let tasks = guests[g].taskIops.indices
            guests[g].taskOps = tasks.map { _ in ops.randomElement(using: &rng)! }
            guests[g].taskRequestKB = tasks.map { _ in requestKBs.randomElement(using: &rng)! }
            guests[g].taskQueueDepths = tasks.map { _ in queueDepths.randomElement(using: &rng)! }
            guests[g].taskIops = tasks.map { max(25, guests[g].taskIops[$0] * 4 / guests[g].taskRequestKB[$0]) }
        }
        if !guests.contains(where: { $0.taskOps.contains { $0 != .read } }) {
            let g = Int.random(in: guests.indices, using: &rng)
            guests[g].taskOps[Int.random(in: guests[g].taskOps.indices, using: &rng)] = .write
        }
    }
}

/// One row of the calibration CSV: one task of one point.
public struct CalibrationRow: Sendable {
    public var pointID: String
    public var repeatIndex: Int
    public var regime: String
    public var guestCount: Int
    public var guestIndex: Int
    public var guestWeight: Int
    public var guestWeightShare: Double
    public var tasksInGuest: Int
    public var taskIndex: Int
    public var taskIops: Int
    public var requestKB: Double
    public var hostTimeoutSyncMs: Int
    public var hostSliceIdleUs: Int
    public var guestTimeoutSyncMs: Int
    public var guestSliceIdleUs: Int
    public var otherGuestsDemandKBps: Double
    public var achievedIops: Double
    public var durationS: Double
    public var stats: TailStats
    /// The same task measured in the host kernel (rtvirtio's observer), where BPF runs:
    /// its count of requests and its tail, beside fio's (the CSV's kernel… columns).
    public var kernel: KernelMeasurement? = nil
    /// The device's scheduler for the point; under any but bfq the knobs and weights are not written.
    public var scheduler = "bfq"
    /// What the task did: reads, writes or both, and the requests it kept in flight.
    public var op: TaskOp = .read
    public var queueDepth = 1

    /// The columns a CSV may have: each generation adds some at the end, and an older CSV
    /// is appended to in its own (`lab calibrate` resumes datasets measured before).
    public enum Columns: Sendable, CaseIterable {
        /// to 2026-11-27
        case withoutKernel
        /// + the scheduler and the kernel's measurement (2026-11-27)
        case withKernel
        /// + the task's op, read percent and queue depth (2026-11-28; requestKB the task's own)
        case withOps

        public var header: String {
            switch self {
            case .withoutKernel: CalibrationRow.headerWithoutKernel
            case .withKernel: CalibrationRow.headerWithoutKernel + ",scheduler,kernelCount,kernelP50Ms,kernelP99Ms,kernelP9999Ms"
            case .withOps: Columns.withKernel.header + ",op,readPercent,queueDepth"
            }
        }

        public init?(header: String) {
            guard let match = Self.allCases.first(where: { $0.header == header }) else { return nil }
            self = match
        }
    }

    /// The columns of CSVs written before the scheduler and the kernel's measurement were recorded (to 2026-11-27).
    public static let headerWithoutKernel = "pointId,repeat,regime,guestCount,guestIndex,guestWeight,guestWeightShare,tasksInGuest,taskIndex,taskIops,requestKB,hostTimeoutSyncMs,hostSliceIdleUs,guestTimeoutSyncMs,guestSliceIdleUs,otherGuestsDemandKBps,achievedIops,durationS,samples,p50Ms,p99Ms,p999Ms,p9999Ms,maxMs,windows,windowP9999MedianMs,windowP9999MaxMs,windowMinSamples,windowP9999MeanMs,windowP9999Ms"
    /// What `lab calibrate` writes now. Empty kernel… fields: BPF could not run for that point.
    public static let header = Columns.withOps.header

    /// The row in `columns` (the newest by default; an older CSV's to append to it).
    public func csv(_ columns: Columns = .withOps) -> String {
        let ms = { (v: Double?) in v.map { formatNumber($0, decimals: 3) } ?? "" }
        let kernelFields = [scheduler, kernel.map { String($0.count) } ?? "", ms(kernel?.p50Ms), ms(kernel?.p99Ms), ms(kernel?.p9999Ms)]
        let opFields = [op.csvName, String(Int((op.readFraction * 100).rounded())), String(queueDepth)]
        switch columns {
        case .withoutKernel: return csvWithoutKernel
        case .withKernel: return ([csvWithoutKernel] + kernelFields).joined(separator: ",")
        case .withOps: return ([csvWithoutKernel] + kernelFields + opFields).joined(separator: ",")
        }
    }

    var csvWithoutKernel: String {
        let configuration: [String] = [
            pointID, String(repeatIndex), regime, String(guestCount), String(guestIndex), String(guestWeight),
            formatNumber(guestWeightShare, decimals: 4), String(tasksInGuest), String(taskIndex), String(taskIops),
            formatNumber(requestKB), String(hostTimeoutSyncMs), String(hostSliceIdleUs), String(guestTimeoutSyncMs),
            String(guestSliceIdleUs), formatNumber(otherGuestsDemandKBps)]
        let measured: [String] = [
            formatNumber(achievedIops, decimals: 2), formatNumber(durationS), String(stats.samples),
            formatNumber(stats.p50Ms, decimals: 3), formatNumber(stats.p99Ms, decimals: 3), formatNumber(stats.p999Ms, decimals: 3),
            formatNumber(stats.p9999Ms, decimals: 3), formatNumber(stats.maxMs, decimals: 3), String(stats.windows),
            formatNumber(stats.windowMedianMs, decimals: 3), formatNumber(stats.windowMaxMs, decimals: 3),
            String(stats.windowMinSamples), formatNumber(stats.windowMeanMs, decimals: 3),
            stats.windowTailsMs.map { formatNumber($0, decimals: 3) }.joined(separator: ";")]
        return (configuration + measured).joined(separator: ",")
    }
}

/// Runs one point on the testbed: knobs and weights written, one fio job per
/// task in its own cgroup (moved there before its first I/O), all the jobs in
/// one fio process (`FioLoad`: a process per task spun on two CPUs), logs parsed.
public struct PointRunner: Sendable {
    public var testbed: LabTestbed
    public var durationS: Int
    public var fs = HostFS()

    public init(testbed: LabTestbed, durationS: Int) {
        self.testbed = testbed
        self.durationS = durationS
    }

    /// Runs the point's loads; `ioPriorities[g]` (if given) puts guest g's fio in that ioprio class and level.
    public func run(_ point: CalibrationPoint, ioPriorities: [IOPriority?] = []) throws -> [CalibrationRow] {
        let block = try BlockDevice.resolve(testbed.device)
        let usesBfq = point.scheduler == "bfq"
        // the device's own scheduler for this point, the testbed's back afterwards
        let before = BlockDevice.parseScheduler(try fs.read(block.schedulerPath)).selected ?? "none"
        if point.scheduler != before { try fs.write(block.schedulerPath, point.scheduler) }
        defer { if point.scheduler != before { try? fs.write(block.schedulerPath, before) } }
        if usesBfq {
            try fs.write("\(block.ioschedPath)/timeout_sync", String(point.host.timeoutSyncMs))
            let sliceIdle = block.sliceIdle(fs)
            try fs.write(sliceIdle.path, String(point.host.sliceIdleUs * sliceIdle.perMs / 1000))
        }
        // a point id may be a bench run's "case-scheme-repeat", and a sweep's scheme has spaces
        let work = "\(LabTestbed.workDirectory)/run-" + String(point.id.map { $0.isLetter || $0.isNumber || "_.-".contains($0) ? $0 : "_" })
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: work)
            for directory in LabTestbed.cgroupsDeepestFirst(testbed.cgroupRoot) where directory != testbed.cgroupRoot { rmdir(directory) }
        }
        var jobs: [(guest: Int, task: Int, job: FioLoad.Job)] = []
        // each task's own cgroup, so the kernel's measurement is per task; attached before any fio starts
        let observer = try? BPFObserver(device: block)
        var taskOfCgroup: [UInt64: (Int, Int)] = [:]
        // the tasks as the models see them: op, size and depth, and the demand in KB/s
        let scenario = point.scenario
        for (g, guest) in point.guests.enumerated() {
            let guestCgroup = "\(testbed.cgroupRoot)/g\(g)"
            mkdir(guestCgroup, 0o755)
            if usesBfq { try JournalEntry(kind: .deviceWeight, path: "\(guestCgroup)/blkio.bfq.weight_device", original: nil,
                             applied: String(guest.weight), majMin: block.majMin).write(String(guest.weight), fs) }
            let priority = g < ioPriorities.count ? ioPriorities[g].map { ["--prioclass=\($0.ioClass.rawValue)", "--prio=\($0.level)"] } ?? [] : []
            let caps = point.taskCaps(guest: g)
            for (t, iops) in guest.taskIops.enumerated() {
                let taskCgroup = "\(guestCgroup)/t\(t)"
                mkdir(taskCgroup, 0o755)
                var info = stat()
                if stat(taskCgroup, &info) == 0 { taskOfCgroup[UInt64(info.st_ino)] = (g, t) }
                if let caps {
                    // as the host sets a guest's cap: read and write limits in the task's shares
                    let split = HostSettings.splitCap(caps[t], tasks: [scenario.guests[g].tasks[t]], delivery: point.delivery)
                    for (kind, file, limit) in [(JournalEntry.Kind.readIopsCap, "read_iops_device", split.read), (.writeIopsCap, "write_iops_device", split.write)] {
                        guard let limit else { continue }
                        try JournalEntry(kind: kind, path: "\(taskCgroup)/blkio.throttle.\(file)", original: nil,
                                         applied: String(limit), majMin: block.majMin).write(String(limit), fs)
                    }
                }
                jobs.append((g, t, FioLoad.Job(name: "g\(g)t\(t)", cgroup: taskCgroup, iops: iops, op: guest.op(t), queueDepth: guest.queueDepth(t),
                                               requestKB: guest.requestKB(t), latencyLog: "\(work)/g\(g)t\(t)", extra: priority)))
            }
        }
        let fioJobs = jobs.map(\.job)
        let fio = try FioLoad.start(device: testbed.device, seconds: durationS, jobs: fioJobs)
        let cleanup = LabCleanup.add(process: fio)
        fio.waitUntilExit()
        LabCleanup.remove(cleanup)
        guard fio.terminationStatus == 0 else {
            throw HostError("run fio for", path: fioJobs.map(\.name).joined(separator: ","), detail: "exit \(fio.terminationStatus)")
        }
        var kernel: [String: LatencyHistogram] = [:]
        for (key, histogram) in (try? observer?.histograms()) ?? [:] {
            guard let (g, t) = taskOfCgroup[key.cgroupID] else { continue }
            kernel["\(g)/\(t)", default: LatencyHistogram()] = kernel["\(g)/\(t)", default: LatencyHistogram()] + histogram
        }
        let totalWeight = Double(point.guests.reduce(0) { $0 + $1.weight })
        return try jobs.enumerated().map { index, entry in
            let (g, t) = (entry.guest, entry.task)
            let samples = LatencySample.parseFioLog(try fs.read(FioLoad.latencyLogFile(fioJobs, index: index)!))  // every job here logs
            let guest = point.guests[g]
            var row = CalibrationRow(
                pointID: point.id, repeatIndex: point.repeatIndex, regime: testbed.regime.rawValue, guestCount: point.guests.count,
                guestIndex: g, guestWeight: guest.weight, guestWeightShare: Double(guest.weight) / totalWeight,
                tasksInGuest: guest.taskIops.count, taskIndex: t, taskIops: guest.taskIops[t], requestKB: Double(guest.requestKB(t)),
                hostTimeoutSyncMs: point.host.timeoutSyncMs, hostSliceIdleUs: point.host.sliceIdleUs,
                guestTimeoutSyncMs: BfqSettings.kernelDefault.timeoutSyncMs, guestSliceIdleUs: BfqSettings.kernelDefault.sliceIdleUs,
                otherGuestsDemandKBps: scenario.totalDemandKBps - scenario.guests[g].demandKBps,
                achievedIops: Double(samples.count) / Double(durationS), durationS: Double(durationS), stats: TailStats(samples, windowCount: durationS))
            if observer != nil { row.kernel = KernelMeasurement(kernel["\(g)/\(t)"] ?? LatencyHistogram()) }
            (row.scheduler, row.op, row.queueDepth) = (point.scheduler, guest.op(t), guest.queueDepth(t))
            return row
        }
    }
}

/// A task's requests as the host kernel saw them, from insertion into the scheduler to completion.
public struct KernelMeasurement: Sendable, Codable, Equatable {
    public var count: UInt64
    public var p50Ms: Double?
    public var p99Ms: Double?
    public var p9999Ms: Double?

    public init(_ histogram: LatencyHistogram) {
        count = histogram.count
        (p50Ms, p99Ms, p9999Ms) = (histogram.percentileMs(50), histogram.percentileMs(99), histogram.percentileMs(99.99))
    }
}

extension CalibrationPoint {
    /// The point as the models see it: guests g0…, tasks t0… (op, request size and queue
    /// depth as run), guest knobs at the kernel defaults (as measured), its weights and host knobs.
    public var scenario: Scenario {
        Scenario(guests: guests.enumerated().map { index, guest in
            Scenario.Guest(name: "g\(index)", criticality: index + 1, pinnedWeight: nil, guestBfq: .kernelDefault,
                           tasks: guest.taskIops.indices.map {
                               TaskSpec(name: "t\($0)", iops: Double(guest.taskIops[$0]), requestKB: Double(guest.requestKB($0)), targetMs: 1,
                                        op: guest.op($0), queueDepth: guest.queueDepth($0))
                           })
        })
    }

    public var settings: Settings { Settings(host: host, weights: guests.map(\.weight)) }
}
