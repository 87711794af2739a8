import Foundation
import RTVirtIO

/// A measured calibration dataset (the CSV `lab calibrate` writes), grouped
/// back into the scenarios that were measured.
public struct CalibrationDataset: Sendable {
    /// One measured point: the scenario as the model sees it, the knobs, and
    /// each task's measured tail latency and achieved IOPS, in scenario order.
    public struct Point: Sendable {
        public var id: String
        public var scenario: Scenario
        public var settings: Settings
        public var measuredMs: [[Double]]
        public var achievedIops: [[Double]]
        public var samples: [[Int]]
        public var regime: String
        /// Each task's 1-second windows' p99.99 in time order ([guest][task][window]);
        /// empty for CSVs written before the column existed.
        public var windowTailsMs: [[[Double]]]
        /// The device's scheduler when it was measured; `settings` is then the models' proxy for it.
        public var scheduler = "bfq"

        public init(id: String, scenario: Scenario, settings: Settings, measuredMs: [[Double]],
                    achievedIops: [[Double]] = [], samples: [[Int]] = [], regime: String = "fast",
                    windowTailsMs: [[[Double]]] = []) {
            self.id = id
            self.windowTailsMs = windowTailsMs
            self.regime = regime
            self.scenario = scenario
            self.settings = settings
            self.measuredMs = measuredMs
            self.achievedIops = achievedIops
            self.samples = samples
        }
    }

    public enum Measure: String, Sendable, CaseIterable {
        case p9999 = "p9999Ms"                       // whole run
        case windowMedian = "windowP9999MedianMs"    // median of the 1-second windows' p99.99
        case windowMean = "windowP9999MeanMs"        // mean of the 1-second windows' p99.99: the paper's reference

        /// For a command's --help: every measure a CSV may hold.
        public static let choices = "p9999Ms (the whole run's p99.99), windowP9999MedianMs or windowP9999MeanMs " +
            "(the median or mean of the 1-second windows' p99.99; the mean is the paper's reference, CSVs from 2026-11-25 on)"
    }

    public var points: [Point]
    public init(points: [Point]) { self.points = points }
    public var rowCount: Int { points.reduce(0) { $0 + $1.scenario.taskCount } }

    public static func parse(_ text: String, file: String, measure: Measure = .p9999) throws -> CalibrationDataset {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        guard let header = lines.first?.split(separator: ",").map(String.init) else {
            throw InputError(file: file, message: "empty dataset")
        }
        func column(_ name: String) throws -> Int {
            guard let index = header.firstIndex(of: name) else {
                throw InputError(file: file, line: 1, key: name, message: "missing column")
            }
            return index
        }
        let regimeColumn = header.firstIndex(of: "regime")
        let windowsColumn = header.firstIndex(of: "windowP9999Ms")
        let schedulerColumn = header.firstIndex(of: "scheduler")
        // CSVs from before 2026-11-28 have no op columns: one 4 KiB read at a time
        let opColumns = header.firstIndex(of: "op").flatMap { op in
            header.firstIndex(of: "readPercent").flatMap { percent in header.firstIndex(of: "queueDepth").map { (op: op, percent: percent, depth: $0) } }
        }
        let c = (point: try column("pointId"), guest: try column("guestIndex"), weight: try column("guestWeight"),
                 task: try column("taskIndex"), iops: try column("taskIops"), request: try column("requestKB"),
                 ts: try column("hostTimeoutSyncMs"), si: try column("hostSliceIdleUs"), gts: try column("guestTimeoutSyncMs"),
                 gsi: try column("guestSliceIdleUs"), achieved: try column("achievedIops"), samples: try column("samples"),
                 measure: try column(measure.rawValue))
        var rowsByPoint: [String: [(Int, [Substring])]] = [:]
        var order: [String] = []
        for (offset, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw InputError(file: file, line: offset + 2, message: "expected \(header.count) columns, found \(fields.count)")
            }
            let id = String(fields[c.point])
            if rowsByPoint[id] == nil { order.append(id) }
            rowsByPoint[id, default: []].append((offset + 2, fields))
        }
        func number(_ fields: [Substring], _ index: Int, _ line: Int) throws -> Double {
            guard let value = Double(fields[index]), value.isFinite else {
                throw InputError(file: file, line: line, key: header[index], message: "not a finite number: '\(fields[index].prefix(40))'")
            }
            return value
        }
        /// A count, index or knob: a whole number of sane size (Int(nan) and Int(1e300) trap).
        func integer(_ fields: [Substring], _ index: Int, _ line: Int) throws -> Int {
            let value = try number(fields, index, line)
            guard value == value.rounded(), abs(value) <= 1e9 else {
                throw InputError(file: file, line: line, key: header[index], message: "not a whole number up to 1e9: '\(fields[index].prefix(40))'")
            }
            return Int(value)
        }
        func opAndDepth(_ fields: [Substring], _ line: Int) throws -> (TaskOp, Int) {
            guard let c = opColumns else { return (.read, 1) }
            let percent = try integer(fields, c.percent, line)
            guard let op = TaskOp(csvName: String(fields[c.op]), readPercent: percent) else {
                throw InputError(file: file, line: line, key: "op", message: "must be read, write or readwrite with readPercent 0–100, found '\(fields[c.op].prefix(40))' (\(percent))")
            }
            let depth = try integer(fields, c.depth, line)
            guard (1...256).contains(depth) else {
                throw InputError(file: file, line: line, key: "queueDepth", message: "must be 1–256, found \(depth)")
            }
            return (op, depth)
        }
        func windowTails(_ fields: [Substring], _ line: Int) throws -> [Double] {
            guard let column = windowsColumn else { return [] }
            return try fields[column].split(separator: ";").map { text in
                guard let value = Double(text), value.isFinite else {
                    throw InputError(file: file, line: line, key: header[column], message: "not a number: '\(text)'")
                }
                return value
            }
        }
        let points: [Point] = try order.map { id in
            let rows = rowsByPoint[id]!
            let guestIndices = Set(try rows.map { try integer($0.1, c.guest, $0.0) }).sorted()
            var guests: [Scenario.Guest] = []
            var weights: [Int] = []
            var measured: [[Double]] = [], achieved: [[Double]] = [], samples: [[Int]] = [], windows: [[[Double]]] = []
            for g in guestIndices {
                let guestRows = try rows.filter { try integer($0.1, c.guest, $0.0) == g }
                    .sorted { (Int($0.1[c.task]) ?? 0) < (Int($1.1[c.task]) ?? 0) }
                let (line, first) = guestRows[0]
                weights.append(try integer(first, c.weight, line))
                guests.append(Scenario.Guest(
                    name: "g\(g)", criticality: g + 1, pinnedWeight: nil,
                    guestBfq: BfqSettings(timeoutSyncMs: try integer(first, c.gts, line), sliceIdleUs: try integer(first, c.gsi, line)),
                    tasks: try guestRows.map { line, fields in
                        let (op, depth) = try opAndDepth(fields, line)
                        return TaskSpec(name: "t\(fields[c.task])", iops: try number(fields, c.iops, line),
                                        requestKB: try number(fields, c.request, line), targetMs: 1, op: op, queueDepth: depth)
                    }))
                measured.append(try guestRows.map { try number($0.1, c.measure, $0.0) })
                achieved.append(try guestRows.map { try number($0.1, c.achieved, $0.0) })
                samples.append(try guestRows.map { try integer($0.1, c.samples, $0.0) })
                if windowsColumn != nil { windows.append(try guestRows.map { try windowTails($0.1, $0.0) }) }
            }
            let (line, first) = rows[0]
            let host = BfqSettings(timeoutSyncMs: try integer(first, c.ts, line), sliceIdleUs: try integer(first, c.si, line))
            let scheduler = schedulerColumn.map { String(first[$0]) } ?? "bfq"
            guard ["bfq", "none", "mq-deadline", "kyber"].contains(scheduler) else {
                throw InputError(file: file, line: line, key: "scheduler", message: "unknown scheduler '\(scheduler.prefix(40))' (bfq, none, mq-deadline, kyber)")
            }
            var point = Point(id: id, scenario: Scenario(guests: guests),
                              settings: scheduler == "bfq" ? Settings(host: host, weights: weights) : .deviceSchedulerProxy(weights: weights.map { _ in 100 }),
                              measuredMs: measured, achievedIops: achieved, samples: samples,
                              regime: regimeColumn.map { String(first[$0]) } ?? "fast", windowTailsMs: windows)
            point.scheduler = scheduler
            return point
        }
        return CalibrationDataset(points: points)
    }

    /// The measured configuration a point repeats ("p20r2" repeats "p20").
    public static func configuration(of id: String) -> String {
        id.firstIndex(of: "r").map { String(id[..<$0]) } ?? id
    }

    /// k folds of point indices, assigned by a seeded shuffle of configurations:
    /// a point's tasks, and its repeats, stay in one fold, so no fold is
    /// tested on a configuration it was trained on.
    public func folds(_ k: Int, seed: UInt64 = 1) -> [[Int]] {
        var rng = SplitMix64(seed: seed)
        let configurations = Self.runsByConfiguration(points).map { Self.configuration(of: $0[0].id) }
        let fold = Dictionary(uniqueKeysWithValues: configurations.shuffled(using: &rng).enumerated().map { ($0.element, $0.offset % k) })
        return (0..<k).map { f in points.indices.filter { fold[Self.configuration(of: points[$0].id)] == f } }
    }

    /// A fixed split by configuration: `test` (a fifth of the configurations,
    /// chosen by a stable hash of the configuration's id, so that measuring
    /// more points never moves one between the parts) is what `lab fit` and
    /// `lab train-mlp` leave out and `lab accuracy --split test` scores.
    public enum Part: String, Sendable, CaseIterable { case all, train, test }

    public static func isTest(_ id: String) -> Bool {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325   // FNV-1a
        for byte in configuration(of: id).utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash % 5 == 0
    }

    public func part(_ part: Part) -> CalibrationDataset {
        guard part != .all else { return self }
        return CalibrationDataset(points: points.filter { Self.isTest($0.id) == (part == .test) })
    }

    /// `points` grouped by configuration (a run with its repeats), in the order
    /// each configuration first appears, each group in the points' order.
    public static func runsByConfiguration(_ points: [Point]) -> [[Point]] {
        var order: [String] = []
        let groups = Dictionary(grouping: points) { point -> String in
            let configuration = configuration(of: point.id)
            if !order.contains(configuration) { order.append(configuration) }
            return configuration
        }
        return order.map { groups[$0]! }
    }

    /// One point per configuration, its tasks' measured values averaged over
    /// the configuration's repeats (the paper: averaged over 30+ tests per
    /// condition); the first repeat's other fields are kept.
    public func averagedByConfiguration() -> CalibrationDataset {
        CalibrationDataset(points: Self.runsByConfiguration(points).map { repeats in
            var point = repeats[0]
            point.id = Self.configuration(of: point.id)
            point.measuredMs = point.measuredMs.indices.map { guest in
                point.measuredMs[guest].indices.map { task in
                    repeats.map { $0.measuredMs[guest][task] }.reduce(0, +) / Double(repeats.count)
                }
            }
            return point
        })
    }

    /// The knob and load ranges seen, as a model's validity.
    public func validity() -> Validity {
        let ts = points.map { Double($0.settings.host.timeoutSyncMs) }
        let si = points.map { $0.settings.host.sliceIdleMs }
        let guests = points.map { Double($0.scenario.guests.count) }
        let iops = points.flatMap { $0.scenario.guests.flatMap { $0.tasks.map(\.iops) } }
        func range(_ values: [Double]) -> ClosedRange<Double>? { values.isEmpty ? nil : values.min()!...values.max()! }
        return Validity(hostTimeoutSyncMs: range(ts), hostSliceIdleMs: range(si), guestCount: range(guests), taskIops: range(iops))
    }
}
