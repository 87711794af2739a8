import Foundation

/// The QEMU processes on this host, as `rtvirtio guests` lists them.
public struct QemuProcess: Sendable, Codable, Equatable {
    public var pid: Int32
    public var name: String?
    public var cgroup: String?
    /// The weight file's lines: "default 100", "MAJ:MIN W".
    public var weights: [String]

    /// `-name guest=vm0,debug-threads=on` or `-name vm0` → vm0.
    public static func guestName(arguments: [String]) -> String? {
        guard let index = arguments.firstIndex(of: "-name"), index + 1 < arguments.count else { return nil }
        let value = arguments[index + 1]
        for part in value.split(separator: ",") {
            if part.hasPrefix("guest=") { return String(part.dropFirst(6)) }
            if !part.contains("=") { return String(part) }
        }
        return nil
    }

    public static func scan(hierarchy: CgroupHierarchy, fs: HostFS = HostFS(), procRoot: String = "/proc") -> [QemuProcess] {
        fs.list(procRoot).compactMap(Int32.init).sorted().compactMap { pid in
            guard let cmdline = try? fs.read("\(procRoot)/\(pid)/cmdline") else { return nil }
            let arguments = cmdline.split(separator: "\0").map(String.init)
            guard let command = arguments.first, (command as NSString).lastPathComponent.hasPrefix("qemu") else { return nil }
            let relative = (try? fs.read("\(procRoot)/\(pid)/cgroup")).flatMap { GuestLocator.ioCgroup(in: $0, version: hierarchy.version) }
            let cgroup = relative.map { hierarchy.mountPoint + ($0 == "/" ? "" : $0) }
            let weights = cgroup.flatMap { try? fs.read(hierarchy.weightFile($0)) }?
                .split(separator: "\n").map(String.init) ?? []
            return QemuProcess(pid: pid, name: guestName(arguments: arguments), cgroup: cgroup, weights: weights)
        }
    }
}
