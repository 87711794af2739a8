/// What libvirt itself set for a domain's I/O, which rtvirtio leaves alone and shows
/// beside its own: `blkiotune` (the domain's host cgroup: weight, per-device weights
/// and limits) and each disk's `iotune` (throttling inside QEMU, which the host's
/// block layer never sees queue). Read from virsh's text; see LibvirtDomains.
public struct LibvirtTuning: Sendable, Equatable, Codable {
    public var domain: String
    /// The blkiotune fields that are set: non-zero, non-empty.
    public var blkiotune: [String: String]
    /// Per disk target (vda, …), the iotune fields that are set.
    public var iotune: [String: [String: String]]

    public init(domain: String, blkiotune: [String: String], iotune: [String: [String: String]]) {
        self.domain = domain
        self.blkiotune = blkiotune
        self.iotune = iotune
    }

    /// One line: "blkiotune weight 300; vda iotune total_iops_sec 500".
    public var summary: String {
        let blk = blkiotune.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        let io = iotune.sorted { $0.key < $1.key }.compactMap { disk, fields in
            fields.isEmpty ? nil : "\(disk) iotune " + fields.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        let parts = (blk.isEmpty ? [] : ["blkiotune " + blk.joined(separator: ", ")]) + io
        return parts.isEmpty ? "nothing set" : parts.joined(separator: "; ")
    }

    /// The set fields of virsh's `blkiotune` / `blkdeviotune` answer ("name : value" lines).
    /// virsh's output is treated as hostile: at most 64 fields, names of [a-z0-9_] up to 64
    /// characters, values up to 256 printable characters; anything else is dropped.
    public static func fields(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n").prefix(64) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") }),
                  value.count <= 256, value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7f }),
                  !value.isEmpty, value != "0" else { continue }
            result[name] = value
        }
        return result
    }

    /// The set fields of a disk's `blkdeviotune` answer. `group_name` is dropped when it is
    /// the disk's own QOM path (what QEMU names a throttle group nobody named): it then
    /// says nothing a limit does not; a name of the operator's says disks share limits.
    public static func iotuneFields(_ text: String) -> [String: String] {
        var result = fields(text)
        if result["group_name"]?.hasPrefix("/machine/") == true { result["group_name"] = nil }
        return result
    }

    /// The disk targets of virsh's `domblklist` answer (without its header: `virsh -q`).
    public static func diskTargets(_ text: String) -> [String] {
        text.split(separator: "\n").prefix(64).compactMap { line in
            guard let target = line.split(separator: " ", omittingEmptySubsequences: true).first,
                  target.count <= 32, target.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
            return String(target)
        }
    }
}
