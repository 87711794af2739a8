import Foundation
import Yams

/// Reads model files: analytical parameters (YAML) and MLP networks (JSON).
public enum ModelFiles {
    static let analyticalKeys = ["kind", "lambdaPhi", "host", "guest", "sliceIdleDefaultMs", "switchMs",
                                 "hostThroughputKBps", "maxBudgetKB", "validity", "provenance"]

    public static func parseAnalytical(_ text: String, file: String) throws -> AnalyticalParameters {
        let reader = YAMLReader(file: file)
        let top = try reader.mapping(try reader.root(text), "", allowed: analyticalKeys)
        let kind = try top.string("kind")
        guard kind == "analytical" else {
            throw reader.error(top.values["kind"], "kind", "expected 'analytical', found '\(kind)'")
        }
        let host = try reader.mapping(try top.node("host"), "host", allowed: ["lambdaTimeoutSync", "lambdaSliceIdle"])
        let guest = try reader.mapping(try top.node("guest"), "guest", allowed: ["lambdaTimeoutSync", "lambdaSliceIdle"])
        let switchMs = try reader.mapping(try top.node("switchMs"), "switchMs", allowed: ["intercept", "perEntity"])
        let validity = top.has("validity") ? try parseValidity(reader, try top.node("validity")) : .unbounded
        let parameters = AnalyticalParameters(
            lambdaPhi: try top.positive("lambdaPhi"),
            hostLambdaTimeoutSync: try host.double("lambdaTimeoutSync"),
            hostLambdaSliceIdle: try host.double("lambdaSliceIdle"),
            guestLambdaTimeoutSync: try guest.double("lambdaTimeoutSync"),
            guestLambdaSliceIdle: try guest.double("lambdaSliceIdle"),
            sliceIdleDefaultMs: try top.positive("sliceIdleDefaultMs"),
            switchInterceptMs: try switchMs.double("intercept"),
            switchPerEntityMs: try switchMs.double("perEntity"),
            hostThroughputKBps: try top.positive("hostThroughputKBps"),
            maxBudgetKB: try top.double("maxBudgetKB"),
            validity: validity,
            provenance: top.has("provenance") ? try Yams.serialize(node: try top.node("provenance")) : nil)
        // E(SI) must stay positive over every slice_idle the model may be asked about.
        let largestSliceIdleMs = max(validity.hostSliceIdleMs?.upperBound ?? parameters.sliceIdleDefaultMs,
                                     parameters.sliceIdleDefaultMs)
        for (fields, key, lambda) in [(host, "host.lambdaSliceIdle", parameters.hostLambdaSliceIdle),
                                      (guest, "guest.lambdaSliceIdle", parameters.guestLambdaSliceIdle)] {
            let effect = AnalyticalModel.sliceIdleEffect(sliceIdleMs: largestSliceIdleMs, lambda: lambda,
                                                         defaultMs: parameters.sliceIdleDefaultMs)
            guard effect > 0 else {
                throw reader.error(fields.values["lambdaSliceIdle"], key,
                                   "makes E(SI) = \(formatNumber(effect, decimals: 3)) ≤ 0 at slice_idle \(formatNumber(largestSliceIdleMs)) ms",
                                   hint: "need λ < sliceIdleDefaultMs / largest slice_idle = \(formatNumber(parameters.sliceIdleDefaultMs / largestSliceIdleMs, decimals: 3))")
            }
        }
        if parameters.maxBudgetKB < 0 {
            throw reader.error(top.values["maxBudgetKB"], "maxBudgetKB", "must be ≥ 0")
        }
        return parameters
    }

    static func parseValidity(_ reader: YAMLReader, _ node: Node) throws -> Validity {
        let keys = ["hostTimeoutSyncMs", "hostSliceIdleMs", "guestCount", "taskIops"]
        let fields = try reader.mapping(node, "validity", allowed: keys)
        func range(_ key: String) throws -> ClosedRange<Double>? {
            guard fields.has(key) else { return nil }
            let values = try fields.numbers(key)
            guard values.count == 2, values[0] <= values[1] else {
                throw reader.error(fields.values[key], "validity.\(key)", "expected [min, max] with min ≤ max")
            }
            return values[0]...values[1]
        }
        return Validity(hostTimeoutSyncMs: try range("hostTimeoutSyncMs"), hostSliceIdleMs: try range("hostSliceIdleMs"),
                        guestCount: try range("guestCount"), taskIops: try range("taskIops"))
    }
}

extension ModelFiles {
    static func yamlNumber(_ value: Double) -> String { value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value) }

    static func commentLines(_ comment: String) -> [String] {
        comment.split(separator: "\n", omittingEmptySubsequences: false).map { "# \($0)" }
    }

    /// `validity:` and `provenance:` (a mapping of quoted strings, in order), shared by every model file.
    static func tailYAML(_ validity: Validity, _ provenance: [(String, String)]) -> String {
        func quoted(_ text: String) -> String {
            "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n") + "\""
        }
        let ranges: [(String, ClosedRange<Double>?)] = [("hostTimeoutSyncMs", validity.hostTimeoutSyncMs), ("hostSliceIdleMs", validity.hostSliceIdleMs),
                                                         ("guestCount", validity.guestCount), ("taskIops", validity.taskIops)]
        let present = ranges.compactMap { name, range in range.map { "  \(name): [\(yamlNumber($0.lowerBound)), \(yamlNumber($0.upperBound))]" } }
        var lines: [String] = []
        if !present.isEmpty { lines += ["validity:"] + present }
        if !provenance.isEmpty { lines += ["provenance:"] + provenance.map { "  \($0.0): \(quoted($0.1))" } }
        return lines.map { $0 + "\n" }.joined()
    }

    /// An analytical parameter file that `parseAnalytical` reads back exactly.
    public static func analyticalYAML(_ p: AnalyticalParameters, comment: String, provenance: [(String, String)]) -> String {
        let number = yamlNumber
        return (commentLines(comment) + ["kind: analytical",
                  "lambdaPhi: \(number(p.lambdaPhi))",
                  "host:",
                  "  lambdaTimeoutSync: \(number(p.hostLambdaTimeoutSync))",
                  "  lambdaSliceIdle: \(number(p.hostLambdaSliceIdle))",
                  "guest:",
                  "  lambdaTimeoutSync: \(number(p.guestLambdaTimeoutSync))",
                  "  lambdaSliceIdle: \(number(p.guestLambdaSliceIdle))",
                  "sliceIdleDefaultMs: \(number(p.sliceIdleDefaultMs))",
                  "switchMs: {intercept: \(number(p.switchInterceptMs)), perEntity: \(number(p.switchPerEntityMs))}",
                  "hostThroughputKBps: \(number(p.hostThroughputKBps))",
                  "maxBudgetKB: \(number(p.maxBudgetKB))"]).joined(separator: "\n") + "\n" + tailYAML(p.validity, provenance)
    }
}
