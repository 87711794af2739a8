import Foundation
import RTVirtIO
import RTVirtIOHost

/// Random O_DIRECT requests (4 KiB by default) at fixed rates — reads by default, one at a
/// time — one fio job per task, every job in one fio process, each job in its own cgroup
/// (fio's `cgroup=`, which moves the job there before its first request), so that every
/// request a job makes is charged to its task's cgroup.
///
/// One process, not one per task: fio busy-waits any pause shorter than the nanosleep
/// granularity it measured when it started (time.c: `usec_sleep` spins below
/// `ns_granularity`, the longest of ten 1-µs nanosleeps). Twelve fio processes starting at
/// once on this 2-CPU machine measured milliseconds there and then spun through whole rate
/// periods: 16.4 s of user CPU in an 8-s run of twelve tasks (both CPUs full; the tasks at
/// 272 IOPS at 30–37 % each), against 1.05 s as one process. The spinning starved the fast
/// readers: under the same caps (g4-LMH, vm2 891, vm3 35) the urgent guests' 817-IOPS readers
/// got 817, 770, 782, 750 as twelve processes and 817 in each of four runs as one.
enum FioLoad {
    /// One task's job: its rate, op, request size and depth, and the cgroup it runs in.
    struct Job {
        var name: String
        /// The absolute directory of the job's cgroup (it must exist: fio leaves it in place).
        var cgroup: String
        var iops: Int
        var op: TaskOp = .read
        var queueDepth: Int = 1
        var requestKB: Int = 4
        /// Where fio logs each request's latency: this prefix (`latencyLogFile` names the file).
        var latencyLog: String? = nil
        /// Options of this job alone (its ioprio class).
        var extra: [String] = []
    }

    /// Starts one fio process running `jobs` side by side for `seconds`; `extra` applies to every job.
    static func start(device: String, seconds: Int, jobs: [Job], extra: [String] = [],
                      mountinfo: String = "/proc/self/mountinfo", fs: HostFS = HostFS()) throws -> Process {
        let table = try fs.read(mountinfo)
        guard FileManager.default.isExecutableFile(atPath: CapacityProbe.fio) else {
            throw HostError("run the lab's load on", path: device, detail: "fio is not installed (apt-get install fio)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CapacityProbe.fio)
        process.arguments = try commandLine(device: device, seconds: seconds, jobs: jobs, extra: extra, mountinfo: table)
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
    }

    /// fio's arguments: the options every job shares, then one `--name=` section per job.
    static func commandLine(device: String, seconds: Int, jobs: [Job], extra: [String], mountinfo: String) throws -> [String] {
        // every request in the log (not averages), one file per job
        let logs = jobs.contains { $0.latencyLog != nil } ? ["--log_avg_msec=0", "--per_job_logs=1"] : []
        let shared = ["--filename=\(device)", "--direct=1", "--time_based", "--runtime=\(seconds)"] + logs + extra
        return try shared + jobs.flatMap { job in
            ["--name=\(job.name)", "--cgroup=\(try cgroupOption(job.cgroup, mountinfo: mountinfo))", "--cgroup_nodelete=1",
             "--bs=\(job.requestKB)k"] + arguments(iops: job.iops, op: job.op, queueDepth: job.queueDepth)
                + (job.latencyLog.map { ["--write_lat_log=\($0)"] } ?? []) + job.extra
        }
    }

    /// The latency log fio wrote for `jobs[index]` run as one process: fio numbers it by the
    /// job's place among all (1-based). nil for a job without one.
    static func latencyLogFile(_ jobs: [Job], index: Int) -> String? { jobs[index].latencyLog.map { "\($0)_lat.\(index + 1).log" } }

    /// `cgroup=` as fio resolves it: relative to the first cgroup mount in mount order that is a
    /// v1 blkio hierarchy or cgroup2 (cgroup.c, `find_cgroup_mnt`). A cgroup under any other
    /// mount would leave the job in that mount's root, unthrottled and uncounted: refused. fio
    /// builds the whole path in 64 bytes (`get_cgroup_root`): a longer one is refused too.
    static func cgroupOption(_ cgroup: String, mountinfo: String) throws -> String {
        guard let mount = CgroupHierarchy.cgroupMounts(in: mountinfo).first(where: { $0.version == .v2 || $0.controllers.contains("blkio") }) else {
            throw HostError("place fio's jobs in", path: cgroup, detail: "no v1 blkio or cgroup2 mount in mountinfo")
        }
        guard cgroup.hasPrefix(mount.path + "/"), !cgroup.dropFirst(mount.path.count + 1).isEmpty else {
            throw HostError("place fio's jobs in", path: cgroup,
                            detail: "fio resolves cgroup= under \(mount.path), the first \(mount.version == .v2 ? "cgroup2" : "blkio") mount, and this cgroup is not below it")
        }
        guard cgroup.utf8.count < 64 else {
            throw HostError("place fio's jobs in", path: cgroup, detail: "fio holds a cgroup's path in 64 bytes; use a shorter one")
        }
        return String(cgroup.dropFirst(mount.path.count + 1))
    }

    /// fio's words for a task's rate, op and queue depth: psync one at a time, libaio beyond.
    /// fio's rate_iops holds per direction, so a mixed task's is split "reads,writes" (one
    /// number would let it do its IOPS in reads and again in writes: measured, 1000 for 500).
    static func arguments(iops: Int, op: TaskOp, queueDepth: Int) -> [String] {
        let rw: [String] = switch op {
        case .read: ["--rw=randread", "--rate_iops=\(iops)"]
        case .write: ["--rw=randwrite", "--rate_iops=\(iops)"]
        case .readWrite(let percent):
            // 0 would mean "no limit" to fio: a direction the mix never uses still gets 1
            ["--rw=randrw", "--rwmixread=\(percent)", "--rate_iops=\(max(1, iops * percent / 100)),\(max(1, iops - iops * percent / 100))"]
        }
        return rw + (queueDepth > 1 ? ["--ioengine=libaio", "--iodepth=\(queueDepth)"] : ["--ioengine=psync"])
    }
}
