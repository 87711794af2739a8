import Foundation
import RTVirtIO

/// One fio job of random O_DIRECT requests (4 KiB by default) at a fixed rate — reads by
/// default, one at a time — started by a shell that first moves itself into `cgroupProcs` so that every
/// request fio makes is charged to that cgroup. Paths travel as arguments, never through
/// the shell's parser (a run's directory may hold spaces).
enum FioLoad {
    static func start(name: String, device: String, cgroupProcs: String, iops: Int, op: TaskOp = .read, queueDepth: Int = 1,
                      requestKB: Int = 4, seconds: Int, extra: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"echo $$ > "$1" && shift && exec fio "$@""#, "sh", cgroupProcs,
                             "--name=\(name)", "--filename=\(device)", "--bs=\(requestKB)k", "--direct=1",
                             "--time_based", "--runtime=\(seconds)"] + arguments(iops: iops, op: op, queueDepth: queueDepth) + extra
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
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
