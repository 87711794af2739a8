import Foundation

/// rtvirtio's op-aware model (issue 16): the idling model (`IdlingModel`), fitted on
/// one-at-a-time 4 KiB reads as the paper's tasks are, told what a task really does —
/// reads or writes, how large its requests are, how many it keeps in flight. Neither the
/// paper's Eqs. 1–5 nor the idling model can see any of the three.
///
/// Terms fitted on the calibration data with writers (`lab fit --kind op-aware`), the base
/// model's parameters kept as they were fitted on reads:
/// - **cost**: a written KiB costs `writeCost` read KiB; the base model sees every task's
///   demand in read KiB (a mixed task's by its share of writes);
/// - **own service** (calm tail): a request larger than 4 KiB takes `perOwnKBMs` × (KiB − 4) × cost longer;
/// - **queueing** (calm tail): with the device busy, a request waits behind what the tasks keep
///   in flight beyond one: `perQueuedKBMs` × ρ^`saturationPower` × Σ over all tasks of
///   (depth − 1) × KiB × cost, ρ = min(1, load in read MB/s / `saturationMBps`); a rate-limited
///   task at depth 32 on an idle device has one request in flight, on a saturated one 32;
/// - **stalls** (with idling): the logit of a guest's stall risk gains `stallPerWriteShare` × the
///   share of the device's demand that the *other* guests write, `stallPerLargeShare` × the share
///   they ask in requests larger than 4 KiB, and `stallPerQueuedMB` × the MiB they keep in flight
///   beyond one request per task (a stall is a wait behind another group); a stall lasts
///   1 + `stallLevelPerLargeShare` × the others' large share times the base model's (measured on the
///   device-bound testbed with idling: 60–80 % of a guest's 1-second windows stall beside 16–64 KiB
///   writers and deep queues, at 0.8–1.2 s, where one-at-a-time 4 KiB reads stall less and shorter).
///
/// For 4 KiB reads at depth 1 every term vanishes and the prediction is the base model's.
public struct OpAwareModel: LatencyModel {
    public var base: IdlingModel
    public var terms: OpTerms
    public var name: String
    public var validity: Validity { base.validity }

    public init(base: IdlingModel, terms: OpTerms, name: String = "op-aware") {
        self.base = base
        self.terms = terms
        self.name = name
    }

    /// The scenario in read KiB: each task's request size times its cost, so that the base
    /// model's load is the device's.
    public func inReadCost(_ scenario: Scenario) -> Scenario {
        Scenario(guests: scenario.guests.map { guest in
            guest.mapTasks { task in
                var costed = task
                costed.requestKB *= terms.cost(of: task.op)
                return costed
            }
        }, delivery: scenario.delivery)
    }

    public func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings,
                             into out: UnsafeMutableBufferPointer<Double>) {
        let costed = inReadCost(scenario)
        let queuedMs = terms.queuedMs(costed)
        let tasks = costed.guests[guest].tasks
        let original = scenario.guests[guest].tasks
        base.predictGuest(costed, guest: guest, share: share, host: host, extraCalmMs: { index in
            // the request's own size in read KiB, less the 4 KiB the base model was fitted on
            terms.perOwnKBMs * max(0, tasks[index].requestKB - 4 * terms.cost(of: original[index].op)) + queuedMs
        }, extraLogit: terms.stallLogit(scenario, guest: guest), stallFactor: terms.stallFactor(scenario, guest: guest), into: out)
    }
}

/// `OpAwareModel`'s terms (see there); ms, KiB and MB/s as the names say.
public struct OpTerms: Sendable, Equatable {
    public var writeCost: Double
    public var perOwnKBMs: Double
    public var perQueuedKBMs: Double
    public var saturationMBps: Double
    public var saturationPower: Double
    public var stallPerWriteShare: Double
    public var stallPerLargeShare: Double
    public var stallPerQueuedMB: Double
    public var stallLevelPerLargeShare: Double

    public init(writeCost: Double, perOwnKBMs: Double, perQueuedKBMs: Double, saturationMBps: Double, saturationPower: Double = 2,
                stallPerWriteShare: Double = 0, stallPerLargeShare: Double = 0, stallPerQueuedMB: Double = 0, stallLevelPerLargeShare: Double = 0) {
        self.writeCost = writeCost
        self.perOwnKBMs = perOwnKBMs
        self.perQueuedKBMs = perQueuedKBMs
        self.saturationMBps = saturationMBps
        self.saturationPower = saturationPower
        self.stallPerWriteShare = stallPerWriteShare
        self.stallPerLargeShare = stallPerLargeShare
        self.stallPerQueuedMB = stallPerQueuedMB
        self.stallLevelPerLargeShare = stallLevelPerLargeShare
    }

    /// Terms that change nothing: the base model's predictions.
    public static let none = OpTerms(writeCost: 1, perOwnKBMs: 0, perQueuedKBMs: 0, saturationMBps: 1)

    /// A request's cost in read KiB per KiB.
    @inlinable
    public func cost(of op: TaskOp) -> Double { op.readFraction + (1 - op.readFraction) * writeCost }

    /// The wait behind requests in flight beyond one per task, for a scenario already in read KiB.
    public func queuedMs(_ costed: Scenario) -> Double {
        let rho = min(1, Units.megabytes(kilobytes: costed.totalDemandKBps) / saturationMBps)
        return perQueuedKBMs * pow(rho, saturationPower) * Self.queuedKB(costed)
    }

    /// KiB kept in flight beyond one request per task (every guest's, or all but `excluding`'s).
    public static func queuedKB(_ scenario: Scenario, excluding: Int? = nil) -> Double {
        scenario.guests.indices.reduce(0.0) { sum, g in
            g == excluding ? sum : scenario.guests[g].tasks.reduce(sum) { $0 + Double(max(0, $1.queueDepth - 1)) * $1.requestKB }
        }
    }

    /// The share of the device's demand (KB/s, as given) that `part` of each task's is, over
    /// every guest's tasks or all but `excluding`'s.
    public static func share(_ scenario: Scenario, excluding: Int? = nil, _ part: (TaskSpec) -> Double) -> Double {
        guard scenario.totalDemandKBps > 0 else { return 0 }
        return scenario.guests.indices.reduce(0.0) { sum, g in
            g == excluding ? sum : scenario.guests[g].tasks.reduce(sum) { $0 + $1.demandKBps * part($1) }
        } / scenario.totalDemandKBps
    }

    public static func largeShare(_ scenario: Scenario, excluding: Int? = nil) -> Double {
        share(scenario, excluding: excluding) { $0.requestKB > 4 ? 1 : 0 }
    }

    /// What the other guests' writes, large requests and deep queues add to the logit of
    /// `guest`'s stall risk (the scenario as given, in its own KiB): a stall is a wait behind
    /// another group's requests, so a guest alone gains nothing (measured: lone guests beside
    /// their own writers stalled in 22 % of their windows, guests beside another's in 60–80 %).
    public func stallLogit(_ scenario: Scenario, guest: Int) -> Double {
        stallPerWriteShare * Self.share(scenario, excluding: guest) { 1 - $0.op.readFraction }
            + stallPerLargeShare * Self.largeShare(scenario, excluding: guest)
            + stallPerQueuedMB * Units.megabytes(kilobytes: Self.queuedKB(scenario, excluding: guest))
    }

    /// The stall level's factor on the base model's: longer behind the other guests' large requests.
    public func stallFactor(_ scenario: Scenario, guest: Int) -> Double {
        max(0.1, 1 + stallLevelPerLargeShare * Self.largeShare(scenario, excluding: guest))
    }
}
