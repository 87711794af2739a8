import Foundation

/// One fio job of 4 KiB random O_DIRECT reads at a fixed rate, one request at a
/// time, started by a shell that first moves itself into `cgroupProcs` so that
/// every request fio makes is charged to that cgroup. Paths travel as
/// arguments, never through the shell's parser (a run's directory may hold spaces).
enum FioLoad {
    static func start(name: String, device: String, cgroupProcs: String, iops: Int, seconds: Int, extra: [String] = []) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", #"echo $$ > "$1" && shift && exec fio "$@""#, "sh", cgroupProcs,
                             "--name=\(name)", "--filename=\(device)", "--rw=randread", "--bs=4k", "--direct=1",
                             "--ioengine=psync", "--rate_iops=\(iops)", "--time_based", "--runtime=\(seconds)"] + extra
        process.standardOutput = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        return process
    }
}
