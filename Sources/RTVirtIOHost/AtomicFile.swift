import Foundation
import Glibc

/// Replaces a file as root without following anything an attacker may plant:
/// a fresh temporary file beside it (O_CREAT|O_EXCL|O_NOFOLLOW, a random name),
/// written, fsynced, renamed over the target, the directory fsynced. A symlink
/// at the target is replaced, never followed; readers see the old file or the new.
public enum AtomicFile {
    public static func replace(_ path: String, with data: Data, mode: mode_t = 0o600) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        var fd: Int32 = -1
        var temporary = ""
        for _ in 0..<8 {
            temporary = "\(directory.isEmpty ? "." : directory)/.\(name).\(UInt32.random(in: 0...UInt32.max)).tmp"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw HostError("create a temporary file for", path: path, errno: errno) }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, data.count) }
        guard written == data.count, fsync(fd) == 0 else {
            let code = written < 0 ? errno : (written != data.count ? EIO : errno)
            close(fd)
            unlink(temporary)
            throw HostError("write", path: temporary, errno: code)
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw HostError("rename \(temporary) to", path: path, errno: code)
        }
        let directoryFD = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 { fsync(directoryFD); close(directoryFD) }
    }
}
