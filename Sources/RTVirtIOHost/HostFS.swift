import Foundation
import Glibc

/// A failed kernel-file operation: what, where, errno, and what to do.
public struct HostError: Error, CustomStringConvertible, Equatable {
    public var operation: String
    public var path: String
    public var errno: Int32?
    public var detail: String?

    public init(_ operation: String, path: String, errno: Int32? = nil, detail: String? = nil) {
        self.operation = operation
        self.path = path
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "\(operation) \(path)"
        if let errno { text += ": \(String(cString: strerror(errno))) (errno \(errno))" }
        if let detail { text += ": \(detail)" }
        if errno == EACCES || errno == EPERM { text += "; run as root" }
        return text
    }
}

/// Every read and write of sysfs, cgroupfs and procfs goes through here, so a
/// test can root it in a fixture tree (cgroup v2 cannot be mounted live on
/// the development machines) and make the Nth write fail with an errno to
/// prove the rollback.
public final class HostFS: @unchecked Sendable {
    /// Fault injection for tests: the write with this 1-based number fails.
    public struct Fault: Sendable {
        public var writeNumber: Int
        public var errno: Int32
        public init(writeNumber: Int, errno: Int32) {
            self.writeNumber = writeNumber
            self.errno = errno
        }
    }

    public var fault: Fault?
    /// Test seam: called after each successful write with its 1-based number (a test makes
    /// the host change under an apply, e.g. a cgroup vanish after the first write).
    public var afterWrite: ((Int) -> Void)?
    /// Test seam: a fixture tree's files answer as the kernel's do. Given the path, what
    /// was written and what the file held, what it holds after (the tests' KernelLikeCgroupfs:
    /// "+io" into cgroup.subtree_control lists "io", a weight line replaces its device's line).
    public var kernelSemantics: ((_ path: String, _ written: String, _ before: String) -> String)?
    /// Test hook: after this many successful writes the process kills itself
    /// with SIGKILL (from RTVIRTIO_TEST_KILL_AFTER_WRITE), to prove a crash at
    /// any point leaves a journal `restore` completes. Debug builds only (the ones
    /// `swift test` runs): a release binary has neither the hook nor the variable's name.
    public var killAfterWrite: Int?
    public private(set) var writes = 0

    public init(fault: Fault? = nil) {
        self.fault = fault
        #if DEBUG
        killAfterWrite = ProcessInfo.processInfo.environment["RTVIRTIO_TEST_KILL_AFTER_WRITE"].flatMap(Int.init)
        #endif
    }

    public func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// A directory's entries (no "." or ".."), nil when it cannot be read.
    public func list(_ directory: String) -> [String]? { try? FileManager.default.contentsOfDirectory(atPath: directory) }

    public func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public func read(_ path: String) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw HostError("read", path: path, errno: errno) }
        defer { close(fd) }
        var data = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, 4096) }
            if count < 0 {
                if errno == EINTR { continue }
                throw HostError("read", path: path, errno: errno)
            }
            if count == 0 { break }
            data += chunk[0..<count]
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A small file an operator or another program wrote (a pid file): a regular file,
    /// not a link, FIFO or device, of at most `limit` bytes — a pid file that is a
    /// symlink to /dev/zero or a FIFO must neither exhaust memory nor block a root daemon.
    public func readSmallRegularFile(_ path: String, limit: Int = 64) throws -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { throw HostError("read", path: path, errno: errno, detail: errno == ELOOP ? "a symbolic link is not accepted" : nil) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { throw HostError("read", path: path, detail: "not a regular file") }
        guard info.st_size <= limit else { throw HostError("read", path: path, detail: "larger than \(limit) bytes") }
        var buffer = [UInt8](repeating: 0, count: limit + 1)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, limit + 1) }
        guard count >= 0, count <= limit else { throw HostError("read", path: path, errno: count < 0 ? errno : nil, detail: count < 0 ? nil : "larger than \(limit) bytes") }
        return String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The trimmed content of a one-value file.
    public func readValue(_ path: String) throws -> String {
        try read(path).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// One write(2) of `value`, as sysfs and cgroupfs expect.
    public func write(_ path: String, _ value: String) throws {
        writes += 1
        if let fault, fault.writeNumber == writes {
            throw HostError("write '\(value)' to", path: path, errno: fault.errno, detail: "injected fault")
        }
        let regular = isRegularFile(path)
        let stored = regular ? kernelSemantics.map { $0(path, value, (try? read(path)) ?? "") } ?? value : value
        let fd = open(path, O_WRONLY | O_CLOEXEC | (regular ? O_TRUNC : 0))
        guard fd >= 0 else { throw HostError("write '\(value)' to", path: path, errno: errno) }
        defer { close(fd) }
        let bytes = Array(stored.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, bytes.count) }
        guard written == bytes.count else {
            throw HostError("write '\(value)' to", path: path, errno: written < 0 ? errno : EIO)
        }
        if let killAfterWrite, writes >= killAfterWrite { kill(getpid(), SIGKILL) }
        afterWrite?(writes)
    }

    /// Regular files (fixture trees) are truncated on write; kernel files are not.
    private func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && !path.hasPrefix("/sys/") && !path.hasPrefix("/proc/")
    }

    public func list(_ path: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    }
}
