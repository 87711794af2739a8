import Foundation

/// How each kind of journal entry is read, written and restored.
extension JournalEntry {
    /// The files this entry lives in: the host's, or a guest's through its agent.
    struct Files {
        let host: HostFS
        let agent: GuestAgentFiles?
        func readValueIfPresent(_ path: String) throws -> String? {
            if let agent { return try agent.readValueIfPresent(path) }
            return host.exists(path) ? try host.readValue(path) : nil
        }
        func read(_ path: String) throws -> String { try agent.map { try $0.read(path) } ?? host.read(path) }
        func write(_ path: String, _ value: String) throws {
            if let agent { try agent.write(path, value) } else { try host.write(path, value) }
        }
    }

    func files(_ host: HostFS) -> Files { Files(host: host, agent: agent.map(GuestAgentFiles.init(socket:))) }

    /// The value now: nil when it does not exist (see `original`).
    public func current(_ host: HostFS) throws -> String? {
        let fs = files(host)
        // On cgroup v2 a guest's io.bfq.weight and io.max appear only once `+io` is in its
        // parent's subtree_control, which the same apply writes first: a cgroup that exists
        // without them has no weight line and no cap yet. A missing cgroup is still an error.
        if agent == nil, kind == .deviceWeight || isCap, !host.exists(path),
           host.exists((path as NSString).deletingLastPathComponent) {
            return isCap ? "max" : nil
        }
        switch kind {
        case .scheduler:
            return BlockDevice.parseScheduler(try fs.read(path)).selected
        case .value:
            return try fs.readValueIfPresent(path)
        case .deviceWeight:
            return WeightLines.weight(for: majMin ?? "", in: try fs.read(path)).map(String.init)
        case .subtreeControl:
            return WeightLines.controllerEnabled("io", in: try fs.read(path)) ? "io" : nil
        case .readIopsCap:   // "max": no limit (so a journal's original is never "absent")
            return ThrottleLines.readIops(for: majMin ?? "", in: try fs.read(path)).map(String.init) ?? "max"
        case .writeIopsCap:
            return ThrottleLines.writeIops(for: majMin ?? "", in: try fs.read(path)).map(String.init) ?? "max"
        }
    }

    /// Writes `value` (nil: make it absent again) and reads it back.
    public func write(_ value: String?, _ host: HostFS) throws {
        let fs = files(host)
        switch (kind, value) {
        case (.value, nil):
            return   // an iosched file that did not exist goes away with its scheduler
        case (.scheduler, let name?), (.value, let name?):
            try fs.write(path, name)
        case (.deviceWeight, let weight):
            try fs.write(path, "\(majMin ?? "") \(weight ?? "default")")
        case (.subtreeControl, let controller):
            try fs.write(path, controller == nil ? "-io" : "+io")
        case (.readIopsCap, let limit):
            try fs.write(path, ThrottleLines.line(majMin: majMin ?? "", readIops: limit.flatMap { Int($0) }, v2: path.hasSuffix("/io.max")))
            if limit == nil { return }
        case (.writeIopsCap, let limit):
            try fs.write(path, ThrottleLines.line(majMin: majMin ?? "", writeIops: limit.flatMap { Int($0) }, v2: path.hasSuffix("/io.max")))
            if limit == nil { return }
        case (.scheduler, nil):
            throw HostError("restore", path: path, detail: "no original scheduler recorded")
        }
        let now = try current(host)
        guard now == value else {
            throw HostError("verify", path: path, detail: "wrote \(value ?? "(absent)") but read back \(now ?? "(absent)")")
        }
    }
}
