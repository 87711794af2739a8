/// Searches host knobs and guest weights for the best `Score`.
///
/// The paper's local search, made systematic: for every host knob pair in the
/// search space (inside the model's validity), find the smallest share of
/// the device each guest needs to meet all its targets, hand out shares in
/// order of urgency (a guest that does not fit is sacrificed, as the paper's
/// compromise says), give the sacrificed guests what meets most of their
/// tasks, spread what is left in proportion, turn shares into integer
/// weights, and polish with a hill climb on the real model. The paper's
/// start — equal weights — is always a candidate, so a plan is never worse
/// than leaving the weights alone.
public struct Optimizer: Sendable {
    public var model: any LatencyModel
    public var space: SearchSpace
    /// Hill-climb the best knob pairs' weights for up to this many guests.
    public var polishGuestLimit = 32
    /// How many of the best knob pairs get polished: all of them for small
    /// scenarios (cheap, and a knob pair that starts second may climb higher),
    /// the best two otherwise.
    public var polishEveryKnobPairUpToGuests = 0
    /// Water-fill the slack for every knob pair up to this many guests (the
    /// best two otherwise): it decides which knob pair gets polished.
    public var waterFillEveryKnobPairUpToGuests = 16

    /// Seed the search with the exhaustive paper grid up to this many free guests.
    public var gridSeedUpToGuests = 3

    public init(model: any LatencyModel, space: SearchSpace) {
        self.model = model
        self.space = space
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case noKnobsInValidity(timeoutSyncMs: [Int], sliceIdleUs: [Int], model: String)

        public var description: String {
            switch self {
            case let .noKnobsInValidity(ts, si, model):
                "no host setting of the search space (timeout_sync \(ts) ms, slice_idle \(si.map { formatNumber(Double($0) / 1000, decimals: 3) }) ms) is inside the validity of model '\(model)'; widen search: in the targets file or use a model fitted for those values"
            }
        }
    }

    /// The host knob pairs the optimizer may propose.
    public func knobCandidates() throws -> [BfqSettings] {
        let all = space.hostTimeoutSyncMs.flatMap { ts in
            space.hostSliceIdleUs.map { BfqSettings(timeoutSyncMs: ts, sliceIdleUs: $0) }
        }
        let valid = all.filter(model.validity.allows)
        guard !valid.isEmpty else {
            throw Failure.noKnobsInValidity(timeoutSyncMs: space.hostTimeoutSyncMs,
                                            sliceIdleUs: space.hostSliceIdleUs, model: model.name)
        }
        return valid
    }

    /// `currentScheduler`: the device's selected scheduler; where it is not bfq and the
    /// model says it already meets every target, the plan keeps it and changes nothing.
    /// `offersBfq`: false where the device has no bfq (a kernel built without it, the module
    /// not loaded): its own scheduler stays, and caps are the only knob.
    public func plan(_ scenario: Scenario, currentScheduler: String? = nil, offersBfq: Bool = true) throws -> Plan {
        if let current = currentScheduler, current != "bfq", let kept = keepCurrent(scenario, scheduler: current) { return kept }
        if !offersBfq { return capsOnly(scenario, scheduler: currentScheduler ?? "none") }
        // the latency models read load in KB/s of 4 KiB reads: large requests as the device's time sees them
        let plain = Evaluator(model: model, scenario: scenario.inDeviceTime, requested: scenario)
        var (best, evaluated) = try searchWeights(plain)
        var chosen = plain
        // A saturated device: no weight or knob gives the urgent guests the IOPS they ask
        // for; capping the least urgent is the knob that reserves capacity (issue 14).
        // Sized for what the device delivers without idling and with it, where the space has each.
        let idlings = Set(try knobCandidates().map { $0.sliceIdleUs > 0 })
        for idling in idlings.sorted(by: { !$0 && $1 }) {
            guard let caps = Self.capsByUrgency(scenario, idling: idling) else { continue }
            var space = self
            space.space.hostSliceIdleUs = self.space.hostSliceIdleUs.filter { ($0 > 0) == idling }
            let capped = Evaluator(model: ThrottledModel(base: model, caps: caps), scenario: scenario.capped(caps).inDeviceTime,
                                   requested: scenario, caps: caps)
            let result = try space.searchWeights(capped)
            evaluated += result.evaluated
            if result.best.score > best.score {
                best = (capped.withCaps(result.best.settings), result.best.score)
                chosen = capped
            }
        }
        let guests = Plan.predicted(model: chosen.model, scenario: chosen.scenario, settings: best.settings, requested: scenario)
        var plan = Plan(model: model.name, host: best.settings.host, guests: guests,
                        sacrificed: sacrifices(chosen, guests: guests, settings: best.settings),
                        warnings: model.validity.warnings(for: scenario), score: best.score, candidatesEvaluated: evaluated,
                        caps: capExplanations(scenario, guests: guests, idling: best.settings.host.sliceIdleUs > 0))
        plan.describeDevice(of: scenario)
        return plan
    }

    /// How the device's own scheduler (`none`, `mq-deadline`) does, as the models can
    /// say it: like bfq without idling and without caps, where weights have no force
    /// (measured: the same split of a saturated device within 1 % under all three,
    /// bench/results/contended24). A plan that keeps it when it meets every target, else nil.
    func keepCurrent(_ scenario: Scenario, scheduler: String) -> Plan? {
        let proxy = Settings.deviceSchedulerProxy(weights: scenario.untouchedWeights)
        guard model.validity.allows(proxy.host) else { return nil }
        let seen = scenario.inDeviceTime
        let score = Evaluator(model: model, scenario: seen, requested: scenario).score(proxy)
        guard score.guestsMet.allSatisfy({ $0 }) else { return nil }
        var plan = Plan(model: model.name, host: proxy.host, guests: Plan.predicted(model: model, scenario: seen, settings: proxy, requested: scenario),
                        sacrificed: [], warnings: model.validity.warnings(for: scenario), score: score, candidatesEvaluated: 1,
                        keptScheduler: scheduler)
        plan.describeDevice(of: scenario)
        return plan
    }

    /// The plan on a device without bfq: its own scheduler kept, predicted as bfq without idling
    /// with equal weights (they split a device the same way, measured), and the least urgent guests
    /// capped where the device is saturated — sized as they are with bfq without idling.
    func capsOnly(_ scenario: Scenario, scheduler: String) -> Plan {
        let proxy = Settings.deviceSchedulerProxy(weights: scenario.untouchedWeights)
        let caps = Self.capsByUrgency(scenario, idling: false)
        let evaluator = caps.map { Evaluator(model: ThrottledModel(base: model, caps: $0), scenario: scenario.capped($0).inDeviceTime, requested: scenario, caps: $0) }
            ?? Evaluator(model: model, scenario: scenario.inDeviceTime, requested: scenario)
        let settings = evaluator.withCaps(proxy)
        let guests = Plan.predicted(model: evaluator.model, scenario: evaluator.scenario, settings: settings, requested: scenario)
        var plan = Plan(model: model.name, host: proxy.host, guests: guests, sacrificed: sacrifices(evaluator, guests: guests, settings: settings),
                        warnings: model.validity.warnings(for: scenario) + [Self.noBfqWarning(scheduler)], score: evaluator.score(settings),
                        candidatesEvaluated: 1, caps: capExplanations(scenario, guests: guests, idling: false), keptScheduler: scheduler)
        plan.bfqOffered = false
        plan.describeDevice(of: scenario)
        return plan
    }

    static func noBfqWarning(_ scheduler: String) -> String {
        "the device offers no bfq: its own scheduler (\(scheduler)) stays and only caps are planned; bfq's timeout_sync, slice_idle and the weights need bfq (modprobe bfq, or a kernel with CONFIG_IOSCHED_BFQ)"
    }

    /// The weight and knob search for one load: the best settings and how many were scored.
    func searchWeights(_ evaluator: Evaluator) throws -> (best: (settings: Settings, score: Score), evaluated: Int) {
        let scenario = evaluator.scenario
        var evaluated = 0
        var ranked: [(settings: Settings, score: Score)] = []
        for host in try knobCandidates() {
            let equal = Settings(host: host, weights: scenario.untouchedWeights)
            let allocation = allocate(evaluator, host: host)
            let filled = scenario.guests.count <= waterFillEveryKnobPairUpToGuests
                ? waterFill(evaluator, host: host, required: allocation.required) : nil
            let built = repair(evaluator, Settings(host: host, weights: weights(forShares: filled ?? allocation.shares, scenario: scenario)),
                               required: allocation.required)
            for candidate in [equal, built] {
                ranked.append((candidate, evaluator.score(candidate)))
                evaluated += 1
            }
        }
        // Up to 3 free guests the paper's weight grid is small (≤ 7³ × knob pairs): its best is
        // one more start, so the plan is never worse than that grid where the grid can be searched.
        let grid = scenario.guests.filter({ $0.pinnedWeight == nil }).count <= gridSeedUpToGuests
            ? try? ExhaustiveSearch.best(evaluator, space: space) : nil
        if let grid { ranked.append(grid) }
        ranked.sort { $0.score > $1.score }
        var best = ranked[0]
        if scenario.guests.count <= polishGuestLimit {
            var polished = Set<BfqSettings>()
            let polishCount = scenario.guests.count <= polishEveryKnobPairUpToGuests ? Int.max : 2
            for candidate in ranked where polished.count < polishCount && polished.insert(candidate.settings.host).inserted {
                var starts = [rescale(candidate.settings, scenario: scenario)]
                if scenario.guests.count > waterFillEveryKnobPairUpToGuests {
                    let allocation = allocate(evaluator, host: candidate.settings.host)
                    if let filled = waterFill(evaluator, host: candidate.settings.host, required: allocation.required) {
                        starts.append(repair(evaluator, Settings(host: candidate.settings.host, weights: weights(forShares: filled, scenario: scenario)),
                                             required: allocation.required))
                    }
                }
                for start in starts {
                    let result = polish(evaluator, from: (start, evaluator.score(start)), evaluated: &evaluated)
                    if result.score > best.score { best = result }
                }
            }
        }
        let rescaled = rescale(best.settings, scenario: scenario)
        let rescaledScore = evaluator.score(rescaled)
        // Finer integer weights are worth 1% of the slack lost to rounding.
        if rescaledScore.guestsMet == best.score.guestsMet, rescaledScore.tasksMet == best.score.tasksMet,
           rescaledScore.minSlack >= best.score.minSlack - 0.01 * max(1, abs(best.score.minSlack)) {
            best = (rescaled, rescaledScore)
        }
        if let grid, grid.score > best.score { best = grid }   // rounding never costs what the grid had
        // Where weights cannot move a prediction (bfq without idling, to the idling model),
        // writing 1000s changes the host for nothing: keep the kernel's 100 (or the pin).
        let untouched = Settings(host: best.settings.host, weights: scenario.untouchedWeights)
        let untouchedScore = evaluator.score(untouched)
        if untouchedScore >= best.score { best = (untouched, untouchedScore) }
        return (best, evaluated)
    }

    /// The smallest share in (0, 1] for which `meets` holds; infinity if even 1 fails.
    /// Assumes predictions do not grow with a larger share (true of Eqs. 2–5).
    static func minimalShare(_ meets: (Double) -> Bool) -> Double {
        guard meets(1) else { return .infinity }
        var low = 1e-4, high = 1.0
        if meets(low) { return low }
        for _ in 0..<16 {   // share within a factor 1.00014 (1e4^(1/2^16))
            let mid = (low * high).squareRoot()
            if meets(mid) { high = mid } else { low = mid }
        }
        return high
    }

    /// Shares from minimal needs, urgent guests first, and which tasks those
    /// shares are meant to meet (`required[guest][task]`).
    func allocate(_ evaluator: Evaluator, host: BfqSettings) -> (shares: [Double], required: [[Bool]]) {
        let scenario = evaluator.scenario
        let n = scenario.guests.count
        var share = [Double](repeating: 0, count: n)
        var required = scenario.guests.map { [Bool](repeating: false, count: $0.tasks.count) }
        var remaining = 1.0
        var sacrificed: [Int] = []
        for (rank, guest) in evaluator.order.enumerated() {
            let need = Self.minimalShare { evaluator.guestMeets(guest, share: $0, host: host) }
            let available = remaining - Self.floorShare * Double(n - rank - 1)
            if need <= available {
                share[guest] = need
                remaining -= need
                required[guest] = required[guest].map { _ in true }
            } else {
                sacrificed.append(guest)
            }
        }
        // Sacrificed guests: meet as many single tasks as what is left allows, cheapest first.
        var steps: [(guest: Int, needs: [(share: Double, task: Int)])] = sacrificed.map { guest in
            (guest, taskNeeds(evaluator, guest: guest, host: host).enumerated().map { ($1, $0) }.sorted { $0.share < $1.share })
        }
        while true {
            var cheapest: (index: Int, cost: Double)?
            for (index, step) in steps.enumerated() {
                guard let next = step.needs.first, next.share.isFinite else { continue }
                let cost = max(0, next.share - share[step.guest])
                if cost <= remaining - Self.floorShare * Double(sacrificed.count), cost < (cheapest?.cost ?? .infinity) {
                    cheapest = (index, cost)
                }
            }
            guard let pick = cheapest else { break }
            let guest = steps[pick.index].guest
            share[guest] += pick.cost
            remaining -= pick.cost
            required[guest][steps[pick.index].needs.removeFirst().task] = true
        }
        for guest in 0..<n where share[guest] < Self.floorShare { share[guest] = Self.floorShare }
        return (share, required)
    }

    static let floorShare = 0.001

    /// Raises the smallest relative slack as far as the device allows while
    /// keeping every required task met: bisection on the slack level s, where
    /// each guest needs the share that gives its tasks slack ≥ s (≥ max(s, 0)
    /// for required tasks) and the needs must fit in the whole device.
    /// Tasks no share can serve are left out of the level.
    func waterFill(_ evaluator: Evaluator, host: BfqSettings, required: [[Bool]]) -> [Double]? {
        let n = evaluator.scenario.guests.count
        let hopeless = (0..<n).map { guest in evaluator.predictions(guest, share: 1, host: host).map { !$0.isFinite } }
        func needs(_ level: Double) -> [Double]? {
            var total = 0.0
            var result = [Double](repeating: 0, count: n)
            for guest in 0..<n {
                let need = Self.minimalShare {
                    evaluator.guestReaches(guest, share: $0, host: host, level: level, required: required[guest], skip: hopeless[guest])
                }
                guard need.isFinite else { return nil }
                result[guest] = max(need, Self.floorShare)
                total += result[guest]
                if total > 1 { return nil }
            }
            return result
        }
        var low = -1.0
        var feasible = needs(low)
        while feasible == nil, low > -1e4 {
            low *= 10
            feasible = needs(low)
        }
        guard var best = feasible else { return nil }
        var high = 1.0
        for _ in 0..<14 {   // slack level within (1 − low) / 16384
            let mid = (low + high) / 2
            if let result = needs(mid) { low = mid; best = result } else { high = mid }
        }
        let total = best.reduce(0, +)
        return best.map { $0 / total }
    }

    /// The share each task of a guest needs on its own (infinity: never).
    func taskNeeds(_ evaluator: Evaluator, guest: Int, host: BfqSettings) -> [Double] {
        let tasks = evaluator.scenario.guests[guest].tasks
        var buffer = [Double](repeating: 0, count: tasks.count)
        let model = self.model, scenario = evaluator.scenario
        return tasks.indices.map { task in
            Self.minimalShare { share in
                buffer.withUnsafeMutableBufferPointer {
                    model.predictGuest(scenario, guest: guest, share: share, host: host, into: $0)
                    return $0[task] <= tasks[task].targetMs
                }
            }
        }
    }

    /// Integer weights in 1...1000 whose proportions follow `shares` (scaled
    /// up so nothing is lost to rounding), keeping pinned weights as they are.
    func weights(forShares shares: [Double], scenario: Scenario) -> [Int] {
        let guests = scenario.guests
        let total = shares.reduce(0, +)
        let normalized = shares.map { $0 / total }
        let pinnedWeight = guests.compactMap(\.pinnedWeight).reduce(0, +)
        let pinnedShare = guests.indices.filter { guests[$0].pinnedWeight != nil }.map { normalized[$0] }.reduce(0, +)
        let largestFree = guests.indices.filter { guests[$0].pinnedWeight == nil }.map { normalized[$0] }.max() ?? 0
        var scale = pinnedWeight > 0 && pinnedShare > 0 ? Double(pinnedWeight) / pinnedShare : 1000 / max(largestFree, 1e-9)
        if largestFree * scale > 1000 { scale = 1000 / largestFree }
        return guests.indices.map { guest in
            guests[guest].pinnedWeight ?? min(1000, max(1, Int((normalized[guest] * scale).rounded(.up))))
        }
    }

    /// Integer weights can round a guest's share just below its need: nudge
    /// the most urgent guest whose required tasks miss up by 1% (or everyone
    /// else down, when it is at 1000) until they meet or nothing moves.
    func repair(_ evaluator: Evaluator, _ settings: Settings, required: [[Bool]]) -> Settings {
        let scenario = evaluator.scenario
        var result = settings
        for _ in 0..<50 {
            let total = Double(result.weights.reduce(0, +))
            guard let guest = evaluator.order.first(where: { guest in
                guard required[guest].contains(true) else { return false }
                let predictions = evaluator.predictions(guest, share: Double(result.weights[guest]) / total, host: settings.host)
                return zip(predictions, scenario.guests[guest].tasks).enumerated()
                    .contains { required[guest][$0.offset] && $0.element.0 > $0.element.1.targetMs }
            }), scenario.guests[guest].pinnedWeight == nil else { break }
            let next = scaled(result, guest: guest, by: 1.01, free: scenario.guests.indices.filter { scenario.guests[$0].pinnedWeight == nil })
            if next.weights == result.weights { break }
            result = next
        }
        return result
    }

    /// The same proportions with the largest free weight at 1000, so integer
    /// weights lose the least to rounding (only without pinned weights, whose
    /// shares depend on the total).
    func rescale(_ settings: Settings, scenario: Scenario) -> Settings {
        guard scenario.guests.allSatisfy({ $0.pinnedWeight == nil }), let largest = settings.weights.max(), largest > 0 else {
            return settings
        }
        var result = settings
        result.weights = settings.weights.map { min(1000, max(1, Int((Double($0) * 1000 / Double(largest)).rounded()))) }
        return result
    }

    /// Hill climb over free weights on the real objective. A move scales one
    /// guest's weight; a guest already at 1000 gains share by scaling every
    /// other free weight down instead, so the cap is no local optimum.
    func polish(_ evaluator: Evaluator, from start: (settings: Settings, score: Score),
                evaluated: inout Int) -> (settings: Settings, score: Score) {
        let free = evaluator.scenario.guests.indices.filter { evaluator.scenario.guests[$0].pinnedWeight == nil }
        let factors = [0.5, 0.8, 0.9, 0.97, 1.03, 1.1, 1.25, 2.0]
        var current = start
        for _ in 0..<64 {
            var best = current
            var tried = Set<[Int]>()
            for guest in free {
                for factor in factors {
                    let settings = scaled(current.settings, guest: guest, by: factor, free: free)
                    guard settings.weights != current.settings.weights, tried.insert(settings.weights).inserted else { continue }
                    let score = evaluator.score(settings)
                    evaluated += 1
                    if score > best.score { best = (settings, score) }
                }
            }
            guard best.score > current.score else { break }
            current = best
        }
        return current
    }

    /// `guest`'s weight times `factor`; past 1000 the other free weights shrink instead.
    func scaled(_ settings: Settings, guest: Int, by factor: Double, free: [Int]) -> Settings {
        var result = settings
        let wanted = Double(settings.weights[guest]) * factor
        if wanted <= 1000 {
            result.weights[guest] = max(1, Int(wanted.rounded()))
            if result.weights[guest] == settings.weights[guest] {
                result.weights[guest] = max(1, min(1000, settings.weights[guest] + (factor > 1 ? 1 : -1)))
            }
        } else {
            result.weights[guest] = 1000
            let shrink = 1000 / wanted
            for other in free where other != guest {
                result.weights[other] = max(1, Int((Double(settings.weights[other]) * shrink).rounded()))
            }
        }
        return result
    }

    /// Why each guest that misses at the chosen settings was given up.
    func sacrifices(_ evaluator: Evaluator, guests: [Plan.Guest], settings: Settings) -> [Plan.Sacrifice] {
        var heldByMoreUrgent = 0.0
        var result: [Plan.Sacrifice] = []
        for guest in evaluator.order {
            let share = settings.share(of: guest)
            defer { heldByMoreUrgent += share }
            guard !guests[guest].meets else { continue }
            func late(_ task: Plan.Task) -> String { "\(formatNumber(task.predictedMs)) ms > \(formatNumber(task.targetMs)) ms" }
            func short(_ task: Plan.Task) -> String {
                "\(formatNumber(task.predictedIops ?? 0, decimals: 0)) of \(formatNumber(task.requestedIops, decimals: 0)) IOPS"
            }
            if let cap = guests[guest].readIopsCap {
                // what a cap costs the capped guest: its IOPS, and blk-throttle's wait (ThrottledModel)
                let missing = guests[guest].tasks.filter { !$0.meets }.map { task in
                    "\(task.name) " + [task.predictedMs > task.targetMs ? late(task) : nil, task.getsItsIops ? nil : short(task)]
                        .compactMap { $0 }.joined(separator: ", ")
                }
                result.append(Plan.Sacrifice(guest: guests[guest].name, reason: "capped at \(cap) read IOPS so that more urgent guests get theirs; "
                    + "blk-throttle holds a capped guest's requests up to ~\(formatNumber(ThrottledModel.tailMs)) ms (measured): \(missing.joined(separator: "; "))"))
                continue
            }
            let starved = guests[guest].tasks.filter { !$0.getsItsIops }
            if !starved.isEmpty, guests[guest].tasks.allSatisfy({ $0.predictedMs <= $0.targetMs }) {
                let what = starved.map { "\($0.name) \(short($0))" }.joined(separator: ", ")
                result.append(Plan.Sacrifice(guest: guests[guest].name, reason: "the device cannot serve every guest what it asks: \(what)"))
                continue
            }
            let need = Self.minimalShare { evaluator.guestMeets(guest, share: $0, host: settings.host) }
            let missing = guests[guest].tasks.filter { !$0.meets }.map { "\($0.name) \(late($0))" }.joined(separator: ", ")
            let reason: String
            if need.isInfinite {
                reason = "cannot meet its targets even with the whole device at these host settings (\(missing))"
            } else {
                reason = "needs \(formatPercent(need)) of the device's weight; more urgent guests hold \(formatPercent(heldByMoreUrgent)), it got \(formatPercent(share)) (\(missing))"
            }
            result.append(Plan.Sacrifice(guest: guests[guest].name, reason: reason))
        }
        return result
    }
}
