/// The kernel's per-device I/O limits: v1 `blkio.throttle.read_iops_device`
/// ("MAJ:MIN N" per limited device; writing N = 0 removes the limit) and v2
/// `io.max` ("MAJ:MIN rbps=max wbps=max riops=N wiops=max" per limited device;
/// writing riops=max removes that limit).
public enum ThrottleLines {
    /// The read IOPS limit on `majMin`, or nil where there is none.
    public static func readIops(for majMin: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.first.map(String.init) == majMin else { continue }
            if fields.count == 2, let n = Int(fields[1]) { return n > 0 ? n : nil }   // v1
            for field in fields.dropFirst() where field.hasPrefix("riops=") {       // v2
                return Int(field.dropFirst("riops=".count))
            }
        }
        return nil
    }

    /// What to write to set (or, with nil, remove) the read IOPS limit on `majMin`.
    public static func line(majMin: String, readIops: Int?, v2: Bool) -> String {
        v2 ? "\(majMin) riops=\(readIops.map(String.init) ?? "max")" : "\(majMin) \(readIops ?? 0)"
    }
}
