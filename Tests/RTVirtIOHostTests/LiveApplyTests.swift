import Foundation
import Glibc
import Testing
@testable import RTVirtIO
@testable import RTVirtIOHost

/// apply / restore / status against a real loop device with bfq and real cgroups (v1 blkio here,
/// v2 io in CgroupV2GuestTests' guest); files and counts come from the hierarchy rtvirtio detects.
/// Every test makes its own device and cgroups.
@Suite(.serialized, .enabled(if: Live.available, "needs root, cgroup v1 blkio or v2 io, bfq on loop devices and losetup"))
struct LiveApplyTests {
    struct Fixture {
        let device: LoopDevice
        let cgroups: TestCgroups
        let state: StateDirectory
        let block: BlockDevice
        let hierarchy: CgroupHierarchy

        init() throws {
            device = try LoopDevice()
            cgroups = try TestCgroups()
            try cgroups.make("vm0")
            try cgroups.make("vm1")
            state = StateDirectory(path: device.directory + "/state")
            block = try BlockDevice.resolve(device.path)
            hierarchy = try CgroupHierarchy.detect(root: cgroups.relativeRoot)
            controllerWrites = Live.ioEnableWrites(Live.subtreeControls(above: "\(cgroups.root)/vm0"))
        }

        func plan(weights: [Int] = [700, 200], host: BfqSettings = BfqSettings(timeoutSyncMs: 64, sliceIdleUs: 2500)) -> Plan {
            Plan(model: "test", host: host, guests: ["vm0", "vm1"].enumerated().map { index, name in
                Plan.Guest(name: name, criticality: index + 1, weight: weights[index], weightPinned: false, tasks: [])
            }, sacrificed: [], warnings: [], score: Score(guestsMet: [], tasksMet: 0, minSlack: 0), candidatesEvaluated: 0)
        }

        func desired(_ plan: Plan, fs: HostFS = HostFS()) -> [JournalEntry] {
            HostSettings.desired(plan: plan, device: block, hierarchy: hierarchy,
                                 cgroups: ["vm0": "\(cgroups.root)/vm0", "vm1": "\(cgroups.root)/vm1"], fs: fs)
        }

        func weight(_ guest: String) throws -> Int? { Live.weight(in: "\(cgroups.root)/\(guest)", majMin: block.majMin) }

        /// The writes apply adds on cgroup v2 only: +io in each ancestor's cgroup.subtree_control that
        /// lacked it before (desired() lists every ancestor; the applier skips those that have it).
        let controllerWrites: Int

        func iosched(_ name: String) throws -> String { try HostFS().readValue("\(block.ioschedPath)/\(name)") }

        /// The host exactly as a fresh loop device and fresh cgroups are.
        func expectPristine(sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(try device.scheduler() == device.pristineScheduler, sourceLocation: sourceLocation)
            #expect(try weight("vm0") == nil, sourceLocation: sourceLocation)
            #expect(try weight("vm1") == nil, sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: state.journalPath), sourceLocation: sourceLocation)
        }
    }

    @Test("needs root: apply writes bfq, knobs and per-device weights; restore puts back the scheduler and removes the lines")
    func rootApplyThenRestore() throws {
        let f = try Fixture()
        try f.expectPristine()
        let changes = try Applier(state: f.state).apply(f.desired(f.plan()), device: f.block)
        #expect(changes.count == 5 + f.controllerWrites)
        #expect(f.hierarchy.version == .v1 || f.controllerWrites >= 1, "v2: io is enabled for the guests' cgroups")
        let (selected, offered) = LoopDevice.schedulers(try f.device.scheduler())
        #expect(selected == "bfq" && offered == LoopDevice.schedulers(f.device.pristineScheduler).offered, "attached as '\(f.device.pristineScheduler)'")
        #expect(try f.iosched("timeout_sync") == "64")
        #expect(try f.iosched("slice_idle_us") == "2500")
        #expect(try f.weight("vm0") == 700)
        #expect(try f.weight("vm1") == 200)
        // the default weight is not touched: other disks of the guest keep theirs
        #expect(Live.defaultWeight(in: "\(f.cgroups.root)/vm0") == 100)
        let status = try Applier(state: f.state).status()
        #expect(status.values.count == 5 + f.controllerWrites && status.values.allSatisfy { !$0.drift })
        let restored = try Applier(state: f.state).restore()
        #expect(restored.count == 3 + f.controllerWrites, "two weight lines and the scheduler (and v2's +io); iosched files go with bfq")
        try f.expectPristine()
    }

    @Test("needs root: an unchanged value is not rewritten and a second apply keeps the first originals")
    func rootSecondApplyKeepsOriginals() throws {
        let f = try Fixture()
        let applier = Applier(state: f.state)
        try applier.apply(f.desired(f.plan()), device: f.block)
        let again = try applier.apply(f.desired(f.plan()), device: f.block)
        #expect(again.isEmpty)
        let second = try applier.apply(f.desired(f.plan(weights: [300, 600])), device: f.block)
        #expect(second.map(\.new) == ["300", "600"])
        let journal = try #require(try f.state.loadJournal())
        #expect(journal.entries.first { $0.kind == .scheduler }?.original == "none")
        #expect(journal.entries.filter { $0.kind == .deviceWeight }.map(\.original) == [nil, nil])
        #expect(journal.entries.filter { $0.kind == .deviceWeight }.map(\.applied) == ["300", "600"])
        try applier.restore()
        try f.expectPristine()
    }

    @Test("needs root: drift is flagged when someone else changes a value", .timeLimit(.minutes(1)))
    func rootStatusFlagsDrift() throws {
        let f = try Fixture()
        let applier = Applier(state: f.state)
        try applier.apply(f.desired(f.plan()), device: f.block)
        try HostFS().write("\(f.block.ioschedPath)/timeout_sync", "100")
        let drifted = try applier.status().values.filter(\.drift)
        #expect(drifted.map(\.path) == ["\(f.block.ioschedPath)/timeout_sync"])
        #expect(drifted.first?.current == "100" && drifted.first?.applied == "64")
        try applier.restore()
        try f.expectPristine()
    }

    @Test("needs root: a failed write at any position rolls back every earlier write", arguments: 1...5)
    func rootInjectedFaultRollsBack(failing write: Int) throws {
        let f = try Fixture()
        let fs = HostFS(fault: .init(writeNumber: write, errno: EACCES))
        let error = try #require(throws: Applier.Failure.self) {
            try Applier(fs: fs, state: f.state).apply(f.desired(f.plan(), fs: fs), device: f.block)
        }
        #expect(error.description.contains("Permission denied (errno 13)"))
        #expect(error.description.contains("every value this run changed was put back"))
        try f.expectPristine()
    }

    @Test("needs root: a value the kernel refuses (ERANGE) is reported with path and errno, and rolled back")
    func rootKernelRefusalRollsBack() throws {
        let f = try Fixture()
        var desired = f.desired(f.plan())
        desired[desired.count - 1].applied = "5000"     // bfq weights end at 1000
        let error = try #require(throws: Applier.Failure.self) { try Applier(state: f.state).apply(desired, device: f.block) }
        #expect(error.description.contains(f.hierarchy.weightFile("\(f.cgroups.root)/vm1")))
        #expect(error.description.contains("errno 34"))
        try f.expectPristine()
    }

    /// A guest agent that reads as qemu-ga does (every file holds "8000") and refuses every write.
    static func readOnlyAgent() throws -> FakeAgent {
        try FakeAgent { client in
            var pending = [UInt8](), buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                guard let newline = pending.firstIndex(of: 10) else {
                    let count = recv(client, &buffer, buffer.count, 0)
                    guard count > 0 else { return }
                    pending += buffer[..<count]
                    continue
                }
                let line = Array(pending[..<newline])
                pending.removeSubrange(...newline)
                guard let request = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let command = request["execute"] as? String else { return }
                let arguments = request["arguments"] as? [String: Any] ?? [:]
                switch command {
                case "guest-sync-delimited":
                    var marker: UInt8 = 0xFF
                    _ = send(client, &marker, 1, Int32(MSG_NOSIGNAL))
                    _ = FakeAgent.write(client, "{\"return\": \(arguments["id"] as? Int ?? 0)}\n")
                case "guest-file-open" where arguments["mode"] as? String == "r": _ = FakeAgent.write(client, "{\"return\": 7}\n")
                case "guest-file-open": _ = FakeAgent.write(client, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Permission denied\"}}\n")
                case "guest-file-read": _ = FakeAgent.write(client, "{\"return\": {\"buf-b64\": \"ODAwMAo=\", \"count\": 5, \"eof\": true}}\n")
                default: _ = FakeAgent.write(client, "{\"return\": {}}\n")
                }
            }
        }
    }

    @Test("needs root: a guest whose agent is down, or refuses writes, keeps its own knobs; the host's settings and the other guests are applied (issue 18, 12)")
    func rootAGuestsAgentHoldsNoOneHostage() throws {
        let f = try Fixture()
        let refusing = try Self.readOnlyAgent()
        func inGuest(_ guest: String, _ socket: String) -> [JournalEntry] {
            [JournalEntry(kind: .value, path: "/sys/block/vdb/queue/iosched/timeout_sync", original: nil, applied: "64", guest: guest, agent: socket),
             JournalEntry(kind: .value, path: "/sys/block/vdb/queue/iosched/slice_idle_us", original: nil, applied: "0", guest: guest, agent: socket)]
        }
        let down = f.device.directory + "/no-agent.sock"
        let changes = try Applier(state: f.state).apply(f.desired(f.plan()) + inGuest("vm0", down) + inGuest("vm1", refusing.path), device: f.block)
        #expect(try f.device.scheduler().contains("[bfq]"))
        #expect(try f.weight("vm0") == 700 && f.weight("vm1") == 200)
        #expect(!changes.contains { $0.path.contains("(agent ") }, "\(changes)")
        let journal = try #require(try f.state.loadJournal())
        #expect(!journal.entries.contains { $0.agent == down }, "an unreachable guest's knobs are not journaled")
        try Applier(state: f.state).restore()
        try f.expectPristine()
    }

    @Test("needs root: a second rtvirtio is refused while another process holds the lock; in one process the lock nests")
    func rootLockIsExclusive() throws {
        let f = try Fixture()
        try f.state.create()
        // another process holds it, writing its pid as rtvirtio does
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", #"exec 9>"$0" && flock -x 9 && echo $$ >&9 && exec sleep 30"#, f.state.lockPath]
        try holder.run()
        defer { holder.terminate(); holder.waitUntilExit() }
        let started = Date()
        while (try? HostFS().readValue(f.state.lockPath)) != String(holder.processIdentifier), Date().timeIntervalSince(started) < 5 { usleep(20_000) }
        let error = try #require(throws: StateDirectory.Failure.self) { try Applier(state: f.state).apply(f.desired(f.plan()), device: f.block) }
        #expect(error.description.contains("another rtvirtio is changing this host"))
        #expect(error.description.contains("pid \(holder.processIdentifier)"))
        try f.expectPristine()
        holder.terminate()
        holder.waitUntilExit()
        // the daemon holds its lock for its life and applies inside it
        let fd = try f.state.lock()
        _ = try Applier(state: f.state).apply(f.desired(f.plan()), device: f.block)
        f.state.unlock(fd)
        try Applier(state: f.state).restore()
        try f.expectPristine()
    }

    @Test("needs root: a corrupt journal or one for another device is refused, never replayed")
    func rootBadJournalsAreRefused() throws {
        let f = try Fixture()
        try f.state.create()
        try "{ not json".write(toFile: f.state.journalPath, atomically: true, encoding: .utf8)
        let corrupt = try #require(throws: StateDirectory.Failure.self) { try Applier(state: f.state).restore() }
        #expect(corrupt.description.contains("cannot be read"))
        #expect(try f.device.scheduler() == f.device.pristineScheduler)
        try f.state.save(Journal(device: "/dev/sdz", majMin: "8:250", entries: []))
        let other = try #require(throws: StateDirectory.Failure.self) { try Applier(state: f.state).apply(f.desired(f.plan()), device: f.block) }
        #expect(other.description.contains("is for device /dev/sdz (8:250), not \(f.device.path)"))
        try f.state.removeJournal()
        try f.expectPristine()
    }

    @Test("needs root: a cgroup that vanished before restore is skipped, the rest restored")
    func rootVanishedCgroupOnRestore() throws {
        let f = try Fixture()
        try Applier(state: f.state).apply(f.desired(f.plan()), device: f.block)
        rmdir("\(f.cgroups.root)/vm1")
        try Applier(state: f.state).restore()
        #expect(try f.device.scheduler() == f.device.pristineScheduler)
        #expect(try f.weight("vm0") == nil)
        try f.cgroups.make("vm1")
    }

    @Test("needs root: a cgroup that vanishes after the first write of an apply fails cleanly and rolls that write back (issue 17, 7)")
    func rootVanishedCgroupOnApply() throws {
        let f = try Fixture()
        let desired = f.desired(f.plan())
        let fs = HostFS()
        let vm1 = "\(f.cgroups.root)/vm1"
        fs.afterWrite = { number in if number == 1 { rmdir(vm1) } }   // after the scheduler became bfq
        defer { _ = try? f.cgroups.make("vm1") }
        let error = try #require(throws: (any Error).self) { try Applier(fs: fs, state: f.state).apply(desired, device: f.block) }
        #expect(fs.writes >= 2, "premise: the apply wrote before it failed")
        #expect("\(error)".contains(f.hierarchy.weightFile(vm1)) && "\(error)".contains("every value this run changed was put back"), "\(error)")
        #expect(try f.device.scheduler() == f.device.pristineScheduler, "the first write rolled back")
        #expect(try f.weight("vm0") == nil)
        #expect(!FileManager.default.fileExists(atPath: f.state.journalPath))
    }

    @Test("needs root: partitions and by-path links resolve to the whole disk; non-devices are refused")
    func rootDeviceResolution() throws {
        let f = try Fixture()
        let link = f.device.directory + "/by-id-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: f.device.path)
        #expect(try BlockDevice.resolve(link).majMin == f.block.majMin)
        #expect(f.block.name == f.device.name)
        let notBlock = try #require(throws: HostError.self) { try BlockDevice.resolve("/dev/null") }
        #expect(notBlock.description == "find device /dev/null: not a block device")
        let missing = try #require(throws: HostError.self) { try BlockDevice.resolve("/dev/rtvirtio-no-such") }
        #expect(missing.description.contains("No such file or directory (errno 2)"))
    }
}
