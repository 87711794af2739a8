import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost

/// The lab's real-bfq testbed: a loop device (--direct-io=on) over a file,
/// bfq selected, and cgroups under /sys/fs/cgroup/blkio/rtvirtio-lab. Its
/// state file lets `down`, and the next `up` after a crash, remove it all.
public struct LabTestbed: Codable, Sendable {
    public enum Regime: String, Codable, Sendable, CaseIterable { case fast, deviceBound = "device-bound" }

    public var regime: Regime
    public var device: String
    public var image: String
    public var cgroupRoot: String
    public var createdAt: String
    /// device-bound: the FUSE server and where it is mounted; the loop device reads /disk in it.
    public var fuse: FuseServer?

    public struct FuseServer: Codable, Sendable {
        public var pid: Int32
        public var mountpoint: String
        public var serviceTimeUs: Int
        /// Per 4 KiB written; nil in a state file from before writes had their own cost (then reads' cost).
        public var writeServiceTimeUs: Int?
        public var writeServiceUs: Int { writeServiceTimeUs ?? serviceTimeUs }
    }

    public static let stateFile = "/run/rtvirtio-lab/testbed.json"
    public static let blkio = "/sys/fs/cgroup/blkio"
    public static let workDirectory = "/var/tmp/rtvirtio-lab"
    /// rtvirtio-fused's stdout and stderr (it outlives the command that starts it).
    static let fusedLog = "\(workDirectory)/fused.log"

    public enum Failure: Error, CustomStringConvertible {
        case unsupported(String)
        /// A testbed of another regime is up (another run's, or one left up on purpose).
        case otherRegimeUp(running: Regime, wanted: Regime)
        public var description: String {
            switch self {
            case .unsupported(let text): text
            case let .otherRegimeUp(running, wanted):
                "a \(running.rawValue) testbed is up, and these cases want \(wanted.rawValue): rtvirtio lab testbed down first"
            }
        }
    }

    /// device-bound's service time per 4 KiB: 284 µs is 3521 IOPS, the capacity the contended
    /// cases (bench/cases/contended24.yaml) were scaled to; rtvirtio-fused now delivers it whatever
    /// the machine's CPU load (it drifted 2.1k-3.4k IOPS at 200 µs when each request slept in turn).
    public static let defaultServiceTimeUs = 284

    /// Makes the testbed (after removing one a crash left behind). device-bound puts
    /// `fusedBinary` (rtvirtio-fused) with `serviceTimeUs` per 4 KiB read (`writeServiceTimeUs`
    /// written, reads' cost if nil) under the loop device.
    public static func up(regime: Regime, sizeMB: Int = 512, serviceTimeUs: Int = defaultServiceTimeUs, writeServiceTimeUs: Int? = nil,
                          fusedBinary: String? = nil, fs: HostFS = HostFS()) throws -> LabTestbed {
        guard fs.exists(blkio) else { throw Failure.unsupported("needs the v1 blkio hierarchy at \(blkio)") }
        if let stale = try? current() { try stale.down(fs: fs) }
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let image = "\(workDirectory)/\(regime.rawValue).img"
        // real data, so reads hit the disk and not holes of a sparse file
        try runProgram("/bin/dd", ["if=/dev/urandom", "of=\(image)", "bs=1M", "count=\(sizeMB)", "status=none"])
        var fuse: FuseServer?
        var loopFile = image
        if regime == .deviceBound {
            let server = try startFuse(image: image, serviceTimeUs: serviceTimeUs, writeServiceTimeUs: writeServiceTimeUs ?? serviceTimeUs,
                                         binary: fusedBinary, fs: fs)
            fuse = server
            loopFile = "\(server.mountpoint)/disk"
        }
        let cgroupRoot = "\(blkio)/rtvirtio-lab"
        var testbed = LabTestbed(regime: regime, device: "", image: image, cgroupRoot: cgroupRoot,
                                 createdAt: ISO8601DateFormatter().string(from: Date()), fuse: fuse)
        try testbed.save()   // before the device exists: a crash from here on is cleaned up by the next up
        testbed.device = try LoopDevices.attach(loopFile)
        try testbed.save()
        guard mkdir(cgroupRoot, 0o755) == 0 || errno == EEXIST else { throw HostError("mkdir", path: cgroupRoot, errno: errno) }
        let block = try BlockDevice.resolve(testbed.device)
        // without bfq (a kernel built without it) the device keeps its own scheduler: the schemes that
        // set bfq cannot run, the device's own ones and rtvirtio's caps can
        if try block.offersBfq(fs) { try fs.write(block.schedulerPath, "bfq") }
        return testbed
    }

    /// Reads as fast as 4 jobs of 4 KiB random O_DIRECT reads can for `seconds`: the device's capacity in IOPS.
    public func measureCapacityIops(seconds: Int = 3) throws -> Double {
        try CapacityProbe.readIops(device: device, seconds: seconds)
    }

    /// For provenance files and reports: what the device is.
    public var deviceDescription: String {
        let bfq = (try? BlockDevice.resolve(device).offersBfq(HostFS())) == false ? "no bfq in this kernel" : "bfq"
        if let fuse {
            return "loop device (--direct-io=on, \(bfq)) over rtvirtio-fused (FUSE, direct_io, reads and writes served one at a time on a clock, \(fuse.serviceTimeUs) µs per 4 KiB read, \(fuse.writeServiceUs) µs per 4 KiB written) over a file of random data on the local disk"
        }
        return "loop device (--direct-io=on, \(bfq)) over a file of random data on the local disk (\(Self.workDirectory))"
    }

    func save() throws {
        try FileManager.default.createDirectory(atPath: (Self.stateFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: Self.stateFile))
    }

    /// rtvirtio-fused beside the running binary, unless given.
    static func startFuse(image: String, serviceTimeUs: Int, writeServiceTimeUs: Int, binary: String?, fs: HostFS) throws -> FuseServer {
        let executable = binary ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("rtvirtio-fused").path
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw Failure.unsupported("the device-bound regime needs rtvirtio-fused at \(executable) (make build builds it)")
        }
        guard fs.exists("/dev/fuse") else { throw Failure.unsupported("the device-bound regime needs FUSE (/dev/fuse)") }
        let mountpoint = "\(workDirectory)/fuse"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = [image, mountpoint, String(serviceTimeUs), String(writeServiceTimeUs)]
        // The server outlives this command: it must not hold the caller's
        // terminal or pipe open (`testbed up | tail` would never end).
        let log = fusedLog
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: log)
        process.standardError = process.standardOutput
        try process.run()
        for _ in 0..<50 where !fs.exists("\(mountpoint)/disk") {
            guard process.isRunning else {
                throw HostError("start rtvirtio-fused", path: mountpoint, detail: "exited with \(process.terminationStatus); its output is in \(log)")
            }
            usleep(100_000)
        }
        guard fs.exists("\(mountpoint)/disk") else {
            kill(process.processIdentifier, SIGTERM)
            throw HostError("start rtvirtio-fused", path: mountpoint, detail: "no /disk after 5 s")
        }
        return FuseServer(pid: process.processIdentifier, mountpoint: mountpoint, serviceTimeUs: serviceTimeUs, writeServiceTimeUs: writeServiceTimeUs)
    }

    /// One lab run at a time (calibrate and bench share the testbed): an
    /// exclusive lock beside the state file, held until the process exits.
    public static func exclusive() throws -> Int32 {
        try StateDirectory(path: (stateFile as NSString).deletingLastPathComponent).lock()
    }

    public static func current() throws -> LabTestbed? {
        guard FileManager.default.fileExists(atPath: stateFile) else { return nil }
        return try JSONDecoder().decode(LabTestbed.self, from: Data(contentsOf: URL(fileURLWithPath: stateFile)))
    }

    /// Kills load processes in the testbed's cgroups, removes them deepest
    /// first, detaches the loop device, deletes the image and the state file.
    public func down(fs: HostFS = HostFS()) throws {
        for directory in Self.cgroupsDeepestFirst(cgroupRoot) {
            for pid in ((try? fs.read("\(directory)/cgroup.procs")) ?? "").split(separator: "\n").compactMap({ Int32($0) }) {
                kill(pid, SIGKILL)
            }
        }
        usleep(200_000)
        for directory in Self.cgroupsDeepestFirst(cgroupRoot) { rmdir(directory) }
        if !device.isEmpty { LoopDevices.detach(device) }
        if let fuse {
            _ = try? runProgram("/bin/umount", [fuse.mountpoint])
            kill(fuse.pid, SIGTERM)
            Self.waitUntilGone(fuse.pid)
            try? FileManager.default.removeItem(atPath: fuse.mountpoint)
            try? FileManager.default.removeItem(atPath: Self.fusedLog)
        }
        try? FileManager.default.removeItem(atPath: image)
        try? FileManager.default.removeItem(atPath: Self.stateFile)
        rmdir(Self.workDirectory)  // only when empty: never someone else's file
    }

    /// `down` returns only when the server is gone: SIGTERM had its 3 s, then SIGKILL.
    static func waitUntilGone(_ pid: Int32) {
        for _ in 0..<30 where !hasExited(pid) { usleep(100_000) }
        if !hasExited(pid) { kill(pid, SIGKILL) }
    }

    /// No such process, or a zombie: whoever its parent is (this process, or
    /// an init that reaps late) has yet to collect it, but it runs no more.
    static func hasExited(_ pid: Int32) -> Bool {
        kill(pid, 0) != 0 || ((try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?
            .split(separator: ")").last?.split(separator: " ").first == "Z")
    }

    static func cgroupsDeepestFirst(_ root: String) -> [String] {
        cgroupSubdirectories(of: root).sorted { $0.split(separator: "/").count > $1.split(separator: "/").count } + [root]
    }
}
