import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost

/// What rtvirtio's kernel observer costs: IOPS at saturation on a fast loop
/// device (4 jobs of 4 KiB random O_DIRECT reads) with the BPF program
/// attached and without, alternating in one run so that a shared machine's
/// drift hits both alike; the ratio per pair, its median and spread, and the
/// CPU time per I/O of the whole machine (user + system, from /proc/stat).
public struct ObserverBenchmark {
    public struct Result: Codable, Sendable {
        public var kernel: String
        public var device: String
        public var secondsPerRun: Int
        public var pairs: Int
        public var withIops: [Double]
        public var withoutIops: [Double]
        /// with / without, per pair
        public var ratios: [Double]
        public var medianRatio: Double
        public var minRatio: Double
        public var maxRatio: Double
        public var cpuMicrosecondsPerIoWith: Double
        public var cpuMicrosecondsPerIoWithout: Double
        public var goal: String
    }

    public var pairs = 5
    public var secondsPerRun = 5

    public init() {}

    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        let directory = NSTemporaryDirectory() + "rtvirtio-observer-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let image = directory + "/disk.img"
        try runProgram("/bin/dd", ["if=/dev/urandom", "of=\(image)", "bs=1M", "count=256", "status=none"])
        let device = try LoopDevices.attach(image)
        let cleanup = LabCleanup.add { LoopDevices.detach(device); try? FileManager.default.removeItem(atPath: directory) }
        defer { LabCleanup.remove(cleanup); LoopDevices.detach(device) }
        let block = try BlockDevice.resolve(device)
        var with: [(iops: Double, cpu: Double)] = [], without: [(iops: Double, cpu: Double)] = []
        for pair in 0..<pairs {
            // alternate which goes first, so warm-up and drift favour neither
            for attached in pair % 2 == 0 ? [false, true] : [true, false] {
                let observer = attached ? try BPFObserver(device: block) : nil
                let measured = try saturate(device)
                if attached {
                    let counted = try observer!.histograms().values.reduce(UInt64(0)) { $0 + $1.count }
                    guard counted > 0 else { throw HostError("observe", path: device, detail: "the attached program counted no request") }
                    with.append(measured)
                } else {
                    without.append(measured)
                }
                progress("pair \(pair + 1)/\(pairs), \(attached ? "with" : "without") the observer: \(formatNumber(measured.iops, decimals: 0)) IOPS")
            }
        }
        let ratios = zip(with, without).map { $0.iops / $1.iops }
        let sorted = ratios.sorted()
        func cpuPerIo(_ runs: [(iops: Double, cpu: Double)]) -> Double {
            runs.reduce(0) { $0 + $1.cpu } / runs.reduce(0) { $0 + $1.iops * Double(secondsPerRun) } * 1e6
        }
        return Result(kernel: (try? HostFS().readValue("/proc/sys/kernel/osrelease")) ?? "?", device: "loop device (--direct-io=on, none) over a file of random data",
                      secondsPerRun: secondsPerRun, pairs: pairs, withIops: with.map(\.iops), withoutIops: without.map(\.iops),
                      ratios: ratios, medianRatio: sorted[sorted.count / 2], minRatio: sorted.first ?? .nan, maxRatio: sorted.last ?? .nan,
                      cpuMicrosecondsPerIoWith: cpuPerIo(with), cpuMicrosecondsPerIoWithout: cpuPerIo(without),
                      goal: "with / without IOPS ≥ 0.98 (at most 2 % lower)")
    }

    /// fio's IOPS over `secondsPerRun` (4 readers, as `rtvirtio probe` measures a device), and
    /// the machine's CPU seconds meanwhile.
    func saturate(_ device: String) throws -> (iops: Double, cpu: Double) {
        let before = try Self.cpuSeconds()
        let iops = try CapacityProbe.readIops(device: device, seconds: secondsPerRun)
        return (iops, try Self.cpuSeconds() - before)
    }

    /// user + nice + system + irq + softirq seconds of every CPU (/proc/stat, USER_HZ = 100).
    static func cpuSeconds() throws -> Double {
        let line = try HostFS().read("/proc/stat").split(separator: "\n").first { $0.hasPrefix("cpu ") } ?? ""
        let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard fields.count >= 7 else { throw HostError("read", path: "/proc/stat", detail: "no cpu line") }
        return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / 100
    }
}
