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

    public static let stateFile = "/run/rtvirtio-lab/testbed.json"
    public static let blkio = "/sys/fs/cgroup/blkio"
    public static let workDirectory = "/var/tmp/rtvirtio-lab"

    public enum Failure: Error, CustomStringConvertible {
        case unsupported(String)
        public var description: String {
            switch self { case .unsupported(let text): text }
        }
    }

    /// Makes the testbed (after removing one a crash left behind).
    public static func up(regime: Regime, sizeMB: Int = 512, fs: HostFS = HostFS()) throws -> LabTestbed {
        guard regime == .fast else {
            throw Failure.unsupported("the device-bound regime (a FUSE server with a fixed service time) is not built yet; use --regime fast")
        }
        guard fs.exists(blkio) else { throw Failure.unsupported("needs the v1 blkio hierarchy at \(blkio)") }
        if let stale = try? current() { try stale.down(fs: fs) }
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let image = "\(workDirectory)/\(regime.rawValue).img"
        // real data, so reads hit the disk and not holes of a sparse file
        try runProgram("/bin/dd", ["if=/dev/urandom", "of=\(image)", "bs=1M", "count=\(sizeMB)", "status=none"])
        let device = try LoopDevices.attach(image)
        let cgroupRoot = "\(blkio)/rtvirtio-lab"
        let testbed = LabTestbed(regime: regime, device: device, image: image, cgroupRoot: cgroupRoot,
                                 createdAt: ISO8601DateFormatter().string(from: Date()))
        try FileManager.default.createDirectory(atPath: (stateFile as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try JSONEncoder().encode(testbed).write(to: URL(fileURLWithPath: stateFile))
        guard mkdir(cgroupRoot, 0o755) == 0 || errno == EEXIST else { throw HostError("mkdir", path: cgroupRoot, errno: errno) }
        let block = try BlockDevice.resolve(device)
        try fs.write(block.schedulerPath, "bfq")
        return testbed
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
        LoopDevices.detach(device)
        try? FileManager.default.removeItem(atPath: image)
        try? FileManager.default.removeItem(atPath: Self.stateFile)
    }

    static func cgroupsDeepestFirst(_ root: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        var directories: [String] = []
        while let item = enumerator.nextObject() as? String {
            if (enumerator.fileAttributes?[.type] as? FileAttributeType) == .typeDirectory { directories.append("\(root)/\(item)") }
        }
        return directories.sorted { $0.split(separator: "/").count > $1.split(separator: "/").count } + [root]
    }
}
