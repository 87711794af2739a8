import Foundation
@testable import RTVirtIOHost

/// What the kernel's cgroup files hold after a write, for fixture trees: written
/// commands become the state the kernel shows (as the cgroup v2 guest and the v1
/// live suites read back), so fixture tests read what a real host would show
/// and the parsers need no fixture-only formats.
enum KernelLikeCgroupfs {
    /// A HostFS whose regular files behave like cgroupfs.
    static func fs() -> HostFS {
        let fs = HostFS()
        fs.kernelSemantics = store
        return fs
    }

    /// v2's controllers in the order cgroup.subtree_control lists them.
    static let controllers = ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]

    static func store(path: String, written: String, before: String) -> String {
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        switch name {
        case "cgroup.subtree_control":
            var enabled = Set(before.split(whereSeparator: \.isWhitespace).map(String.init))
            for token in written.split(whereSeparator: \.isWhitespace) {
                if token.hasPrefix("+") { enabled.insert(String(token.dropFirst())) }
                if token.hasPrefix("-") { enabled.remove(String(token.dropFirst())) }
            }
            return controllers.filter(enabled.contains).joined(separator: " ") + "\n"
        case "io.bfq.weight", "blkio.bfq.weight_device":
            return weightFile(before: before, written: written)
        case "io.max":
            return ioMax(before: before, written: written)
        default:
            return written
        }
    }

    /// "default N" (or "N") sets the default; "MAJ:MIN N" sets that device's line,
    /// "MAJ:MIN default" removes it. The kernel lists the default first (v2; v1's
    /// weight_device lists only device lines, rtvirtio reads both the same way).
    static func weightFile(before: String, written: String) -> String {
        var defaultLine = before.split(separator: "\n").first { $0.hasPrefix("default ") }.map(String.init)
        var devices = before.split(separator: "\n").filter { $0.contains(":") }.map(String.init)
        let parts = written.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").map(String.init)
        if parts.count == 1 || parts.first == "default" {
            defaultLine = "default \(parts.last ?? "")"
        } else if parts.count == 2 {
            devices.removeAll { $0.hasPrefix(parts[0] + " ") }
            if parts[1] != "default" { devices.append(parts.joined(separator: " ")) }
        }
        return ((defaultLine.map { [$0] } ?? []) + devices.sorted()).map { $0 + "\n" }.joined()
    }

    /// "MAJ:MIN riops=N ..." merges into the device's line of all four limits;
    /// a line whose limits are all "max" disappears.
    static func ioMax(before: String, written: String) -> String {
        let keys = ["rbps", "wbps", "riops", "wiops"]
        var lines: [String: [String: String]] = [:]
        for line in before.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let device = fields.first else { continue }
            lines[String(device)] = Dictionary(uniqueKeysWithValues: fields.dropFirst().compactMap { field in
                let pair = field.split(separator: "=", maxSplits: 1)
                return pair.count == 2 ? (String(pair[0]), String(pair[1])) : nil
            })
        }
        let fields = written.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
        if let device = fields.first {
            var limits = lines[String(device)] ?? Dictionary(uniqueKeysWithValues: keys.map { ($0, "max") })
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=", maxSplits: 1)
                if pair.count == 2, keys.contains(String(pair[0])) { limits[String(pair[0])] = String(pair[1]) }
            }
            lines[String(device)] = limits.values.allSatisfy { $0 == "max" } ? nil : limits
        }
        return lines.keys.sorted().map { device in
            "\(device) " + keys.map { "\($0)=\(lines[device]?[$0] ?? "max")" }.joined(separator: " ") + "\n"
        }.joined()
    }
}
