import Foundation

/// What a device serves of 4 KiB random reads, measured with fio: `jobs` readers,
/// one request at a time each (as the guests' tasks issue them), O_DIRECT, and
/// `--readonly` so a mistyped device is never written. The figure a targets file's
/// `capacity: {readIops: N}` wants.
public enum CapacityProbe {
    public static let fio = "/usr/bin/fio"

    public static func readIops(device: String, seconds: Int = 10, jobs: Int = 4) throws -> Double {
        guard FileManager.default.isExecutableFile(atPath: fio) else {
            throw HostError("measure the capacity of", path: device, detail: "fio is not installed (apt-get install fio)")
        }
        let json = try runProgram(fio, ["--name=rtvirtio-probe", "--filename=\(device)", "--readonly", "--rw=randread", "--bs=4k",
                                        "--direct=1", "--ioengine=psync", "--numjobs=\(jobs)", "--group_reporting", "--time_based",
                                        "--runtime=\(seconds)", "--output-format=json"])
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let job = (object["jobs"] as? [[String: Any]])?.first, let read = job["read"] as? [String: Any],
              let iops = read["iops"] as? Double, iops.isFinite, iops > 0 else {
            throw HostError("measure the capacity of", path: device, detail: "fio's output held no read IOPS")
        }
        return iops
    }
}
