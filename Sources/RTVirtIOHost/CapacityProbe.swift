import Foundation
import RTVirtIO

/// What a device serves of 4 KiB random reads, measured with fio: `jobs` readers,
/// one request at a time each (as the guests' tasks issue them), O_DIRECT, and
/// `--readonly` so a mistyped device is never written. The figure a targets file's
/// `capacity: {readIops: N}` wants.
public enum CapacityProbe {
    public static let fio = "/usr/bin/fio"

    public static func readIops(device: String, seconds: Int = 10, jobs: Int = 4) throws -> Double {
        try read(device: device, requestKB: 4, seconds: seconds, jobs: jobs).iops
    }

    /// MB/s of 1 MiB random reads, the same way: what a large request costs (`capacity: {readMBps:}`).
    public static func largeReadMBps(device: String, seconds: Int = 10, jobs: Int = 4) throws -> Double {
        Units.megabytes(kilobytes: Units.kilobytes(bytes: try read(device: device, requestKB: 1024, seconds: seconds, jobs: jobs).bytesPerSecond))
    }

    static func read(device: String, requestKB: Int, seconds: Int, jobs: Int) throws -> (iops: Double, bytesPerSecond: Double) {
        guard FileManager.default.isExecutableFile(atPath: fio) else {
            throw HostError("measure the capacity of", path: device, detail: "fio is not installed (apt-get install fio)")
        }
        let json = try runProgram(fio, ["--name=rtvirtio-probe", "--filename=\(device)", "--readonly", "--rw=randread", "--bs=\(requestKB)k",
                                        "--direct=1", "--ioengine=psync", "--numjobs=\(jobs)", "--group_reporting", "--time_based",
                                        "--runtime=\(seconds)", "--output-format=json"])
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let job = (object["jobs"] as? [[String: Any]])?.first, let read = job["read"] as? [String: Any],
              let iops = read["iops"] as? Double, iops.isFinite, iops > 0,
              let bytes = read["bw_bytes"] as? Double, bytes.isFinite, bytes > 0 else {
            throw HostError("measure the capacity of", path: device, detail: "fio's output held no read IOPS or bandwidth")
        }
        return (iops, bytes)
    }
}
