import Foundation
import Glibc
import Testing
import RTVirtIO
@testable import RTVirtIOHost

struct GuestMatchingTests {
    @Test func systemdEscapingAsInLibvirtScopes() {
        #expect(GuestLocator.systemdEscape("vm0") == "vm0")
        #expect(GuestLocator.systemdEscape("web-1") == "web\\x2d1")
        #expect(GuestLocator.systemdEscape("db_2.prod") == "db_2.prod")
        #expect(GuestLocator.systemdEscape(".hidden") == "\\x2ehidden")
    }

    @Test func ioCgroupLineFromProcCgroup() {
        let v1 = "9:name=systemd:/\n7:blkio:/machine.slice/x.scope\n0::/\n"
        #expect(GuestLocator.ioCgroup(in: v1, version: .v1) == "/machine.slice/x.scope")
        #expect(GuestLocator.ioCgroup(in: "0::/machine.slice/y.scope\n", version: .v2) == "/machine.slice/y.scope")
        #expect(GuestLocator.ioCgroup(in: "4:memory:/a\n", version: .v1) == nil)
    }

    @Test func mountinfoFindsV1BlkioAndCgroup2() {
        let mountinfo = """
        31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
        38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """
        #expect(CgroupHierarchy.mountPoint(in: mountinfo, v1Controller: "blkio") == "/sys/fs/cgroup/blkio")
        #expect(CgroupHierarchy.mountPoint(in: mountinfo, v1Controller: nil) == "/sys/fs/cgroup/unified")
        #expect(CgroupHierarchy.mountPoint(in: mountinfo, v1Controller: "io") == nil)
    }

    @Test func cgroupRootMayNotLeaveTheMount() throws {
        let hierarchy = CgroupHierarchy(version: .v1, mountPoint: "/sys/fs/cgroup/blkio")
        #expect(try hierarchy.resolveRoot("rtvirtio") == "/sys/fs/cgroup/blkio/rtvirtio")
        #expect(try hierarchy.resolveRoot("/sys/fs/cgroup/blkio/a/b") == "/sys/fs/cgroup/blkio/a/b")
        #expect(throws: HostError.self) { try hierarchy.resolveRoot("../memory") }
        #expect(hierarchy.directory(relative: "../x") == nil)
    }
}

/// Discovery against real v1 cgroups and real processes.
@Suite(.serialized, .enabled(if: Live.available, "needs root, cgroup v1 blkio or v2 io, bfq on loop devices and losetup"))
struct LiveDiscoveryTests {
    static func guest(_ match: GuestMatch?, name: String = "vm0") -> GuestSpec {
        GuestSpec(name: name, criticality: 1, match: match, tasks: [TaskSpec(name: "t", iops: 1, targetMs: 1)])
    }

    @Test("needs root: libvirt: finds machine.slice/machine-qemu\\x2dN\\x2dNAME.scope and the older layouts")
    func rootLibvirtScopes() throws {
        let cgroups = try TestCgroups()
        try cgroups.make("machine.slice")
        let scope = try cgroups.make("machine.slice/machine-qemu\\x2d12\\x2dweb\\x2d1.scope")
        try cgroups.make("machine.slice/machine-qemu\\x2d3\\x2dxweb\\x2d1.scope")      // a different guest
        let locator = GuestLocator(hierarchy: try CgroupHierarchy.detect(root: cgroups.relativeRoot))
        #expect(try locator.locate(Self.guest(.libvirt("web-1")), fs: HostFS()).cgroup == scope)
        try cgroups.make("libvirt")
        try cgroups.make("libvirt/qemu")
        let legacy = try cgroups.make("libvirt/qemu/old")
        #expect(try locator.locate(Self.guest(.libvirt("old")), fs: HostFS()).cgroup == legacy)
        let error = try #require(throws: GuestLocator.Failure.self) { try locator.locate(Self.guest(.libvirt("gone")), fs: HostFS()) }
        #expect(error.description.contains("guest 'vm0' (libvirt: gone): no cgroup found"))
        #expect(error.description.contains("is the VM running?"))
    }

    @Test("needs root: libvirt: follows libvirt's NAME.pid of the running domain to its cgroup, whatever the layout (qemu-2-vm0.libvirt-qemu, as libvirt 9.0 makes without systemd)")
    func rootLibvirtPidfile() throws {
        let cgroups = try TestCgroups()
        try cgroups.make("machine")
        let directory = try cgroups.make("machine/qemu-2-vm0.libvirt-qemu")
        let qemu = try cgroups.spawn(in: "machine/qemu-2-vm0.libvirt-qemu", name: "qemu-system-x86_64")
        let run = NSTemporaryDirectory() + "rtvirtio-test-libvirt-\(getpid())"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: run) }
        let locator = GuestLocator(hierarchy: try CgroupHierarchy.detect(root: cgroups.relativeRoot), libvirtRunDirectory: run)
        // no pid file: the scope names do not know this layout
        let missing = try #require(throws: GuestLocator.Failure.self) { try locator.locate(Self.guest(.libvirt("vm0")), fs: HostFS()) }
        #expect(missing.description.contains("looked in \(run)/vm0.pid, "), "\(missing)")
        try "\(qemu)".write(toFile: "\(run)/vm0.pid", atomically: true, encoding: .utf8)   // libvirt writes no newline
        let found = try locator.locate(Self.guest(.libvirt("vm0")), fs: HostFS())
        #expect(found.cgroup == directory && found.warning == nil)
        // a stale pid file (the VM stopped) falls back to the scope names
        try "999999999".write(toFile: "\(run)/vm0.pid", atomically: true, encoding: .utf8)
        #expect(throws: GuestLocator.Failure.self) { try locator.locate(Self.guest(.libvirt("vm0")), fs: HostFS()) }
    }

    @Test("needs root: pid: and pidfile: follow /proc/N/cgroup; a non-QEMU process is named")
    func rootPidMatch() throws {
        let cgroups = try TestCgroups()
        let directory = try cgroups.make("vm0.scope")
        let qemu = try cgroups.spawn(in: "vm0.scope", name: "qemu-system-x86_64")
        let locator = GuestLocator(hierarchy: try CgroupHierarchy.detect(root: cgroups.relativeRoot))
        let found = try locator.locate(Self.guest(.pid(qemu)), fs: HostFS())
        #expect(found.cgroup == directory)
        #expect(found.warning == nil)
        let pidfile = NSTemporaryDirectory() + "rtvirtio-test-\(qemu).pid"
        try "\(qemu)\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
        defer { unlink(pidfile) }
        #expect(try locator.locate(Self.guest(.pidfile(pidfile)), fs: HostFS()).cgroup == directory)

        let other = try cgroups.spawn(in: "vm0.scope", name: "sleep")
        #expect(try locator.locate(Self.guest(.pid(other)), fs: HostFS()).warning == "guest 'vm0': pid \(other) runs 'sleep', not QEMU")
        // a process outside the subtree is refused
        let outside = try #require(throws: GuestLocator.Failure.self) { try locator.locate(Self.guest(.pid(getpid())), fs: HostFS()) }
        #expect(outside.description.contains("is outside \(cgroups.root); refusing to touch it"))
        try "not-a-pid".write(toFile: pidfile, atomically: true, encoding: .utf8)
        let bad = try #require(throws: GuestLocator.Failure.self) { try locator.locate(Self.guest(.pidfile(pidfile)), fs: HostFS()) }
        #expect(bad.description.contains("expected a process id") && !bad.description.contains("not-a-pid"), "its content is not echoed")
        // hostile pid files: a link to /dev/zero (memory), a FIFO (blocks), a large file — refused at once (issue 18, 20)
        let zero = pidfile + ".zero", fifo = pidfile + ".fifo", large = pidfile + ".large"
        symlink("/dev/zero", zero)
        mkfifo(fifo, 0o600)
        try String(repeating: "1", count: 100).write(toFile: large, atomically: true, encoding: .utf8)
        defer { for path in [zero, fifo, large] { unlink(path) } }
        for (path, says) in [(zero, "a symbolic link is not accepted"), (fifo, "not a regular file"), (large, "larger than 64 bytes")] {
            let refused = try #require(throws: GuestLocator.Failure.self) { try locator.locate(Self.guest(.pidfile(path)), fs: HostFS()) }
            #expect(refused.description.contains(says), "\(refused)")
        }
    }
}

struct QemuProcessTests {
    @Test func guestNameFromTheCommandLine() {
        #expect(QemuProcess.guestName(arguments: ["qemu-system-x86_64", "-name", "guest=vm0,debug-threads=on"]) == "vm0")
        #expect(QemuProcess.guestName(arguments: ["qemu-system-x86_64", "-name", "web"]) == "web")
        #expect(QemuProcess.guestName(arguments: ["qemu-system-x86_64", "-m", "512"]) == nil)
    }
}

@Suite(.serialized, .enabled(if: Live.available, "needs root, cgroup v1 blkio or v2 io, bfq on loop devices and losetup"))
struct LiveGuestsCommandTests {
    @Test("needs root: `rtvirtio guests` lists a QEMU-named process with its cgroup")
    func rootGuestsListsQemu() throws {
        let cgroups = try TestCgroups(chargedToThem: true)   // v2: a weight file only where the parent enables io
        try cgroups.make("vm7.scope")
        let pid = try cgroups.spawn(in: "vm7.scope", name: "qemu-system-x86_64")
        // `exec -a` renames argv[0] only; the -name argument needs a real argv, so check the scan's pieces
        let found = QemuProcess.scan(hierarchy: try CgroupHierarchy.detect()).first { $0.pid == pid }
        #expect(found?.cgroup == "\(cgroups.root)/vm7.scope")
        #expect(found?.weights.first == "default 100")
        let result = Live.run(Live.binary, ["guests", "--format", "json"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("\"pid\" : \(pid)"))
        // v2, before io is enabled in its parent: no weight file, and the table says why
        if Live.isV2 {
            try cgroups.make("vm8.scope")
            try cgroups.make("vm8.scope/inner")
            _ = try cgroups.spawn(in: "vm8.scope/inner", name: "qemu-system-x86_64")
            let text = Live.run(Live.binary, ["guests"]).stdout
            #expect(text.split(separator: "\n").contains { $0.contains("vm8.scope/inner") && $0.hasSuffix("none (io not enabled in its parent)") }, "\(text)")
        }
    }
}
