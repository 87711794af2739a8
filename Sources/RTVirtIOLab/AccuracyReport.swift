import Foundation
import RTVirtIO

/// `lab accuracy`: a model's error on measured rows, overall and broken down
/// by regime, the task's op and queue depth, host slice_idle and guest count,
/// with a scatter and a histogram.
public struct AccuracyReport: Sendable, Codable {
    public struct Pair: Sendable, Codable {
        public var predictedMs: Double
        public var measuredMs: Double
        public var hostSliceIdleUs: Int
        public var guestCount: Int
        public var regime: String
        /// The task's op (read, write, readwrite) and the requests it keeps in flight.
        public var op: String
        public var queueDepth: Int
    }

    public var model: String
    public var data: [String]
    public var rowsNote: String
    public var overall: Accuracy
    public var byRegime: [String: Accuracy]
    /// By the task's op: read, write, readwrite.
    public var byOp: [String: Accuracy]
    /// By the task's queue depth: "1" (one request at a time) or ">1".
    public var byQueueDepth: [String: Accuracy]
    public var bySliceIdleUs: [String: Accuracy]
    public var byGuestCount: [String: Accuracy]
    /// `Accuracy.repeatFloor` (or `halvesFloor` for averaged runs) on the same data files: how well a
    /// configuration's other runs predict the value scored.
    public var repeatFloor: Accuracy?
    /// Which floor `repeatFloor` is, as the text report names it.
    public var floorMethod: String?
    /// The floor without idling ("0") and with it (">0"): where the testbed repeats itself well enough for a goal.
    public var floorBySliceIdle: [String: Accuracy]?
    /// The floor scaled by the smallest factor that keeps its underestimates ≤ 10 % (the goal's bound).
    public var conservativeFloor: ConservativeFloor?
    public var pairs: [Pair]

    public struct ConservativeFloor: Sendable, Codable {
        public var factor: Double
        public var accuracy: Accuracy
        public init(factor: Double, accuracy: Accuracy) { self.factor = factor; self.accuracy = accuracy }
    }

    /// Sets both floor lines from `Accuracy.repeatFloor` or `halvesFloor` pairs (none when there are no repeats).
    public mutating func setFloor(_ floor: [Accuracy.FloorPair], method: String = "noise floor (repeats)") {
        repeatFloor = floor.isEmpty ? nil : Accuracy(floor)
        floorMethod = floor.isEmpty ? nil : method
        floorBySliceIdle = floor.isEmpty ? nil : Dictionary(grouping: floor) { $0.sliceIdleUs == 0 ? "0" : ">0" }.mapValues(Accuracy.init)
        conservativeFloor = Accuracy.conservative(floor.map { ($0.predicted, $0.measured) }, underestimateRate: 0.10)
            .map { ConservativeFloor(factor: $0.factor, accuracy: $0.accuracy) }
    }

    public init(model: some LatencyModel, data: [String], rowsNote: String,
                pairs raw: [Accuracy.Scored]) {
        self.model = model.name
        self.data = data
        self.rowsNote = rowsNote
        pairs = raw.map { Pair(predictedMs: $0.predicted, measuredMs: $0.measured,
                               hostSliceIdleUs: $0.point.settings.host.sliceIdleUs, guestCount: $0.point.scenario.guests.count,
                               regime: $0.point.regime, op: $0.task.op.csvName, queueDepth: $0.task.queueDepth) }
        func accuracy(_ selected: [Pair]) -> Accuracy { Accuracy(selected.map { ($0.predictedMs, $0.measuredMs) }) }
        overall = accuracy(pairs)
        byRegime = Dictionary(grouping: pairs, by: \.regime).mapValues(accuracy)
        byOp = Dictionary(grouping: pairs, by: \.op).mapValues(accuracy)
        byQueueDepth = Dictionary(grouping: pairs, by: { $0.queueDepth > 1 ? ">1" : "1" }).mapValues(accuracy)
        bySliceIdleUs = Dictionary(grouping: pairs, by: { String($0.hostSliceIdleUs) }).mapValues(accuracy)
        byGuestCount = Dictionary(grouping: pairs, by: { String($0.guestCount) }).mapValues(accuracy)
    }

    /// The JSON `lab accuracy --format json` prints: the figures, not the pairs.
    public func summaryJSON() throws -> Data {
        struct Summary: Encodable {
            var model: String, data: [String], rows: String
            var samples: Int, medianAbsErrorPct: Double, p90AbsErrorPct: Double, underestimateRate: Double
            var byRegime: [String: Accuracy], byOp: [String: Accuracy], byQueueDepth: [String: Accuracy], bySliceIdleUs: [String: Accuracy], byGuestCount: [String: Accuracy]
            var repeatFloor: Accuracy?, floorMethod: String?, floorBySliceIdle: [String: Accuracy]?, conservativeFloor: ConservativeFloor?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(Summary(model: model, data: data, rows: rowsNote, samples: overall.samples,
                                          medianAbsErrorPct: overall.medianAbsErrorPct, p90AbsErrorPct: overall.p90AbsErrorPct,
                                          underestimateRate: overall.underestimateRate, byRegime: byRegime, byOp: byOp, byQueueDepth: byQueueDepth, bySliceIdleUs: bySliceIdleUs,
                                          byGuestCount: byGuestCount, repeatFloor: repeatFloor, floorMethod: floorMethod,
                                          floorBySliceIdle: floorBySliceIdle,
                                          conservativeFloor: conservativeFloor))
    }

    public func text() -> String {
        func sorted(_ groups: [String: Accuracy], _ label: (String) -> String) -> [(String, Accuracy)] {
            groups.keys.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }.map { (label($0), groups[$0]!) }
        }
        let rows = [("all", overall)]
            + byRegime.keys.sorted().map { ("regime \($0)", byRegime[$0]!) }
            + ["read", "write", "readwrite"].compactMap { op in byOp[op].map { ("op \(op)", $0) } }
            + ["1", ">1"].compactMap { depth in byQueueDepth[depth].map { ("queue depth \(depth)", $0) } }
            + sorted(bySliceIdleUs) { "slice_idle \(formatNumber(Double($0)! / 1000)) ms" }
            + sorted(byGuestCount) { "\($0) guest(s)" }
            + (repeatFloor.map { [(floorMethod ?? "noise floor (repeats)", $0)] } ?? [])
            + ["0", ">0"].compactMap { key in floorBySliceIdle?[key].map { ("  its slice_idle \(key == "0" ? "0" : "> 0") runs", $0) } }
            + (conservativeFloor.map { [("floor x\(formatNumber($0.factor, decimals: 2)), <= 10 % under", $0.accuracy)] } ?? [])
        return "model \(model) on \(data.joined(separator: ", ")) (\(rowsNote))\n" + Self.table(rows)
    }

    public static func percent(_ value: Double) -> String { formatNumber(value, decimals: 1) + " %" }

    public static func table(_ rows: [(String, Accuracy)]) -> String {
        let width = max(24, rows.map(\.0.count).max() ?? 0)
        func pad(_ text: String, _ n: Int) -> String { text.padding(toLength: max(n, text.count), withPad: " ", startingAt: 0) }
        return ([pad("", width) + "  samples  median |err|  p90 |err|  underestimates"] + rows.map { name, a in
            pad(name, width) + "  " + pad(String(a.samples), 7) + "  " + pad(percent(a.medianAbsErrorPct), 11) + "  "
                + pad(percent(a.p90AbsErrorPct), 9) + "  " + percent(a.underestimateRate * 100)
        }).joined(separator: "\n")
    }
}
