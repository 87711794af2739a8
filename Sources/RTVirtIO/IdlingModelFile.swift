import Foundation
import Yams

extension ModelFiles {
    static let idlingKeys = ["kind", "noIdle", "idleCalm", "stall", "stallMs", "riskThreshold", "output", "margin", "validity", "provenance"]

    /// `kind: idling` parameter files (see `IdlingModel`); `kind` and `extraKeys` let a file
    /// that extends the idling model (op-aware) share its keys.
    public static func parseIdling(_ text: String, file: String, kind: String = "idling", extraKeys: [String] = []) throws -> IdlingParameters {
        let reader = YAMLReader(file: file)
        let top = try reader.mapping(try reader.root(text), "", allowed: idlingKeys + extraKeys)
        guard try top.string("kind") == kind else {
            throw reader.error(top.values["kind"], "kind", "expected '\(kind)', found '\(try top.string("kind").prefix(40))'")
        }
        func line(_ key: String) throws -> IdlingParameters.Line {
            let fields = try reader.mapping(try top.node(key), key, allowed: ["interceptMs", "perLoadMBpsMs", "perQueueSliceIdleMs", "perTaskKiopsMs"])
            func optional(_ key: String) throws -> Double { fields.has(key) ? try fields.double(key) : 0 }
            return .init(interceptMs: try fields.double("interceptMs"), perLoadMBpsMs: try fields.double("perLoadMBpsMs"),
                         perQueueSliceIdleMs: try optional("perQueueSliceIdleMs"), perTaskKiopsMs: try optional("perTaskKiopsMs"))
        }
        let stall = try reader.mapping(try top.node("stall"), "stall",
                                       allowed: ["intercept", "perLoadMBps", "perShare", "perQueue", "perSliceIdleMs", "perTaskKiops", "perOtherGuestsQueue"])
        let threshold = try top.double("riskThreshold")
        guard threshold > 0, threshold < 1 else {
            throw reader.error(top.values["riskThreshold"], "riskThreshold", "must be between 0 and 1 (exclusive)")
        }
        // files written before the windowed mean existed have no `output:`: they are threshold models
        let outputText = try top.optionalString("output") ?? IdlingParameters.Output.threshold.rawValue
        guard let output = IdlingParameters.Output(rawValue: outputText) else {
            throw reader.error(top.values["output"], "output", "unknown output '\(outputText)'",
                               hint: IdlingParameters.Output.allCases.map(\.rawValue).joined(separator: " or "))
        }
        func optional(_ key: String) throws -> Double { stall.has(key) ? try stall.double(key) : 0 }
        return IdlingParameters(
            noIdle: try line("noIdle"), idleCalm: try line("idleCalm"),
            stall: .init(intercept: try stall.double("intercept"), perLoadMBps: try stall.double("perLoadMBps"),
                         perShare: try stall.double("perShare"), perQueue: try stall.double("perQueue"),
                         perSliceIdleMs: try optional("perSliceIdleMs"), perTaskKiops: try optional("perTaskKiops"),
                         perOtherGuestsQueue: try optional("perOtherGuestsQueue")),
            stallMs: try top.positive("stallMs"), riskThreshold: threshold, output: output,
            margin: top.has("margin") ? try top.positive("margin") : 1,
            validity: top.has("validity") ? try parseValidity(reader, try top.node("validity")) : .unbounded,
            provenance: top.has("provenance") ? try Yams.serialize(node: try top.node("provenance")) : nil)
    }

    public static func idlingYAML(_ p: IdlingParameters, comment: String, provenance: [(String, String)], kind: String = "idling",
                                  extraLines: [String] = []) -> String {
        (commentLines(comment) + [
            "kind: \(kind)",
            "noIdle: \(lineYAML(p.noIdle))",
            "idleCalm: \(lineYAML(p.idleCalm))",
            "stall: {intercept: \(yamlNumber(p.stall.intercept)), perLoadMBps: \(yamlNumber(p.stall.perLoadMBps)), perShare: \(yamlNumber(p.stall.perShare)), perQueue: \(yamlNumber(p.stall.perQueue)), perSliceIdleMs: \(yamlNumber(p.stall.perSliceIdleMs)), perTaskKiops: \(yamlNumber(p.stall.perTaskKiops)), perOtherGuestsQueue: \(yamlNumber(p.stall.perOtherGuestsQueue))}",
            "stallMs: \(yamlNumber(p.stallMs))",
            "riskThreshold: \(yamlNumber(p.riskThreshold))",
            "output: \(p.output.rawValue)",
            "margin: \(yamlNumber(p.margin))",
        ] + extraLines).joined(separator: "\n") + "\n" + tailYAML(p.validity, provenance)
    }

    static func lineYAML(_ line: IdlingParameters.Line) -> String {
        "{interceptMs: \(yamlNumber(line.interceptMs)), perLoadMBpsMs: \(yamlNumber(line.perLoadMBpsMs)), "
            + "perQueueSliceIdleMs: \(yamlNumber(line.perQueueSliceIdleMs)), perTaskKiopsMs: \(yamlNumber(line.perTaskKiopsMs))}"
    }

    /// The model a parameter file describes, by its `kind:` (analytical, idling or op-aware).
    public static func parseModel(_ text: String, file: String, name: String) throws -> any LatencyModel {
        let reader = YAMLReader(file: file)
        let top = try reader.mapping(try reader.root(text), "", allowed: Array(Set(analyticalKeys + idlingKeys + opAwareKeys)))
        switch try top.string("kind") {
        case "idling": return IdlingModel(parameters: try parseIdling(text, file: file), name: name)
        case "op-aware": return try parseOpAware(text, file: file, name: name)
        case "analytical": return AnalyticalModel(parameters: try parseAnalytical(text, file: file), name: name)
        case let other: throw reader.error(top.values["kind"], "kind", "unknown model kind '\(other.prefix(40))'", hint: "analytical, idling or op-aware")
        }
    }

    static let opAwareKeys = ["ops"]
    static let opTermKeys = ["writeCost", "perOwnKBMs", "perQueuedKBMs", "saturationMBps", "saturationPower",
                             "stallPerWriteShare", "stallPerLargeShare", "stallPerQueuedMB", "stallLevelPerLargeShare"]

    /// `kind: op-aware` files: an idling model's keys and `ops:` (see `OpAwareModel`).
    public static func parseOpAware(_ text: String, file: String, name: String = "op-aware") throws -> OpAwareModel {
        let base = try parseIdling(text, file: file, kind: "op-aware", extraKeys: opAwareKeys)
        let reader = YAMLReader(file: file)
        let top = try reader.mapping(try reader.root(text), "", allowed: idlingKeys + opAwareKeys)
        let ops = try reader.mapping(try top.node("ops"), "ops", allowed: opTermKeys)
        func optional(_ key: String) throws -> Double { ops.has(key) ? try ops.double(key) : 0 }
        func nonNegative(_ key: String) throws -> Double {
            let value = try ops.double(key)
            guard value >= 0 else { throw reader.error(ops.values[key], "ops.\(key)", "must be ≥ 0, found \(formatNumber(value))") }
            return value
        }
        let terms = OpTerms(writeCost: try ops.positive("writeCost"), perOwnKBMs: try nonNegative("perOwnKBMs"),
                            perQueuedKBMs: try nonNegative("perQueuedKBMs"), saturationMBps: try ops.positive("saturationMBps"),
                            saturationPower: ops.has("saturationPower") ? try ops.positive("saturationPower") : 2,
                            stallPerWriteShare: try optional("stallPerWriteShare"), stallPerLargeShare: try optional("stallPerLargeShare"),
                            stallPerQueuedMB: try optional("stallPerQueuedMB"), stallLevelPerLargeShare: try optional("stallLevelPerLargeShare"))
        return OpAwareModel(base: IdlingModel(parameters: base, name: name), terms: terms, name: name)
    }

    public static func opAwareYAML(_ model: OpAwareModel, comment: String, provenance: [(String, String)]) -> String {
        let t = model.terms
        return idlingYAML(model.base.parameters, comment: comment, provenance: provenance, kind: "op-aware", extraLines: [
            "ops: {writeCost: \(yamlNumber(t.writeCost)), perOwnKBMs: \(yamlNumber(t.perOwnKBMs)), perQueuedKBMs: \(yamlNumber(t.perQueuedKBMs)), saturationMBps: \(yamlNumber(t.saturationMBps)), saturationPower: \(yamlNumber(t.saturationPower)), stallPerWriteShare: \(yamlNumber(t.stallPerWriteShare)), stallPerLargeShare: \(yamlNumber(t.stallPerLargeShare)), stallPerQueuedMB: \(yamlNumber(t.stallPerQueuedMB)), stallLevelPerLargeShare: \(yamlNumber(t.stallLevelPerLargeShare))}",
        ])
    }
}
