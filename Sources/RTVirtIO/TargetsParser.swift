import Yams

/// Reads targets.yaml text. Every rejection names file, line, column and key.
public enum TargetsParser {
    static let topKeys = ["device", "percentile", "model", "modelParams", "search", "capacity", "guests", "onStop", "libvirt"]
    static let guestKeys = ["name", "criticality", "match", "weight", "guestBfq", "guestAgent", "tasks"]
    /// A libvirt domain's metadata: its name and match are the domain's.
    static let domainGuestKeys = guestKeys.filter { $0 != "name" && $0 != "match" }
    static let taskKeys = ["name", "iops", "requestKB", "targetMs", "weight", "rw", "readPercent", "queueDepth"]
    static let matchKeys = ["libvirt", "cgroup", "pid", "pidfile"]
    /// Physical ranges (issue 18, 6): what any device and any target could mean.
    static let iopsRange = 0.001...10_000_000.0
    static let requestKBRange = 0.5...65_536.0
    static let targetMsRange = 0.001...3_600_000.0
    /// The search is bounded: lists of at most 64 values and 1024 knob pairs (issue 18, 3).
    static let maxSearchValues = 64, maxKnobPairs = 1024

    public static func parse(_ text: String, file: String = "<targets>") throws -> Targets {
        let reader = YAMLReader(file: file)
        let top = try reader.mapping(try reader.root(text), "", allowed: topKeys)
        let device = try top.string("device")
        guard device.hasPrefix("/") else {
            throw reader.error(top.values["device"], "device", "must be an absolute path such as /dev/sdb")
        }
        var percentile = 99.99
        if top.has("percentile") {
            percentile = try top.double("percentile")
            // every model predicts the p99.99 of 1-second windows, and the reports say so: another
            // percentile would be a promise nothing keeps (issue 17, 5)
            guard percentile == 99.99 else {
                throw reader.error(top.values["percentile"], "percentile", "only 99.99 is supported (the models predict the p99.99 of 1-second windows), found \(formatNumber(percentile))",
                                   hint: "leave it out or write 99.99")
            }
        }
        let model = try top.optionalString("model").map(ModelChoice.init) ?? .bundledDefault
        let onStopText = try top.optionalString("onStop") ?? "restore"
        guard let onStop = OnStop(rawValue: onStopText) else {
            throw reader.error(top.values["onStop"], "onStop", "must be 'restore' or 'keep', found '\(onStopText)'")
        }
        let search = top.has("search") ? try parseSearch(reader, try top.node("search")) : .standard
        let libvirtURI = top.has("libvirt") ? try parseLibvirt(reader, try top.node("libvirt")) : nil
        var guestNodes: [Node] = []
        if libvirtURI == nil || top.has("guests") { guestNodes = try top.list("guests") }
        guard !guestNodes.isEmpty || libvirtURI != nil else {
            throw reader.error(top.values["guests"], "guests", "needs at least one guest", hint: "or `libvirt: {uri: qemu:///system}` to take them from the domains' metadata")
        }
        var guests: [GuestSpec] = []
        var seen: [String: Int] = [:]
        for (index, node) in guestNodes.enumerated() {
            let guest = try parseGuest(reader, node, index: index)
            if let first = seen[guest.name] {
                throw reader.error(node, "guests[\(index)].name",
                                   "duplicate guest name '\(guest.name)'", hint: "also used by guests[\(first)]")
            }
            seen[guest.name] = index
            guests.append(guest)
        }
        var targets = Targets(device: device, percentile: percentile, model: model,
                              modelParams: try top.optionalString("modelParams"), search: search,
                              onStop: onStop, guests: guests)
        if top.has("capacity") { (targets.capacityReadIops, targets.capacityReadMBps) = try parseCapacity(reader, try top.node("capacity")) }
        targets.libvirtURI = libvirtURI
        return targets
    }

    /// `libvirt: {uri: qemu:///system}`: guests also come from the running domains' metadata
    /// on this host. Only a local QEMU URI: the knobs are this host's cgroups.
    static func parseLibvirt(_ reader: YAMLReader, _ node: Node) throws -> String {
        let fields = try reader.mapping(node, "libvirt", allowed: ["uri"])
        let uri = try fields.optionalString("uri") ?? "qemu:///system"
        guard uri == "qemu:///system" || uri == "qemu:///session" else {
            throw reader.error(fields.values["uri"], "libvirt.uri", "must be qemu:///system or qemu:///session (the domains of this host), found '\(uri.prefix(80))'")
        }
        return uri
    }

    /// `capacity: {readIops: N, readMBps: M}`: what the device serves of 4 KiB random reads and,
    /// optionally, MB/s of large random reads (measured: `rtvirtio probe`, or fio).
    static func parseCapacity(_ reader: YAMLReader, _ node: Node) throws -> (Double, Double?) {
        let fields = try reader.mapping(node, "capacity", allowed: ["readIops", "readMBps"])
        let iops = try fields.double("readIops")
        guard iops >= 1, iops <= 100_000_000 else {
            throw reader.error(fields.values["readIops"], "capacity.readIops", "must be a number of IOPS from 1 to 100000000, found \(formatNumber(iops))")
        }
        guard fields.has("readMBps") else { return (iops, nil) }
        let mbps = try fields.double("readMBps")
        guard mbps > 0, mbps <= 1_000_000 else {
            throw reader.error(fields.values["readMBps"], "capacity.readMBps", "must be MB/s from above 0 to 1000000, found \(formatNumber(mbps))")
        }
        return (iops, mbps)
    }

    public static func parseSearch(_ reader: YAMLReader, _ node: Node) throws -> SearchSpace {
        let fields = try reader.mapping(node, "search", allowed: ["hostTimeoutSyncMs", "hostSliceIdleMs"])
        var space = SearchSpace.standard
        if fields.has("hostTimeoutSyncMs") {
            space.hostTimeoutSyncMs = try fields.numbers("hostTimeoutSyncMs").map { value in
                guard let ms = BfqSettings.timeoutSyncMs(value) else {
                    throw reader.error(fields.values["hostTimeoutSyncMs"], "search.hostTimeoutSyncMs",
                                       "values must be whole milliseconds in 1...10000, found \(formatNumber(value))")
                }
                return ms
            }
        }
        if fields.has("hostSliceIdleMs") {
            space.hostSliceIdleUs = try fields.numbers("hostSliceIdleMs").map { value in
                guard let us = BfqSettings.sliceIdleUs(ms: value) else {
                    throw reader.error(fields.values["hostSliceIdleMs"], "search.hostSliceIdleMs",
                                       "values must be in 0...1000 ms, in whole µs, found \(formatNumber(value, decimals: 6))")
                }
                return us
            }
        }
        for (key, count) in [("hostTimeoutSyncMs", space.hostTimeoutSyncMs.count),
                             ("hostSliceIdleMs", space.hostSliceIdleUs.count)] {
            guard count > 0 else { throw reader.error(fields.values[key], "search.\(key)", "needs at least one value") }
            guard count <= maxSearchValues else {
                throw reader.error(fields.values[key], "search.\(key)", "at most \(maxSearchValues) values, found \(count)")
            }
        }
        guard space.hostTimeoutSyncMs.count * space.hostSliceIdleUs.count <= maxKnobPairs else {
            throw reader.error(node, "search", "at most \(maxKnobPairs) knob pairs (timeout_sync × slice_idle), found \(space.hostTimeoutSyncMs.count * space.hostSliceIdleUs.count)",
                               hint: "every pair is planned for at every daemon step")
        }
        return space
    }

    /// `domain`: the guest is a libvirt domain of that name whose metadata holds this
    /// mapping (LibvirtMetadata); its name and match come from the domain, not the text.
    public static func parseGuest(_ reader: YAMLReader, _ node: Node, index: Int, domain: String? = nil) throws -> GuestSpec {
        let path = domain == nil ? "guests[\(index)]" : "rtvirtio"
        let fields = try reader.mapping(node, path, allowed: domain == nil ? guestKeys : domainGuestKeys)
        // in a domain's metadata criticality is required: without it every domain would be the most urgent
        if domain != nil, !fields.has("criticality") {
            throw reader.error(node, "criticality", "is required in a domain's metadata", hint: "1 is the most urgent guest")
        }
        let name = try domain ?? fields.string("name")
        try checkName(reader, name, fields.values["name"], domain == nil ? "\(path).name" : "the domain's name")
        let criticality = fields.has("criticality") ? try fields.int("criticality", in: 1...1_000_000) : index + 1
        let weight = fields.has("weight") ? try fields.int("weight", in: 1...1000) : nil
        var match = domain.map(GuestMatch.libvirt)
        if match == nil, fields.has("match") { match = try parseMatch(reader, try fields.node("match"), "\(path).match") }
        var guestBfq = BfqSettings.kernelDefault
        if fields.has("guestBfq") {
            let bfq = try reader.mapping(try fields.node("guestBfq"), "\(path).guestBfq",
                                         allowed: ["timeoutSyncMs", "sliceIdleMs"])
            if bfq.has("timeoutSyncMs") { guestBfq.timeoutSyncMs = try bfq.int("timeoutSyncMs", in: 1...10_000) }
            if bfq.has("sliceIdleMs") {
                let ms = try bfq.double("sliceIdleMs")
                guard let us = BfqSettings.sliceIdleUs(ms: ms) else {
                    throw reader.error(bfq.values["sliceIdleMs"], "\(path).guestBfq.sliceIdleMs", "must be in 0...1000 ms, in whole µs, found \(formatNumber(ms, decimals: 6))")
                }
                guestBfq.sliceIdleUs = us
            }
        }
        var guestAgent: GuestAgentSpec?
        if fields.has("guestAgent") {
            let agent = try reader.mapping(try fields.node("guestAgent"), "\(path).guestAgent", allowed: ["socket", "disk"])
            let socket = try agent.string("socket")
            guard socket.hasPrefix("/") else {
                throw reader.error(agent.values["socket"], "\(path).guestAgent.socket", "must be an absolute path to the guest agent's unix socket")
            }
            let disk = try agent.optionalString("disk") ?? "vda"
            guard !disk.isEmpty, disk.allSatisfy({ $0.isLetter || $0.isNumber }) else {
                throw reader.error(agent.values["disk"], "\(path).guestAgent.disk", "must be a block device name inside the guest such as vda, found '\(disk)'")
            }
            guestAgent = GuestAgentSpec(socket: socket, disk: disk)
        }
        let taskNodes = try fields.list("tasks")
        guard !taskNodes.isEmpty else {
            throw reader.error(fields.values["tasks"], "\(path).tasks", "needs at least one task")
        }
        var tasks: [TaskSpec] = []
        for (taskIndex, taskNode) in taskNodes.enumerated() {
            let taskPath = "\(path).tasks[\(taskIndex)]"
            let task = try reader.mapping(taskNode, taskPath, allowed: taskKeys)
            let taskName = try task.string("name")
            try checkName(reader, taskName, task.values["name"], "\(taskPath).name")
            if tasks.contains(where: { $0.name == taskName }) {
                throw reader.error(taskNode, "\(taskPath).name", "duplicate task name '\(taskName)' in guest '\(name)'")
            }
            tasks.append(TaskSpec(
                name: taskName,
                iops: try task.number("iops", in: Self.iopsRange, unit: "IOPS"),
                requestKB: task.has("requestKB") ? try task.number("requestKB", in: Self.requestKBRange, unit: "KB") : 4,
                targetMs: try task.number("targetMs", in: Self.targetMsRange, unit: "ms"),
                weight: task.has("weight") ? try task.int("weight", in: 1...1000) : 100,
                op: try parseOp(reader, task, taskPath),
                queueDepth: task.has("queueDepth") ? try task.int("queueDepth", in: 1...256) : 1))
        }
        return GuestSpec(name: name, criticality: criticality, match: match, weight: weight,
                         guestBfq: guestBfq, guestAgent: guestAgent, tasks: tasks)
    }

    /// `rw: read | write | readwrite` (read by default); `readPercent: 0–100` with readwrite only (50 by default).
    static func parseOp(_ reader: YAMLReader, _ task: YAMLReader.Fields, _ path: String) throws -> TaskOp {
        let rw = task.has("rw") ? try task.string("rw") : "read"
        if task.has("readPercent"), rw != "readwrite" {
            throw reader.error(task.values["readPercent"], "\(path).readPercent", "is for rw: readwrite only (this task's rw is '\(rw.prefix(40))')")
        }
        switch rw {
        case "read": return .read
        case "write": return .write
        case "readwrite": return .readWrite(readPercent: task.has("readPercent") ? try task.int("readPercent", in: 0...100) : 50)
        default:
            throw reader.error(task.values["rw"], "\(path).rw", "must be read, write or readwrite, found '\(rw.prefix(40))'")
        }
    }

    static func parseMatch(_ reader: YAMLReader, _ node: Node, _ path: String) throws -> GuestMatch {
        let fields = try reader.mapping(node, path, allowed: matchKeys)
        let given = matchKeys.filter(fields.has)
        guard given.count == 1, let kind = given.first else {
            throw reader.error(node, path, given.isEmpty ? "needs one of: \(matchKeys.joined(separator: ", "))"
                                                         : "has \(given.joined(separator: " and ")); give exactly one")
        }
        switch kind {
        case "libvirt":
            let name = try fields.string(kind)
            try checkName(reader, name, fields.values[kind], "\(path).libvirt")
            return .libvirt(name)
        case "cgroup":
            let cgroupPath = try fields.string(kind)
            guard let normalized = normalizeCgroupPath(cgroupPath) else {
                throw reader.error(fields.values[kind], "\(path).cgroup",
                                   "'\(cgroupPath)' leaves the io controller's root",
                                   hint: "give a path below the controller root, e.g. machine.slice/vm0.scope")
            }
            return .cgroup(normalized)
        case "pid":
            let pid = try fields.int(kind, in: 1...Int(Int32.max))
            return .pid(Int32(pid))
        default:
            let file = try fields.string(kind)
            guard file.hasPrefix("/") else {
                throw reader.error(fields.values[kind], "\(path).pidfile", "must be an absolute path, found '\(file.prefix(80))'")
            }
            return .pidfile(file)
        }
    }

    /// Names become cgroup path components and file names: keep them plain.
    public static func checkName(_ reader: YAMLReader, _ name: String, _ node: Node?, _ key: String) throws {
        let allowed = name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "_.-".unicodeScalars.contains($0)
        }
        // "." alone would name the cgroup root itself (a guest without `match` is a cgroup of its name)
        guard allowed, !name.contains(".."), name != ".", !name.isEmpty, name.count <= 128 else {
            throw reader.error(node, key, "invalid name '\(name.debugDescription.dropFirst().dropLast())'",
                               hint: "use letters, digits, '_', '.', '-' (no '/', '..' or control characters), at most 128")
        }
    }
}

/// A cgroup path relative to the controller root, with '.' and '..' resolved;
/// nil when it would leave the root.
public func normalizeCgroupPath(_ path: String) -> String? {
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        switch part {
        case ".": continue
        case "..":
            guard !parts.isEmpty else { return nil }
            parts.removeLast()
        default:
            guard !part.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else { return nil }
            parts.append(part)
        }
    }
    return parts.isEmpty ? nil : parts.joined(separator: "/")
}
