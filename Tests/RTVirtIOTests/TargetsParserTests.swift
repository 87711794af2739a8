import Foundation
import Testing
@testable import RTVirtIO

struct TargetsParserTests {
    static let valid = """
    device: /dev/sdb
    percentile: 99.99
    model: mlp
    search:
      hostTimeoutSyncMs: [32, 64]
      hostSliceIdleMs: [0, 0.5, 2]
    guests:
      - name: vm0
        criticality: 2
        match: {libvirt: vm0}
        weight: 300
        guestBfq: {timeoutSyncMs: 64, sliceIdleMs: 4}
        tasks:
          - {name: db, iops: 500, requestKB: 8, targetMs: 300, weight: 200}
      - name: vm1
        match: {cgroup: machine.slice/./vm1.scope}
        tasks:
          - {name: web, iops: 100, targetMs: 800}
    """

    @Test func parsesEveryKey() throws {
        let targets = try TargetsParser.parse(Self.valid, file: "t.yaml")
        #expect(targets.device == "/dev/sdb")
        #expect(targets.percentile == 99.99)
        #expect(targets.model == .mlp)
        #expect(targets.search == SearchSpace(hostTimeoutSyncMs: [32, 64], hostSliceIdleUs: [0, 500, 2000]))
        #expect(targets.guests.count == 2)
        let vm0 = targets.guests[0]
        #expect(vm0.criticality == 2 && vm0.weight == 300 && vm0.match == .libvirt("vm0"))
        #expect(vm0.guestBfq == BfqSettings(timeoutSyncMs: 64, sliceIdleUs: 4000))
        #expect(vm0.tasks == [TaskSpec(name: "db", iops: 500, requestKB: 8, targetMs: 300, weight: 200)])
        let vm1 = targets.guests[1]
        #expect(vm1.criticality == 2, "default criticality is the position in the file")
        #expect(vm1.match == .cgroup("machine.slice/vm1.scope"))
        #expect(vm1.tasks[0].requestKB == 4 && vm1.tasks[0].weight == 100)
        #expect(vm1.guestBfq == .kernelDefault)
        #expect(targets.guestsByUrgency.map(\.name) == ["vm0", "vm1"], "ties keep file order")
        #expect(targets.onStop == .restore)
    }

    @Test func defaultsToThePapersSearchSpacePlusSliceIdleZero() throws {
        let targets = try TargetsParser.parse("device: /dev/sda\nguests: [{name: a, tasks: [{name: t, iops: 1, targetMs: 1}]}]")
        #expect(targets.search == SearchSpace(hostTimeoutSyncMs: [32, 64, 124], hostSliceIdleUs: [0, 1000, 2000, 4000, 6000, 8000]))
        #expect(targets.model == .bundledDefault)
        #expect(targets.percentile == 99.99)
    }

    @Test func jsonIsAccepted() throws {
        let targets = try TargetsParser.parse(#"{"device": "/dev/sda", "guests": [{"name": "a", "match": {"pid": 42}, "tasks": [{"name": "t", "iops": 10, "targetMs": 5}]}]}"#)
        #expect(targets.guests[0].match == .pid(42))
    }

    /// One bad input: the error must carry line, key and a message fragment.
    static func rejects(_ yaml: String, line: Int?, key: String, _ fragment: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try TargetsParser.parse(yaml, file: "bad.yaml")
            Issue.record("accepted: \(yaml)", sourceLocation: sourceLocation)
        } catch let error as InputError {
            #expect(error.file == "bad.yaml", sourceLocation: sourceLocation)
            #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
            #expect((error.key ?? "") == key, "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("wrong error type: \(error)", sourceLocation: sourceLocation)
        }
    }

    static func guest(_ body: String) -> String {
        "device: /dev/sdb\nguests:\n  - name: vm0\n" + body
    }
    static let task = "    tasks:\n      - {name: t, iops: 10, targetMs: 100}\n"

    @Test func unknownKeySuggestsTheNearOne() {
        Self.rejects("device: /dev/sdb\npercentil: 99\nguests: []", line: 2, key: "percentil", "did you mean 'percentile'?")
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 10, targetMS: 100}\n"), line: 5,
                     key: "guests[0].tasks[0].targetMS", "did you mean 'targetMs'?")
    }

    @Test func wrongTypes() {
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: many, targetMs: 100}\n"), line: 5,
                     key: "guests[0].tasks[0].iops", "expected a number, found 'many'")
        Self.rejects(Self.guest("    weight: [1]\n" + Self.task), line: 4, key: "guests[0].weight", "expected a whole number")
        Self.rejects("device: /dev/sdb\nguests: {a: 1}", line: 2, key: "guests", "expected a list")
        Self.rejects("- a\n- b", line: 1, key: "", "expected a mapping")
    }

    @Test("a task reads, writes or both, with a queue depth; reads one at a time unless told (issue 16)")
    func writersAndQueueDepth() throws {
        let text = Self.guest("    tasks:\n      - {name: log, iops: 200, targetMs: 50, rw: write, queueDepth: 32}\n"
                              + "      - {name: db, iops: 100, targetMs: 20, rw: readwrite, readPercent: 70}\n"
                              + "      - {name: mix, iops: 10, targetMs: 20, rw: readwrite}\n      - {name: r, iops: 10, targetMs: 20}\n")
        let tasks = try TargetsParser.parse(text, file: "t.yaml").guests[0].tasks
        #expect(tasks.map(\.op) == [.write, .readWrite(readPercent: 70), .readWrite(readPercent: 50), .read])
        #expect(tasks.map(\.queueDepth) == [32, 1, 1, 1])
        #expect(tasks.map(\.op.readFraction) == [0, 0.7, 0.5, 1])
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 10, targetMs: 100, rw: append}\n"), line: 5,
                     key: "guests[0].tasks[0].rw", "must be read, write or readwrite, found 'append'")
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 10, targetMs: 100, readPercent: 30}\n"), line: 5,
                     key: "guests[0].tasks[0].readPercent", "is for rw: readwrite only")
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 10, targetMs: 100, rw: readwrite, readPercent: 101}\n"), line: 5,
                     key: "guests[0].tasks[0].readPercent", "must be in 0...100, found 101")
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 10, targetMs: 100, queueDepth: 0}\n"), line: 5,
                     key: "guests[0].tasks[0].queueDepth", "must be in 1...256, found 0")
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 10, targetMs: 100, queueDepth: 257}\n"), line: 5,
                     key: "guests[0].tasks[0].queueDepth", "must be in 1...256, found 257")
    }

    @Test func missingKeys() {
        Self.rejects("guests: []", line: 1, key: "device", "missing required key")
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 10}\n"), line: 5, key: "guests[0].tasks[0].targetMs", "missing required key")
        Self.rejects(Self.guest(""), line: 3, key: "guests[0].tasks", "missing required key")
    }

    @Test("task numbers outside a physical range are refused, short, with their place (issue 18, 6)")
    func numbersOutsidePhysicalRanges() {
        for (field, value, says) in [("iops", "0", "must be from 0.001 to 10000000 IOPS, found 0"), ("requestKB", "-4", "must be from 0.5 to 65536 KB, found -4"),
                                     ("targetMs", "0", "must be from 0.001 to 3600000 ms, found 0"), ("iops", "1e308", "found 1e+308"),
                                     ("requestKB", "1e308", "found 1e+308"), ("targetMs", "5e-324", "found 4.94e-324")] {
            let base = ["iops": "10", "targetMs": "100", "requestKB": "4"]
            let fields = base.merging([field: value]) { $1 }.map { "\($0.key): \($0.value)" }.sorted().joined(separator: ", ")
            Self.rejects(Self.guest("    tasks:\n      - {name: t, \(fields)}\n"), line: 5, key: "guests[0].tasks[0].\(field)", says)
        }
    }

    @Test("the search is bounded: 64 values a list, 1024 knob pairs (issue 18, 3)")
    func searchIsBounded() throws {
        let many = (1...65).map(String.init).joined(separator: ", ")
        Self.rejects("device: /dev/sda\nsearch: {hostTimeoutSyncMs: [\(many)]}\nguests: [{name: a, tasks: [{name: t, iops: 1, targetMs: 1}]}]",
                     line: 2, key: "search.hostTimeoutSyncMs", "at most 64 values, found 65")
        let ts = (1...40).map(String.init).joined(separator: ", "), si = (0...29).map(String.init).joined(separator: ", ")
        Self.rejects("device: /dev/sda\nsearch: {hostTimeoutSyncMs: [\(ts)], hostSliceIdleMs: [\(si)]}\nguests: [{name: a, tasks: [{name: t, iops: 1, targetMs: 1}]}]",
                     line: 2, key: "search", "at most 1024 knob pairs (timeout_sync × slice_idle), found 1200")
    }

    @Test func weightsOutsideTheKernelsRange() {
        Self.rejects(Self.guest("    weight: 0\n" + Self.task), line: 4, key: "guests[0].weight", "must be in 1...1000, found 0")
        Self.rejects(Self.guest("    weight: 1001\n" + Self.task), line: 4, key: "guests[0].weight", "found 1001")
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 10, targetMs: 100, weight: 5000}\n"), line: 5,
                     key: "guests[0].tasks[0].weight", "must be in 1...1000")
    }

    @Test func duplicateNames() {
        Self.rejects("device: /dev/sdb\nguests:\n  - {name: a, tasks: [{name: t, iops: 1, targetMs: 1}]}\n  - {name: a, tasks: [{name: t, iops: 1, targetMs: 1}]}",
                     line: 4, key: "guests[1].name", "duplicate guest name 'a'")
        Self.rejects(Self.guest("    tasks:\n      - {name: t, iops: 1, targetMs: 1}\n      - {name: t, iops: 2, targetMs: 1}\n"),
                     line: 6, key: "guests[0].tasks[1].name", "duplicate task name 't'")
        Self.rejects("device: /dev/sdb\ndevice: /dev/sdc\nguests: []", line: 2, key: "device", "duplicate key")
    }

    @Test func unsafeNames() {
        for name in ["a/b", "..", "x..y", "\"tab\\there\"", "\"nl\\nx\""] {
            Self.rejects("device: /dev/sdb\nguests:\n  - name: \(name)\n" + Self.task, line: 3, key: "guests[0].name", "invalid name")
        }
        Self.rejects(Self.guest("    match: {libvirt: ../etc}\n" + Self.task), line: 4, key: "guests[0].match.libvirt", "invalid name")
    }

    @Test func cgroupPathsThatLeaveTheRoot() {
        for path in ["../other", "a/../../b", "/..", "."] {
            Self.rejects(Self.guest("    match: {cgroup: '\(path)'}\n" + Self.task), line: 4, key: "guests[0].match.cgroup",
                         "leaves the io controller's root")
        }
        #expect(normalizeCgroupPath("/machine.slice//vm0.scope/") == "machine.slice/vm0.scope")
        #expect(normalizeCgroupPath("a/b/../c") == "a/c")
    }

    @Test func exactlyOneMatchKind() {
        Self.rejects(Self.guest("    match: {}\n" + Self.task), line: 4, key: "guests[0].match", "needs one of: libvirt, cgroup, pid, pidfile")
        Self.rejects(Self.guest("    match: {libvirt: a, pid: 3}\n" + Self.task), line: 4, key: "guests[0].match", "has libvirt and pid; give exactly one")
        Self.rejects(Self.guest("    match: {pid: 0}\n" + Self.task), line: 4, key: "guests[0].match.pid", "must be in 1...")
    }

    @Test func emptyGuestsAndTasks() {
        Self.rejects("device: /dev/sdb\nguests: []", line: 2, key: "guests", "needs at least one guest")
        Self.rejects(Self.guest("    tasks: []\n"), line: 4, key: "guests[0].tasks", "needs at least one task")
    }

    @Test func yamlSyntaxErrorsKeepTheirPosition() {
        Self.rejects("device: /dev/sdb\nguests: [\n  {name: a", line: 4, key: "", "YAML syntax error")
        Self.rejects("device: /dev/sdb\n  bad: indentation: here", line: 2, key: "", "YAML syntax error")
        Self.rejects("", line: nil, key: "", "the file is empty")
    }

    @Test func otherRanges() {
        Self.rejects("device: sdb\nguests: []", line: 1, key: "device", "absolute path")
        Self.rejects("device: /dev/sdb\npercentile: 100\nguests: []", line: 2, key: "percentile", "only 99.99 is supported")
        Self.rejects("device: /dev/sdb\npercentile: 99.9\nguests: []", line: 2, key: "percentile", "only 99.99 is supported (the models predict the p99.99 of 1-second windows), found 99.9")
        Self.rejects("device: /dev/sdb\nonStop: forget\nguests: []", line: 2, key: "onStop", "'restore' or 'keep'")
        Self.rejects("device: /dev/sdb\nsearch: {hostSliceIdleMs: []}\nguests: []", line: 2, key: "search.hostSliceIdleMs", "at least one value")
        Self.rejects("device: /dev/sdb\nsearch: {hostTimeoutSyncMs: [1.5]}\nguests: []", line: 2, key: "search.hostTimeoutSyncMs", "whole milliseconds")
    }

    @Test func guestAgent() throws {
        let ok = try TargetsParser.parse(Self.guest("    guestAgent: {socket: /run/qga.sock}\n" + Self.task))
        #expect(ok.guests[0].guestAgent == GuestAgentSpec(socket: "/run/qga.sock", disk: "vda"))
        Self.rejects(Self.guest("    guestAgent: {socket: qga.sock}\n" + Self.task), line: 4, key: "guests[0].guestAgent.socket", "absolute path")
        Self.rejects(Self.guest("    guestAgent: {socket: /q, disk: ../sda}\n" + Self.task), line: 4, key: "guests[0].guestAgent.disk", "block device name")
        Self.rejects(Self.guest("    guestAgent: {path: /q}\n" + Self.task), line: 4, key: "guests[0].guestAgent.path", "unknown key")
    }

    @Test("capacity: readIops, and the large reads' MB/s where measured; a bandwidth that means nothing is refused with its line")
    func capacityWithBandwidth() throws {
        let body = "    criticality: 1\n" + Self.task
        let parsed = try TargetsParser.parse("capacity: {readIops: 3520, readMBps: 19.5}\n" + Self.guest(body))
        #expect(parsed.capacityReadIops == 3520 && parsed.capacityReadMBps == 19.5)
        #expect(Scenario(targets: parsed).delivery == DeliveryModel(capacityIops: 3520, largeReadMBps: 19.5))
        #expect(try TargetsParser.parse("capacity: {readIops: 3520}\n" + Self.guest(body)).capacityReadMBps == nil)
        Self.rejects("capacity: {readIops: 3520, readMBps: 0}\n" + Self.guest(body), line: 1, key: "capacity.readMBps", "above 0")
        Self.rejects("capacity: {readIops: 3520, readMbps: 20}\n" + Self.guest(body), line: 1, key: "capacity.readMbps", "unknown key")
    }

    @Test func errorTextNamesFileLineColumnKeyAndHint() throws {
        let error = try #require(throws: InputError.self) {
            try TargetsParser.parse("device: /dev/sdb\nguest: []", file: "/etc/rtvirtio/targets.yaml")
        }
        #expect(error.description == "/etc/rtvirtio/targets.yaml:2:1: guest: unknown key (did you mean 'guests'?; allowed: device, percentile, model, modelParams, search, capacity, guests, onStop, libvirt)")
    }
}

struct ModelFileTests {
    static let text = """
    kind: analytical
    lambdaPhi: 1
    host: {lambdaTimeoutSync: 1000, lambdaSliceIdle: 0.5}
    guest: {lambdaTimeoutSync: 0, lambdaSliceIdle: 0}
    sliceIdleDefaultMs: 8
    switchMs: {intercept: 0.1, perEntity: 0.05}
    hostThroughputKBps: 245000
    maxBudgetKB: 8192
    validity: {hostTimeoutSyncMs: [32, 124], hostSliceIdleMs: [1, 8]}
    provenance: {note: test}
    """

    @Test func parsesAnalyticalParameters() throws {
        let parameters = try ModelFiles.parseAnalytical(Self.text, file: "a.yaml")
        #expect(parameters == AnalyticalModelTests.parameters.with(validity: Validity(hostTimeoutSyncMs: 32...124, hostSliceIdleMs: 1...8),
                                                                  provenance: parameters.provenance))
        #expect(parameters.provenance?.contains("note: test") == true)
    }

    @Test func aLambdaThatMakesTheSliceIdleEffectNonPositiveIsAnInputError() throws {
        let text = Self.text.replacingOccurrences(of: "lambdaSliceIdle: 0.5", with: "lambdaSliceIdle: 1.0")
        let error = try #require(throws: InputError.self) { try ModelFiles.parseAnalytical(text, file: "a.yaml") }
        #expect(error.key == "host.lambdaSliceIdle")
        #expect(error.line == 3)
        #expect(error.message.contains("E(SI) = 0 ≤ 0"))
    }

    @Test func wrongKindAndMissingKeys() throws {
        let kind = try #require(throws: InputError.self) {
            try ModelFiles.parseAnalytical(Self.text.replacingOccurrences(of: "kind: analytical", with: "kind: mlp"), file: "a.yaml")
        }
        #expect(kind.key == "kind")
        let missing = try #require(throws: InputError.self) {
            try ModelFiles.parseAnalytical(Self.text.replacingOccurrences(of: "maxBudgetKB: 8192\n", with: ""), file: "a.yaml")
        }
        #expect(missing.key == "maxBudgetKB" && missing.message == "missing required key")
    }

    /// ~600 bytes of nested aliases: 10^7 values once expanded (serialising the provenance hung `plan`).
    static let aliasBomb = "provenance:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + (1...7).map { n in
        "  a\(n): &a\(n) [" + Array(repeating: "*a\(n - 1)", count: 10).joined(separator: ", ") + "]\n"
    }.joined()

    @Test("a YAML alias bomb in a model file is refused in well under a second, naming the file", .timeLimit(.minutes(1)))
    func aliasBombIsRefused() throws {
        let text = Self.text.replacingOccurrences(of: "provenance: {note: test}", with: "") + Self.aliasBomb
        let started = Date()
        let error = try #require(throws: InputError.self) { try ModelFiles.parseAnalytical(text, file: "bomb.yaml") }
        #expect(Date().timeIntervalSince(started) < 1, "took \(Date().timeIntervalSince(started)) s")
        #expect(error.description.hasPrefix("bomb.yaml:"))
        #expect(error.message.contains("aliases are expanded"))
        // the same in a targets file
        #expect(throws: InputError.self) { try TargetsParser.parse("device: /dev/sdz\n" + Self.aliasBomb, file: "t.yaml") }
    }
}

extension AnalyticalParameters {
    func with(validity: Validity, provenance: String?) -> AnalyticalParameters {
        var copy = self
        copy.validity = validity
        copy.provenance = provenance
        return copy
    }
}

struct GuestNameTests {
    @Test("a guest named '.' is refused: without match it would map to the cgroup root (issue 18, 8)")
    func dotIsNoName() throws {
        let error = try #require(throws: InputError.self) {
            try TargetsParser.parse("device: /dev/sda\nguests: [{name: '.', tasks: [{name: t, iops: 1, targetMs: 1}]}]", file: "t.yaml")
        }
        #expect(error.description.contains("invalid name '.'"), "\(error)")
        #expect(try TargetsParser.parse("device: /dev/sda\nguests: [{name: vm.0, tasks: [{name: t, iops: 1, targetMs: 1}]}]").guests[0].name == "vm.0")
    }
}

struct PidfileTests {
    @Test("a pidfile: match must be an absolute path (issue 18, 20)")
    func relativePidfileIsRefused() throws {
        let error = try #require(throws: InputError.self) {
            try TargetsParser.parse("device: /dev/sda\nguests: [{name: a, match: {pidfile: run/a.pid}, tasks: [{name: t, iops: 1, targetMs: 1}]}]", file: "t.yaml")
        }
        #expect(error.description.contains("guests[0].match.pidfile: must be an absolute path"), "\(error)")
    }
}

struct BfqSettingsConversionTests {
    @Test("one conversion of slice_idle ms to µs: bounds, whole µs, and no trap on absurd numbers; huge numbers print short")
    func sliceIdleConversion() {
        #expect(BfqSettings.sliceIdleUs(ms: 0) == 0 && BfqSettings.sliceIdleUs(ms: 0.5) == 500 && BfqSettings.sliceIdleUs(ms: 1000) == 1_000_000)
        for bad in [-1, 1000.001, 0.0004, 1e300, 9.3e15, .infinity, -.infinity, .nan] { #expect(BfqSettings.sliceIdleUs(ms: bad) == nil, "\(bad)") }
        #expect(BfqSettings.timeoutSyncMs(124) == 124 && BfqSettings.timeoutSyncMs(9.223372036854775807e18) == nil && BfqSettings.timeoutSyncMs(1.5) == nil)
        #expect(formatNumber(1e300) == "1e+300" && formatNumber(.nan) == "nan" && formatNumber(123456) == "123456")
    }

    @Test("a slice_idle the kernel cannot hold in whole µs is refused with its place")
    func subMicrosecondSliceIdleIsRefused() throws {
        let error = try #require(throws: InputError.self) {
            try TargetsParser.parse("device: /dev/sda\nsearch: {hostSliceIdleMs: [0.0004]}\nguests: [{name: a, tasks: [{name: t, iops: 1, targetMs: 1}]}]", file: "t.yaml")
        }
        #expect(error.description.hasPrefix("t.yaml:2:") && error.description.contains("found 0.0004"), "\(error)")
    }
}

struct ExampleTargetsTests {
    @Test("config/targets.example.yaml, which make install puts in /etc/rtvirtio, parses")
    func exampleParses() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/targets.example.yaml").path
        let targets = try TargetsParser.parse(try String(contentsOfFile: path, encoding: .utf8), file: path)
        #expect(targets.guests.map(\.name) == ["vm0", "vm1", "vm2"] && targets.search.hostSliceIdleUs.first == 0)
    }
}
