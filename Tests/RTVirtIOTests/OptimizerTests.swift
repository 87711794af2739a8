import Testing
@testable import RTVirtIO

struct OptimizerTests {
    static let model = AnalyticalModelTests.model

    static func scenario(_ guests: [(targetMs: Double, iops: Double)], pinned: [Int?]? = nil) -> Scenario {
        Scenario(guests: guests.enumerated().map { index, guest in
            .init(name: "vm\(index)", criticality: index + 1, pinnedWeight: pinned?[index], guestBfq: .kernelDefault,
                  tasks: [TaskSpec(name: "t", iops: guest.iops, targetMs: guest.targetMs)])
        })
    }

    @Test func scoreIsLexicographicOnUrgencyFirst() {
        let urgentMet = Score(guestsMet: [true, false, false], tasksMet: 1, minSlack: -5)
        let othersMet = Score(guestsMet: [false, true, true], tasksMet: 2, minSlack: 0.5)
        #expect(othersMet < urgentMet)
        #expect(Score(guestsMet: [true], tasksMet: 2, minSlack: 0) < Score(guestsMet: [true], tasksMet: 3, minSlack: -1))
        #expect(Score(guestsMet: [true], tasksMet: 2, minSlack: 0.1) < Score(guestsMet: [true], tasksMet: 2, minSlack: 0.2))
    }

    @Test func skewsWeightsToMeetWhatEqualWeightsMiss() throws {
        // Equal weights: vm0 (500 IOPS, target 250 ms) misses; a larger share meets it.
        let scenario = Self.scenario([(250, 500), (2000, 500), (2000, 500)])
        let equal = Self.model.predict(scenario, settings: Settings(host: BfqSettings(timeoutSyncMs: 32, sliceIdleUs: 1000), weights: [100, 100, 100]))
        #expect(equal[0][0] > 250, "premise: equal weights miss vm0 even at the fastest knobs")
        let plan = try Optimizer(model: Self.model, space: .paper).plan(scenario)
        #expect(plan.guests.allSatisfy { $0.meets }, "\(plan.guests)")
        #expect(plan.guests[0].weight > plan.guests[1].weight)
        #expect(plan.sacrificed.isEmpty)
        // the plan's numbers are the model's at exactly the chosen settings
        let check = Self.model.predict(scenario, settings: plan.settings)
        #expect(plan.guests.map { $0.tasks[0].predictedMs } == check.map { $0[0] })
        #expect(plan.guests.allSatisfy { (1...1000).contains($0.weight) } == true)
    }

    @Test func theMostUrgentGuestWinsWhenNotAllFit() throws {
        // Each guest alone needs well over half of the device: only one can be met.
        let scenario = Self.scenario([(370, 1500), (370, 1500)])
        let plan = try Optimizer(model: Self.model, space: .paper).plan(scenario)
        #expect(plan.guests[0].meets)
        #expect(!plan.guests[1].meets)
        #expect(plan.sacrificed.map(\.guest) == ["vm1"])
        #expect(plan.sacrificed[0].reason.contains("needs"))
        #expect(plan.sacrificed[0].reason.contains("more urgent guests hold"))
        // and reversing urgency reverses who is served
        var reversed = scenario.guests
        reversed[0].criticality = 2
        reversed[1].criticality = 1
        let other = try Optimizer(model: Self.model, space: .paper).plan(Scenario(guests: reversed))
        #expect(other.guests[1].meets && !other.guests[0].meets)
    }

    @Test func anUnmeetableGuestIsExplained() throws {
        let plan = try Optimizer(model: Self.model, space: .paper).plan(Self.scenario([(1, 100), (2000, 100)]))
        #expect(plan.guests[1].meets)
        #expect(plan.sacrificed.first?.reason.contains("even with the whole device") == true)
    }

    @Test func knobsStayInsideTheModelsValidity() throws {
        var parameters = AnalyticalModelTests.parameters
        parameters.validity = Validity(hostTimeoutSyncMs: 64...124, hostSliceIdleMs: 4...8)
        let model = AnalyticalModel(parameters: parameters)
        let plan = try Optimizer(model: model, space: .paper).plan(Self.scenario([(300, 500), (900, 500)]))
        #expect(plan.host.timeoutSyncMs >= 64)
        #expect(plan.host.sliceIdleUs >= 4000)
        let outside = SearchSpace(hostTimeoutSyncMs: [32], hostSliceIdleUs: [1000])
        let error = try #require(throws: Optimizer.Failure.self) { try Optimizer(model: model, space: outside).plan(Self.scenario([(300, 500)])) }
        #expect(error.description.contains("inside the validity of model 'analytical'"))
    }

    @Test func weightsWithoutForceAreLeftAtTheKernelDefault() throws {
        // The idling model at slice_idle 0: 2 + 0.5 × load MB/s for every task, whatever the weights.
        let idling = IdlingModel(parameters: IdlingParameters(
            noIdle: .init(interceptMs: 2, perLoadMBpsMs: 0.5), idleCalm: .init(interceptMs: 8, perLoadMBpsMs: 1),
            stall: .init(intercept: -4, perLoadMBps: 0.3, perShare: -3, perQueue: 0.4), stallMs: 1000, riskThreshold: 0.5))
        let space = SearchSpace(hostTimeoutSyncMs: [32, 124], hostSliceIdleUs: [0])
        // load 1100 IOPS × 4 KB = 4400 KB/s = 4.296875 MB/s (1 MB = 1024 KB) → 2 + 0.5 × 4.296875 = 4.1484375 ms,
        // met everywhere; nothing to gain from a weight
        for (pinned, expected) in [([nil, nil, nil], [100, 100, 100]), ([nil, 300, nil], [100, 300, 100])] as [([Int?], [Int])] {
            let plan = try Optimizer(model: idling, space: space).plan(Self.scenario([(25, 500), (50, 500), (100, 100)], pinned: pinned))
            #expect(plan.guests.map(\.weight) == expected)
            #expect(plan.guests.allSatisfy { $0.meets && $0.tasks.allSatisfy { abs($0.predictedMs - 4.1484375) < 1e-9 } })
        }
        // where weights do matter (the analytical model), the plan still moves them
        let analytical = try Optimizer(model: Self.model, space: .paper).plan(Self.scenario([(250, 500), (2000, 500), (2000, 500)]))
        #expect(analytical.guests.map(\.weight) != [100, 100, 100])
    }

    @Test func pinnedWeightsAreKept() throws {
        let scenario = Self.scenario([(250, 500), (2000, 500)], pinned: [nil, 300])
        let plan = try Optimizer(model: Self.model, space: .paper).plan(scenario)
        #expect(plan.guests[1].weight == 300)
        #expect(plan.guests[1].weightPinned)
        #expect(plan.guests[0].meets)
    }

    @Test func minimalShareBisection() {
        let need = Optimizer.minimalShare { $0 >= 0.3 }
        #expect(need >= 0.3 && need < 0.3001)
        #expect(Optimizer.minimalShare { _ in false } == .infinity)
        #expect(Optimizer.minimalShare { _ in true } == 1e-4)
    }
}
