import Foundation
import Logging
import RTVirtIO

/// Writes settings to the kernel transactionally: originals journaled
/// before the first write, every write read back, and on any failure what
/// this run changed is put back in reverse order.
public struct Applier: Sendable {
    public var fs: HostFS
    public var state: StateDirectory
    public var logger: Logger

    public init(fs: HostFS = HostFS(), state: StateDirectory, logger: Logger = Logger(label: "rtvirtio")) {
        self.fs = fs
        self.state = state
        self.logger = logger
    }

    /// A write `apply` would make: (path, current, new).
    public struct Change: Sendable, Equatable, Codable {
        public var path: String
        public var current: String?
        public var new: String
        public var guest: String?
    }

    public enum Failure: Error, CustomStringConvertible {
        case writeFailed(HostError, rolledBack: Bool, rollbackErrors: [String])
        case restoreIncomplete([String])

        public var description: String {
            switch self {
            case let .writeFailed(error, rolledBack, rollbackErrors):
                "\(error); " + (rolledBack ? "every value this run changed was put back"
                    : "putting values back also failed (\(rollbackErrors.joined(separator: "; "))); the journal is kept: run `rtvirtio restore`")
            case let .restoreIncomplete(errors):
                "restore incomplete, the journal is kept for another try: \(errors.joined(separator: "; "))"
            }
        }
    }

    /// The writes `desired` needs, with originals carried over from an existing journal.
    public func entries(for desired: [JournalEntry], device: BlockDevice) throws -> (entries: [JournalEntry], changes: [Change]) {
        let previous = try state.loadJournal(fs: fs)
        if let previous, previous.majMin != device.majMin {
            throw StateDirectory.Failure.otherDevice(path: state.journalPath, journal: "\(previous.device) (\(previous.majMin))",
                                                    wanted: "\(device.devicePath) (\(device.majMin))")
        }
        var entries = previous?.entries ?? []
        var changes: [Change] = []
        var unreachable = Set<String>()   // agent sockets that failed: their guest's knobs are left alone
        for var entry in desired {
            if let agent = entry.agent, unreachable.contains(agent) { continue }
            let current: String?
            do {
                current = try entry.current(fs)
            } catch where entry.agent != nil {
                unreachable.insert(entry.agent!)
                logger.warning("\(entry.guest ?? "a guest")'s own bfq knobs are left as they are: \(error)")
                continue
            }
            if let index = entries.firstIndex(where: { $0.sameTarget(entry) }) {
                entries[index].applied = entry.applied      // keep the first original
                entries[index].guest = entry.guest
            } else {
                entry.original = current
                entries.append(entry)
            }
            if current != entry.applied { changes.append(Change(path: entry.location, current: current, new: entry.applied, guest: entry.guest)) }
        }
        return (entries, changes)
    }

    /// Applies `desired` under the lock; returns the writes made.
    @discardableResult
    public func apply(_ desired: [JournalEntry], device: BlockDevice) throws -> [Change] {
        let lock = try state.lock()
        defer { state.unlock(lock) }
        return try applyLocked(desired, device: device).changes
    }

    /// What one apply did, so that it can be undone exactly: each write with the value
    /// before it, and the journal as it was.
    public struct Undo: Sendable {
        var written: [(entry: JournalEntry, before: String?)]
        var previous: Journal?
    }

    /// Applies, then keeps the result only if `verify` (called with the lock still held,
    /// so no other rtvirtio writes meanwhile) says so; otherwise puts back exactly what this
    /// apply changed, journal included. Returns the changes and whether they were kept.
    public func applyVerified(_ desired: [JournalEntry], device: BlockDevice,
                              verify: () throws -> Bool) throws -> (changes: [Change], kept: Bool) {
        let lock = try state.lock()
        defer { state.unlock(lock) }
        let (changes, undo) = try applyLocked(desired, device: device)
        var keep = false
        do { keep = try changes.isEmpty || verify() } catch {
            try revert(undo)
            throw error
        }
        if !keep { try revert(undo) }
        return (changes, keep)
    }

    func revert(_ undo: Undo) throws {
        var errors: [String] = []
        for (entry, before) in undo.written.reversed() {
            do { try entry.write(before, fs) } catch { errors.append("\(error)") }
        }
        guard errors.isEmpty else { throw Failure.restoreIncomplete(errors) }
        if let previous = undo.previous { try state.save(previous) } else { try state.removeJournal() }
        logger.info("put back the \(undo.written.count) values this apply changed")
    }

    func applyLocked(_ desired: [JournalEntry], device: BlockDevice) throws -> (changes: [Change], undo: Undo) {
        let previous = try state.loadJournal(fs: fs)
        // A cap an earlier plan wrote and this one does not want goes back to what it was:
        // left in place it would starve the guest for nothing.
        let lifted = (previous?.entries ?? []).filter { old in
            old.isCap && !desired.contains { $0.sameTarget(old) } && fs.exists(old.path)
        }.map { old in
            var entry = old
            entry.applied = old.original ?? "max"
            return entry
        }
        let desired = desired + lifted
        let (entries, changes) = try self.entries(for: desired, device: device)
        guard !changes.isEmpty else { return ([], Undo(written: [], previous: previous)) }
        try state.save(Journal(device: device.devicePath, majMin: device.majMin, entries: entries))
        var done: [(entry: JournalEntry, before: String?)] = []
        var skipped = Set<String>()   // guests whose agent failed mid-way: theirs put back, the rest goes on
        for entry in desired where entries.contains(where: { $0.sameTarget(entry) }) {
            if let agent = entry.agent, skipped.contains(agent) { continue }
            do {   // the read too: any failure from here on puts back what this run wrote
                let before = try entry.current(fs)
                guard before != entry.applied else { continue }
                try entry.write(entry.applied, fs)
                done.append((entry, before))
                logger.info("wrote \(entry.applied) to \(entry.location) (was \(before ?? "absent"))")
            } catch where entry.agent != nil {
                // a guest's own knobs must not hold the host's settings or the other guests hostage
                skipped.insert(entry.agent!)
                for (changed, before) in done.reversed() where changed.agent == entry.agent { try? changed.write(before, fs) }
                done.removeAll { $0.entry.agent == entry.agent }
                logger.warning("\(entry.guest ?? "a guest")'s own bfq knobs are left as they were: \(error)")
            } catch {
                var rollbackErrors: [String] = []
                for (changed, before) in done.reversed() {
                    do { try changed.write(before, fs) } catch { rollbackErrors.append("\(error)") }
                }
                if rollbackErrors.isEmpty {
                    if let previous { try state.save(previous) } else { try state.removeJournal() }
                }
                let hostError = error as? HostError ?? HostError("write", path: entry.location, detail: "\(error)")
                throw Failure.writeFailed(hostError, rolledBack: rollbackErrors.isEmpty, rollbackErrors: rollbackErrors)
            }
        }
        let skippedLocations = Set(desired.filter { $0.agent.map(skipped.contains) ?? false }.map(\.location))
        let made = changes.filter { !skippedLocations.contains($0.path) }
        return (made, Undo(written: done, previous: previous))
    }

    /// Puts back every original in the journal, newest first; removes the journal when all are back.
    @discardableResult
    public func restore() throws -> [Change] {
        let lock = try state.lock()
        defer { state.unlock(lock) }
        guard let journal = try state.loadJournal(fs: fs) else { return [] }
        var changes: [Change] = []
        var errors: [String] = []
        var remaining: [JournalEntry] = []
        for entry in journal.entries.reversed() {
            do {
                // A cgroup that is gone (VM shut down) has nothing left to restore.
                if entry.inCgroup, !fs.exists(entry.path) {
                    logger.notice("\(entry.path) is gone; nothing to restore there")
                    continue
                }
                // Neither has a guest whose agent socket is gone: its kernel settings went with it.
                if let agent = entry.agent, !fs.exists(agent) {
                    logger.notice("\(entry.location): the guest agent socket is gone (VM stopped); nothing to restore there")
                    continue
                }
                let current = try entry.current(fs)
                if current == entry.original || (entry.kind == .value && entry.original == nil) { continue }
                try entry.write(entry.original, fs)
                changes.append(Change(path: entry.location, current: current, new: entry.original ?? "(absent)", guest: entry.guest))
            } catch {
                errors.append("\(error)")
                remaining.insert(entry, at: 0)
            }
        }
        if errors.isEmpty {
            try state.removeJournal()
        } else {
            var kept = journal
            kept.entries = remaining
            try state.save(kept)
            throw Failure.restoreIncomplete(errors)
        }
        return changes
    }

    /// original / applied / current per managed value, with drift flagged.
    public struct Status: Sendable, Codable, Equatable {
        public var path: String
        public var guest: String?
        public var original: String?
        public var applied: String
        public var current: String?
        public var drift: Bool
    }

    public func status() throws -> (journal: Journal?, values: [Status]) {
        guard let journal = try state.loadJournal(fs: fs) else { return (nil, []) }
        let values = journal.entries.map { entry in
            let current = (try? entry.current(fs)) ?? nil
            return Status(path: entry.kind == .deviceWeight || entry.isCap ? "\(entry.path) [\(entry.majMin ?? "")]\(entry.kind == .writeIopsCap && entry.path.hasSuffix("/io.max") ? " wiops" : "")" : entry.location,
                          guest: entry.guest, original: entry.original, applied: entry.applied, current: current,
                          drift: current != entry.applied)
        }
        return (journal, values)
    }
}
