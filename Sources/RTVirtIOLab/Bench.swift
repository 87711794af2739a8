import Foundation
import RTVirtIO
import RTVirtIOHost

/// `rtvirtio bench`: every case under every scheme on the lab's testbed device (real bfq where the kernel has it),
/// schemes in a rotating order per repeat so that drift on a shared machine
/// hits them alike. A run passes when every task's p99.99 over the run is
/// within its target and it achieved at least 95 % of its demanded IOPS.
public struct BenchRunner {
    public var testbed: LabTestbed
    public var cases: BenchCases
    public var schemes: [(name: String, scheme: Scheme)]
    public var durationS = 10
    public var repeats = 1
    public var warmUpS = 3
    /// Seconds the model-driven schemes measure the case's load under the device's own scheduler
    /// before planning (as `apply --verify-s` does), so their caps are sized from what the device
    /// delivers that minute; 0: plan on the model alone.
    public var measureBeforePlanningS = 3
    /// Seconds of the check under a plan; nil: as long as the measurement before planning.
    public var checkPlanS: Int? = nil

    public init(testbed: LabTestbed, cases: BenchCases, schemes: [(name: String, scheme: Scheme)]) {
        self.testbed = testbed
        self.cases = cases
        self.schemes = schemes
    }

    public static let minimumIopsFraction = DeliveryModel.minimumFraction

    public func run(progress: (String) -> Void = { _ in }) throws -> BenchResults {
        let runner = PointRunner(testbed: testbed, durationS: durationS)
        let offersBfq = try BlockDevice.resolve(testbed.device).offersBfq(HostFS())
        let needBfq = schemes.filter(\.scheme.setsBfq).map(\.name)
        guard offersBfq || needBfq.isEmpty else {
            throw LabTestbed.Failure.unsupported("the testbed's device offers no bfq, which the schemes \(needBfq.joined(separator: ", ")) set; "
                                                 + "leave them out (--schemes none,mq-deadline,rtvirtio) or use a kernel with bfq")
        }
        if warmUpS > 0, let first = cases.cases.first {
            _ = try PointRunner(testbed: testbed, durationS: warmUpS).run(Self.point(first, SchemeSettings(
                scheduler: offersBfq ? "bfq" : Scheme.deviceDefaultScheduler, host: .kernelDefault, weights: first.guests.map { _ in 100 }, ioPriorities: []), id: "warm-up"))
        }
        var results = BenchResults(schemes: [:])
        let total = repeats * cases.cases.count * schemes.count
        var done = 0
        let started = Date()
        for r in 0..<repeats {
            for (c, benchCase) in cases.cases.enumerated() {
                let rotation = (r + c) % schemes.count
                for (position, (name, scheme)) in (schemes[rotation...] + schemes[..<rotation]).enumerated() {
                    var scenario = benchCase.scenario
                    let id = "\(benchCase.name)-\(name)-\(r)"
                    let measured = try measureBeforePlanning(benchCase, scheme: scheme, id: id + "-before")
                    scenario.delivery?.measured = measured
                    var settings = try scheme.settings(for: scenario, offersBfq: offersBfq)
                    let first = settings
                    // as `apply --verify-s`: checked under the plan, planned again on a shortfall, up to
                    // MeasuredDelivery.maxReplans times (the last plan is not checked: the run measures it)
                    var checks: [Double] = []
                    let shortfall = try checkPlan(benchCase, settings, scheme: scheme, id: id + "-check", worst: &checks)
                    var next = shortfall, replans = 0
                    while let measuredUnderPlan = next, replans < MeasuredDelivery.maxReplans {
                        scenario.delivery?.measured = measuredUnderPlan
                        let again = try scheme.settings(for: scenario, offersBfq: offersBfq)
                        guard again != settings else { break }
                        (settings, replans) = (again, replans + 1)
                        next = replans < MeasuredDelivery.maxReplans ? try checkPlan(benchCase, settings, scheme: scheme, id: id + "-check\(replans + 1)", worst: &checks) : nil
                    }
                    let rows = try runner.run(Self.point(benchCase, settings, id: id), ioPriorities: settings.ioPriorities)
                    var run = BenchResults.Run(repeatIndex: r, order: position, settings: settings, tasks: Self.tasks(benchCase, rows, predicted: settings.predictedMs, predictedIops: settings.predictedIops),
                                               urgencyOrder: benchCase.scenario.urgencyOrder.map { benchCase.guests[$0].name })
                    run.measuredBeforePlanning = measured
                    run.shortfallUnderFirstPlan = shortfall
                    run.firstPlan = shortfall == nil ? nil : first
                    run.replans = replans
                    run.checkWorstFractions = checks
                    results.schemes[name, default: .init()].cases[benchCase.name, default: .init()].runs.append(run)
                    done += 1
                    let eta = Date().timeIntervalSince(started) / Double(done) * Double(total - done)
                    progress("\(benchCase.name) \(name) repeat \(r + 1)/\(repeats): \(run.pass ? "pass" : "FAIL") (\(done)/\(total), ETA \(Int(eta / 60)) min \(Int(eta) % 60) s)")
                }
            }
        }
        results.summarise()
        return results
    }

    /// For a model-driven scheme on a device of known capacity: the case's load for
    /// `measureBeforePlanningS` under the device's own scheduler, what each task got as fio
    /// counted it; nil for the other schemes, or when off.
    func measureBeforePlanning(_ benchCase: BenchCases.Case, scheme: Scheme, id: String) throws -> MeasuredDelivery? {
        guard let device = measuredDevice(benchCase, scheme: scheme) else { return nil }
        let before = try Scheme.deviceScheduler(Scheme.deviceDefaultScheduler).settings(for: benchCase.scenario)
        return MeasuredDelivery(benchCase.scenario, deliveredIops: try achievedIops(benchCase, before, id: id), on: device)
    }

    /// The plan's settings under the case's load for as long as the measurement before planning
    /// (as `apply --verify-s` measures after applying): where a task of a guest the plan leaves uncapped
    /// got less than 95 % of what it asks (as fio counted), what the device delivered then, for the scheme to plan again on; nil where the plan held.
    /// A plan that changes nothing (the device's own scheduler, no caps) is not checked: `apply --verify-s`
    /// verifies only what it wrote, and a second sample of the unchanged device, trusted over the first,
    /// re-planned g3-LM in contended24-nobfq and gave a guest up that the baselines kept.
    /// `worst`: the least share an uncapped task got under the plan is appended to it, for results.json.
    func checkPlan(_ benchCase: BenchCases.Case, _ settings: SchemeSettings, scheme: Scheme, id: String, worst: inout [Double]) throws -> MeasuredDelivery? {
        guard let device = measuredDevice(benchCase, scheme: scheme), settings.changesTheDevice else { return nil }
        let got = try achievedIops(benchCase, settings, id: id, durationS: checkPlanS ?? measureBeforePlanningS, ioPriorities: settings.ioPriorities)
        if let fraction = MeasuredDelivery.worstUncappedFraction(benchCase.scenario, deliveredIops: got, caps: settings.capsIops) { worst.append(fraction) }
        return MeasuredDelivery.shortfall(benchCase.scenario, deliveredIops: got, caps: settings.capsIops, on: device)
    }

    /// The case's device, where `scheme` measures what it delivers (a model-driven scheme, a device of known capacity, measuring on).
    func measuredDevice(_ benchCase: BenchCases.Case, scheme: Scheme) -> DeliveryModel? {
        measureBeforePlanningS > 0 && scheme.isModelDriven ? benchCase.scenario.delivery : nil
    }

    /// What each task got as fio counted it ([guest][task] IOPS), the case's load run `durationS` (else `measureBeforePlanningS`) under `settings`.
    func achievedIops(_ benchCase: BenchCases.Case, _ settings: SchemeSettings, id: String, durationS: Int? = nil, ioPriorities: [IOPriority?] = []) throws -> [[Double]] {
        let rows = try PointRunner(testbed: testbed, durationS: durationS ?? measureBeforePlanningS).run(Self.point(benchCase, settings, id: id), ioPriorities: ioPriorities)
        var got = benchCase.guests.map { $0.tasks.map { _ in 0.0 } }
        for row in rows { got[row.guestIndex][row.taskIndex] = row.achievedIops }
        return got
    }

    static func point(_ benchCase: BenchCases.Case, _ settings: SchemeSettings, id: String) -> CalibrationPoint {
        CalibrationPoint(id: id, guests: zip(benchCase.guests, settings.weights).map { guest, weight in
            CalibrationPoint.Guest(weight: weight, taskIops: guest.tasks.map { Int($0.iops.rounded()) },
                                   taskOps: guest.tasks.map(\.op), taskQueueDepths: guest.tasks.map(\.queueDepth),
                                   taskRequestKB: guest.tasks.map { max(1, Int($0.requestKB.rounded())) })
        }, host: settings.host, repeatIndex: 0, scheduler: settings.scheduler, capsIops: settings.capsIops ?? [], delivery: benchCase.delivery)
    }

    static func tasks(_ benchCase: BenchCases.Case, _ rows: [CalibrationRow], predicted: [[Double]]? = nil,
                      predictedIops: [[Double]]? = nil) -> [BenchResults.TaskResult] {
        rows.map { row in
            let guest = benchCase.guests[row.guestIndex], task = guest.tasks[row.taskIndex]
            let windows = row.stats.windowTailsMs
            return BenchResults.TaskResult(
                guest: guest.name, task: task.name, targetMs: task.targetMs, demandedIops: task.iops,
                predictedMs: predicted?[row.guestIndex][row.taskIndex], predictedIops: predictedIops?[row.guestIndex][row.taskIndex], kernel: row.kernel,
                p99Ms: row.stats.p99Ms, p9999Ms: row.stats.p9999Ms, achievedIops: row.achievedIops, samples: row.stats.samples,
                windowPassFraction: windows.isEmpty ? 0 : Double(windows.filter { $0 <= task.targetMs }.count) / Double(windows.count),
                windowMinSamples: row.stats.windowMinSamples,
                pass: row.stats.p9999Ms <= task.targetMs && row.achievedIops >= minimumIopsFraction * task.iops)
        }
    }
}

/// `DIR/results.json`: {"provenance", "schemes": {NAME: {"passRate", "cases": {CASE: {"passRate", "runs"}}}}}.
public struct BenchResults: Codable, Sendable {
    public struct TaskResult: Codable, Sendable {
        public var guest: String, task: String
        public var targetMs: Double, demandedIops: Double
        /// The scheme's prediction (model-driven schemes only).
        public var predictedMs: Double?
        /// The IOPS the scheme predicted the task gets (model-driven schemes, where the capacity was known).
        public var predictedIops: Double? = nil
        /// The task as the host kernel measured it (rtvirtio's observer), beside fio's p9999Ms and samples.
        public var kernel: KernelMeasurement? = nil
        /// fio's p99 over the run (nil in results written before it was recorded).
        public var p99Ms: Double? = nil
        public var p9999Ms: Double, achievedIops: Double, samples: Int
        public var windowPassFraction: Double, windowMinSamples: Int
        public var pass: Bool
    }
    public struct Run: Codable, Sendable {
        public var repeatIndex: Int
        public var order: Int
        public var settings: SchemeSettings
        public var tasks: [TaskResult]
        /// The case's guests, most urgent first (empty in results written before it was recorded).
        public var urgencyOrder: [String]
        /// What the device delivered to the case's load just before the scheme planned (model-driven schemes).
        public var measuredBeforePlanning: MeasuredDelivery?
        /// What the device delivered under the scheme's first plan where a task of a guest it left
        /// uncapped got less than 95 % of what it asks (model-driven schemes); the run's `settings` were planned again on it.
        public var shortfallUnderFirstPlan: MeasuredDelivery?
        /// The first plan, where the check found a shortfall (it may equal `settings`).
        public var firstPlan: SchemeSettings?
        /// How often the scheme planned again on a shortfall under its plan (0 where it was not checked or held).
        public var replans = 0
        /// Each check under a plan: the least share of what it asks an uncapped task got (what the run is then
        /// compared with: a check that held before a run that fell short says the check did not foresee it).
        public var checkWorstFractions: [Double] = []
        public var pass: Bool { tasks.allSatisfy(\.pass) }

        enum CodingKeys: String, CodingKey { case repeatIndex, order, settings, tasks, urgencyOrder, measuredBeforePlanning, shortfallUnderFirstPlan, firstPlan, replans, checkWorstFractions, pass, taskPassRate, urgentFirstScore, guests }
        public init(repeatIndex: Int, order: Int, settings: SchemeSettings, tasks: [TaskResult], urgencyOrder: [String] = []) {
            self.repeatIndex = repeatIndex; self.order = order; self.settings = settings; self.tasks = tasks
            self.urgencyOrder = urgencyOrder.isEmpty ? tasks.map(\.guest).uniqued() : urgencyOrder
        }
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.init(repeatIndex: try c.decode(Int.self, forKey: .repeatIndex), order: try c.decode(Int.self, forKey: .order),
                      settings: try c.decode(SchemeSettings.self, forKey: .settings), tasks: try c.decode([TaskResult].self, forKey: .tasks),
                      urgencyOrder: try c.decodeIfPresent([String].self, forKey: .urgencyOrder) ?? [])
            measuredBeforePlanning = try c.decodeIfPresent(MeasuredDelivery.self, forKey: .measuredBeforePlanning)
            shortfallUnderFirstPlan = try c.decodeIfPresent(MeasuredDelivery.self, forKey: .shortfallUnderFirstPlan)
            firstPlan = try c.decodeIfPresent(SchemeSettings.self, forKey: .firstPlan)
            replans = try c.decodeIfPresent(Int.self, forKey: .replans) ?? (firstPlan == nil ? 0 : 1)
            checkWorstFractions = try c.decodeIfPresent([Double].self, forKey: .checkWorstFractions) ?? []
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(repeatIndex, forKey: .repeatIndex); try c.encode(order, forKey: .order)
            try c.encode(settings, forKey: .settings); try c.encode(tasks, forKey: .tasks); try c.encode(urgencyOrder, forKey: .urgencyOrder)
            try c.encodeIfPresent(measuredBeforePlanning, forKey: .measuredBeforePlanning)
            try c.encodeIfPresent(shortfallUnderFirstPlan, forKey: .shortfallUnderFirstPlan)
            try c.encodeIfPresent(firstPlan, forKey: .firstPlan)
            if replans > 0 { try c.encode(replans, forKey: .replans) }
            if !checkWorstFractions.isEmpty { try c.encode(checkWorstFractions, forKey: .checkWorstFractions) }
            try c.encode(pass, forKey: .pass); try c.encode(taskPassRate, forKey: .taskPassRate)
            try c.encode(urgentFirstScore, forKey: .urgentFirstScore); try c.encode(guests, forKey: .guests)
        }
    }
    public struct CaseResult: Codable, Sendable {
        public var passRate = 0.0
        public var taskPassRate = 0.0
        public var urgentFirstScore = 0.0
        public var runs: [Run] = []
        public init() {}
    }
    public struct SchemeResult: Codable, Sendable {
        public var passRate = 0.0
        public var taskPassRate = 0.0
        public var urgentFirstScore = 0.0
        public var cases: [String: CaseResult] = [:]
        public init() {}
    }

    public var provenance: [String: String] = [:]
    public var caseOrder: [String] = []
    public var schemeOrder: [String] = []
    public var schemes: [String: SchemeResult]

    public init(schemes: [String: SchemeResult] = [:]) { self.schemes = schemes }

    /// A case's scores are the means over its runs; a scheme's, the means over its cases.
    public mutating func summarise() {
        func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
        for name in schemes.keys {
            for caseName in schemes[name]!.cases.keys {
                let runs = schemes[name]!.cases[caseName]!.runs
                schemes[name]!.cases[caseName]!.passRate = mean(runs.map { $0.pass ? 1 : 0 })
                schemes[name]!.cases[caseName]!.taskPassRate = mean(runs.map(\.taskPassRate))
                schemes[name]!.cases[caseName]!.urgentFirstScore = mean(runs.map(\.urgentFirstScore))
            }
            let cases = Array(schemes[name]!.cases.values)
            schemes[name]!.passRate = mean(cases.map(\.passRate))
            schemes[name]!.taskPassRate = mean(cases.map(\.taskPassRate))
            schemes[name]!.urgentFirstScore = mean(cases.map(\.urgentFirstScore))
        }
    }

    /// Adds another run's results (`--sweep` runs every case on its own).
    public mutating func merge(_ other: BenchResults) {
        // in the other's scheme order: a dictionary's order changes from run to run
        let names = other.schemeOrder + other.schemes.keys.filter { !other.schemeOrder.contains($0) }.sorted()
        for name in names {
            guard let scheme = other.schemes[name] else { continue }
            for (caseName, result) in scheme.cases { schemes[name, default: .init()].cases[caseName, default: .init()].runs += result.runs }
            if !schemeOrder.contains(name) { schemeOrder.append(name) }
        }
        summarise()
    }

    /// Per case, the schemes (or swept settings) under which every run passed.
    public func passingSchemes() -> String {
        caseOrder.map { caseName in
            let passed = schemeOrder.filter { schemes[$0]?.cases[caseName].map { !$0.runs.isEmpty && $0.passRate == 1 } ?? false }
            return "- \(caseName): " + (passed.isEmpty ? "no setting passed" : "passed under " + passed.joined(separator: ", "))
        }.joined(separator: "\n") + "\n"
    }

    /// The README's tables: every score per scheme (the most urgent guest's met runs beside them); per case, each scheme's
    /// passed runs with their Wilson 95 % interval, and its urgent-first score.
    public func markdown() -> String {
        var lines = ["| scheme | pass rate | tasks passed | most urgent guest met | urgent-first score |", "|---|---|---|---|---|"]
        for name in schemeOrder {
            guard let scheme = schemes[name] else { continue }
            lines.append("| \(name) | \(percent(scheme.passRate)) | \(percent(scheme.taskPassRate)) | \(percent(scheme.mostUrgentMetRate)) | \(formatNumber(scheme.urgentFirstScore, decimals: 3)) |")
        }
        lines += ["", "Per case: passed runs / runs [Wilson 95 % interval] · urgent-first score (mean over runs).", "",
                  "| case | " + schemeOrder.joined(separator: " | ") + " |", "|---|" + schemeOrder.map { _ in "---|" }.joined()]
        for caseName in caseOrder {
            lines.append("| \(caseName) | " + schemeOrder.map { name in
                guard let result = schemes[name]?.cases[caseName], !result.runs.isEmpty else { return "–" }
                let interval = result.passInterval
                return "\(result.runs.filter(\.pass).count)/\(result.runs.count) [\(percent(interval.low))–\(percent(interval.high))] · \(formatNumber(result.urgentFirstScore, decimals: 2))"
            }.joined(separator: " | ") + " |")
        }
        let against = rtvirtioAgainstBaselines()
        return lines.joined(separator: "\n") + "\n" + (against.isEmpty ? "" : "\n" + against) + failures() + (kernelAgreement().map { "\n" + $0 } ?? "")
    }

    /// Why each failed run of a model-driven scheme failed, task by task.
    func failures() -> String {
        var lines: [String] = []
        for name in schemeOrder {
            for caseName in caseOrder {
                for run in schemes[name]?.cases[caseName]?.runs ?? [] where !run.pass {
                    for task in run.tasks where !task.pass {
                        guard let predicted = task.predictedMs else { continue }
                        let starved = task.achievedIops < BenchRunner.minimumIopsFraction * task.demandedIops
                        let why = starved ? "starved (\(formatNumber(task.achievedIops)) of \(formatNumber(task.demandedIops)) IOPS)"
                            : predicted <= task.targetMs ? "model error: predicted \(formatNumber(predicted)) ms, measured \(formatNumber(task.p9999Ms)) ms"
                            : "predicted to miss (\(formatNumber(predicted)) ms): no setting in the search space meets it by the model"
                        lines.append("- \(name), \(caseName), repeat \(run.repeatIndex + 1): \(task.guest)/\(task.task) target \(formatNumber(task.targetMs)) ms — \(why)")
                    }
                }
            }
        }
        return lines.isEmpty ? "" : "\nWhy the model-driven schemes' failed runs failed:\n\n" + lines.joined(separator: "\n") + "\n"
    }

    func percent(_ value: Double) -> String { value.isNaN ? "–" : formatNumber(value * 100, decimals: 1) + " %" }
}
