import Foundation
import RTVirtIOHost

/// Attaching and detaching throw-away loop devices. A loop device's request
/// queue outlives `losetup -d`: the scheduler a previous user selected, and
/// its tunables, carry over to whoever attaches that loop next. So every
/// device we attach starts at "none" (the kernel's default for loop) and is
/// put back to "none" before it is detached.
public enum LoopDevices {
    public static let defaultScheduler = "none"

    /// `losetup -f --show --direct-io=on [-r] IMAGE`, scheduler reset; returns /dev/loopN.
    public static func attach(_ image: String, readOnly: Bool = false, fs: HostFS = HostFS()) throws -> String {
        let device = try runProgram("/sbin/losetup", ["-f", "--show", "--direct-io=on"] + (readOnly ? ["-r"] : []) + [image])
            .trimmingCharacters(in: .whitespacesAndNewlines)
        do {
            try fs.write(try BlockDevice.resolve(device, fs: fs).schedulerPath, defaultScheduler)
        } catch {
            _ = try? runProgram("/sbin/losetup", ["-d", device])
            throw error
        }
        return device
    }

    /// Scheduler back to "none", then `losetup -d`; best effort (used on clean-up paths).
    public static func detach(_ device: String, fs: HostFS = HostFS()) {
        if let block = try? BlockDevice.resolve(device, fs: fs) { try? fs.write(block.schedulerPath, defaultScheduler) }
        _ = try? runProgram("/sbin/losetup", ["-d", device])
    }
}
