import Foundation
import Glibc
import Testing
import RTVirtIO
@testable import RTVirtIOHost

/// rtvirtio against a real libvirtd (Debian 12: libvirt 9.0) and a real TCG domain,
/// not libvirt's layout mimicked: discovery, `guests`, targets from the domain's
/// metadata, and living beside libvirt's own blkiotune weight.
@Suite(.serialized, .enabled(if: Live.availableOnV1 && RealLibvirt.skipReason == nil, "needs root, v1 blkio, libvirtd, virsh and qemu-system-x86_64"))
struct LiveLibvirtTests {
    @Test("needs root: a real libvirt domain is found by libvirt: NAME, listed by guests, planned from its metadata, its per-device weight coexists with blkiotune's, and libvirt's own settings are shown",
          .timeLimit(.minutes(3)))
    func rootRealLibvirtDomain() throws {
        let device = try LoopDevice(sizeMB: 16)
        try HostFS().write("/sys/block/\(device.name)/queue/scheduler", "bfq")
        let libvirt = try RealLibvirt()
        let name = "rtvirtio-test-\(getpid())-vm0"
        try libvirt.start(name, disk: device.path)
        let pid = try libvirt.pid(name)

        // 1. found through libvirt's own record, whatever the layout: the cgroup QEMU is in
        let hierarchy = try CgroupHierarchy.detect(root: nil)
        let cgroup = try GuestLocator(hierarchy: hierarchy).locate(GuestSpec(name: "g", criticality: 1, match: .libvirt(name), tasks: []), fs: HostFS()).cgroup
        let members = try HostFS().read("\(cgroup)/cgroup.procs").split(separator: "\n").compactMap { Int32($0) }
        #expect(members.contains(pid), "\(cgroup): \(members), QEMU \(pid)")
        print("real libvirt: \(name) (QEMU \(pid)) in \(cgroup)")
        let guests = Live.run(Live.binary, ["guests"])
        let row = guests.stdout.split(separator: "\n").first { $0.hasPrefix("\(pid) ") }
        #expect(row?.contains(name) == true, "\(guests.stdout)")
        print("rtvirtio guests:\n\(guests.stdout)")

        // 2. targets from the domain's metadata: the file names the device and asks for libvirt's domains
        try libvirt.virsh(["metadata", name, "--uri", LibvirtMetadata.namespace, "--key", "rtvirtio", "--live",
                           "--set", "<targets>{criticality: 1, tasks: [{name: db, iops: 100, targetMs: 50}]}</targets>"])
        let targets = device.directory + "/targets.yaml"
        try "device: \(device.path)\nlibvirt: {uri: 'qemu:///system'}\n".write(toFile: targets, atomically: true, encoding: .utf8)
        let plan = Live.run(Live.binary, ["plan", "--targets", targets, "--format", "json"])
        #expect(plan.status == 0, "\(plan.stderr)")
        let planned = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let planGuests = try #require(planned["guests"] as? [[String: Any]])
        let ours = try #require(planGuests.first { $0["name"] as? String == name }, "\(plan.stdout)")
        #expect((ours["tasks"] as? [[String: Any]])?.first?["name"] as? String == "db")
        print("rtvirtio plan (from the domain's metadata):\n\(Live.run(Live.binary, ["plan", "--targets", targets]).stdout)")

        // 3. libvirt's blkiotune weight and rtvirtio's per-device weight side by side; restore returns to libvirt's
        try libvirt.virsh(["blkiotune", name, "--weight", "300", "--live"])
        let weightFile = "\(cgroup)/blkio.bfq.weight", deviceFile = "\(cgroup)/blkio.bfq.weight_device"
        #expect(try HostFS().readValue(weightFile) == "300")
        let pinned = device.directory + "/pinned.yaml"
        try "device: \(device.path)\nguests:\n  - {name: \(name), weight: 700, match: {libvirt: \(name)}, tasks: [{name: db, iops: 100, targetMs: 50}]}\n"
            .write(toFile: pinned, atomically: true, encoding: .utf8)
        let state = device.directory + "/state"
        let apply = Live.run(Live.binary, ["apply", "--targets", pinned, "--state-dir", state])
        #expect(apply.status == 0, "\(apply.stderr)")
        let block = try BlockDevice.resolve(device.path)
        let applied = try HostFS().read(deviceFile)
        #expect(WeightLines.weight(for: block.majMin, in: applied) == 700, "\(applied)")
        #expect(try HostFS().readValue(weightFile) == "300", "libvirt's own weight is left as libvirt set it")
        // 4. what libvirt itself set is shown by plan and status, beside rtvirtio's own values
        try libvirt.virsh(["blkdeviotune", name, "vda", "--total-iops-sec", "500", "--live"])
        print("virsh blkiotune:\n\(try libvirt.virsh(["blkiotune", name]))\nvirsh blkdeviotune vda:\n\(try libvirt.virsh(["blkdeviotune", name, "vda"]))")
        let shown = "\(name): blkiotune weight 300; vda iotune total_iops_sec 500"
        let planText = Live.run(Live.binary, ["plan", "--targets", pinned])
        #expect(planText.stdout.contains("Set by libvirt itself (rtvirtio leaves these alone):\n  \(shown)"), "\(planText.stdout)\n\(planText.stderr)")
        let planJSON = try JSONSerialization.jsonObject(with: Data(Live.run(Live.binary, ["plan", "--targets", pinned, "--format", "json"]).stdout.utf8)) as? [String: Any]
        let tuning = (planJSON?["libvirt"] as? [[String: Any]])?.first
        #expect((tuning?["blkiotune"] as? [String: String]) == ["weight": "300"] && (tuning?["iotune"] as? [String: [String: String]]) == ["vda": ["total_iops_sec": "500"]],
                "\(String(describing: planJSON?["libvirt"]))")
        let status = Live.run(Live.binary, ["status", "--state-dir", state, "--targets", pinned])
        #expect(status.stdout.contains("  \(shown)") && status.stdout.contains("/blkio.bfq.weight_device"), "\(status.stdout)\n\(status.stderr)")
        print("rtvirtio status --targets:\n\(status.stdout)")

        let restore = Live.run(Live.binary, ["restore", "--state-dir", state])
        #expect(restore.status == 0, "\(restore.stderr)")
        let restored = try HostFS().read(deviceFile)
        #expect(WeightLines.weight(for: block.majMin, in: restored) == nil, "\(restored)")
        #expect(try HostFS().readValue(weightFile) == "300")
    }
}
