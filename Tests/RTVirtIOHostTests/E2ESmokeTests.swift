import Foundation
import Glibc
import Testing
import RTVirtIO
@testable import RTVirtIOHost

/// The e2e smoke (in `make test`): a real libvirt domain booting a Linux guest is found by
/// every match kind and gets its weight, read back from the kernel; its own bfq knobs go
/// in through its guest agent and come back out on restore; nothing is left behind.
@Suite(.serialized, .enabled(if: E2E.available, "needs root, v1 blkio, libvirtd, qemu-system-x86_64, busybox, cpio, fio"))
struct E2ESmokeTests {
    @Test("needs root: a real libvirt guest is found by every match kind, gets its weight, and its own bfq knobs through its agent",
          .timeLimit(.minutes(4)))
    func rootSmoke() throws {
        let host = try E2EHost(regions: 1)
        let (work, disk, libvirt) = (host.work, host.disk, host.libvirt)
        let name = "rtvirtio-e2e-\(getpid())-vm0"
        let vm = try host.start(name, region: 0)
        print("\(name): \(try vm.waitReady(timeoutS: 120))")
        let pid = try libvirt.pid(name)
        let cgroup = try GuestLocator(hierarchy: try CgroupHierarchy.detect(root: nil))
            .locate(GuestSpec(name: "g", criticality: 1, match: .libvirt(name), tasks: []), fs: HostFS()).cgroup
        let relative = String(cgroup.dropFirst(Live.cgroupMount.count + 1))
        let majMin = try BlockDevice.resolve(disk.path).majMin
        func weight() throws -> Int? { WeightLines.weight(for: majMin, in: try HostFS().read("\(cgroup)/blkio.bfq.weight_device")) }

        let guests = Live.run(Live.binary, ["guests"])
        #expect(guests.stdout.split(separator: "\n").contains { $0.hasPrefix("\(pid) ") && $0.contains(name) }, "\(guests.stdout)")

        let state = work.path + "/state"
        let matches = ["{libvirt: \(name)}", "{pidfile: '/run/libvirt/qemu/\(name).pid'}", "{pid: \(pid)}", "{cgroup: '\(relative)'}"]
        for (n, match) in matches.enumerated() {
            let wanted = 200 + 100 * n
            let targets = try work.write("t\(n).yaml", """
                device: \(disk.path)
                guests:
                  - {name: vm0, match: \(match), weight: \(wanted), tasks: [{name: a, iops: 100, targetMs: 100}]}
                """)
            let apply = Live.run(Live.binary, ["apply", "--targets", targets, "--state-dir", state])
            #expect(apply.status == 0, "match \(match): \(apply.stderr)")
            #expect(try weight() == wanted, "match \(match)")
            print("match \(match) → weight \(try weight().map(String.init) ?? "none") in \(cgroup)")
            let restore = Live.run(Live.binary, ["restore", "--state-dir", state])
            #expect(restore.status == 0, "\(restore.stderr)")
            #expect(try weight() == nil, "restore left a weight line for \(match)")
        }

        // the guest's own bfq knobs, through the agent channel rtvirtio was given
        let agentTargets = try work.write("agent.yaml", """
            device: \(disk.path)
            guests:
              - name: vm0
                match: {libvirt: \(name)}
                guestBfq: {timeoutSyncMs: 64, sliceIdleMs: 0}
                guestAgent: {socket: '\(vm.agentSocket)', disk: vda}
                tasks: [{name: a, iops: 100, targetMs: 100}]
            """)
        func inside(_ file: String) throws -> String? {
            let dry = Live.run(Live.binary, ["apply", "--dry-run", "--format", "json", "--targets", agentTargets, "--state-dir", state])
            let object = try JSONSerialization.jsonObject(with: Data(dry.stdout.utf8)) as? [String: Any]
            let change = (object?["changes"] as? [[String: Any]])?.first { ($0["path"] as? String)?.hasPrefix("vm0:/sys/block/vda/queue/\(file)") == true }
            return change?["current"] as? String
        }
        let schedulerBefore = try inside("scheduler")
        let apply = Live.run(Live.binary, ["apply", "--targets", agentTargets, "--state-dir", state])
        #expect(apply.status == 0, "\(apply.stderr)")
        let status = Live.run(Live.binary, ["status", "--format", "json", "--state-dir", state])
        let values = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["values"] as? [[String: Any]] ?? []
        for (file, wanted) in [("scheduler", "bfq"), ("iosched/timeout_sync", "64"), ("iosched/slice_idle_us", "0")] {
            let got = values.first { ($0["path"] as? String)?.hasPrefix("vm0:/sys/block/vda/queue/\(file)") == true }?["current"] as? String
            #expect(got == wanted, "inside the guest \(file): \(got ?? "absent"); status: \(status.stdout) \(status.stderr)")
            print("inside \(name): /sys/block/vda/queue/\(file) = \(got ?? "absent") (read back through the guest agent)")
        }
        let restore = Live.run(Live.binary, ["restore", "--state-dir", state])
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try inside("scheduler") == schedulerBefore, "restore put the guest's scheduler back")
        print("restore put the guest's scheduler back to \(schedulerBefore ?? "?")")
    }
}
