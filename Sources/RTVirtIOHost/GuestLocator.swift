import Foundation
import RTVirtIO

/// Finds each guest's cgroup under the io controller, by the targets file's `match`.
public struct GuestLocator: Sendable {
    public var hierarchy: CgroupHierarchy
    public var procRoot: String
    /// Where libvirt's QEMU driver records each running domain's pid (NAME.pid).
    public var libvirtRunDirectory: String

    public static let libvirtQemuRunDirectory = "/run/libvirt/qemu"

    public init(hierarchy: CgroupHierarchy, procRoot: String = "/proc", libvirtRunDirectory: String = GuestLocator.libvirtQemuRunDirectory) {
        self.hierarchy = hierarchy
        self.procRoot = procRoot
        self.libvirtRunDirectory = libvirtRunDirectory
    }

    public struct Found: Sendable, Equatable {
        public var cgroup: String          // absolute directory
        public var warning: String?
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case notFound(guest: String, match: String, looked: [String])
        case outsideRoot(guest: String, path: String, root: String)
        case badPidfile(guest: String, path: String, detail: String)

        public var description: String {
            switch self {
            case let .notFound(guest, match, looked):
                "guest '\(guest)' (\(match)): no cgroup found (looked in \(looked.joined(separator: ", "))); is the VM running?"
            case let .outsideRoot(guest, path, root):
                "guest '\(guest)': cgroup \(path) is outside \(root); refusing to touch it"
            case let .badPidfile(guest, path, detail):
                "guest '\(guest)': pidfile \(path): \(detail)"
            }
        }
    }

    public func locate(_ guest: GuestSpec, fs: HostFS) throws -> Found {
        guard let match = guest.match else {
            // No match: a cgroup named after the guest directly under the root.
            return try existing(guest, [hierarchy.root + "/" + guest.name], match: "name", fs: fs)
        }
        switch match {
        case .cgroup(let path):
            guard let directory = hierarchy.directory(relative: path) else {
                throw Failure.outsideRoot(guest: guest.name, path: path, root: hierarchy.root)
            }
            return try existing(guest, [directory], match: match.description, fs: fs)
        case .libvirt(let name):
            // libvirt's own record of the running domain, then /proc/PID/cgroup: every layout
            // (systemd's machine.slice scopes, the no-systemd machine/qemu-ID-NAME.libvirt-qemu, …)
            let pidfile = "\(libvirtRunDirectory)/\(name).pid"
            if fs.exists(pidfile), let text = try? fs.readSmallRegularFile(pidfile), let pid = Int32(text), pid > 0,
               let found = try? byPid(guest, pid, fs: fs) {
                return found
            }
            do { return try existing(guest, libvirtCandidates(name, fs: fs), match: match.description, fs: fs) } catch Failure.notFound(let g, let m, let looked) {
                throw Failure.notFound(guest: g, match: m, looked: [pidfile] + looked)
            }
        case .pid(let pid):
            return try byPid(guest, pid, fs: fs)
        case .pidfile(let path):
            let text: String
            do { text = try fs.readSmallRegularFile(path) } catch { throw Failure.badPidfile(guest: guest.name, path: path, detail: "\(error)") }
            // its content is not echoed: a pid file pointing at a secret must not print it
            guard let pid = Int32(text), pid > 0 else {
                throw Failure.badPidfile(guest: guest.name, path: path, detail: "expected a process id (a number up to 64 bytes)")
            }
            return try byPid(guest, pid, fs: fs)
        }
    }

    func existing(_ guest: GuestSpec, _ candidates: [String], match: String, fs: HostFS) throws -> Found {
        guard let hit = candidates.first(where: fs.exists) else {
            throw Failure.notFound(guest: guest.name, match: match, looked: candidates)
        }
        return Found(cgroup: hit)
    }

    /// systemd's unit-name escaping, as in machine-qemu\x2d1\x2dvm0.scope.
    public static func systemdEscape(_ text: String) -> String {
        var out = ""
        for (index, byte) in text.utf8.enumerated() {
            let c = Character(UnicodeScalar(byte))
            if c.isASCII && (c.isLetter || c.isNumber || c == "_" || (c == "." && index > 0)) || c == ":" {
                out.append(c)
            } else {
                out += String(format: "\\x%02x", byte)
            }
        }
        return out
    }

    /// libvirt's layouts: systemd machine scopes (any id), then the older
    /// machine/NAME.libvirt-qemu and libvirt/qemu/NAME.
    func libvirtCandidates(_ name: String, fs: HostFS) -> [String] {
        let slice = hierarchy.root + "/machine.slice"
        let suffix = "\\x2d" + Self.systemdEscape(name) + ".scope"
        let scopes = fs.list(slice)?
            .filter { $0.hasPrefix("machine-qemu\\x2d") && $0.hasSuffix(suffix) }
            .filter { scope in
                // the id between the prefixes is a number: do not match vm0 against ...\x2dxvm0.scope
                let middle = scope.dropFirst("machine-qemu\\x2d".count).dropLast(suffix.count)
                return !middle.isEmpty && middle.allSatisfy(\.isNumber)
            }
            .sorted().map { "\(slice)/\($0)" } ?? []
        return scopes + ["\(hierarchy.root)/machine/\(name).libvirt-qemu", "\(hierarchy.root)/libvirt/qemu/\(name)"]
    }

    func byPid(_ guest: GuestSpec, _ pid: Int32, fs: HostFS) throws -> Found {
        let cgroupFile = "\(procRoot)/\(pid)/cgroup"
        let text: String
        do { text = try fs.read(cgroupFile) } catch {
            throw Failure.notFound(guest: guest.name, match: "pid: \(pid)", looked: [cgroupFile])
        }
        guard let relative = Self.ioCgroup(in: text, version: hierarchy.version) else {
            throw Failure.notFound(guest: guest.name, match: "pid: \(pid)", looked: ["\(cgroupFile) (no io controller line)"])
        }
        let directory = hierarchy.mountPoint + (relative == "/" ? "" : relative)
        guard directory == hierarchy.root || directory.hasPrefix(hierarchy.root + "/") else {
            throw Failure.outsideRoot(guest: guest.name, path: directory, root: hierarchy.root)
        }
        let command = (try? fs.read("\(procRoot)/\(pid)/cmdline"))?.split(separator: "\0").first.map(String.init) ?? ""
        let warning = command.contains("qemu") ? nil : "guest '\(guest.name)': pid \(pid) runs '\(command)', not QEMU"
        return Found(cgroup: directory, warning: warning)
    }

    /// The io controller's path in /proc/PID/cgroup ("7:blkio:/x" on v1, "0::/x" on v2).
    public static func ioCgroup(in text: String, version: CgroupHierarchy.Version) -> String? {
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            if version == .v1, fields[1].split(separator: ",").contains("blkio") { return String(fields[2]) }
            if version == .v2, fields[0] == "0", fields[1].isEmpty { return String(fields[2]) }
        }
        return nil
    }
}
