import Foundation
import Glibc
import RTVirtIOHost

/// Throw-away pieces of a testbed: loop devices over files in a work
/// directory. Never touches anything it did not make.
public final class ScratchDirectory: @unchecked Sendable {
    public let path: String
    private let lock = NSLock()
    private var loops: [String] = []
    private var cleanup = 0

    public init(prefix: String) throws {
        var template = Array("/tmp/\(prefix).XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw HostError("make work directory", path: "/tmp/\(prefix).XXXXXX", errno: errno) }
        path = String(cString: made)
        cleanup = LabCleanup.add { [weak self] in self?.removeAll() }   // a signal before deinit
    }

    private func removeAll() {
        let devices = lock.withLock { defer { loops.removeAll() }; return loops }
        for device in devices.reversed() { LoopDevices.detach(device) }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A loop device with --direct-io=on over a new file of `sizeMB`.
    public func loopDevice(sizeMB: Int) throws -> String {
        let image = "\(path)/disk\(lock.withLock { loops.count }).img"
        guard FileManager.default.createFile(atPath: image, contents: nil), truncate(image, off_t(sizeMB) << 20) == 0 else {
            throw HostError("create backing file", path: image, errno: errno)
        }
        let device = try LoopDevices.attach(image)
        lock.withLock { loops.append(device) }
        return device
    }

    @discardableResult
    public func run(_ executable: String, _ arguments: [String]) throws -> String {
        try runProgram(executable, arguments)
    }

    deinit {
        LabCleanup.remove(cleanup)
        removeAll()
    }
}

/// Resident memory and CPU time of a process, from /proc.
public struct ProcessSample: Sendable {
    public var rssKB: Int
    /// The process's own (anonymous) memory; the rest of RSS is shared, clean library pages.
    public var anonKB: Int
    public var cpuSeconds: Double

    public static func read(pid: Int32) -> ProcessSample? {
        guard let status = try? HostFS().read("/proc/\(pid)/status"),
              let rssLine = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let rss = Int(rssLine.split(separator: " ").dropFirst().first ?? ""),
              let anonLine = status.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }),
              let anon = Int(anonLine.split(separator: " ").dropFirst().first ?? ""),
              let stat = try? HostFS().read("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")") else { return nil }
        // fields after "pid (comm)": state is field 3; utime 14, stime 15
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return ProcessSample(rssKB: rss, anonKB: anon, cpuSeconds: (user + system) / Double(sysconf(Int32(_SC_CLK_TCK))))
    }
}

