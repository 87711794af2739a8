import Foundation
import Glibc

/// A whole disk in sysfs: where its queue and bfq knobs live.
public struct BlockDevice: Sendable, Equatable {
    public var devicePath: String      // as the operator named it
    public var name: String            // kernel name, e.g. sdb, loop3
    public var major: UInt32
    public var minor: UInt32
    public var sysfsPath: String       // /sys/dev/block/MAJ:MIN resolved, of the whole disk

    public var majMin: String { "\(major):\(minor)" }
    public var schedulerPath: String { "\(sysfsPath)/queue/scheduler" }
    public var ioschedPath: String { "\(sysfsPath)/queue/iosched" }

    /// Resolves a /dev path, a by-id/by-path link or a partition to its disk.
    public static func resolve(_ path: String, sysRoot: String = "/sys", fs: HostFS = HostFS()) throws -> BlockDevice {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw HostError("find device", path: path, errno: errno, detail: "check the targets file's device:")
        }
        guard (info.st_mode & S_IFMT) == S_IFBLK else {
            throw HostError("find device", path: path, detail: "not a block device")
        }
        let (major, minor) = Self.split(UInt64(info.st_rdev))
        var sysfs = URL(fileURLWithPath: "\(sysRoot)/dev/block/\(major):\(minor)").resolvingSymlinksInPath()
        var disk = (major, minor)
        // A partition's directory holds a `partition` file; its parent is the disk.
        if fs.exists(sysfs.appendingPathComponent("partition").path) {
            sysfs = sysfs.deletingLastPathComponent()
            let dev = try fs.readValue(sysfs.appendingPathComponent("dev").path).split(separator: ":")
            guard dev.count == 2, let diskMajor = UInt32(dev[0]), let diskMinor = UInt32(dev[1]) else {
                throw HostError("read", path: sysfs.path + "/dev", detail: "expected MAJ:MIN")
            }
            disk = (diskMajor, diskMinor)
        }
        return BlockDevice(devicePath: path, name: sysfs.lastPathComponent, major: disk.0, minor: disk.1,
                           sysfsPath: sysfs.path)
    }

    /// glibc's dev_t encoding (the gnu_dev_major/minor macros are not imported into Swift).
    static func split(_ dev: UInt64) -> (UInt32, UInt32) {
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }

    /// "[none] mq-deadline kyber bfq" → ("none", all four).
    public static func parseScheduler(_ text: String) -> (selected: String?, available: [String]) {
        let words = text.split(whereSeparator: \.isWhitespace).map(String.init)
        let selected = words.first { $0.hasPrefix("[") }.map { String($0.dropFirst().dropLast()) }
        return (selected, words.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "[]")) })
    }

    /// The selected scheduler.
    public func scheduler(_ fs: HostFS) throws -> String { try schedulers(fs).selected }

    /// Whether the device offers bfq at all (a kernel without it, or the module not loaded: the
    /// plans keep the device's own scheduler and cap guests only).
    public func offersBfq(_ fs: HostFS) throws -> Bool { try schedulers(fs).offersBfq }

    /// Both, from one read of the scheduler file (what a plan needs).
    public func schedulers(_ fs: HostFS) throws -> (selected: String, offersBfq: Bool) {
        let (selected, available) = Self.parseScheduler(try fs.read(schedulerPath))
        return (selected ?? "none", available.contains("bfq"))
    }

    /// The slice_idle file to use: µs where the kernel has it (exact for 0 and
    /// sub-ms), else ms. Before bfq is selected the folder is absent: assume µs.
    public func sliceIdle(_ fs: HostFS) -> (path: String, perMs: Int) {
        !fs.exists(ioschedPath) || fs.exists("\(ioschedPath)/slice_idle_us") ? ("\(ioschedPath)/slice_idle_us", 1000) : ("\(ioschedPath)/slice_idle", 1)
    }
}
