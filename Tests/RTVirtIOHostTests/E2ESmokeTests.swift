import Foundation
import Testing

/// The e2e smoke (scripts/e2e.sh smoke): a real QEMU guest in a libvirt-shaped
/// cgroup is found by libvirt:, pidfile:, pid: and cgroup:, and each apply's
/// weight is read back from the kernel; guest-side knobs go in through the
/// guest agent and come back out on restore; everything is removed afterwards.
enum E2E {
    static let missingTool: String? = {
        for tool in ["/usr/bin/qemu-system-x86_64", "/bin/busybox", "/usr/bin/cpio", "/usr/bin/fio"] where !FileManager.default.isExecutableFile(atPath: tool) {
            print("skipping e2e smoke: \(tool) is missing (make test installs it)")
            return "\(tool) missing"
        }
        return nil
    }()
}

@Suite(.serialized, .enabled(if: Live.available && E2E.missingTool == nil, "needs root, v1 blkio, loop devices and qemu-system-x86_64, busybox, cpio"))
struct E2ESmokeTests {
    @Test("needs root: a QEMU guest is found by every match kind and gets its weight", .timeLimit(.minutes(3)))
    func rootSmoke() throws {
        let script = URL(fileURLWithPath: Live.binary).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/e2e.sh").path
        let result = Live.run("/bin/bash", [script, "smoke"], environment: ["BIN": Live.binary])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        for match in ["{libvirt: vm0} → weight 200", "{pidfile: ", "{pid: ", "{cgroup: 'machine.slice/machine-qemu\\x2d1\\x2dvm0.scope'} → weight 500"] {
            #expect(result.stdout.contains(match), "missing '\(match)' in\n\(result.stdout)")
        }
        for inside in ["scheduler = bfq", "iosched/timeout_sync = 64", "iosched/slice_idle_us = 0"] {
            #expect(result.stdout.contains("inside vm0: /sys/block/vda/queue/\(inside) (read back through the guest agent)"), "\(result.stdout)")
        }
        #expect(result.stdout.contains("restore put the guest's scheduler back to"))
        #expect(result.stdout.contains("e2e smoke: PASSED"))
        #expect(!(try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)).contains("rtvirtio-e2e"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: Live.blkioRoot).filter { $0.hasPrefix("rtvirtio-e2e-") }
        #expect(leftovers.isEmpty, "cgroups left behind: \(leftovers)")
        #expect(!Live.run("/sbin/losetup", ["-a"]).stdout.contains("rtvirtio-e2e."), "a loop device was left attached")
    }
}
