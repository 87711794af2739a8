import CCgroup
import RTVirtIO
import Foundation

/// The io controller's hierarchy: v2 (`io.bfq.weight`) or v1 `blkio`
/// (`blkio.bfq.weight_device`), and the subtree rtvirtio may touch.
public struct CgroupHierarchy: Sendable, Equatable {
    public enum Version: String, Sendable, Codable { case v1, v2 }

    public var version: Version
    /// Where the controller is mounted, e.g. /sys/fs/cgroup/blkio.
    public var mountPoint: String
    /// The subtree discovery searches and writes stay in (mountPoint by default).
    public var root: String

    public init(version: Version, mountPoint: String, root: String? = nil) {
        self.version = version
        self.mountPoint = mountPoint
        self.root = root ?? mountPoint
    }

    /// Per-device weight lines ("MAJ:MIN W") live here.
    public var weightFileName: String { version == .v2 ? "io.bfq.weight" : "blkio.bfq.weight_device" }

    public func weightFile(_ cgroup: String) -> String { "\(cgroup)/\(weightFileName)" }

    /// Per-device read IOPS limits live here (v1 is not hierarchical: a limit
    /// binds only the processes directly in that cgroup; v2's io.max binds the subtree).
    public func readIopsCapFile(_ cgroup: String) -> String { version == .v2 ? "\(cgroup)/io.max" : "\(cgroup)/blkio.throttle.read_iops_device" }
    public func writeIopsCapFile(_ cgroup: String) -> String { version == .v2 ? "\(cgroup)/io.max" : "\(cgroup)/blkio.throttle.write_iops_device" }

    /// The cgroup's weight on a device that no per-device line sets: v2's
    /// "default N", v1's `blkio.bfq.weight`. nil when a line sets it or
    /// nothing can be read (then a line must be written to be sure).
    public func weightWithoutDeviceLine(_ cgroup: String, majMin: String, fs: HostFS) -> Int? {
        guard let lines = try? fs.read(weightFile(cgroup)), WeightLines.weight(for: majMin, in: lines) == nil else { return nil }
        return defaultWeight(cgroup, lines: lines, fs: fs)
    }

    /// The cgroup's weight on a device without a line of its own, `lines` its weight file (nil where
    /// it could not be read): a "default N" line (v2), else v1's `blkio.bfq.weight`.
    public func defaultWeight(_ cgroup: String, lines: String?, fs: HostFS) -> Int? {
        if let line = lines.flatMap({ WeightLines.weight(for: "default", in: $0) }) { return line }
        guard version == .v1 else { return nil }
        return (try? fs.readValue("\(cgroup)/blkio.bfq.weight")).flatMap { Int($0) }
    }

    /// Finds the io controller: libcgroup's mount table first, /proc/self/mountinfo as the check and fallback.
    /// `root` is relative to the controller mount, or absolute inside it.
    public static func detect(root: String? = nil, mountinfo: String = "/proc/self/mountinfo", fs: HostFS = HostFS()) throws -> CgroupHierarchy {
        let table = (try? fs.read(mountinfo)) ?? ""
        var found: CgroupHierarchy?
        if let v1 = libcgroupMountPoint("blkio") ?? mountPoint(in: table, v1Controller: "blkio") {
            found = CgroupHierarchy(version: .v1, mountPoint: v1)
        } else if let v2 = mountPoint(in: table, v1Controller: nil),
                  ((try? fs.read("\(v2)/cgroup.controllers")) ?? "").split(separator: " ").contains(where: { $0.hasPrefix("io") }) {
            found = CgroupHierarchy(version: .v2, mountPoint: v2)
        }
        guard var hierarchy = found else {
            throw HostError("find the io cgroup controller in", path: mountinfo,
                            detail: "neither a v1 blkio mount nor a cgroup2 mount with the io controller")
        }
        if let root { hierarchy.root = try hierarchy.resolveRoot(root) }
        return hierarchy
    }

    func resolveRoot(_ root: String) throws -> String {
        let relative = root.hasPrefix(mountPoint + "/") ? String(root.dropFirst(mountPoint.count + 1)) : root
        guard let normalized = normalizeCgroupPathAllowingRoot(relative) else {
            throw HostError("use cgroup root", path: root, detail: "it leaves \(mountPoint)")
        }
        return normalized.isEmpty ? mountPoint : "\(mountPoint)/\(normalized)"
    }

    /// libcgroup's view of where a v1 controller is mounted (nil on v2-only hosts).
    static func libcgroupMountPoint(_ controller: String) -> String? {
        guard cgroup_init() == 0 else { return nil }
        var path: UnsafeMutablePointer<CChar>?
        guard cgroup_get_subsys_mount_point(controller, &path) == 0, let path else { return nil }
        defer { free(path) }
        return String(cString: path)
    }

    /// A mount point from mountinfo: a v1 cgroup with `controller` in its
    /// super options, or (nil) the cgroup2 mount.
    static func mountPoint(in mountinfo: String, v1Controller controller: String?) -> String? {
        cgroupMounts(in: mountinfo).first { mount in
            if let controller { return mount.version == .v1 && mount.controllers.contains(controller) }
            return mount.version == .v2
        }?.path
    }

    /// Every cgroup mount in mountinfo, in mount order (the order /proc/mounts lists them):
    /// its path, version and (v1) controllers.
    public static func cgroupMounts(in mountinfo: String) -> [(path: String, version: Version, controllers: [String])] {
        mountinfo.split(separator: "\n").compactMap { line in
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { return nil }
            let fields = halves[0].split(separator: " "), tail = halves[1].split(separator: " ")
            guard fields.count >= 5, tail.count >= 3 else { return nil }
            switch tail[0] {
            case "cgroup": return (String(fields[4]), .v1, tail[2].split(separator: ",").map(String.init))
            case "cgroup2": return (String(fields[4]), .v2, [])
            default: return nil
            }
        }
    }

    /// The absolute cgroup directory for a path relative to `root`; nil if it escapes.
    public func directory(relative path: String) -> String? {
        guard let normalized = normalizeCgroupPath(path) else { return nil }
        return "\(root)/\(normalized)"
    }

    /// v2 only: ancestors from the mount point down to the parent of `cgroup`,
    /// each of which must list `io` in cgroup.subtree_control.
    public func ancestors(of cgroup: String) -> [String] {
        guard version == .v2, cgroup.hasPrefix(mountPoint + "/") else { return [] }
        var result = [mountPoint]
        var current = mountPoint
        let parts = cgroup.dropFirst(mountPoint.count + 1).split(separator: "/").dropLast()
        for part in parts {
            current += "/\(part)"
            result.append(current)
        }
        return result
    }
}

/// Like `normalizeCgroupPath`, but "" (the root itself) is allowed.
func normalizeCgroupPathAllowingRoot(_ path: String) -> String? {
    let trimmed = path.split(separator: "/").filter { $0 != "." }
    if trimmed.isEmpty { return "" }
    return normalizeCgroupPath(path)
}

/// Reads the per-device lines of a weight file ("default 100", "7:0 300").
public enum WeightLines {
    public static func weight(for majMin: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == majMin { return Int(parts[1]) }
        }
        return nil
    }

    /// `cgroup.subtree_control` lists the enabled controllers by name ("cpu io memory").
    public static func controllerEnabled(_ controller: String, in text: String) -> Bool {
        text.split(whereSeparator: \.isWhitespace).contains { $0 == controller }
    }
}
