import Foundation

/// Cumulative I/O counters of one cgroup on one device, reads and writes apart: what the
/// device served for it (a writer loads the device as a reader does, at its own cost).
public struct IoCounters: Sendable, Equatable {
    public var readIos: UInt64
    public var writeIos: UInt64
    public var readBytes: UInt64
    public var writeBytes: UInt64

    public init(readIos: UInt64, writeIos: UInt64 = 0, readBytes: UInt64, writeBytes: UInt64 = 0) {
        (self.readIos, self.writeIos, self.readBytes, self.writeBytes) = (readIos, writeIos, readBytes, writeBytes)
    }

    public static let zero = IoCounters(readIos: 0, readBytes: 0)

    public var ios: UInt64 { readIos &+ writeIos }
    public var bytes: UInt64 { readBytes &+ writeBytes }

    /// Counters that only grow: `self` is later than `previous` when none went back (a reset cgroup starts afresh).
    public func isLater(than previous: IoCounters) -> Bool {
        readIos >= previous.readIos && writeIos >= previous.writeIos && readBytes >= previous.readBytes && writeBytes >= previous.writeBytes
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
            return IoCounters(readIos: rios, writeIos: values["wios"] ?? 0, readBytes: rbytes, writeBytes: values["wbytes"] ?? 0)
        }
        return nil
    }

    /// v1 blkio.*io_serviced / io_service_bytes: the device's "7:0 Read N" and "7:0 Write N" lines;
    /// nil when it has neither.
    public static func parseV1(_ text: String, majMin: String) -> (read: UInt64, write: UInt64)? {
        var read: UInt64?, write: UInt64?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, fields[0] == majMin, let n = UInt64(fields[2]) else { continue }
            if fields[1] == "Read" { read = n } else if fields[1] == "Write" { write = n }
        }
        return read == nil && write == nil ? nil : (read ?? 0, write ?? 0)
    }

    /// Reads a cgroup's counters (0 when the cgroup has done no I/O on the device yet).
    public static func read(cgroup: String, majMin: String, hierarchy: CgroupHierarchy, fs: HostFS) throws -> IoCounters {
        switch hierarchy.version {
        case .v2:
            return parseV2(try fs.read("\(cgroup)/io.stat"), majMin: majMin) ?? .zero
        case .v1:
            // bfq's own counters where the kernel has them, the generic ones otherwise
            let prefix = fs.exists("\(cgroup)/blkio.bfq.io_serviced") ? "blkio.bfq" : "blkio.throttle"
            let ios = parseV1(try fs.read("\(cgroup)/\(prefix).io_serviced"), majMin: majMin) ?? (0, 0)
            let bytes = parseV1(try fs.read("\(cgroup)/\(prefix).io_service_bytes"), majMin: majMin) ?? (0, 0)
            return IoCounters(readIos: ios.read, writeIos: ios.write, readBytes: bytes.read, writeBytes: bytes.write)
        }
    }
}
