import Foundation

/// Cumulative I/O counters of one cgroup on one device, reads and writes together: what
/// the device served for it (a writer loads the device as a reader does).
public struct IoCounters: Sendable, Equatable {
    public var ios: UInt64
    public var bytes: UInt64

    public init(ios: UInt64, bytes: UInt64) {
        self.ios = ios
        self.bytes = bytes
    }

    /// v2 io.stat: "7:0 rbytes=N wbytes=N rios=N wios=N ...".
    public static func parseV2(_ text: String, majMin: String) -> IoCounters? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.first.map(String.init) == majMin else { continue }
            var values: [String: UInt64] = [:]
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=")
                if pair.count == 2, let value = UInt64(pair[1]) { values[String(pair[0])] = value }
            }
            guard let rios = values["rios"], let rbytes = values["rbytes"] else { return nil }
            return IoCounters(ios: rios &+ (values["wios"] ?? 0), bytes: rbytes &+ (values["wbytes"] ?? 0))
        }
        return nil
    }

    /// v1 blkio.*io_serviced / io_service_bytes: the "7:0 Read N" and "7:0 Write N" lines, summed.
    public static func parseV1(_ text: String, majMin: String) -> UInt64? {
        var total: UInt64?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, fields[0] == majMin, fields[1] == "Read" || fields[1] == "Write", let n = UInt64(fields[2]) {
                total = (total ?? 0) &+ n
            }
        }
        return total
    }

    /// Reads a cgroup's counters (0 when the cgroup has done no I/O on the device yet).
    public static func read(cgroup: String, majMin: String, hierarchy: CgroupHierarchy, fs: HostFS) throws -> IoCounters {
        switch hierarchy.version {
        case .v2:
            return parseV2(try fs.read("\(cgroup)/io.stat"), majMin: majMin) ?? IoCounters(ios: 0, bytes: 0)
        case .v1:
            // bfq's own counters where the kernel has them, the generic ones otherwise
            let prefix = fs.exists("\(cgroup)/blkio.bfq.io_serviced") ? "blkio.bfq" : "blkio.throttle"
            let ios = parseV1(try fs.read("\(cgroup)/\(prefix).io_serviced"), majMin: majMin) ?? 0
            let bytes = parseV1(try fs.read("\(cgroup)/\(prefix).io_service_bytes"), majMin: majMin) ?? 0
            return IoCounters(ios: ios, bytes: bytes)
        }
    }
}
