import Foundation
import Synchronization
import Glibc

/// One kernel value rtvirtio manages: where it is, what it was before
/// rtvirtio first touched it, and what rtvirtio wants it to be.
public struct JournalEntry: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case scheduler        // queue/scheduler: the selected name
        case value            // a one-value file (iosched knobs, a default weight)
        case deviceWeight     // a "MAJ:MIN W" line of a weight file
        case subtreeControl   // "io" listed in a v2 cgroup.subtree_control
        case readIopsCap      // a device's read IOPS limit: v1 blkio.throttle.read_iops_device "MAJ:MIN N", v2 io.max riops=
        case writeIopsCap     // its write IOPS limit: v1 blkio.throttle.write_iops_device, v2 io.max wiops=
    }

    /// A per-device IOPS limit of a cgroup.
    var isCap: Bool { kind == .readIopsCap || kind == .writeIopsCap }

    /// Files of a cgroup (not the device's sysfs): gone when the cgroup is.
    var inCgroup: Bool { kind == .deviceWeight || kind == .subtreeControl || isCap }

    public var kind: Kind
    public var path: String
    /// nil: it did not exist (an iosched file before bfq, no per-device line, controller off).
    public var original: String?
    public var applied: String
    public var majMin: String?
    public var guest: String?
    /// Set for a file inside a guest: the guest agent's socket through which `path` is reached.
    public var agent: String?

    public init(kind: Kind, path: String, original: String?, applied: String, majMin: String? = nil, guest: String? = nil,
                agent: String? = nil) {
        self.kind = kind
        self.path = path
        self.original = original
        self.applied = applied
        self.majMin = majMin
        self.guest = guest
        self.agent = agent
    }

    /// Where the value lives, for people: a host path, or a path inside a guest.
    public var location: String { agent.map { "\(guest ?? "guest"):\(path) (agent \($0))" } ?? path }

    func sameTarget(_ other: JournalEntry) -> Bool { kind == other.kind && path == other.path && majMin == other.majMin && agent == other.agent }
}

/// The record that lets `restore` put a host back exactly, even after a
/// crash mid-apply. Written (fsynced) before the first kernel write.
public struct Journal: Codable, Equatable, Sendable {
    public static let currentVersion = 1
    public var version = Journal.currentVersion
    public var device: String
    public var majMin: String
    public var createdAt: String
    public var entries: [JournalEntry]

    public init(device: String, majMin: String, entries: [JournalEntry], createdAt: Date = Date()) {
        self.device = device
        self.majMin = majMin
        self.entries = entries
        self.createdAt = ISO8601DateFormatter().string(from: createdAt)
    }
}

/// The state directory: journal.json and the lock that keeps a second
/// rtvirtio from changing the host at the same time.
public struct StateDirectory: Sendable {
    public var path: String
    public var journalPath: String { "\(path)/journal.json" }
    public var lockPath: String { "\(path)/lock" }
    /// Where a journal's host files may be: restore writes each entry's original to its
    /// path as root, so a planted journal must not name any other file (a test's or a
    /// benchmark's cgroup-v2 fixture tree is added here).
    public var allowedRoots = ["/sys/"]

    /// The files rtvirtio manages, by name: anything else in a journal is refused.
    static let managedFiles: Set<String> = ["scheduler", "timeout_sync", "slice_idle", "slice_idle_us", "blkio.bfq.weight",
                                            "blkio.bfq.weight_device", "io.bfq.weight", "cgroup.subtree_control",
                                            "blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device", "io.max"]

    public init(path: String) { self.path = path }

    /// Why an entry cannot be one rtvirtio wrote, or nil.
    func implausible(_ entry: JournalEntry) -> String? {
        let components = entry.path.split(separator: "/", omittingEmptySubsequences: false)
        guard entry.path.hasPrefix("/"), !components.contains(".."), !components.contains("."),
              let name = components.last, Self.managedFiles.contains(String(name)) else {
            return "\(entry.path.prefix(200)) is not a file rtvirtio manages"
        }
        let roots = entry.agent == nil ? allowedRoots : ["/sys/block/"]   // inside a guest: only its queue's files
        guard roots.contains(where: { entry.path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }) else {
            return "\(entry.path.prefix(200)) is outside \(roots.joined(separator: ", "))"
        }
        return nil
    }

    public enum Failure: Error, CustomStringConvertible {
        case locked(path: String, holder: String)
        case corruptJournal(path: String, detail: String)
        case otherDevice(path: String, journal: String, wanted: String)

        public var description: String {
            switch self {
            case let .locked(path, holder):
                "another rtvirtio is changing this host (lock \(path) held by \(holder)); wait for it or stop it"
            case let .corruptJournal(path, detail):
                "journal \(path) cannot be read (\(detail)); it is not replayed. Inspect it, put values back by hand, then remove it"
            case let .otherDevice(path, journal, wanted):
                "journal \(path) is for device \(journal), not \(wanted); run `rtvirtio restore --state-dir \((path as NSString).deletingLastPathComponent)` first"
            }
        }
    }

    /// Made if missing; refused unless it is a real directory (not a symlink) owned by
    /// this user (root, in production) that no one else may write: rtvirtio writes as root
    /// whatever its journal names, so whoever can plant a journal owns the host.
    func create() throws {
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw HostError("create state directory", path: path, errno: errno)
        }
        var info = stat()
        guard lstat(path, &info) == 0 else { throw HostError("inspect state directory", path: path, errno: errno) }
        if (info.st_mode & S_IFMT) == S_IFLNK {
            throw HostError("use state directory", path: path, detail: "it is a symbolic link; give the real directory")
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw HostError("use state directory", path: path, detail: "not a directory") }
        guard info.st_uid == geteuid() else {
            throw HostError("use state directory", path: path, detail: "owned by uid \(info.st_uid), not \(geteuid()); chown it or give another --state-dir")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw HostError("use state directory", path: path, detail: "writable by group or others (mode \(String(info.st_mode & 0o7777, radix: 8))); chmod go-w it")
        }
    }

    /// Locks this process holds, by path, and how many times: the daemon holds its
    /// state directory's lock for its whole life (a manual `apply` or `restore` meanwhile
    /// is refused with its pid), and its own applies nest inside it.
    private static let held = Mutex<[String: (fd: Int32, depth: Int)]>([:])

    /// An exclusive lock held until `unlock` (or the process dies); nested in this process.
    public func lock() throws -> Int32 {
        if let fd = Self.held.withLock({ held -> Int32? in
            guard let entry = held[lockPath] else { return nil }
            held[lockPath] = (entry.fd, entry.depth + 1)
            return entry.fd
        }) { return fd }
        let fd = try acquire()
        Self.held.withLock { $0[lockPath] = (fd, 1) }
        return fd
    }

    public func unlock(_ fd: Int32) {
        let last = Self.held.withLock { held -> Bool in
            guard let entry = held[lockPath], entry.fd == fd else { return true }
            if entry.depth > 1 { held[lockPath] = (fd, entry.depth - 1); return false }
            held[lockPath] = nil
            return true
        }
        if last { close(fd) }
    }

    private func acquire() throws -> Int32 {
        try create()
        let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw HostError("open lock", path: lockPath, errno: errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? HostFS().readValue(lockPath)).map { "pid \($0)" } ?? "another process"
            close(fd)
            throw Failure.locked(path: lockPath, holder: holder)
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { Glibc.write(fd, $0, strlen($0)) }
        return fd
    }

    public func loadJournal(fs: HostFS = HostFS()) throws -> Journal? {
        guard fs.exists(journalPath) else { return nil }
        do {
            let text = try fs.readSmallRegularFile(journalPath, limit: 16 << 20)   // no symlink, no FIFO, bounded
            let journal = try JSONDecoder().decode(Journal.self, from: Data(text.utf8))
            guard journal.version == Journal.currentVersion else {
                throw Failure.corruptJournal(path: journalPath, detail: "version \(journal.version), this rtvirtio reads \(Journal.currentVersion)")
            }
            for (index, entry) in journal.entries.enumerated() {
                if let why = implausible(entry) {
                    throw Failure.corruptJournal(path: journalPath, detail: "entry \(index): \(why); refusing to write anything it names")
                }
            }
            return journal
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure.corruptJournal(path: journalPath, detail: "\(error)")
        }
    }

    /// Atomic and durable (`AtomicFile`).
    public func save(_ journal: Journal) throws {
        try create()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.replace(journalPath, with: try encoder.encode(journal))
    }

    public func removeJournal() throws {
        guard unlink(journalPath) == 0 || errno == ENOENT else { throw HostError("remove journal", path: journalPath, errno: errno) }
        syncDirectory()
    }

    private func syncDirectory() {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
