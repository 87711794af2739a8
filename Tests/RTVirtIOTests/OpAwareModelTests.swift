import Foundation
import Testing
@testable import RTVirtIO

@Suite("op-aware model: writes, request sizes and queue depths on top of the idling model")
struct OpAwareModelTests {
    /// A calm line of 1 ms + 0.5 ms per MB/s, no idling terms; stalls at 1000 ms.
    static func base(output: IdlingParameters.Output = .threshold, stallIntercept: Double = -50) -> IdlingModel {
        IdlingModel(parameters: IdlingParameters(
            noIdle: .init(interceptMs: 1, perLoadMBpsMs: 0.5), idleCalm: .init(interceptMs: 1, perLoadMBpsMs: 0.5),
            stall: .init(intercept: stallIntercept, perLoadMBps: 0, perShare: 0, perQueue: 0), stallMs: 1000, riskThreshold: 0.5,
            output: output))
    }

    /// vm0 reads 100 × 4 KiB one at a time; vm1 writes 50 × 16 KiB, 4 in flight.
    static let scenario = Scenario(guests: [
        .init(name: "vm0", criticality: 1, pinnedWeight: nil, guestBfq: .kernelDefault, tasks: [TaskSpec(name: "r", iops: 100, targetMs: 10)]),
        .init(name: "vm1", criticality: 2, pinnedWeight: nil, guestBfq: .kernelDefault,
              tasks: [TaskSpec(name: "w", iops: 50, requestKB: 16, targetMs: 50, op: .write, queueDepth: 4)]),
    ])
    static let noIdle = Settings(host: BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 0), weights: [100, 100])

    @Test("hand-worked: a written KiB costs two read KiB, 0.1 ms per KiB of its own beyond 4, 0.01 ms per KiB queued on a saturated device")
    func handWorked() {
        let terms = OpTerms(writeCost: 2, perOwnKBMs: 0.1, perQueuedKBMs: 0.01, saturationMBps: 1)
        let predicted = OpAwareModel(base: Self.base(), terms: terms).predict(Self.scenario, settings: Self.noIdle)
        // load in read KiB: 100 × 4 + 50 × 16 × 2 = 2000 KB/s = 1.953125 MB/s → calm 1 + 0.5 × 1.953125 = 1.9765625 ms
        // queued beyond one: (4 − 1) × 32 read KiB = 96 → ρ = 1 (1.95 MB/s of 1), 0.01 × 96 = 0.96 ms
        // the writer's own: 32 − 4 × 2 = 24 read KiB × 0.1 = 2.4 ms
        #expect(abs(predicted[0][0] - 2.9365625) < 1e-9, "\(predicted)")
        #expect(abs(predicted[1][0] - 5.3365625) < 1e-9, "\(predicted)")
        // a device saturating at 3.90625 MB/s is half busy: ρ² = 0.25 of the queueing
        var half = terms
        half.saturationMBps = 3.90625
        #expect(abs(OpAwareModel(base: Self.base(), terms: half).predict(Self.scenario, settings: Self.noIdle)[0][0] - 2.2165625) < 1e-9)
    }

    @Test("4 KiB reads one at a time: every term vanishes and the prediction is the base model's")
    func readsAreTheBaseModel() {
        let reads = Scenario(guests: [
            .init(name: "a", criticality: 1, pinnedWeight: nil, guestBfq: .kernelDefault, tasks: [TaskSpec(name: "t", iops: 1500, targetMs: 10)]),
            .init(name: "b", criticality: 2, pinnedWeight: nil, guestBfq: .kernelDefault,
                  tasks: [TaskSpec(name: "t", iops: 500, targetMs: 10), TaskSpec(name: "u", iops: 100, targetMs: 10)]),
        ])
        let terms = OpTerms(writeCost: 3, perOwnKBMs: 0.5, perQueuedKBMs: 0.2, saturationMBps: 2, saturationPower: 3,
                            stallPerWriteShare: 4, stallPerLargeShare: 1.5, stallPerQueuedMB: 9, stallLevelPerLargeShare: 0.7)
        for sliceIdleUs in [0, 8000] {
            let settings = Settings(host: BfqSettings(timeoutSyncMs: 124, sliceIdleUs: sliceIdleUs), weights: [300, 100])
            let base = Self.base(output: .expectation, stallIntercept: 0)
            #expect(OpAwareModel(base: base, terms: terms).predict(reads, settings: settings) == base.predict(reads, settings: settings))
        }
    }

    @Test("with idling, the other guests' writes, large requests and deep queues raise a guest's stall risk, and large requests its stall's length")
    func stallTerms() {
        let terms = OpTerms(writeCost: 1, perOwnKBMs: 0, perQueuedKBMs: 0, saturationMBps: 1, stallPerWriteShare: 2, stallPerLargeShare: 0.75,
                            stallPerQueuedMB: 1, stallLevelPerLargeShare: 0.5)
        // for vm0, vm1 writes 800 of the device's 1200 KB/s, all in 16 KiB requests, 3 × 16 KiB = 0.046875 MiB
        // queued beyond one: 2 × 2/3 + 0.75 × 2/3 + 0.046875; vm1 beside vm0's one-at-a-time 4 KiB reads gains nothing
        #expect(abs(terms.stallLogit(Self.scenario, guest: 0) - (11.0 / 6 + 0.046875)) < 1e-12)
        #expect(terms.stallLogit(Self.scenario, guest: 1) == 0)
        #expect(abs(terms.stallFactor(Self.scenario, guest: 0) - 4.0 / 3) < 1e-12, "1 + 0.5 × 2/3")
        #expect(terms.stallFactor(Self.scenario, guest: 1) == 1)
        // the expectation output: calm + risk × (stall − calm), the risk σ(0 + logit), vm0's stall 1000 × 4/3, vm1's 1000
        let idle = Settings(host: BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 8000), weights: [100, 100])
        let predicted = OpAwareModel(base: Self.base(output: .expectation, stallIntercept: 0), terms: terms).predict(Self.scenario, settings: idle)
        let calm = 1 + 0.5 * 1200.0 / 1024, stall = 1000 * 4.0 / 3
        let risk0 = 1 / (1 + exp(-(11.0 / 6 + 0.046875)))
        #expect(abs(predicted[0][0] - (calm + risk0 * (stall - calm))) < 1e-9)
        #expect(abs(predicted[1][0] - (calm + 0.5 * (1000 - calm))) < 1e-9, "vm1's risk is the base's σ(0)")
    }

    @Test("an op-aware file reads back exactly and refuses terms that mean nothing, with file:line")
    func fileRoundTripAndRefusals() throws {
        let model = OpAwareModel(base: Self.base(), terms: OpTerms(writeCost: 1.5, perOwnKBMs: 0.07, perQueuedKBMs: 0.003, saturationMBps: 18.5,
                                                                    saturationPower: 3, stallPerWriteShare: 2.25, stallPerLargeShare: 0.25,
                                                                    stallPerQueuedMB: -0.5, stallLevelPerLargeShare: 0.5))
        let text = ModelFiles.opAwareYAML(model, comment: "test", provenance: [("data", "none")])
        let parsed = try ModelFiles.parseOpAware(text, file: "op.yaml")
        var parameters = parsed.base.parameters
        #expect(parameters.provenance?.contains("data:") == true && parameters.provenance?.contains("none") == true, "\(parameters.provenance ?? "")")
        parameters.provenance = nil   // the file's own record, which the model in memory had not
        #expect(parsed.terms == model.terms && parameters == model.base.parameters)
        #expect((try ModelFiles.parseModel(text, file: "op.yaml", name: "op")) is OpAwareModel)
        // an idling file is not an op-aware one, nor the other way round
        #expect { try ModelFiles.parseOpAware(text.replacingOccurrences(of: "kind: op-aware", with: "kind: idling"), file: "op.yaml") } throws: {
            "\($0)".contains("expected 'op-aware'")
        }
        #expect(throws: InputError.self) { try ModelFiles.parseIdling(text, file: "op.yaml") }
        for (bad, message) in [("writeCost: 1.5", "writeCost: 0"), ("perOwnKBMs: 0.07", "perOwnKBMs: -1"), ("saturationMBps: 18.5", "saturationMBps: 0")] {
            let broken = text.replacingOccurrences(of: bad, with: message)
            #expect { try ModelFiles.parseOpAware(broken, file: "op.yaml") } throws: { error in
                "\(error)".contains("op.yaml:") && "\(error)".contains("ops.\(message.split(separator: ":")[0])")
            }
        }
    }

    @Test("the MLP's op inputs: a task's share of reads, its depth, the KiB the others keep queued")
    func mlpOpFeatures() {
        let host = BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 0)
        #expect(MLPFeature.taskReadFraction.value(Self.scenario, guest: 1, task: 0, share: 0.5, host: host) == 0)
        #expect(MLPFeature.taskQueueDepth.value(Self.scenario, guest: 1, task: 0, share: 0.5, host: host) == 4)
        #expect(MLPFeature.othersQueuedKB.value(Self.scenario, guest: 0, task: 0, share: 0.5, host: host) == 48)
        #expect(MLPFeature.othersQueuedKB.value(Self.scenario, guest: 1, task: 0, share: 0.5, host: host) == 0)
    }

    @Test("the daemon's scenario takes a guest's measured read share where its tasks declare one far from it")
    func measuredMixReplacesTheDeclaredOne() {
        let targets = Targets(device: "vdb", guests: [GuestSpec(name: "vm0", criticality: 1, tasks: [TaskSpec(name: "db", iops: 100, targetMs: 10)])])
        let mixed = LoadScaling.scaled(targets, measured: ["vm0": MeasuredLoad(iops: 200, requestKB: 4, readFraction: 0.3)])
        #expect(mixed.guests[0].tasks[0].op == .readWrite(readPercent: 30) && mixed.guests[0].tasks[0].iops == 200)
        // within 10 points of what it declares, or counters that do not say: the declaration stands
        #expect(LoadScaling.scaled(targets, measured: ["vm0": MeasuredLoad(iops: 200, requestKB: 4, readFraction: 0.95)]).guests[0].tasks[0].op == .read)
        #expect(LoadScaling.scaled(targets, measured: ["vm0": MeasuredLoad(iops: 200, requestKB: 4)]).guests[0].tasks[0].op == .read)
        #expect(LoadScaling.scaled(targets, measured: ["vm0": MeasuredLoad(iops: 200, requestKB: 4, readFraction: 0)]).guests[0].tasks[0].op == .write)
    }
}

@Suite("the closed loop holds each op to the targets of the tasks that issue it")
struct OpVerdictTests {
    static func histogram(ms: Double, count: UInt64 = 100) -> LatencyHistogram {
        var h = LatencyHistogram()
        h.record(ns: UInt64(ms * 1_000_000), count: count)
        return h
    }

    @Test("a backup's 100 ms writes are not its 10 ms reader's miss; a 30 ms read is")
    func writesHeldToTheWritersTarget() throws {
        let tasks = [TaskSpec(name: "db", iops: 500, targetMs: 10), TaskSpec(name: "backup", iops: 100, targetMs: 200, op: .write)]
        let calm = [IOOp.read: Self.histogram(ms: 4), .write: Self.histogram(ms: 100)]
        let verdict = try #require(OpVerdict.worst(calm, tasks: tasks, percentile: 99.99))
        // the writes are nearest their target (100 of 200 ms against 4 of 10), and within it
        #expect(verdict.op == .write && verdict.task.name == "backup" && !verdict.misses)
        #expect(OpVerdict.meets(calm, task: tasks[0], percentile: 99.99) && OpVerdict.meets(calm, task: tasks[1], percentile: 99.99))
        // all requests together, as the loop held them before: p99.99 100 ms against 10 ms, a miss
        #expect((calm.values.reduce(LatencyHistogram(), +).percentileMs(99.99) ?? 0) > 10)
        let late = [IOOp.read: Self.histogram(ms: 30), .write: Self.histogram(ms: 100)]
        let miss = try #require(OpVerdict.worst(late, tasks: tasks, percentile: 99.99))
        #expect(miss.misses && miss.op == .read && miss.task.name == "db")
        #expect(!OpVerdict.meets(late, task: tasks[0], percentile: 99.99) && OpVerdict.meets(late, task: tasks[1], percentile: 99.99))
    }

    @Test("writes from a guest that declares only reads are held to its tightest target; flushes to its writers'")
    func undeclaredOpsAndFlushes() throws {
        let reader = [TaskSpec(name: "db", iops: 500, targetMs: 10), TaskSpec(name: "report", iops: 50, targetMs: 100)]
        let verdict = try #require(OpVerdict.worst([.write: Self.histogram(ms: 40)], tasks: reader, percentile: 99.99))
        #expect(verdict.misses && verdict.task.name == "db")
        let mixed = [TaskSpec(name: "db", iops: 500, targetMs: 10), TaskSpec(name: "log", iops: 50, targetMs: 100, op: .readWrite(readPercent: 20))]
        let flush = try #require(OpVerdict.worst([.other: Self.histogram(ms: 40)], tasks: mixed, percentile: 99.99))
        #expect(!flush.misses && flush.task.name == "log")
        #expect(OpVerdict.worst([:], tasks: mixed, percentile: 99.99) == nil)
    }
}
