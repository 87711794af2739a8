import Foundation
import Glibc
import Testing
import RTVirtIO
@testable import RTVirtIOHost

/// A targets file with a writer, end to end on a real loop device (issue 16): planned by the
/// op-aware model, applied (the writer's cap as the kernel's write limit, in its own request
/// size), observed in the kernel per op while fio reads and writes, and restored.
@Suite(.serialized, .enabled(if: Live.available, "needs root, cgroup v1 blkio or v2 io, bfq on loop devices and losetup"))
struct LiveWriterTests {
    @Test("needs root: a reader and a deep 16 KiB writer: plan caps the writer, apply writes its write limit, observe sees its writes held to it, restore", .timeLimit(.minutes(1)))
    func rootWriterPlannedAppliedObserved() throws {
        guard FileManager.default.fileExists(atPath: BPFObserver.kernelBTF) else { print("skipping: no BTF at \(BPFObserver.kernelBTF)"); return }
        let device = try LoopDevice(sizeMB: 64)
        let cgroups = try TestCgroups()
        try cgroups.make("vm0")
        try cgroups.make("vm1")
        let targets = device.directory + "/targets.yaml", state = device.directory + "/state"
        // 300 reads + 400 × 16 KiB writes (1600 in 4 KiB) ask for more than the 1000 declared
        try """
            device: \(device.path)
            model: op-aware
            capacity: {readIops: 1000}
            guests:
              - {name: vm0, criticality: 1, match: {cgroup: vm0}, tasks: [{name: db, iops: 300, targetMs: 50}]}
              - {name: vm1, criticality: 2, match: {cgroup: vm1}, tasks: [{name: backup, iops: 400, requestKB: 16, targetMs: 500, rw: write, queueDepth: 4}]}
            """.write(toFile: targets, atomically: true, encoding: .utf8)
        let host = ["--state-dir", state, "--cgroup-root", cgroups.relativeRoot]
        let plan = Live.run(Live.binary, ["plan", "--targets", targets, "--format", "json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let planned = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any], "\(plan.stdout)")
        #expect((planned["model"] as? String) == "op-aware")
        let guests = try #require(planned["guests"] as? [[String: Any]])
        let cap = try #require(guests.first { $0["name"] as? String == "vm1" }?["readIopsCap"] as? Int, "the writer is capped: \(plan.stdout)")
        #expect(guests.first { $0["name"] as? String == "vm0" }?["readIopsCap"] == nil)

        let apply = Live.run(Live.binary, ["apply", "--targets", targets] + host)
        #expect(apply.status == 0, "\(apply.stderr)")
        let majMin = try BlockDevice.resolve(device.path).majMin
        // the plan's cap is in 4 KiB requests, the kernel's in the writer's 16 KiB ones, and it only writes
        let writeLimit = Int((Double(cap) / 4).rounded())
        #expect(Live.writeIopsCap(in: "\(cgroups.root)/vm1", majMin: majMin) == writeLimit, "the kernel's own line")
        #expect(Live.readIopsCap(in: "\(cgroups.root)/vm1", majMin: majMin) == nil)

        let run = try Live.observeDuring(targets: targets, cgroups: cgroups, device: device.path, seconds: 5, loads: [
            ("vm0", ["--rw=randread", "--bs=4k", "--ioengine=psync", "--rate_iops=300"]),
            ("vm1", ["--rw=randwrite", "--bs=16k", "--ioengine=libaio", "--iodepth=4", "--rate_iops=400"]),
        ])
        #expect(run.fioStatuses == [0, 0])
        let report = try #require(run.report, "\(run.stderr)")
        let observed = try #require(report["guests"] as? [[String: Any]])
        func ops(_ guest: String) -> [String: [String: Any]] {
            observed.first { $0["name"] as? String == guest }?["ops"] as? [String: [String: Any]] ?? [:]
        }
        #expect(Set(ops("vm0").keys) == ["read"] && Set(ops("vm1").keys) == ["write"], "\(ops("vm0").keys) \(ops("vm1").keys)")
        // the writer asked 400 × 3 s and was held to its write limit; the reader got its 300 × 3 s
        let writes = try #require(ops("vm1")["write"]?["count"] as? Int)
        #expect(Double(writes) <= Double(writeLimit) * 3 * 1.1 + 10 && writes > writeLimit, "vm1 wrote \(writes), limit \(writeLimit)/s")
        let reads = try #require(ops("vm0")["read"]?["count"] as? Int)
        #expect(reads >= 850, "vm0 read \(reads) of 900")
        print("writer end to end: cap \(cap) (4 KiB) = \(writeLimit) writes/s of 16 KiB; observed vm1 \(writes) writes, vm0 \(reads) reads in 3 s")

        #expect(Live.run(Live.binary, ["restore"] + host).status == 0)
        #expect(Live.writeIopsCap(in: "\(cgroups.root)/vm1", majMin: majMin) == nil)
        #expect(try device.scheduler() == device.pristineScheduler)
    }
}
