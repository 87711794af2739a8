import Foundation
import Glibc
@testable import RTVirtIOHost
import RTVirtIOLab

/// The end-to-end tests' guests: real libvirt domains (TCG) that boot the e2e image
/// (scripts/e2e-image.sh: Debian's cloud kernel, busybox, fio, qemu-ga), each with a
/// region of one bfq loop device as its virtio disk, so they contend in one bfq
/// queue. The guests report on their serial console; what they report is parsed here.
enum E2E {
    /// A tool missing for booting a QEMU guest from a built initramfs (this e2e and the cgroup v2 guest), or nil.
    static let missingTool: String? = {
        for tool in ["/usr/bin/qemu-system-x86_64", "/bin/busybox", "/usr/bin/cpio", "/usr/bin/fio"] where !FileManager.default.isExecutableFile(atPath: tool) {
            print("skipping QEMU guest tests: \(tool) is missing (make test installs it)")
            return "\(tool) missing"
        }
        return nil
    }()

    /// Why the e2e cannot run here, or nil.
    static let skipReason: String? = {
        if let reason = RealLibvirt.skipReason { return reason }
        if let missingTool { return missingTool }
        return nil
    }()

    static var available: Bool {
        if let skipReason { print("skipping e2e: \(skipReason)") }
        return Live.availableOnV1 && skipReason == nil
    }

    /// `scripts/e2e-image.sh`: the kernel and initramfs, built once into .build/e2e.
    static func image() throws -> (kernel: String, initrd: String) {
        let run = Live.run("/bin/bash", ["\(Live.checkout)/scripts/e2e-image.sh"])
        guard run.status == 0 else { throw RealLibvirtError("scripts/e2e-image.sh exited \(run.status): \(run.stderr)") }
        let directory = run.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return ("\(directory)/vmlinuz", "\(directory)/initrd.gz")
    }
}

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

/// What an e2e test runs on: its files, the shared disk, and libvirt. On deinit the
/// domains go first (they hold the disk), then the disk and the files.
final class E2EHost {
    let work: E2EWork
    let disk: SharedDisk
    let libvirt: RealLibvirt

    init(regions: Int) throws {
        work = try E2EWork()
        disk = try SharedDisk(regions: regions)
        libvirt = try RealLibvirt()
    }

    func start(_ name: String, region: Int, jobs: String = "", phases: String = "", runtimeS: Int = 20) throws -> E2EDomain {
        try E2EDomain.start(name, libvirt: libvirt, image: work.image, disk: disk, region: region, work: work.path,
                            jobs: jobs, phases: phases, runtimeS: runtimeS)
    }

    deinit { libvirt.removeDomains() }
}

/// One loop device with bfq, one region of it per guest (libvirt's `<slices>`: QEMU's raw
/// offset and size), filled with random data (reads of holes never reach the disk). On
/// deinit the scheduler goes back to what it was and the device and its file are removed.
final class SharedDisk {
    let loop: LoopDevice
    let regionBytes: Int
    private let schedulerBefore: String
    var path: String { loop.path }

    init(regions: Int, regionMB: Int = 64) throws {
        loop = try LoopDevice(sizeMB: regions * regionMB)
        regionBytes = regionMB << 20
        schedulerBefore = BlockDevice.parseScheduler(try HostFS().read("/sys/block/\(loop.name)/queue/scheduler")).selected ?? "none"
        let fill = Live.run("/bin/dd", ["if=/dev/urandom", "of=\(loop.path)", "bs=1M", "count=\(regions * regionMB)", "oflag=direct", "status=none"])
        guard fill.status == 0 else { throw RealLibvirtError("dd to \(loop.path): \(fill.stderr)") }
        try HostFS().write("/sys/block/\(loop.name)/queue/scheduler", "bfq")
    }

    /// The `<source>` of a disk on region `index`: shareable, since every guest opens the same device.
    func source(_ index: Int) -> String {
        "<source dev='\(loop.path)'><slices><slice type='storage' offset='\(index * regionBytes)' size='\(regionBytes)'/></slices></source>"
    }

    deinit { try? HostFS().write("/sys/block/\(loop.name)/queue/scheduler", schedulerBefore) }
}

/// A domain booting the e2e image. `jobs` ("db:200,web:150") and `phases`
/// ("defaults@EPOCH,…") go to the guest's /init on its kernel command line
/// (scripts/e2e-guest-init.sh). Its serial console is a file; its agent channel is
/// a socket rtvirtio may use (named org.rtvirtio.guest_agent.0: libvirt keeps the
/// connection to a channel named org.qemu.guest_agent.0 for itself).
struct E2EDomain {
    let name: String
    let console: String
    let agentSocket: String

    static func start(_ name: String, libvirt: RealLibvirt, image: (kernel: String, initrd: String), disk: SharedDisk, region: Int,
                      work: String, jobs: String = "", phases: String = "", runtimeS: Int = 20) throws -> E2EDomain {
        let domain = E2EDomain(name: name, console: "\(work)/\(name).console", agentSocket: "\(work)/\(name).agent")
        let xml = """
        <domain type='qemu'>
          <name>\(name)</name>
          <memory unit='MiB'>256</memory>
          <vcpu>1</vcpu>
          <os>
            <type arch='x86_64' machine='pc'>hvm</type>
            <kernel>\(image.kernel)</kernel>
            <initrd>\(image.initrd)</initrd>
            <cmdline>console=ttyS0 quiet loglevel=1 panic=-1 rtv.jobs=\(jobs) rtv.runtime=\(runtimeS) rtv.phases=\(phases)</cmdline>
          </os>
          <on_poweroff>destroy</on_poweroff>
          <on_reboot>destroy</on_reboot>
          <on_crash>destroy</on_crash>
          <devices>
            <emulator>/usr/bin/qemu-system-x86_64</emulator>
            <disk type='block' device='disk'>
              <driver name='qemu' type='raw' cache='none' io='native'/>
              \(disk.source(region))
              <target dev='vda' bus='virtio'/>
              <shareable/>
            </disk>
            <serial type='file'><source path='\(domain.console)'/><target port='0'/></serial>
            <channel type='unix'>
              <source mode='bind' path='\(domain.agentSocket)'/>
              <target type='virtio' name='org.rtvirtio.guest_agent.0'/>
            </channel>
            <memballoon model='none'/>
          </devices>
        </domain>
        """
        try libvirt.start(name, xml: xml)
        return domain
    }

    func consoleText() -> String { ((try? String(contentsOfFile: console, encoding: .utf8)) ?? "").replacingOccurrences(of: "\r", with: "") }

    /// Waits for the guest's "RTV-READY" line (its disk is up); returns that line.
    func waitReady(timeoutS: Double) throws -> String {
        let deadline = Date().addingTimeInterval(timeoutS)
        while Date() < deadline {
            if let line = consoleText().split(separator: "\n").first(where: { $0.contains("RTV-READY") }) { return String(line) }
            usleep(250_000)
        }
        throw RealLibvirtError("\(name) did not boot within \(Int(timeoutS)) s; its console:\n\(consoleText().suffix(2000))")
    }

    /// What fio inside the guest measured in one phase, per job: p99.99 of its completion latency and its IOPS.
    struct JobResult: Equatable { var name: String; var p9999Ms: Double; var iops: Double }

    /// The phase's fio JSON, between the guest's "RTV-BEGIN phase" and "RTV-END phase" lines; nil while it runs.
    func phase(_ phase: String) throws -> [JobResult]? {
        let text = consoleText()
        guard let begin = text.range(of: "RTV-BEGIN \(phase)\n"), let end = text.range(of: "RTV-END \(phase)", range: begin.upperBound..<text.endIndex) else { return nil }
        let body = String(text[begin.upperBound..<end.lowerBound])
        guard let open = body.firstIndex(of: "{"), let object = try JSONSerialization.jsonObject(with: Data(body[open...].utf8)) as? [String: Any],
              let jobs = object["jobs"] as? [[String: Any]] else {
            throw RealLibvirtError("\(name), phase \(phase): no fio JSON in\n\(body.prefix(1000))")
        }
        return try jobs.map { job in
            guard let jobName = job["jobname"] as? String, let read = job["read"] as? [String: Any], let iops = read["iops"] as? Double,
                  let percentiles = (read["clat_ns"] as? [String: Any])?["percentile"] as? [String: Any],
                  let p9999 = (percentiles["99.990000"] as? NSNumber)?.doubleValue else {
                throw RealLibvirtError("\(name), phase \(phase): a fio job without jobname, read.iops or clat_ns.percentile[99.990000]")
            }
            return JobResult(name: jobName, p9999Ms: p9999 / 1e6, iops: iops)
        }
    }

    /// Waits until the guest has reported `phase`.
    func waitPhase(_ phase: String, until deadline: Date) throws -> [JobResult] {
        while Date() < deadline {
            if let result = try self.phase(phase) { return result }
            usleep(500_000)
        }
        throw RealLibvirtError("\(name) did not finish phase \(phase); its console:\n\(consoleText().suffix(2000))")
    }
}
