import Foundation
import Glibc
import Testing
import RTVirtIO
@testable import RTVirtIOHost

/// Where an e2e test keeps its files: a directory named for the project and the process
/// (libvirt's QEMU user must reach the boot files and the agent socket in it), with the
/// guests' kernel and initramfs copied in; removed on deinit.
final class E2EWork {
    let path: String
    let image: (kernel: String, initrd: String)

    init() throws {
        path = NSTemporaryDirectory() + "rtvirtio-e2e-\(getpid())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let built = try E2E.image()
        image = ("\(path)/vmlinuz", "\(path)/initrd.gz")
        for (from, to) in [(built.kernel, image.kernel), (built.initrd, image.initrd)] {
            try? FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: from, toPath: to)
        }
    }

    func write(_ name: String, _ text: String) throws -> String {
        let file = "\(path)/\(name)"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The e2e smoke (in `make test`): a real libvirt domain booting a Linux guest is found by
/// every match kind and gets its weight, read back from the kernel; its own bfq knobs go
/// in through its guest agent and come back out on restore; nothing is left behind.
@Suite(.serialized, .enabled(if: E2E.available, "needs root, v1 blkio, libvirtd, qemu-system-x86_64, busybox, cpio, fio"))
struct E2ESmokeTests {
    @Test("needs root: a real libvirt guest is found by every match kind, gets its weight, and its own bfq knobs through its agent",
          .timeLimit(.minutes(4)))
    func rootSmoke() throws {
        let work = try E2EWork()
        let disk = try SharedDisk(regions: 1)
        let libvirt = try RealLibvirt()
        defer { libvirt.removeDomains() }   // before the disk goes
        let name = "rtvirtio-e2e-\(getpid())-vm0"
        let vm = try E2EDomain.start(name, libvirt: libvirt, image: work.image, disk: disk, region: 0, work: work.path)
        print("\(name): \(try vm.waitReady(timeoutS: 120))")
        let pid = try libvirt.pid(name)
        let cgroup = try GuestLocator(hierarchy: try CgroupHierarchy.detect(root: nil))
            .locate(GuestSpec(name: "g", criticality: 1, match: .libvirt(name), tasks: []), fs: HostFS()).cgroup
        let relative = String(cgroup.dropFirst(Live.blkioRoot.count + 1))
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
