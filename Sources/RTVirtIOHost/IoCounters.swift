import Foundation

/// Cumulative read counters of one cgroup on one device.
public struct ReadCounters: Sendable, Equatable {
    public var ios: UInt64
    public var bytes: UInt64

    public init(ios: UInt64, bytes: UInt64) {
        self.ios = ios
        self.bytes = bytes
    }

    /// v2 io.stat: "7:0 rbytes=N wbytes=N rios=N wios=N ...".
    public static func parseV2(_ text: String, majMin: String) -> ReadCounters? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.first.map(String.init) == majMin else { continue }
            var values: [String: UInt64] = [:]
            for field in fields.dropFirst() {
                let pair = field.split(separator: "=")
                if pair.count == 2, let value = UInt64(pair[1]) { values[String(pair[0])] = value }
            }
            guard let ios = values["rios"], let bytes = values["rbytes"] else { return nil }
            return ReadCounters(ios: ios, bytes: bytes)
        }
        return nil
    }

    /// v1 blkio.*io_serviced / io_service_bytes: "7:0 Read N" lines.
    public static func parseV1Read(_ text: String, majMin: String) -> UInt64? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 3, fields[0] == majMin, fields[1] == "Read" { return UInt64(fields[2]) }
        }
        return nil
    }

    /// Reads a cgroup's counters (0 when the cgroup has done no I/O on the device yet).
    public static func read(cgroup: String, majMin: String, hierarchy: CgroupHierarchy, fs: HostFS) throws -> ReadCounters {
        switch hierarchy.version {
        case .v2:
            return parseV2(try fs.read("\(cgroup)/io.stat"), majMin: majMin) ?? ReadCounters(ios: 0, bytes: 0)
        case .v1:
            // bfq's own counters where the kernel has them, the generic ones otherwise
            let prefix = fs.exists("\(cgroup)/blkio.bfq.io_serviced") ? "blkio.bfq" : "blkio.throttle"
            let ios = parseV1Read(try fs.read("\(cgroup)/\(prefix).io_serviced"), majMin: majMin) ?? 0
            let bytes = parseV1Read(try fs.read("\(cgroup)/\(prefix).io_service_bytes"), majMin: majMin) ?? 0
            return ReadCounters(ios: ios, bytes: bytes)
        }
    }
}
