import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost

/// One `rtvirtio bench` run, whole: the lab lock, the testbed (the one up, when its regime
/// fits, else brought up and down again), every case × scheme × repeat (or a settings
/// sweep per case), and the results with where they came from. The command only parses.
public struct BenchSession {
    public var cases: BenchCases
    public var casesPath: String
    public var schemes: [(name: String, scheme: Scheme)]
    public var regime: LabTestbed.Regime
    public var serviceUs = LabTestbed.defaultServiceTimeUs
    public var durationS = 10
    public var repeats = 3
    /// BenchRunner.measureBeforePlanningS.
    public var measureBeforePlanningS = 3
    /// BenchRunner.checkPlanS.
    public var checkPlanS: Int? = nil
    /// Instead of the schemes, each case under SettingsSweep's settings (each case runs alone).
    public var sweep = false

    public init(cases: BenchCases, casesPath: String, schemes: [(name: String, scheme: Scheme)], regime: LabTestbed.Regime) {
        self.cases = cases
        self.casesPath = casesPath
        self.schemes = schemes
        self.regime = regime
    }

    public func run(progress: @escaping (String) -> Void) throws -> BenchResults {
        // the checkout as the run starts: a commit made while it measures is not the binary's
        let (commit, started) = (Provenance.gitCommit(), ISO8601DateFormatter().string(from: Date()))
        let lock = try LabTestbed.exclusive()
        defer { close(lock) }
        if let running = try LabTestbed.current(), running.regime != regime {
            throw LabTestbed.Failure.otherRegimeUp(running: running.regime, wanted: regime)
        }
        let testbed = try LabTestbed.current() ?? LabTestbed.up(regime: regime, serviceTimeUs: serviceUs)
        defer { try? testbed.down() }
        let interrupts = LabCleanup.removeOnInterrupt(testbed, command: "bench")
        defer { interrupts.forEach { $0.cancel() } }
        var results = BenchResults(schemes: [:])
        // A sweep's settings depend on the case (its guests and their urgency), so each case runs alone.
        for runCases in sweep ? cases.cases.map({ [$0] }) : [cases.cases] {
            let caseSchemes = sweep ? SettingsSweep.settings(for: runCases[0].scenario, space: cases.search).map { ($0.name, Scheme.fixed($0.settings)) } : schemes
            var subset = cases
            subset.cases = runCases
            var runner = BenchRunner(testbed: testbed, cases: subset, schemes: caseSchemes)
            (runner.durationS, runner.repeats, runner.measureBeforePlanningS, runner.checkPlanS) = (durationS, repeats, measureBeforePlanningS, checkPlanS)
            results.merge(try runner.run(progress: progress))
        }
        results.caseOrder = cases.cases.map(\.name)
        if !sweep { results.schemeOrder = schemes.map(\.name) }
        results.provenance = [
            "cases": casesPath, "targetRule": cases.targetRule, "regime": regime.rawValue,
            "scaleRule": cases.scaleRule ?? "", "capacityIops": cases.capacityIops.map { formatNumber($0) } ?? "",
            "durationS": String(durationS), "repeats": String(repeats), "measureBeforePlanningS": String(measureBeforePlanningS),
            "checkPlanS": String(checkPlanS ?? measureBeforePlanningS),
            "kernel": ((try? HostFS().readValue("/proc/sys/kernel/osrelease")) ?? "?"),
            "device": testbed.deviceDescription,
            "gitCommit": commit, "binary": Provenance.binary(), "date": started, "finished": ISO8601DateFormatter().string(from: Date()),
            "command": CommandLine.arguments.joined(separator: " "),
        ]
        return results
    }
}

extension BenchResults {
    /// DIR/results.json, then results.md and report.html from it; returns the JSON written.
    @discardableResult
    public func write(to directory: String) throws -> Data {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try encoder.encode(self)
        try json.write(to: URL(fileURLWithPath: "\(directory)/results.json"))
        try render(to: directory)
        return json
    }

    /// results.md and report.html, as a run writes them (`bench --render-only` after a report change).
    public func render(to directory: String) throws {
        try markdown().write(toFile: "\(directory)/results.md", atomically: true, encoding: .utf8)
        try html().write(toFile: "\(directory)/report.html", atomically: true, encoding: .utf8)
    }
}
