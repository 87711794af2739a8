import Foundation
import Testing
import RTVirtIOHost
import RTVirtIOLab

/// rtvirtio-fused, the lab's contended device: it must serve its nominal rate (one request per
/// service time) whatever the machine's CPU load, or a benchmark compares schemes on different devices.
@Suite(.serialized, .enabled(if: Live.availableWithOrWithoutBfq, "needs root, cgroup v1 blkio or v2 io and losetup"))
struct LiveSlowDeviceTests {
    @Test("needs root: the FUSE device serves one 4 KiB read per service time to 16 readers", .timeLimit(.minutes(1)))
    func rootServesItsRate() throws {
        let serviceUs = 284
        guard let slow = try SlowDevice.make(serviceUs: serviceUs) else { return }
        let nominal = 1e6 / Double(serviceUs)   // 3521 IOPS
        // 16 readers of depth 1: the server's own overhead per request (FUSE round trip, wake-up)
        // must overlap the head's work; when every request slept in turn it added ~95 µs here (2.6k IOPS)
        let iops = try CapacityProbe.readIops(device: slow.path, seconds: 3, jobs: 16)
        #expect(iops >= 0.97 * nominal && iops <= 1.01 * nominal, "\(Int(iops)) IOPS against a nominal \(Int(nominal))")
    }
}
