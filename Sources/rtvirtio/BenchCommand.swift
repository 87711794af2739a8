import ArgumentParser
import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run benchmark cases on the lab's real bfq under every scheme; pass rates, results.json, results.md, report.html.",
        discussion: """
        Needs root, fio and the v1 blkio hierarchy; brings the lab testbed up (and down at the end). Schemes: \
        \(BenchCommand.allSchemes.joined(separator: ", ")). A run passes when every task's p99.99 over the run is \
        within its target and it achieved ≥ 95 % of its IOPS. Example: rtvirtio bench --cases bench/cases/paper24.yaml --out out/bench
        """)

    static let allSchemes = ["default", "ionice", "mimic-rtxen", "naive", "rtvirtio-analytical", "rtvirtio-mlp", "rtvirtio-idling"]
    /// `rtvirtio` is also accepted: the scheme of the default model (ModelChoice.bundledDefault).

    @Option(help: ArgumentHelp("The cases file.", valueName: "file")) var cases: String
    @Option(help: "Comma-separated schemes (default: all).") var schemes: String = BenchCommand.allSchemes.joined(separator: ",")
    @Option(help: "Comma-separated case names to run (default: all).") var only: String?
    @Option(help: "fast or device-bound.") var regime: LabTestbed.Regime = .fast
    @Option(help: "device-bound: the FUSE server's service time per 4 KiB, µs.") var serviceUs = 200
    @Option(help: "Seconds of load per run.") var durationS = 10
    @Option(help: "Repeats of every case × scheme.") var `repeat` = 1
    @Option(help: ArgumentHelp("Directory for results.json, results.md and report.html.", valueName: "dir")) var out = "out/bench"
    @Option(help: "text or json on standard output.") var format: ReportFormat = .text
    @Option(help: ArgumentHelp("""
        Replace the cases file's host slice_idle search for the rtvirtio schemes (ms, comma-separated; \
        1,2,4,6,8 is the paper's Table II, without 0).
        """, valueName: "ms,...")) var searchSliceIdleMs: String?
    @Flag(help: """
        Instead of the schemes, measure a sweep of settings on each case (timeout_sync's ends × slice_idle 0, 1, 8 \
        × equal, graded and urgent-first weights): does any setting pass where a scheme failed? Use with --only.
        """) var sweep = false

    func validate() throws { _ = try searchSliceIdleUs() }

    func searchSliceIdleUs() throws -> [Int]? {
        guard let searchSliceIdleMs else { return nil }
        let parsed = searchSliceIdleMs.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        let values = parsed.compactMap { $0 }
        guard !values.isEmpty, values.count == parsed.count, values.allSatisfy({ $0 >= 0 && $0 <= 1000 }) else {
            throw ValidationError("--search-slice-idle-ms wants milliseconds from 0 to 1000, comma-separated (got '\(searchSliceIdleMs)')")
        }
        return values.map { Int(($0 * 1000).rounded()) }
    }

    func run() throws {
        var file = try BenchCases.parse(try ConfigFiles.readText(cases), file: cases)
        if let only {
            let names = only.split(separator: ",").map(String.init)
            for name in names where !file.cases.contains(where: { $0.name == name }) {
                throw ValidationError("no case '\(name)' in \(cases); cases: \(file.cases.map(\.name).joined(separator: ", "))")
            }
            file.cases = file.cases.filter { names.contains($0.name) }
        }
        if let searchSliceIdleUs = try searchSliceIdleUs() { file.search.hostSliceIdleUs = searchSliceIdleUs }
        let names = schemes.split(separator: ",").map(String.init)
        let chosen = try names.map { name in (name: name, scheme: try Self.scheme(name, search: file.search)) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let lock = try LabTestbed.exclusive()
        defer { close(lock) }
        let testbed = try LabTestbed.current() ?? LabTestbed.up(regime: regime, serviceTimeUs: serviceUs)
        defer { try? testbed.down() }
        let interrupts = LabData.removeOnInterrupt(testbed, command: "bench")
        defer { interrupts.forEach { $0.cancel() } }
        let progress = { (line: String) in FileHandle.standardError.write(Data("bench: \(line)\n".utf8)) }
        var results = BenchResults(schemes: [:])
        // A sweep's settings depend on the case (its guests and their urgency), so each case runs alone.
        for runCases in sweep ? file.cases.map({ [$0] }) : [file.cases] {
            let caseSchemes = sweep ? SettingsSweep.settings(for: runCases[0].scenario, space: file.search).map { ($0.name, Scheme.fixed($0.settings)) } : chosen
            var subset = file
            subset.cases = runCases
            var runner = BenchRunner(testbed: testbed, cases: subset, schemes: caseSchemes)
            (runner.durationS, runner.repeats) = (durationS, `repeat`)
            results.merge(try runner.run(progress: progress))
        }
        results.caseOrder = file.cases.map(\.name)
        if !sweep { results.schemeOrder = names }
        results.provenance = [
            "cases": cases, "targetRule": file.targetRule, "regime": regime.rawValue,
            "durationS": String(durationS), "repeats": String(`repeat`),
            "kernel": ((try? HostFS().readValue("/proc/sys/kernel/osrelease")) ?? "?"),
            "device": testbed.deviceDescription,
            "gitCommit": Provenance.gitCommit(), "date": ISO8601DateFormatter().string(from: Date()),
            "command": CommandLine.arguments.joined(separator: " "),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try encoder.encode(results)
        try json.write(to: URL(fileURLWithPath: "\(out)/results.json"))
        try results.markdown().write(toFile: "\(out)/results.md", atomically: true, encoding: .utf8)
        try results.html().write(toFile: "\(out)/report.html", atomically: true, encoding: .utf8)
        print(format == .json ? String(decoding: json, as: UTF8.self) : results.markdown() + "\n" + results.passingSchemes() + "wrote \(out)/results.json, results.md, report.html")
    }

    static func scheme(_ name: String, search: SearchSpace) throws -> Scheme {
        switch name {
        case "default": return .kernelDefault
        case "ionice": return .ionice
        case "mimic-rtxen": return .mimicRTXen
        case "naive": return .naive
        case "rtvirtio-analytical": return .rtvirtio(model: try ConfigFiles.loadModel(.analytical, params: nil), space: search)
        case "rtvirtio-mlp": return .rtvirtio(model: try ConfigFiles.loadModel(.mlp, params: nil), space: search)
        case "rtvirtio-idling": return .rtvirtio(model: try ConfigFiles.loadModel(.idling, params: nil), space: search)
        case "rtvirtio": return try scheme("rtvirtio-\(ModelChoice.bundledDefault.text)", search: search)
        default: throw ValidationError("unknown scheme '\(name)'; schemes: \(allSchemes.joined(separator: ", "))")
        }
    }
}
