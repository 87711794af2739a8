import ArgumentParser
import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run benchmark cases on the lab's testbed device under every scheme; pass rates, results.json, results.md, report.html.",
        discussion: """
        Needs root, fio and the v1 blkio hierarchy; brings the lab testbed up (and down at the end). Schemes: \
        \(BenchCommand.allSchemes.joined(separator: ", ")), and rtvirtio (the default model's). \(BenchCommand.bfqSchemes.joined(separator: ", ")) \
        set bfq: on a kernel without it leave them out (the rtvirtio schemes keep the \
        device's own scheduler there and only cap). A run passes when every \
        task's p99.99 over the run is within its target and it achieved ≥ 95 % of its IOPS. \
        Example: rtvirtio bench --cases bench/cases/contended24.yaml --schemes none,mq-deadline,rtvirtio --repeat 5 --out out/bench
        """)

    static let allSchemes = ["none", "mq-deadline", "bfq-noidle", "default", "ionice", "mimic-rtxen", "naive",
                             "rtvirtio-analytical", "rtvirtio-mlp", "rtvirtio-idling", "rtvirtio-op-aware"]
    /// `rtvirtio` is also accepted: the scheme of the default model (ModelChoice.bundledDefault).

    @Option(help: ArgumentHelp("The cases file.", valueName: "file")) var cases: String = ""
    @Flag(help: "Measure nothing: re-render --out's results.md and report.html from its results.json (after a report change).")
    var renderOnly = false
    @Option(help: "Comma-separated schemes (default: all).") var schemes: String = BenchCommand.allSchemes.joined(separator: ",")
    @Option(help: "Comma-separated case names to run (default: all).") var only: String?
    @Option(help: "fast or device-bound (default: the regime the cases name, else fast).") var regime: LabTestbed.Regime?
    @Option(help: "device-bound: the FUSE server's service time per 4 KiB, µs.") var serviceUs = LabTestbed.defaultServiceTimeUs
    @Option(help: "Seconds of load per run.") var durationS = 10
    @Option(help: ArgumentHelp("""
        Seconds the rtvirtio schemes measure each case's load under the device's own scheduler before planning, \
        as `apply --verify-s` does, so their caps are sized from what the device delivers then; and as long under \
        their plan, planning again (up to \(MeasuredDelivery.maxReplans) times) where a task of a guest the plan leaves uncapped got less than 95 % of what it asks (0: the model alone).
        """, valueName: "S")) var measureBeforeS = 3
    @Option(help: ArgumentHelp("Seconds of each check under a plan (default: --measure-before-s); results.json records what the worst uncapped task got in each.",
                               valueName: "S")) var checkS: Int?
    @Option(help: "Repeats of every case × scheme (3 by default: one run of a case flips too often to judge it).") var `repeat` = 3
    @Option(help: ArgumentHelp("Directory for results.json, results.md and report.html.", valueName: "dir")) var out = "out/bench"
    @Option(help: "text or json on standard output.") var format: OutputFormat = .text
    @Option(help: ArgumentHelp("""
        Replace the cases file's host slice_idle search for the rtvirtio schemes (ms, comma-separated; \
        1,2,4,6,8 is the paper's Table II, without 0).
        """, valueName: "ms,...")) var searchSliceIdleMs: String?
    @Flag(help: """
        Instead of the schemes, measure a sweep of settings on each case (timeout_sync's ends × slice_idle 0, 1, 8 \
        × equal, graded and urgent-first weights): does any setting pass where a scheme failed? Use with --only.
        """) var sweep = false

    func validate() throws {
        _ = try searchSliceIdleUs()
        guard (0...60).contains(measureBeforeS) else { throw ValidationError("--measure-before-s wants 0 to 60 seconds (got \(measureBeforeS))") }
        if let checkS, !(1...60).contains(checkS) { throw ValidationError("--check-s wants 1 to 60 seconds (got \(checkS))") }
        guard renderOnly || !cases.isEmpty else { throw ValidationError("--cases is required (or --render-only with --out)") }
    }

    func searchSliceIdleUs() throws -> [Int]? {
        guard let searchSliceIdleMs else { return nil }
        let parsed = searchSliceIdleMs.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)).flatMap(BfqSettings.sliceIdleUs(ms:)) }
        let values = parsed.compactMap { $0 }
        guard !values.isEmpty, values.count == parsed.count else {
            throw ValidationError("--search-slice-idle-ms wants milliseconds from 0 to 1000, comma-separated (got '\(searchSliceIdleMs)')")
        }
        return values
    }

    func run() throws {
        if renderOnly {
            let results = try JSONDecoder().decode(BenchResults.self, from: Data(contentsOf: URL(fileURLWithPath: "\(out)/results.json")))
            try results.render(to: out)
            print("wrote \(out)/results.md, report.html from \(out)/results.json")
            return
        }
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
        var session = BenchSession(cases: file, casesPath: cases, schemes: try names.map { (name: $0, scheme: try Self.scheme($0, search: file.search)) },
                                   regime: try Self.regime(chosen: regime, named: file.namedRegimes, cases: cases))
        (session.serviceUs, session.durationS, session.repeats, session.sweep) = (serviceUs, durationS, `repeat`, sweep)
        (session.measureBeforePlanningS, session.checkPlanS) = (measureBeforeS, checkS)
        let results = try session.run { FileHandle.standardError.write(Data("bench: \($0)\n".utf8)) }
        let json = try results.write(to: out)
        print(format == .json ? String(decoding: json, as: UTF8.self) : results.markdown() + "\n" + results.passingSchemes() + "wrote \(out)/results.json, results.md, report.html")
    }

    /// The testbed's regime: as asked, else as the cases name it; a mismatch is refused before anything is made.
    static func regime(chosen: LabTestbed.Regime?, named: [String], cases: String) throws -> LabTestbed.Regime {
        guard named.count <= 1 else {
            throw ValidationError("\(cases) names several regimes (\(named.joined(separator: ", "))); run each apart with --only")
        }
        guard let name = named.first else { return chosen ?? .fast }
        guard let fromFile = LabTestbed.Regime(rawValue: name) else {
            throw ValidationError("\(cases): unknown regime '\(name)'; regimes: \(LabTestbed.Regime.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let chosen, chosen != fromFile {
            throw ValidationError("--regime \(chosen.rawValue), but \(cases) was made for \(name)")
        }
        return fromFile
    }

    /// The schemes written down in advance (no model to load), by name; nil for the others.
    static func fixedScheme(_ name: String) -> Scheme? {
        switch name {
        case "none", "mq-deadline": return .deviceScheduler(name)
        case "bfq-noidle": return .bfqNoIdle
        case "default": return .kernelDefault
        case "ionice": return .ionice
        case "mimic-rtxen": return .mimicRTXen
        case "naive": return .naive
        default: return nil
        }
    }

    /// The schemes that set bfq, for `--help`.
    static var bfqSchemes: [String] { allSchemes.filter { fixedScheme($0)?.setsBfq == true } }

    static func scheme(_ name: String, search: SearchSpace) throws -> Scheme {
        if let fixed = fixedScheme(name) { return fixed }
        switch name {
        case "rtvirtio-analytical": return .rtvirtio(model: try ConfigFiles.loadModel(.analytical, params: nil), space: search)
        case "rtvirtio-mlp": return .rtvirtio(model: try ConfigFiles.loadModel(.mlp, params: nil), space: search)
        case "rtvirtio-idling": return .rtvirtio(model: try ConfigFiles.loadModel(.idling, params: nil), space: search)
        case "rtvirtio-op-aware": return .rtvirtio(model: try ConfigFiles.loadModel(.opAware, params: nil), space: search)
        case "rtvirtio": return try scheme("rtvirtio-\(ModelChoice.bundledDefault.text)", search: search)
        default: throw ValidationError("unknown scheme '\(name)'; schemes: \(allSchemes.joined(separator: ", "))")
        }
    }
}
