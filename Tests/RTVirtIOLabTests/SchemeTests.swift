import Foundation
import Testing
@testable import RTVirtIO
@testable import RTVirtIOLab

/// The benchmark's baselines, hand-worked, and the cases file's parser.
struct SchemeTests {
    // vm0: 500 + 100 IOPS × 4 KB = 2400 KB/s, tightest 20 ms; vm1: 1500 × 4 = 6000 KB/s, tightest 200 ms
    static let scenario = Scenario(guests: [
        .init(name: "vm0", criticality: 1, pinnedWeight: nil, guestBfq: .kernelDefault,
              tasks: [TaskSpec(name: "a", iops: 500, requestKB: 4, targetMs: 20), TaskSpec(name: "b", iops: 100, requestKB: 4, targetMs: 40)]),
        .init(name: "vm1", criticality: 2, pinnedWeight: nil, guestBfq: .kernelDefault,
              tasks: [TaskSpec(name: "c", iops: 1500, requestKB: 4, targetMs: 200)]),
        .init(name: "vm2", criticality: 3, pinnedWeight: 700, guestBfq: .kernelDefault,
              tasks: [TaskSpec(name: "d", iops: 100, requestKB: 4, targetMs: 1000)]),
    ])

    @Test("default and ionice: kernel knobs, weights 100 (pins kept); ionice puts the most urgent guest in RT, the rest BE by urgency")
    func defaultAndIonice() throws {
        let plain = try Scheme.kernelDefault.settings(for: Self.scenario)
        #expect(plain.host == .kernelDefault && plain.weights == [100, 100, 700] && plain.ioPriorities == [nil, nil, nil])
        let ionice = try Scheme.ionice.settings(for: Self.scenario)
        #expect(ionice.ioPriorities == [IOPriority(.realtime, 0), IOPriority(.bestEffort, 0), IOPriority(.bestEffort, 1)])
    }

    @Test("what an operator does without rtvirtio: the device's own scheduler (no knobs, weights untouched), or bfq with slice_idle 0 only")
    func operatorBaselines() throws {
        for name in ["none", "mq-deadline"] {
            let own = try Scheme.deviceScheduler(name).settings(for: Self.scenario)
            #expect(own.scheduler == name && !own.usesBfq && own.weights == [100, 100, 700] && own.ioPriorities == [nil, nil, nil])
        }
        let noIdle = try Scheme.bfqNoIdle.settings(for: Self.scenario)
        #expect(noIdle.scheduler == "bfq" && noIdle.host == BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 0) && noIdle.weights == [100, 100, 700])
        #expect(try Scheme.kernelDefault.settings(for: Self.scenario).scheduler == "bfq")
    }

    @Test("a scheme says whether it sets bfq as its settings do, without a case: the ones a kernel without bfq cannot run")
    func setsBfq() throws {
        let fixed: [Scheme] = [.kernelDefault, .deviceScheduler("none"), .deviceScheduler("mq-deadline"), .bfqNoIdle, .ionice, .mimicRTXen, .naive]
        for scheme in fixed { #expect(scheme.setsBfq == (try scheme.settings(for: Self.scenario).usesBfq), "\(scheme)") }
        #expect(fixed.filter(\.setsBfq).count == 5)
        let own = try Scheme.deviceScheduler("none").settings(for: Self.scenario)
        let noIdle = try Scheme.bfqNoIdle.settings(for: Self.scenario)
        #expect(!Scheme.fixed(own).setsBfq && Scheme.fixed(noIdle).setsBfq)
    }

    @Test("naive: weight ∝ demand / tightest target, the largest at 1000")
    func naive() throws {
        // vm0 2400 / 20 = 120, vm1 6000 / 200 = 30 → 1000, 250; vm2 pinned 700
        #expect(try Scheme.naive.settings(for: Self.scenario).weights == [1000, 250, 700])
    }

    @Test("mimic-rtxen: weight ∝ max(demand, tasks × 4 KB / (target / 2))")
    func mimicRTXen() throws {
        // vm0: Π = 10 ms → 2 × 4 KB / 0.01 s = 800 KB/s < 2400 → 2400; vm1: 6000 → 1000 : 400
        #expect(try Scheme.mimicRTXen.settings(for: Self.scenario).weights == [400, 1000, 700])
        // a light guest with a tight target gets the server floor: 1 × 4 KB / 0.001 s = 4000 KB/s > 400
        let tight = Scenario(guests: [
            .init(name: "x", criticality: 1, pinnedWeight: nil, guestBfq: .kernelDefault, tasks: [TaskSpec(name: "t", iops: 100, requestKB: 4, targetMs: 2)]),
            .init(name: "y", criticality: 2, pinnedWeight: nil, guestBfq: .kernelDefault, tasks: [TaskSpec(name: "t", iops: 2000, requestKB: 4, targetMs: 100)]),
        ])
        #expect(try Scheme.mimicRTXen.settings(for: tight).weights == [500, 1000])
    }

    @Test("cases file: guests without match, a written target rule, errors with position")
    func casesFile() throws {
        let text = """
        targetRule: tiered
        search: {hostSliceIdleMs: [0, 8]}
        cases:
          - name: one
            guests:
              - {name: vm0, tasks: [{name: a, iops: 100, targetMs: 25}]}
        """
        let file = try BenchCases.parse(text, file: "c.yaml")
        #expect(file.cases.map(\.name) == ["one"] && file.search.hostSliceIdleUs == [0, 8000] && file.targetRule == "tiered")
        #expect(file.cases[0].scenario.totalDemandKBps == 400)
        let withMatch = text.replacingOccurrences(of: "{name: vm0,", with: "{name: vm0, match: {cgroup: x},")
        let error = try #require(throws: InputError.self) { try BenchCases.parse(withMatch, file: "c.yaml") }
        #expect(error.description.hasPrefix("c.yaml:6:") && error.description.contains("not allowed in a cases file"))
    }

    @Test("cases file: a contended file states its capacity and scale rule; a capacity that is no number of IOPS is refused")
    func contendedCasesFile() throws {
        let text = """
        capacityIops: 3520
        scaleRule: scaled
        targetRule: tiered
        cases:
          - name: one
            regime: device-bound
            guests:
              - {name: vm0, tasks: [{name: a, iops: 100, targetMs: 25}]}
        """
        let file = try BenchCases.parse(text, file: "c.yaml")
        #expect(file.capacityIops == 3520 && file.scaleRule == "scaled" && file.namedRegimes == ["device-bound"])
        let error = try #require(throws: InputError.self) {
            try BenchCases.parse(text.replacingOccurrences(of: "3520", with: "-1"), file: "c.yaml")
        }
        #expect(error.description.hasPrefix("c.yaml:1:") && error.description.contains("capacityIops"), "\(error)")
    }

    @Test("bench/cases/contended24.yaml: the paper's 24 mixes, loads from 40 % to 130 % of the stated capacity, as its rule says")
    func contended24FollowsItsRule() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("bench/cases/contended24.yaml").path
        let file = try BenchCases.parse(try String(contentsOfFile: path, encoding: .utf8), file: path)
        let paper = try BenchCases.parse(try String(contentsOfFile: root.appendingPathComponent("bench/cases/paper24.yaml").path, encoding: .utf8), file: "paper24")
        let capacity = try #require(file.capacityIops)
        #expect(file.cases.map(\.name) == paper.cases.map(\.name) && file.namedRegimes == ["device-bound"])
        let loads = file.cases.map { $0.scenario.totalDemandKBps / 4 / capacity }
        // rounding each task to whole IOPS moves a case's load by at most half an IOPS per task
        #expect(abs(loads.min()! - 0.40) < 0.01 && abs(loads.max()! - 1.30) < 0.01, "\(loads)")
        // ranked by the paper's demand: a case that asked more in the paper asks at least as much here
        for (a, b) in zip(paper.cases, file.cases) {
            #expect(a.guests.map(\.name) == b.guests.map(\.name) && a.guests.map { $0.tasks.map(\.targetMs) } == b.guests.map { $0.tasks.map(\.targetMs) })
        }
        let order = paper.cases.indices.sorted { (paper.cases[$0].scenario.totalDemandKBps, $0) < (paper.cases[$1].scenario.totalDemandKBps, $1) }
        #expect(zip(order, order.dropFirst()).allSatisfy { loads[$0] < loads[$1] }, "\(order.map { loads[$0] })")
    }

    @Test("sweep: timeout_sync's ends × slice_idle 0/1/8 × equal, graded, urgent-first weights; pins kept; one guest has no shapes")
    func sweep() {
        let space = SearchSpace(hostTimeoutSyncMs: [32, 64, 124], hostSliceIdleUs: [0, 1000, 2000, 4000, 6000, 8000])
        let all = SettingsSweep.settings(for: Self.scenario, space: space)
        #expect(all.count == 2 * 3 * 3)
        #expect(Set(all.map(\.settings.host)) == Set([32, 124].flatMap { ts in [0, 1000, 8000].map { BfqSettings(timeoutSyncMs: ts, sliceIdleUs: $0) } }))
        // urgency vm0, vm1, vm2; vm2 pinned at 700
        let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0.settings.weights) })
        #expect(byName["sweep ts32 si0 equal"] == [100, 100, 700])
        #expect(byName["sweep ts124 si8 graded"] == [1000, 500, 700])
        #expect(byName["sweep ts124 si1 urgent-first"] == [1000, 50, 700])
        // urgency follows criticality, not position
        #expect(SettingsSweep.WeightShape.graded.weights(urgencyOrder: [2, 0, 1, 3]) == [500, 250, 1000, 125])
        // the paper's space has no slice_idle 0; one guest: only the knobs
        let one = Scenario(guests: [Self.scenario.guests[0]])
        #expect(SettingsSweep.settings(for: one, space: .paper).map(\.name) == ["sweep ts32 si1 equal", "sweep ts32 si8 equal", "sweep ts124 si1 equal", "sweep ts124 si8 equal"])
    }
}
