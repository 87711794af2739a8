/// The kernel's per-device I/O limits: v1 `blkio.throttle.read_iops_device` and
/// `write_iops_device` ("MAJ:MIN N" per limited device; writing N = 0 removes the
/// limit) and v2 `io.max` ("MAJ:MIN rbps=max wbps=max riops=N wiops=M" per limited
/// device; writing riops=max or wiops=max removes that limit).
public enum ThrottleLines {
    /// The read IOPS limit on `majMin`, or nil where there is none.
    public static func readIops(for majMin: String, in text: String) -> Int? { iops(for: majMin, in: text, v2Key: "riops=") }

    /// The write IOPS limit on `majMin` (in a v1 write_iops_device file or v2 io.max), or nil.
    public static func writeIops(for majMin: String, in text: String) -> Int? { iops(for: majMin, in: text, v2Key: "wiops=") }

    static func iops(for majMin: String, in text: String, v2Key: String) -> Int? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.first.map(String.init) == majMin else { continue }
            if fields.count == 2, let n = Int(fields[1]) { return n > 0 ? n : nil }   // v1
            for field in fields.dropFirst() where field.hasPrefix(v2Key) {          // v2
                return Int(field.dropFirst(v2Key.count))
            }
        }
        return nil
    }

    /// What to write to set (or, with nil, remove) the read IOPS limit on `majMin`.
    public static func line(majMin: String, readIops: Int?, v2: Bool) -> String {
        v2 ? "\(majMin) riops=\(readIops.map(String.init) ?? "max")" : "\(majMin) \(readIops ?? 0)"
    }

    /// What to write to set (or, with nil, remove) the write IOPS limit on `majMin`.
    public static func line(majMin: String, writeIops: Int?, v2: Bool) -> String {
        v2 ? "\(majMin) wiops=\(writeIops.map(String.init) ?? "max")" : "\(majMin) \(writeIops ?? 0)"
    }
}
