import Foundation
import Glibc

/// A real libvirtd for the live tests: the one running, or one started here (with
/// virtlogd) and stopped again. Its domains are named for the project and this
/// process, destroyed and undefined on deinit, failure or not.
final class RealLibvirt {
    static let virsh = "/usr/bin/virsh", libvirtd = "/usr/sbin/libvirtd", virtlogd = "/usr/sbin/virtlogd"
    static let socket = "/run/libvirt/libvirt-sock"

    /// Why no real libvirtd can run here, or nil.
    static let skipReason: String? = {
        if geteuid() != 0 { return "needs root" }
        for tool in [virsh, libvirtd, virtlogd, "/usr/bin/qemu-system-x86_64"] where !FileManager.default.isExecutableFile(atPath: tool) {
            return "\(tool) is missing (make test installs libvirt-daemon-system, libvirt-daemon-driver-qemu and libvirt-clients)"
        }
        if getpwnam("libvirt-qemu") == nil { return "no libvirt-qemu user: libvirt's QEMU driver cannot start (make test installs libvirt-daemon-system)" }
        return nil
    }()

    private var started: [String] = []   // pid files of the daemons this process started
    private var domains: [String] = []
    /// The `machine` cgroups libvirt makes in every hierarchy for its first domain: the ones
    /// absent before are removed again (rmdir: only when empty, never anyone else's).
    private var machineCgroups: [String] = []

    init() throws {
        guard !FileManager.default.fileExists(atPath: Self.socket) || Live.run(Self.virsh, ["-c", "qemu:///system", "version"]).status != 0 else { return }
        for directory in ["/var/log/libvirt", "/run/libvirt"] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        for (daemon, pidFile) in [(Self.virtlogd, "/run/virtlogd.pid"), (Self.libvirtd, "/run/libvirtd.pid")] {
            let status = Self.spawnDaemon(daemon, ["--daemon", "--pid-file", pidFile])
            guard status == 0 else { throw RealLibvirtError("\(daemon) --daemon exited \(status)") }
            started.append(pidFile)
        }
        for _ in 0..<100 where Live.run(Self.virsh, ["-c", "qemu:///system", "version"]).status != 0 { usleep(100_000) }
        guard Live.run(Self.virsh, ["-c", "qemu:///system", "version"]).status == 0 else {
            throw RealLibvirtError("libvirtd did not answer on qemu:///system within 10 s (see /var/log/libvirt/libvirtd.log)")
        }
    }

    /// Runs a daemonizing program to the exit of its first process, with /dev/null for
    /// its standard files. Not Foundation's Process: the daemon keeps the pipes and
    /// descriptors it inherits, and Process then waits for ever (seen here with virtlogd).
    static func spawnDaemon(_ path: String, _ arguments: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status >> 8) & 0xff
    }

    /// Defines and starts a TCG domain with no OS (it waits in its firmware) and `disk` as its virtio disk.
    func start(_ name: String, disk: String) throws {
        try start(name, xml: """
        <domain type='qemu'>
          <name>\(name)</name>
          <memory unit='MiB'>64</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type></os>
          <devices>
            <emulator>/usr/bin/qemu-system-x86_64</emulator>
            <disk type='block' device='disk'>
              <driver name='qemu' type='raw' cache='none' io='native'/>
              <source dev='\(disk)'/>
              <target dev='vda' bus='virtio'/>
            </disk>
            <memballoon model='none'/>
          </devices>
        </domain>
        """)
    }

    /// Defines and starts the domain `xml` describes; it is destroyed and undefined on deinit.
    func start(_ name: String, xml: String) throws {
        let file = NSTemporaryDirectory() + "\(name).xml"
        try xml.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let hierarchies = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? []
        machineCgroups += hierarchies.map { "/sys/fs/cgroup/\($0)/machine" }.filter { !FileManager.default.fileExists(atPath: $0) }
        try virsh(["define", file])
        domains.append(name)
        try virsh(["start", name])
    }

    @discardableResult
    func virsh(_ arguments: [String]) throws -> String {
        let run = Live.run(Self.virsh, ["-q", "-c", "qemu:///system"] + arguments)
        guard run.status == 0 else { throw RealLibvirtError("virsh \(arguments.joined(separator: " ")): \(run.stderr)") }
        return run.stdout
    }

    /// The running domain's QEMU pid, from libvirt's own record.
    func pid(_ name: String) throws -> Int32 {
        let text = try String(contentsOfFile: "/run/libvirt/qemu/\(name).pid", encoding: .utf8)
        guard let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw RealLibvirtError("no pid in /run/libvirt/qemu/\(name).pid") }
        return pid
    }

    /// Destroys and undefines every domain started here (a guest that powered off is only undefined).
    func removeDomains() {
        for name in domains {
            _ = Live.run(Self.virsh, ["-c", "qemu:///system", "destroy", name])
            _ = Live.run(Self.virsh, ["-c", "qemu:///system", "undefine", name])
        }
        domains = []
        for cgroup in machineCgroups { rmdir(cgroup) }
        machineCgroups = []
    }

    deinit {
        removeDomains()
        for pidFile in started.reversed() {
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
                for _ in 0..<50 where kill(pid, 0) == 0 { usleep(100_000) }
                if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
                unlink(pidFile)
            }
        }
    }
}

struct RealLibvirtError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
