import Foundation
import Testing
@testable import RTVirtIO

/// A seeded mutation fuzzer over what rtvirtio reads as root: targets files
/// through the parser and the planner, model files through their loaders and a
/// prediction, in-process. A trap ends the test process (the failure a run
/// shows); a hang hits the time limit; a rejection must name the file and line.
/// Inputs that ever broke something live in Fixtures/fuzz-regressions and run first.
struct FuzzTests {
    static let targetsSeed = """
        device: /dev/sdb
        percentile: 99.99
        model: analytical
        search:
          hostTimeoutSyncMs: [32, 124]
          hostSliceIdleMs: [0, 1, 8]
        capacity: {readIops: 3500}
        guests:
          - name: vm0
            criticality: 1
            weight: 300
            match: {libvirt: vm0}
            guestBfq: {timeoutSyncMs: 124, sliceIdleMs: 8}
            tasks:
              - {name: db, iops: 500, requestKB: 4, targetMs: 300}
              - {name: log, iops: 100, requestKB: 8, targetMs: 400}
          - name: vm1
            criticality: 2
            match: {cgroup: machine.slice/vm1.scope}
            tasks:
              - {name: web, iops: 1500, targetMs: 900}
          - name: vm2
            match: {pidfile: /run/vm2.pid}
            tasks: [{name: batch, iops: 100, targetMs: 1500}]
        """
    static let analyticalSeed = ModelFileTests.text
    static let idlingSeed = """
        kind: idling
        noIdle: {interceptMs: 2, perLoadMBpsMs: 0.1, perQueueSliceIdleMs: 0, perTaskKiopsMs: 1}
        idleCalm: {interceptMs: 5, perLoadMBpsMs: 0.2, perQueueSliceIdleMs: 0.5, perTaskKiopsMs: 1}
        stall: {intercept: -3, perLoadMBps: 0.1, perShare: -1, perQueue: 0.2, perSliceIdleMs: 0.1, perTaskKiops: 0.5, perOtherGuestsQueue: 0.1}
        stallMs: 900
        riskThreshold: 0.5
        output: threshold
        margin: 1
        """

    static let hostileNumbers = ["0", "-1", "1e308", "-1e308", "5e-324", "nan", ".nan", ".inf", "-.inf", "9223372036854775807",
                                 "18446744073709551616", "0x10", "1_000", "\"5\"", "[]", "{}", "~", "null", "true", "1e19", "0.0004", "-0"]
    static let hostileStrings = [".", "..", "/", "\"\"", "a/../b", "\"\\0\"", String(repeating: "x", count: 5000), "é", "*a", "&a x",
                                 "!!binary AA==", "'", "\"", "[", "{", "- ", ": ", "#", "|", ">", "? x"]

    /// One to four mutations of `text`, drawn from `rng`.
    static func mutate(_ text: String, _ rng: inout SplitMix64) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            guard !lines.isEmpty else { break }
            let index = Int.random(in: 0..<lines.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0, 1:   // a number replaced by a hostile one
                let line = lines[index]
                if let range = line.range(of: #"-?[0-9][0-9.e]*"#, options: .regularExpression) {
                    lines[index] = line.replacingCharacters(in: range, with: hostileNumbers.randomElement(using: &rng)!)
                }
            case 2:      // a value replaced by a hostile string
                if let colon = lines[index].firstIndex(of: ":") {
                    lines[index] = String(lines[index][...colon]) + " " + hostileStrings.randomElement(using: &rng)!
                }
            case 3: lines.remove(at: index)
            case 4: lines.insert(lines[index], at: index)
            case 5: lines.swapAt(index, Int.random(in: 0..<lines.count, using: &rng))
            case 6:      // a stray character
                var line = Array(lines[index])
                line.insert(Array("{}[]:,-&*!|>'\"#%@`\t ").randomElement(using: &rng)!, at: Int.random(in: 0...line.count, using: &rng))
                lines[index] = String(line)
            default:     // the file cut short
                lines = Array(lines.prefix(index))
            }
        }
        return lines.joined(separator: "\n")
    }

    /// A rejection says which file and where.
    static func checkRejection(_ error: any Error, file: String, text: String) {
        guard let input = error as? InputError else {
            Issue.record("\(file): not an InputError: \(error)\n--- input ---\n\(text.prefix(2000))")
            return
        }
        #expect(input.file == file, "\(input)")
        #expect(input.line != nil || text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || input.message.contains("empty"),
                "\(input) names no line\n--- input ---\n\(text.prefix(2000))")
        #expect(input.description.count < 2000, "an error message of \(input.description.count) characters")
    }

    /// Parses and, where accepted, plans: must never trap or hang.
    static func targets(_ text: String, file: String) {
        do {
            let targets = try TargetsParser.parse(text, file: file)
            let plan = try Optimizer(model: AnalyticalModelTests.model, space: targets.search).plan(Scenario(targets: targets), currentScheduler: "bfq")
            #expect(plan.guests.allSatisfy { $0.tasks.allSatisfy { !$0.predictedMs.isNaN } }, "\(file): NaN prediction\n\(text.prefix(2000))")
        } catch {
            checkRejection(error, file: file, text: text)
        }
    }

    @Test("regression inputs: every file that ever broke the parser or the planner is refused or planned, never a trap")
    func regressions() throws {
        let directory = try #require(Bundle.module.url(forResource: "fuzz-regressions", withExtension: nil, subdirectory: "Fixtures"))
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files.count >= 5)
        for name in files {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            switch name.split(separator: ".").last {
            case "json":   // JSONDecoder reports no line: the file and the key path
                do { _ = try MLPModel(json: Data(text.utf8), file: name) } catch { #expect((error as? InputError)?.file == name, "\(error)") }
            case "model": do { _ = try ModelFiles.parseAnalytical(text, file: name) } catch { Self.checkRejection(error, file: name, text: text) }
            default: Self.targets(text, file: name)
            }
        }
    }

    @Test("10 000 mutated targets files through the parser and the planner: no trap, no hang, every rejection with file and line",
          .timeLimit(.minutes(2)))
    func targetsFiles() {
        var rng = SplitMix64(seed: 18)
        var accepted = 0
        let started = Date()
        for index in 0..<10_000 {
            let text = Self.mutate(Self.targetsSeed, &rng)
            let file = "fuzz-\(index).yaml"
            if (try? TargetsParser.parse(text, file: file)) != nil { accepted += 1 }
            Self.targets(text, file: file)
        }
        print("fuzz: 10000 targets files in \(formatNumber(Date().timeIntervalSince(started), decimals: 1)) s, \(accepted) accepted and planned")
        #expect(accepted > 100, "the mutations still reach the planner")
    }

    @Test("1 000 mutated model files (analytical, idling, MLP) through their loaders and a prediction: no trap, every rejection with file and line",
          .timeLimit(.minutes(2)))
    func modelFiles() throws {
        var rng = SplitMix64(seed: 20)
        let mlpSeed = String(decoding: try MLPModelTests.fixture(), as: UTF8.self)
        let scenario = Scenario(targets: try TargetsParser.parse(Self.targetsSeed, file: "seed.yaml"))
        let settings = Settings(host: .kernelDefault, weights: scenario.guests.map { _ in 100 })
        var accepted = 0
        for index in 0..<1_500 {
            let file = "model-\(index)"
            do {
                let model: any LatencyModel
                switch index % 3 {
                case 0:
                    let text = Self.mutate(Self.analyticalSeed, &rng)
                    do { model = AnalyticalModel(parameters: try ModelFiles.parseAnalytical(text, file: file)) } catch { Self.checkRejection(error, file: file, text: text); continue }
                case 1:
                    let text = Self.mutate(Self.idlingSeed, &rng)
                    do { model = IdlingModel(parameters: try ModelFiles.parseIdling(text, file: file)) } catch { Self.checkRejection(error, file: file, text: text); continue }
                default:
                    // JSON has no lines to speak of: mutate it as one, then expect only an InputError naming the file
                    let text = Self.mutate(mlpSeed, &rng)
                    do { model = try MLPModel(json: Data(text.utf8), file: file) } catch {
                        #expect((error as? InputError)?.file == file, "\(error)")
                        continue
                    }
                }
                accepted += 1
                _ = model.predict(scenario, settings: settings)
            }
        }
        print("fuzz: 1500 model files, \(accepted) accepted and predicted")
        #expect(accepted > 50)
    }
}
