import Foundation
import Testing
import RTVirtIO
import RTVirtIOHost
@testable import RTVirtIOLab
import Yams

struct TailStatsTests {
    /// 1000 samples of 1…1000 µs: the first 500 in second 0, the rest in second 1.
    static let samples = (1...1000).map { LatencySample(timeMs: $0 <= 500 ? 10 : 1500, latencyNs: UInt64($0) * 1000) }

    @Test func percentilesOverTheRunAndInOneSecondWindows() {
        let stats = TailStats(Self.samples)
        #expect(stats.samples == 1000)
        #expect(stats.p50Ms == 0.5)
        #expect(stats.p99Ms == 0.99)
        #expect(stats.p999Ms == 0.999)
        #expect(stats.p9999Ms == 1.0)        // rank ⌈0.9999 × 1000⌉ = 1000: with 1000 samples p99.99 is the maximum
        #expect(stats.maxMs == 1.0)
        #expect(stats.windows == 2)
        #expect(stats.windowMaxMs == 1.0)
        #expect(stats.windowMedianMs == 1.0)   // windows' p99.99: [0.5, 1.0], the upper median
        #expect(stats.windowMinSamples == 500)
        #expect(TailStats(Self.samples, percentile: 50).windowMedianMs == 0.75)
        #expect(stats.windowTailsMs == [0.5, 1.0])   // in time order
    }

    /// fio logs completion times: a read that completed at 2.3 s after 1 s in
    /// the queue was issued at 1.3 s and belongs to window 1, not 2; one
    /// issued after a 3-window run's end counts in its last window.
    @Test func windowsByIssueTimeWithTheRunsLength() {
        let samples = [
            LatencySample(timeMs: 100, latencyNs: 2_000_000),        // issued 0.098 s: window 0, 2 ms
            LatencySample(timeMs: 1100, latencyNs: 4_000_000),       // issued 1.096 s: window 1, 4 ms
            LatencySample(timeMs: 2300, latencyNs: 1_000_000_000),   // issued 1.3 s: window 1, a 1 s stall
            LatencySample(timeMs: 2400, latencyNs: 6_000_000),       // issued 2.394 s: window 2, 6 ms
            LatencySample(timeMs: 3010, latencyNs: 8_000_000),       // issued 3.002 s, after the run: window 2
        ]
        let stats = TailStats(samples, windowCount: 3)
        #expect(stats.windowTailsMs == [2, 1000, 8])
        #expect(stats.windows == 3)
        #expect(stats.windowMinSamples == 1)
        #expect(stats.windowMedianMs == 8)
        #expect(abs(stats.windowMeanMs - 1010.0 / 3) < 1e-9)
        #expect(stats.windowMaxMs == 1000)
        // without the run's length the late read opens a window of its own
        #expect(TailStats(samples).windowTailsMs == [2, 1000, 6, 8])
        #expect(TailStats(samples).windowMeanMs == 254)
    }

    @Test func csvRowCarriesTheWindowMeanAndEveryWindow() {
        let stats = TailStats([LatencySample(timeMs: 500, latencyNs: 2_000_000), LatencySample(timeMs: 1500, latencyNs: 3_500_000)], windowCount: 2)
        let row = CalibrationRow(pointID: "p7", repeatIndex: 0, regime: "fast", guestCount: 1, guestIndex: 0, guestWeight: 100,
                                 guestWeightShare: 1, tasksInGuest: 1, taskIndex: 0, taskIops: 100, requestKB: 4,
                                 hostTimeoutSyncMs: 32, hostSliceIdleUs: 0, guestTimeoutSyncMs: 124, guestSliceIdleUs: 8000,
                                 otherGuestsDemandKBps: 0, achievedIops: 1, durationS: 2, stats: stats)
        let header = CalibrationRow.header.split(separator: ",").map(String.init)
        let fields = row.csv().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        #expect(fields.count == header.count)
        #expect(fields[header.firstIndex(of: "windowP9999MeanMs")!] == "2.75")
        #expect(fields[header.firstIndex(of: "windowP9999Ms")!] == "2;3.5")
        #expect(fields.suffix(8) == ["bfq", "", "", "", "", "read", "100", "1"], "no kernel measurement: empty kernel columns; a read at depth 1")
        let dataset = try? CalibrationDataset.parse(CalibrationRow.header + "\n" + row.csv() + "\n", file: "t.csv", measure: .windowMean)
        #expect(dataset?.points.first?.measuredMs == [[2.75]])
        // the kernel's count and tail beside fio's
        var measured = row
        var histogram = LatencyHistogram()
        histogram.record(ns: 1_500_000, count: 2)
        measured.kernel = KernelMeasurement(histogram)
        let kernelFields = measured.csv().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        #expect(kernelFields[header.firstIndex(of: "kernelCount")!] == "2")
        #expect(abs(Double(kernelFields[header.firstIndex(of: "kernelP9999Ms")!])! - 1.5) < 0.015, "\(kernelFields)")
        // appended to a CSV from before the kernel columns: that CSV's columns, and it still parses
        let old = measured.csv(.withoutKernel)
        #expect(old.split(separator: ",", omittingEmptySubsequences: false).count == CalibrationRow.headerWithoutKernel.split(separator: ",").count)
        #expect((try? CalibrationDataset.parse(CalibrationRow.headerWithoutKernel + "\n" + old + "\n", file: "t.csv"))?.points.count == 1)
        // a point measured under the device's own scheduler reads back as the models' proxy for it
        #expect(fields[header.firstIndex(of: "scheduler")!] == "bfq")
        var none = measured
        none.scheduler = "none"
        let proxied = try? CalibrationDataset.parse(CalibrationRow.header + "\n" + none.csv() + "\n", file: "t.csv")
        #expect(proxied?.points.first?.scheduler == "none")
        #expect(proxied?.points.first?.settings == Settings(host: BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 0), weights: [100]))
        none.scheduler = "cfq"
        #expect(throws: InputError.self) { try CalibrationDataset.parse(CalibrationRow.header + "\n" + none.csv() + "\n", file: "t.csv") }
    }

    @Test func csvRowCarriesTheTasksOpAndDepthAndReadsBack() throws {
        let stats = TailStats([LatencySample(timeMs: 500, latencyNs: 2_000_000)], windowCount: 1)
        var row = CalibrationRow(pointID: "w3", repeatIndex: 0, regime: "device-bound", guestCount: 1, guestIndex: 0, guestWeight: 100,
                                 guestWeightShare: 1, tasksInGuest: 1, taskIndex: 0, taskIops: 125, requestKB: 16,
                                 hostTimeoutSyncMs: 32, hostSliceIdleUs: 0, guestTimeoutSyncMs: 124, guestSliceIdleUs: 8000,
                                 otherGuestsDemandKBps: 0, achievedIops: 1, durationS: 1, stats: stats)
        (row.op, row.queueDepth) = (.readWrite(readPercent: 30), 16)
        #expect(row.csv().hasSuffix(",readwrite,30,16"))
        let task = try CalibrationDataset.parse(CalibrationRow.header + "\n" + row.csv() + "\n", file: "t.csv").points[0].scenario.guests[0].tasks[0]
        #expect(task == TaskSpec(name: "t0", iops: 125, requestKB: 16, targetMs: 1, op: .readWrite(readPercent: 30), queueDepth: 16))
        // an op the CSV cannot mean is refused with its line, as is a depth beyond the kernel's
        for (bad, message) in [(",readwrite,130,16", "readPercent 0–100"), (",erase,0,16", "found 'erase'"), (",write,0,0", "must be 1–256")] {
            let text = CalibrationRow.header + "\n" + row.csv().replacingOccurrences(of: ",readwrite,30,16", with: bad) + "\n"
            #expect { try CalibrationDataset.parse(text, file: "t.csv") } throws: { "\($0)".contains("t.csv:2") && "\($0)".contains(message) }
        }
        // the previous generations' columns are still recognised (calibrate appends in them)
        #expect(CalibrationRow.Columns(header: CalibrationRow.Columns.withKernel.header) == .withKernel)
        #expect(CalibrationRow.Columns(header: "pointId,foo") == nil)
    }

    @Test func writersDesignHasAWriterInEveryPointAndScalesIopsToTheBytes() {
        let design = CalibrationPoint.design(count: 60, seed: 7, workload: .writers)
        #expect(design == CalibrationPoint.design(count: 60, seed: 7, workload: .writers))
        #expect(design.allSatisfy { $0.id.hasPrefix("w") })
        #expect(design.allSatisfy { point in point.guests.contains { $0.taskOps.contains { $0 != .read } } })
        let tasks = design.flatMap { point in point.guests.flatMap { guest in guest.taskIops.indices.map { (guest.taskIops[$0], guest.taskRequestKB[$0], guest.taskQueueDepths[$0]) } } }
        // 1500 IOPS of 4 KiB is 93 of 64 KiB; never below 25
        #expect(tasks.allSatisfy { iops, kb, _ in iops >= 25 && iops * kb <= 1500 * 4 })
        #expect(Set(tasks.map(\.1)) == [4, 16, 64])
        #expect(Set(tasks.map(\.2)) == [1, 4, 16, 32])
        // the reads design is the one it always was (the committed datasets resume on it)
        #expect(CalibrationPoint.design(count: 5, seed: 1).allSatisfy { point in point.guests.allSatisfy { $0.taskOps.allSatisfy { $0 == .read } && $0.taskRequestKB.allSatisfy { $0 == 4 } } })
    }

    @Test func parsesFiosPerIOLog() {
        let log = "0, 211394, 0, 4096, 0\n5, 53219, 0, 4096, 0\n\n1002, 1000000, 0, 4096, 0\n"
        let samples = LatencySample.parseFioLog(log)
        #expect(samples == [LatencySample(timeMs: 0, latencyNs: 211394), LatencySample(timeMs: 5, latencyNs: 53219),
                            LatencySample(timeMs: 1002, latencyNs: 1_000_000)])
        #expect(TailStats(samples).windows == 2)
        #expect(TailStats([]).samples == 0 && TailStats([]).p9999Ms == 0)
    }

    @Test func designIsSeededCoversEveryKnobPairAndRepeats() {
        let design = CalibrationPoint.design(count: 36, seed: 5)
        #expect(design == CalibrationPoint.design(count: 36, seed: 5))
        let firsts = design.filter { $0.repeatIndex == 0 }
        #expect(firsts.count == 36)
        #expect(Set(firsts.map(\.host)).count == 18, "3 timeout_sync × 6 slice_idle, slice_idle 0 included")
        #expect(firsts.contains { $0.host.sliceIdleUs == 0 })
        #expect(design.filter { $0.id.hasPrefix("p20r") }.count == 2)
        #expect(firsts.allSatisfy { (1...4).contains($0.guests.count) && $0.guests.allSatisfy { (1...3).contains($0.taskIops.count) } })
    }
}

struct ProvenanceTests {
    @Test("a resumed run's line joins the resumed list even where notes follow it, and the file stays YAML")
    func resumeLineJoinsTheList() throws {
        let first = "  - {date: \"d1\", gitCommit: \"c1\", command: \"one\"}"
        let second = "  - {date: \"d2\", gitCommit: \"c2\", command: \"two\"}\n"
        let existing = "dataset: d.csv\nresumed:\n\(first)\nnotes: >-\n  measured twice;\n  see above.\n"
        let resumed = Provenance.addingResume(second, to: existing)
        #expect(resumed == "dataset: d.csv\nresumed:\n\(first)\n\(second)notes: >-\n  measured twice;\n  see above.\n")
        let yaml = try #require(try Yams.load(yaml: resumed) as? [String: Any])
        #expect((yaml["resumed"] as? [[String: Any]])?.map { $0["command"] as? String } == ["one", "two"])
        #expect(yaml["notes"] as? String == "measured twice; see above.")
        // no list yet: one at the end
        #expect(Provenance.addingResume(second, to: "dataset: d.csv\n") == "dataset: d.csv\nresumed:\n\(second)")
    }
}

struct BenchResultsTests {
    static func task(_ name: String, target: Double, predicted: Double?, measured: Double, iops: Double) -> BenchResults.TaskResult {
        BenchResults.TaskResult(guest: "vm0", task: name, targetMs: target, demandedIops: 100, predictedMs: predicted, p9999Ms: measured,
                                achievedIops: iops, samples: 1000, windowPassFraction: 0, windowMinSamples: 100,
                                pass: measured <= target && iops >= 95)
    }

    @Test("pass rates average over cases; failed model-driven runs are explained task by task")
    func passRatesAndFailures() {
        let settings = SchemeSettings(host: .kernelDefault, weights: [100], ioPriorities: [nil])
        let good = BenchResults.Run(repeatIndex: 0, order: 0, settings: settings, tasks: [Self.task("ok", target: 25, predicted: 5, measured: 6, iops: 100)])
        let bad = BenchResults.Run(repeatIndex: 1, order: 1, settings: settings, tasks: [
            Self.task("wrong", target: 25, predicted: 10, measured: 80, iops: 100),
            Self.task("starved", target: 25, predicted: 10, measured: 5, iops: 50),
            Self.task("hopeless", target: 25, predicted: 40, measured: 90, iops: 100),
        ])
        var results = BenchResults(schemes: ["rtvirtio-idling": .init()])
        results.schemes["rtvirtio-idling"]!.cases = ["a": .init(), "b": .init()]
        results.schemes["rtvirtio-idling"]!.cases["a"]!.runs = [good, bad]   // 50 %
        results.schemes["rtvirtio-idling"]!.cases["b"]!.runs = [good]        // 100 %
        (results.caseOrder, results.schemeOrder) = (["a", "b"], ["rtvirtio-idling"])
        results.summarise()
        #expect(results.schemes["rtvirtio-idling"]!.passRate == 0.75)
        // tasks: case a (1 + 0) / 2 = 0.5, case b 1 → 0.75; urgent-first: one guest, a 0.5, b 1 → 0.75
        #expect(results.schemes["rtvirtio-idling"]!.taskPassRate == 0.75 && results.schemes["rtvirtio-idling"]!.urgentFirstScore == 0.75)
        let markdown = results.markdown()
        // the most urgent (only) guest met in 1 of 2 runs of a and 1 of 1 of b: 75 %
        #expect(markdown.contains("| rtvirtio-idling | 75 % | 75 % | 75 % | 0.75 |"), "\(markdown)")
        // a: 1 of 2 runs, Wilson [9.5 %, 90.5 %]; b: 1 of 1, [20.7 %, 100 %]
        #expect(markdown.contains("| a | 1/2 [9.5 %–90.5 %] · 0.5 |"), "\(markdown)")
        #expect(markdown.contains("| b | 1/1 [20.7 %–100 %] · 1 |"), "\(markdown)")
        #expect(markdown.contains("vm0/wrong target 25 ms — model error: predicted 10 ms, measured 80 ms"))
        #expect(markdown.contains("vm0/starved target 25 ms — starved (50 of 100 IOPS)"))
        #expect(markdown.contains("vm0/hopeless target 25 ms — predicted to miss (40 ms)"))
        #expect(!markdown.contains("vm0/ok"))
    }

    static func guestTask(_ guest: String, pass: Bool, demanded: Double = 100, achieved: Double = 100) -> BenchResults.TaskResult {
        BenchResults.TaskResult(guest: guest, task: "t", targetMs: 25, demandedIops: demanded, predictedMs: nil, p9999Ms: pass ? 5 : 90,
                                achievedIops: achieved, samples: 1000, windowPassFraction: 0, windowMinSamples: 100, pass: pass)
    }

    @Test("urgent-first counts the guests, most urgent first, that pass before the first that does not; IOPS add up per guest")
    func urgentFirstScore() throws {
        let settings = SchemeSettings(host: .kernelDefault, weights: [100, 100, 100], ioPriorities: [nil, nil, nil])
        // urgency vm2, vm0, vm1 (not file order): vm2 passes, vm0 has one failing task, vm1 passes → 1 of 3
        let run = BenchResults.Run(repeatIndex: 0, order: 0, settings: settings, tasks: [
            Self.guestTask("vm0", pass: true), Self.guestTask("vm0", pass: false, demanded: 500, achieved: 400),
            Self.guestTask("vm1", pass: true), Self.guestTask("vm2", pass: true),
        ], urgencyOrder: ["vm2", "vm0", "vm1"])
        #expect(run.urgentFirstScore == 1.0 / 3 && run.taskPassRate == 0.75)
        #expect(run.guests == [.init(guest: "vm2", demandedIops: 100, achievedIops: 100),
                               .init(guest: "vm0", demandedIops: 600, achievedIops: 500),
                               .init(guest: "vm1", demandedIops: 100, achievedIops: 100)])
        // the most urgent fails: 0, however many after it pass
        let first = BenchResults.Run(repeatIndex: 0, order: 0, settings: settings, tasks: [Self.guestTask("vm0", pass: false), Self.guestTask("vm1", pass: true)],
                                     urgencyOrder: ["vm0", "vm1"])
        #expect(first.urgentFirstScore == 0)
        // the operator's question: did the most urgent guest meet? vm2 did in `run`, vm0 did not in `first`
        #expect(run.mostUrgentMet && !first.mostUrgentMet)
        var case_ = BenchResults.CaseResult()
        case_.runs = [run, first, run]
        #expect(abs(case_.mostUrgentMetRate - 2.0 / 3) < 1e-12)
        // the scores travel in results.json, and old results without an urgency order still decode
        let json = String(decoding: try JSONEncoder().encode(run), as: UTF8.self)
        #expect(json.contains("\"urgentFirstScore\":0.333") && json.contains("\"urgencyOrder\":[\"vm2\",\"vm0\",\"vm1\"]"), "\(json)")
        var old = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        old["urgencyOrder"] = nil
        var oldSettings = try #require(old["settings"] as? [String: Any])
        oldSettings["scheduler"] = nil
        old["settings"] = oldSettings
        let decoded = try JSONDecoder().decode(BenchResults.Run.self, from: JSONSerialization.data(withJSONObject: old))
        #expect(decoded.urgencyOrder == ["vm0", "vm1", "vm2"] && decoded.settings.scheduler == "bfq")
    }

    @Test("kernel against fio: counts, tails and the time outside the block layer, hand-worked")
    func kernelAgreement() throws {
        func task(_ samples: Int, fioMs: Double, kernelCount: UInt64, kernelMs: Double) -> BenchResults.TaskResult {
            var histogram = LatencyHistogram()
            histogram.record(ns: UInt64(kernelMs * 1e6), count: kernelCount)
            var result = Self.guestTask("vm0", pass: true)
            (result.samples, result.p9999Ms, result.kernel) = (samples, fioMs, KernelMeasurement(histogram))
            return result
        }
        var results = BenchResults(schemes: [:])
        results.schemes["s", default: .init()].cases["c", default: .init()].runs = [BenchResults.Run(
            repeatIndex: 0, order: 0, settings: SchemeSettings(host: .kernelDefault, weights: [100], ioPriorities: [nil]),
            tasks: [task(1000, fioMs: 10, kernelCount: 1000, kernelMs: 8), task(1000, fioMs: 4, kernelCount: 990, kernelMs: 3)])]
        // counts: 0 and 1 %; tails: |8 − 10| / 10 = 20 %, |3 − 4| / 4 = 25 %; outside: 2 and 1 ms (median: the upper of
        // two) — 1.97 ms, as 8 ms is kept as its bucket's middle: 8 000 000 + (65 536 − 1) / 2 ns = 8.033 ms
        let text = try #require(results.kernelAgreement())
        #expect(text.contains("2 task runs: request counts differ by 1 % at the median"), "\(text)")
        #expect(text.contains("p99.99 by 25 % at the median") && text.contains("exceeds the kernel's by 1.97 ms"), "\(text)")
        #expect(BenchResults(schemes: [:]).kernelAgreement() == nil)
    }

    @Test("a loss is weighed against the runs' own variation: exact permutation test, hand-worked")
    func permutationTest() {
        // two passes among ten runs: both land on one side in C(8,5) + C(8,3) = 112 of C(10,5) = 252 splits
        #expect(BenchResults.permutationP([1, 0, 1, 0, 0], [0, 0, 0, 0, 0]) == 112.0 / 252)
        // one miss among ten: every split differs by 0.2
        #expect(BenchResults.permutationP([1, 1, 1, 1, 1], [0, 1, 1, 1, 1]) == 1)
        // five against five: only the two splits that keep them apart
        #expect(BenchResults.permutationP([1, 1, 1, 1, 1], [0, 0, 0, 0, 0]) == 2.0 / 252)
        #expect(BenchResults.permutationP(Array(repeating: 1, count: 11), Array(repeating: 0, count: 10)) == nil)
        #expect(BenchResults.permutationP([], [1]) == nil)
    }

    @Test("every case where a baseline beat rtvirtio on the urgent-first score is named, with what rtvirtio chose and what failed")
    func losingCasesAreNamed() throws {
        func run(_ passes: [Bool], settings: SchemeSettings) -> BenchResults.Run {
            BenchResults.Run(repeatIndex: 0, order: 0, settings: settings,
                             tasks: zip(["vm0", "vm1"], passes).map { Self.guestTask($0, pass: $1) }, urgencyOrder: ["vm0", "vm1"])
        }
        let none = SchemeSettings(scheduler: "none", host: .kernelDefault, weights: [100, 100], ioPriorities: [nil, nil])
        let capped = SchemeSettings(host: BfqSettings(timeoutSyncMs: 32, sliceIdleUs: 0), weights: [100, 100], ioPriorities: [nil, nil], capsIops: [nil, 35])
        var results = BenchResults(schemes: [:])
        results.schemes["none"] = .init()
        results.schemes["none"]!.cases = ["a": .init(), "b": .init()]
        results.schemes["none"]!.cases["a"]!.runs = [run([true, true], settings: none)]       // 1
        results.schemes["none"]!.cases["b"]!.runs = [run([false, true], settings: none)]      // 0
        results.schemes["rtvirtio"] = .init()
        results.schemes["rtvirtio"]!.cases = ["a": .init(), "b": .init()]
        results.schemes["rtvirtio"]!.cases["a"]!.runs = [run([true, false], settings: capped)] // 0.5: lost
        results.schemes["rtvirtio"]!.cases["b"]!.runs = [run([true, false], settings: capped)] // 0.5: won
        (results.caseOrder, results.schemeOrder) = (["a", "b"], ["none", "rtvirtio"])
        results.summarise()
        let text = results.rtvirtioAgainstBaselines()
        #expect(text.hasPrefix("rtvirtio against the best baseline of each case (urgent-first, mean over 2 cases): 0.5 against 0.5; beyond the runs' draw (exact permutation test p < 0.05) better in 0, worse in 0; a baseline did better in 1 case:"), "\(text)")
        #expect(text.contains("- a: none 1 > rtvirtio 0.5 (per run: 1 against 0.5; exact permutation test p 1); rtvirtio chose bfq timeout_sync 32 ms, slice_idle 0 ms, caps vm1 35; its failed tasks (all repeats): vm1/t 90 ms, 100 of 100 IOPS"), "\(text)")
        #expect(!text.contains("- b:"))
        // where rtvirtio wrote nothing in every run it ran under the baseline's own settings: said so
        var same = results
        same.schemes["rtvirtio"]!.cases["a"]!.runs = [run([true, false], settings: none), run([false, true], settings: none)]
        same.summarise()
        // five runs won against five lost: beyond the draw (p 2/252); one against one is not (p 1)
        var clear = results
        clear.schemes["none"]!.cases["c"] = .init()
        clear.schemes["none"]!.cases["c"]!.runs = Array(repeating: run([false, true], settings: none), count: 5)
        clear.schemes["rtvirtio"]!.cases["c"] = .init()
        clear.schemes["rtvirtio"]!.cases["c"]!.runs = Array(repeating: run([true, false], settings: capped), count: 5)
        clear.caseOrder.append("c")
        clear.summarise()
        #expect(clear.rtvirtioAgainstBaselines().contains("beyond the runs' draw (exact permutation test p < 0.05) better in 1, worse in 0;"), "\(clear.rtvirtioAgainstBaselines())")
        #expect(same.rtvirtioAgainstBaselines().contains("- a: none 1 > rtvirtio 0.25 (per run: 1 against 0.5 0; exact permutation test p 0.67); rtvirtio chose none, the settings none ran under, in every run: the runs differ, not the settings; its failed"),
                "\(same.rtvirtioAgainstBaselines())")
        // runs planned from a measurement may choose differently: each choice, with what was measured before it
        var second = run([true, false], settings: none)
        second.measuredBeforePlanning = MeasuredDelivery(deliveredIops4K: 3480, askedIops4K: 3610, tasks: 2)
        results.schemes["rtvirtio"]!.cases["a"]!.runs.append(second)
        results.summarise()
        #expect(results.rtvirtioAgainstBaselines().contains("rtvirtio chose per run: bfq timeout_sync 32 ms, slice_idle 0 ms, caps vm1 35; none (measured before: 3480 of 3610 IOPS delivered); its failed"),
                "\(results.rtvirtioAgainstBaselines())")
        // a run planned again on what the device delivered under its first plan: both plans, and that delivery
        var third = run([true, false], settings: capped)
        third.measuredBeforePlanning = MeasuredDelivery(deliveredIops4K: 3480, askedIops4K: 3610, tasks: 2)
        third.shortfallUnderFirstPlan = MeasuredDelivery(deliveredIops4K: 2400, askedIops4K: 3610, tasks: 2)
        third.firstPlan = none
        third.checkWorstFractions = [0.9123, 0.97]
        var fourth = third
        fourth.firstPlan = capped
        fourth.checkWorstFractions = []
        results.schemes["rtvirtio"]!.cases["a"]!.runs += [third, fourth]
        results.summarise()
        let replanned = results.rtvirtioAgainstBaselines()
        #expect(replanned.contains("; bfq timeout_sync 32 ms, slice_idle 0 ms, caps vm1 35 (measured before: 3480 of 3610 IOPS delivered; first none, under which 2400 of 3610 IOPS delivered; checked: the worst uncapped task got 91.2 %, then 97 %)"), "\(replanned)")
        #expect(replanned.contains("caps vm1 35 (measured before: 3480 of 3610 IOPS delivered; under it: 2400 of 3610 IOPS delivered, planned again to the same)"), "\(replanned)")
        // without bfq: the device's own scheduler with caps
        var fifth = run([true, false], settings: SchemeSettings(scheduler: "none", host: .kernelDefault, weights: [100, 100], ioPriorities: [nil, nil], capsIops: [nil, 40]))
        fifth.measuredBeforePlanning = MeasuredDelivery(deliveredIops4K: 3000, askedIops4K: 3610, tasks: 2)
        results.schemes["rtvirtio"]!.cases["a"]!.runs.append(fifth)
        results.summarise()
        #expect(results.rtvirtioAgainstBaselines().contains("; none, caps vm1 40 (measured before: 3000 of 3610 IOPS delivered)"), "\(results.rtvirtioAgainstBaselines())")
        results.schemes["rtvirtio"]!.cases["a"]!.runs.removeLast()
        // only a plan that writes something is checked under it (apply --verify-s verifies only what it wrote)
        #expect(!none.changesTheDevice && capped.changesTheDevice)
        #expect(SchemeSettings(scheduler: "none", host: .kernelDefault, weights: [100, 100], ioPriorities: [nil, nil], capsIops: [nil, 40]).changesTheDevice)
        #expect(SchemeSettings(scheduler: "mq-deadline", host: .kernelDefault, weights: [100, 100], ioPriorities: [nil, nil]).changesTheDevice)
        #expect(!SchemeSettings(scheduler: "none", host: .kernelDefault, weights: [100, 100], ioPriorities: [nil, nil], capsIops: [nil, nil]).changesTheDevice)
        // and it survives results.json
        let decoded = try JSONDecoder().decode(BenchResults.self, from: JSONEncoder().encode(results))
        #expect(decoded.schemes["rtvirtio"]!.cases["a"]!.runs[2].shortfallUnderFirstPlan?.deliveredIops4K == 2400 && decoded.schemes["rtvirtio"]!.cases["a"]!.runs[2].firstPlan == none)
        #expect(decoded.schemes["rtvirtio"]!.cases["a"]!.runs[2].checkWorstFractions == [0.9123, 0.97] && decoded.schemes["rtvirtio"]!.cases["a"]!.runs[3].checkWorstFractions.isEmpty)
    }

    @Test("Wilson 95 % interval, hand-worked")
    func wilson() {
        func rounded(_ i: WilsonInterval) -> [Double] { [i.low, i.high].map { ($0 * 10000).rounded() / 10000 } }
        #expect(rounded(WilsonInterval(successes: 0, trials: 3)) == [0, 0.5615])
        #expect(rounded(WilsonInterval(successes: 3, trials: 3)) == [0.4385, 1])
        #expect(rounded(WilsonInterval(successes: 1, trials: 2)) == [0.0945, 0.9055])
        #expect(rounded(WilsonInterval(successes: 0, trials: 0)) == [0, 1])
    }

    @Test("merge adds a case's runs under their scheme names; passingSchemes names, per case, what passed every run")
    func mergeAndPassingSchemes() {
        let settings = SchemeSettings(host: .kernelDefault, weights: [100], ioPriorities: [nil])
        func run(_ pass: Bool) -> BenchResults.Run {
            BenchResults.Run(repeatIndex: 0, order: 0, settings: settings, tasks: [Self.task("t", target: 25, predicted: nil, measured: pass ? 5 : 90, iops: 100)])
        }
        func one(_ caseName: String, _ runs: [String: [Bool]]) -> BenchResults {
            var r = BenchResults(schemes: [:])
            for (name, passes) in runs { r.schemes[name, default: .init()].cases[caseName, default: .init()].runs = passes.map(run) }
            r.schemeOrder = runs.keys.sorted()
            return r
        }
        var results = BenchResults(schemes: [:])
        results.merge(one("a", ["s1": [true], "s2": [false]]))
        results.merge(one("b", ["s1": [true, false], "s3": [true]]))
        results.caseOrder = ["a", "b", "c"]
        #expect(results.schemeOrder == ["s1", "s2", "s3"])
        #expect(results.schemes["s1"]?.cases["b"]?.passRate == 0.5 && results.schemes["s1"]?.passRate == 0.75)
        #expect(results.passingSchemes() == "- a: passed under s1\n- b: passed under s3\n- c: no setting passed\n")
    }
}

/// The lab's loads for issue 16: what fio is told, and caps in the right unit.
struct LabWriterLoadTests {
    @Test("fio is told each task's op, a per-direction rate, and libaio with its depth beyond one request at a time")
    func fioArguments() {
        #expect(FioLoad.arguments(iops: 500, op: .read, queueDepth: 1) == ["--rw=randread", "--rate_iops=500", "--ioengine=psync"])
        #expect(FioLoad.arguments(iops: 500, op: .write, queueDepth: 32) == ["--rw=randwrite", "--rate_iops=500", "--ioengine=libaio", "--iodepth=32"])
        // one rate_iops would be per direction: 500 reads and 500 writes (measured: 1000 for 500)
        #expect(FioLoad.arguments(iops: 500, op: .readWrite(readPercent: 70), queueDepth: 1)
                == ["--rw=randrw", "--rwmixread=70", "--rate_iops=350,150", "--ioengine=psync"])
        #expect(FioLoad.arguments(iops: 500, op: .readWrite(readPercent: 100), queueDepth: 1)[2] == "--rate_iops=500,1")
    }

    /// /proc/self/mountinfo of this machine's kind: v1 blkio listed before the cgroup2 mount.
    static let hybridMounts = """
        35 25 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        36 25 0:31 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
        41 25 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        """

    @Test("one fio process: shared options once, then a section per task with its cgroup (relative to the blkio mount), kept afterwards, and its own options")
    func fioCommandLine() throws {
        let jobs = [FioLoad.Job(name: "g0t0", cgroup: "/sys/fs/cgroup/blkio/rtvirtio-lab/g0/t0", iops: 817, latencyLog: "/w/g0t0", extra: ["--prioclass=1"]),
                    FioLoad.Job(name: "g1t0", cgroup: "/sys/fs/cgroup/blkio/rtvirtio-lab/g1/t0", iops: 50, op: .write, queueDepth: 8, requestKB: 64,
                                latencyLog: "/w/g1t0")]
        let line = try FioLoad.commandLine(device: "/dev/loop7", seconds: 10, jobs: jobs, extra: ["--gtod_reduce=0"], mountinfo: Self.hybridMounts)
        #expect(line == ["--filename=/dev/loop7", "--direct=1", "--time_based", "--runtime=10", "--log_avg_msec=0", "--per_job_logs=1", "--gtod_reduce=0",
                         "--name=g0t0", "--cgroup=rtvirtio-lab/g0/t0", "--cgroup_nodelete=1", "--bs=4k", "--rw=randread", "--rate_iops=817",
                         "--ioengine=psync", "--write_lat_log=/w/g0t0", "--prioclass=1",
                         "--name=g1t0", "--cgroup=rtvirtio-lab/g1/t0", "--cgroup_nodelete=1", "--bs=64k", "--rw=randwrite", "--rate_iops=50",
                         "--ioengine=libaio", "--iodepth=8", "--write_lat_log=/w/g1t0"])
        // fio numbers a job's log by its place among all the process's jobs
        #expect(FioLoad.latencyLogFile(jobs, index: 1) == "/w/g1t0_lat.2.log")
        // no job logs: no log options at all
        let quiet = try FioLoad.commandLine(device: "/dev/loop7", seconds: 10, jobs: [jobs[1]].map { var job = $0; job.latencyLog = nil; return job },
                                            extra: [], mountinfo: Self.hybridMounts)
        #expect(!quiet.contains { $0.hasPrefix("--log_avg_msec") || $0.hasPrefix("--per_job_logs") || $0.hasPrefix("--write_lat_log") })
    }

    @Test("fio resolves cgroup= under the first blkio or cgroup2 mount: a cgroup elsewhere, the mount itself, or a path over fio's 64 bytes is refused")
    func fioCgroupPlacement() throws {
        #expect(try FioLoad.cgroupOption("/sys/fs/cgroup/blkio/lab/g0", mountinfo: Self.hybridMounts) == "lab/g0")
        let v2First = """
            41 25 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            36 25 0:31 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
            """
        // fio would put the job under /sys/fs/cgroup/unified: unthrottled, uncounted by the blkio cgroup
        #expect(throws: HostError("place fio's jobs in", path: "/sys/fs/cgroup/blkio/lab/g0",
                                  detail: "fio resolves cgroup= under /sys/fs/cgroup/unified, the first cgroup2 mount, and this cgroup is not below it")) {
            try FioLoad.cgroupOption("/sys/fs/cgroup/blkio/lab/g0", mountinfo: v2First)
        }
        #expect(throws: HostError.self) { try FioLoad.cgroupOption("/sys/fs/cgroup/blkio", mountinfo: Self.hybridMounts) }
        #expect(throws: HostError.self) { try FioLoad.cgroupOption("/sys/fs/cgroup/blkiox/g0", mountinfo: Self.hybridMounts) }
        #expect(throws: HostError("place fio's jobs in", path: "/x", detail: "no v1 blkio or cgroup2 mount in mountinfo")) {
            try FioLoad.cgroupOption("/x", mountinfo: "36 25 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory")
        }
        // 63 bytes fit (fio's buffer holds them and the NUL), 64 do not
        let fits = "/sys/fs/cgroup/blkio/" + String(repeating: "a", count: 63 - 21)
        #expect(try FioLoad.cgroupOption(fits, mountinfo: Self.hybridMounts).count == 42)
        #expect(throws: HostError("place fio's jobs in", path: fits + "a", detail: "fio holds a cgroup's path in 64 bytes; use a shorter one")) {
            try FioLoad.cgroupOption(fits + "a", mountinfo: Self.hybridMounts)
        }
    }

    @Test("a guest's cap reaches its tasks in 4 KiB units, as planned: a 1 MiB scanner asking 3000 is 768000 of them")
    func taskCapsCountRequestSize() {
        let scanner = CalibrationPoint.Guest(weight: 100, taskIops: [3000, 100], taskRequestKB: [1024, 4])
        let point = CalibrationPoint(id: "p", guests: [scanner], host: .kernelDefault, repeatIndex: 0, capsIops: [10967])
        // max-min fair over 768000 and 100: the small task keeps its 100, the scanner the rest
        #expect(point.taskCaps(guest: 0) == [10867, 100])
    }
}

struct ProvenanceCommitTests {
    @Test("a dataset's commit is marked +dirty when tracked files differ from it, so an uncommitted build is never credited to the commit")
    func dirtyTreeIsMarked() throws {
        let directory = NSTemporaryDirectory() + "rtvirtio-provenance-\(getpid())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func git(_ arguments: String...) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
            process.arguments = ["-C", directory, "-c", "user.name=t", "-c", "user.email=t@t"] + arguments
            try process.run()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "git \(arguments)")
        }
        try git("init", "-q")
        try "a\n".write(toFile: directory + "/f", atomically: true, encoding: .utf8)
        try git("add", "f")
        try git("commit", "-q", "-m", "one")
        let clean = Provenance.gitCommit(in: directory)
        #expect(clean.count == 40 && !clean.hasSuffix("+dirty"), "\(clean)")
        try "b\n".write(toFile: directory + "/f", atomically: true, encoding: .utf8)
        #expect(Provenance.gitCommit(in: directory) == clean + "+dirty")
    }

    @Test("a result names the binary that measured it: path, SHA-256 of its bytes, modification time")
    func binaryIsHashed() throws {
        let path = NSTemporaryDirectory() + "rtvirtio-binary-\(getpid())"
        try "abc".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_764_892_800)], ofItemAtPath: path)
        #expect(Provenance.binary(path) == "\(path), sha256 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad, modified 2025-12-05T00:00:00Z")
        // the running test binary, through /proc/self/exe: a real path and a 64-digit hash
        let running = Provenance.binary()
        #expect(!running.hasPrefix("/proc/") && running.range(of: #"sha256 [0-9a-f]{64}, modified 20"#, options: .regularExpression) != nil, "\(running)")
    }
}
