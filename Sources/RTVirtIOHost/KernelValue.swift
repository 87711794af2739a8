import Foundation

/// How each kind of journal entry is read, written and restored.
extension JournalEntry {
    /// The value now: nil when it does not exist (see `original`).
    public func current(_ fs: HostFS) throws -> String? {
        switch kind {
        case .scheduler:
            return BlockDevice.parseScheduler(try fs.read(path)).selected
        case .value:
            return fs.exists(path) ? try fs.readValue(path) : nil
        case .deviceWeight:
            return WeightLines.weight(for: majMin ?? "", in: try fs.read(path)).map(String.init)
        case .subtreeControl:
            return WeightLines.controllerEnabled("io", in: try fs.read(path)) ? "io" : nil
        }
    }

    /// Writes `value` (nil: make it absent again) and reads it back.
    public func write(_ value: String?, _ fs: HostFS) throws {
        switch (kind, value) {
        case (.value, nil):
            return   // an iosched file that did not exist goes away with its scheduler
        case (.scheduler, let name?), (.value, let name?):
            try fs.write(path, name)
        case (.deviceWeight, let weight):
            try fs.write(path, "\(majMin ?? "") \(weight ?? "default")")
        case (.subtreeControl, let controller):
            try fs.write(path, controller == nil ? "-io" : "+io")
        case (.scheduler, nil):
            throw HostError("restore", path: path, detail: "no original scheduler recorded")
        }
        let now = try current(fs)
        guard now == value else {
            throw HostError("verify", path: path, detail: "wrote \(value ?? "(absent)") but read back \(now ?? "(absent)")")
        }
    }
}
