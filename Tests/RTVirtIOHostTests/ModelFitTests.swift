import Foundation
import Testing
import RTVirtIO
@testable import RTVirtIOLab

/// The lab's fitting and scoring, on synthetic data whose truth is known.
struct ModelFitTests {
    static let truth = AnalyticalParameters(
        lambdaPhi: 2.5, hostLambdaTimeoutSync: 40, hostLambdaSliceIdle: 0.3, guestLambdaTimeoutSync: 0, guestLambdaSliceIdle: 0,
        sliceIdleDefaultMs: 8, switchInterceptMs: 0.4, switchPerEntityMs: 0.2, hostThroughputKBps: 400_000, maxBudgetKB: 8192)

    /// Points of the calibration design, "measured" by the model with `truth`.
    static func synthetic(count: Int, seed: UInt64) -> CalibrationDataset {
        let model = AnalyticalModel(parameters: truth)
        return CalibrationDataset(points: CalibrationPoint.design(count: count, seed: seed).map { point in
            CalibrationDataset.Point(id: point.id, scenario: point.scenario, settings: point.settings,
                                     measuredMs: model.predict(point.scenario, settings: point.settings))
        })
    }

    @Test("the fit recovers known λ, SW(n) and throughput from data the model made, and predicts held-out rows")
    func fitRecoversKnownParameters() {
        let data = Self.synthetic(count: 120, seed: 7)
        var start = Self.truth
        (start.lambdaPhi, start.hostLambdaTimeoutSync, start.hostLambdaSliceIdle) = (1, 1000, 0.5)
        (start.switchInterceptMs, start.switchPerEntityMs, start.hostThroughputKBps) = (0.1, 0.05, 245_000)
        let fit = AnalyticalFit(base: start)
        let fitted = fit.fit(data.part(.train).points)
        let relative = { (a: Double, b: Double) in abs(a - b) / b }
        #expect(relative(fitted.lambdaPhi, Self.truth.lambdaPhi) < 0.05, "λφ \(fitted.lambdaPhi)")
        #expect(relative(fitted.hostLambdaTimeoutSync, Self.truth.hostLambdaTimeoutSync) < 0.05, "λTS \(fitted.hostLambdaTimeoutSync)")
        #expect(relative(fitted.hostLambdaSliceIdle, Self.truth.hostLambdaSliceIdle) < 0.05, "λSI \(fitted.hostLambdaSliceIdle)")
        #expect(relative(fitted.hostThroughputKBps, Self.truth.hostThroughputKBps) < 0.05, "T_H \(fitted.hostThroughputKBps)")
        let heldOut = Accuracy(Accuracy.pairs(AnalyticalModel(parameters: fitted), data.part(.test).points).map { ($0.predicted, $0.measured) })
        #expect(heldOut.samples > 50)
        #expect(heldOut.medianAbsErrorPct < 1, "\(heldOut)")
        // the paper's hand-set start is far off on the same rows: the test can fail
        let before = Accuracy(Accuracy.pairs(AnalyticalModel(parameters: start), data.part(.test).points).map { ($0.predicted, $0.measured) })
        #expect(before.medianAbsErrorPct > 20)
    }

    @Test("an underestimate costs more than an overestimate of the same log size")
    func lossIsAsymmetric() {
        let point = Self.synthetic(count: 1, seed: 3).points[0]
        let model = AnalyticalModel(parameters: Self.truth)
        let predicted = model.predict(point.scenario, settings: point.settings)
        var high = point, low = point
        high.measuredMs = predicted.map { $0.map { $0 / 2 } }   // model overestimates ×2
        low.measuredMs = predicted.map { $0.map { $0 * 2 } }    // model underestimates ×2
        let fit = AnalyticalFit(base: Self.truth)
        #expect(abs(fit.loss(model, [high]) - log(2) * log(2)) < 1e-9)
        #expect(abs(fit.loss(model, [low]) - 4 * log(2) * log(2)) < 1e-9)
    }

    @Test("accuracy figures, hand-worked")
    func accuracyHandWorked() {
        // errors: 50 %, 10 %, 0 %, 200 %, 20 % → sorted 0, 10, 20, 50, 200; two underestimates (50 %, 20 %)
        let a = Accuracy([(5, 10), (11, 10), (10, 10), (30, 10), (8, 10)])
        #expect(a.samples == 5)
        #expect(a.medianAbsErrorPct == 20)
        #expect(a.p90AbsErrorPct == 200)   // nearest rank at 0.9 × 4 = 3.6 → index 4
        #expect(a.underestimateRate == 0.4)
    }

    @Test("folds and the test split keep a configuration's repeats together")
    func foldsKeepRepeatsTogether() {
        let data = Self.synthetic(count: 60, seed: 5)
        let folds = data.folds(5)
        #expect(folds.flatMap { $0 }.sorted() == Array(data.points.indices))
        for fold in folds {
            let configurations = Set(fold.map { CalibrationDataset.configuration(of: data.points[$0].id) })
            for (index, point) in data.points.enumerated() where configurations.contains(CalibrationDataset.configuration(of: point.id)) {
                #expect(fold.contains(index), "\(point.id) split from its configuration")
            }
        }
        let test = Set(data.part(.test).points.map { CalibrationDataset.configuration(of: $0.id) })
        let train = Set(data.part(.train).points.map { CalibrationDataset.configuration(of: $0.id) })
        #expect(test.isDisjoint(with: train) && !test.isEmpty && train.count > 3 * test.count)
    }

    @Test("a fitted parameter file reads back exactly")
    func analyticalYAMLRoundTrip() throws {
        var p = Self.truth
        p.hostLambdaSliceIdle = 0.123456789
        p.validity = Validity(hostTimeoutSyncMs: 32...124, hostSliceIdleMs: 0...8, guestCount: 1...4, taskIops: 100...1500)
        let text = ModelFiles.analyticalYAML(p, comment: "test\nfile", provenance: [("command", "rtvirtio lab fit \"x\"")])
        var back = try ModelFiles.parseAnalytical(text, file: "t.yaml")
        #expect(back.provenance?.contains("rtvirtio lab fit") == true, "\(back.provenance ?? "nil")")
        back.provenance = nil
        #expect(back == p)
    }
}

/// rtvirtio's idling model: hand-worked predictions and a fit on data it made.
struct IdlingModelTests {
    static let truth = IdlingParameters(
        noIdle: .init(interceptMs: 4, perLoadMBpsMs: 0.5), idleCalm: .init(interceptMs: 8, perLoadMBpsMs: 1),
        stall: .init(intercept: -4, perLoadMBps: 0.3, perShare: -3, perQueue: 0.4), stallMs: 1000, riskThreshold: 0.5)

    @Test("predictions, hand-worked: no idling, calm idling, and a stall")
    func handWorked() {
        let model = IdlingModel(parameters: Self.truth)
        // 2 guests: g0 one task of 1500 IOPS × 4 KB, g1 two tasks of 100 → 6800 KB/s = 6.640625 MB/s (1 MB = 1024 KB), 3 queues
        let point = CalibrationPoint(id: "h", guests: [.init(weight: 100, taskIops: [1500]), .init(weight: 300, taskIops: [100, 100])],
                                     host: BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 0), repeatIndex: 0)
        // slice_idle 0: 4 + 0.5 × 6.640625 = 7.3203125 ms for every task
        #expect(model.predict(point.scenario, settings: point.settings).flatMap { $0 }.allSatisfy { abs($0 - 7.3203125) < 1e-9 })
        // slice_idle 8: z = −4 + 0.3 × 6.640625 − 3 φ + 0.4 × 3 = −0.8078125 − 3 φ
        //   g0 φ 0.25: z = −1.5578 → risk 0.174 < 0.5 → calm 8 + 6.640625 = 14.640625 ms; g1 φ 0.75: calm too
        var idle = point
        idle.host = BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 8000)
        #expect(abs(model.stallRisk(loadMBps: 6.8, share: 0.25, queues: 3, sliceIdleMs: 8) - 1 / (1 + exp(1.51))) < 1e-12)
        #expect(model.predict(idle.scenario, settings: idle.settings).flatMap { $0 }.allSatisfy { abs($0 - 14.640625) < 1e-9 })
        // four more 1500-IOPS tasks in g0: load 30800 KB/s = 30.078 MB/s, 7 queues: z(φ 0.25) = −4 + 9.02 − 0.75 + 2.8 = 7.07 → stall
        var busy = idle
        busy.guests[0].taskIops = [1500, 1500, 1500, 1500, 1500]
        let predicted = model.predict(busy.scenario, settings: busy.settings)
        #expect(predicted[0].allSatisfy { $0 == 1000 })
        // g1 at φ 0.75: z = 5.57 → also a stall; a larger share lowers the risk but not below 0.5 here
        #expect(predicted[1].allSatisfy { $0 == 1000 })
    }

    @Test("the idling fit reproduces a known idling model on held-out points")
    func fitReproducesKnownModel() {
        let model = IdlingModel(parameters: Self.truth)
        let data = CalibrationDataset(points: CalibrationPoint.design(count: 200, seed: 13).map { point in
            CalibrationDataset.Point(id: point.id, scenario: point.scenario, settings: point.settings,
                                     measuredMs: model.predict(point.scenario, settings: point.settings))
        })
        let fitted = IdlingFit().fit(data.part(.train).points)
        #expect(abs(fitted.stallMs - 1000) < 1e-9)
        #expect(abs(fitted.noIdle.interceptMs - 4) / 4 < 0.05 && abs(fitted.noIdle.perLoadMBpsMs - 0.5) / 0.5 < 0.05, "\(fitted.noIdle)")
        let pairs = Accuracy.pairs(IdlingModel(parameters: fitted), data.part(.test).points)
        let heldOut = Accuracy(pairs.map { ($0.predicted, $0.measured) })
        #expect(heldOut.samples > 50 && heldOut.medianAbsErrorPct < 1, "\(heldOut)")
        // stalls and calm runs told apart: no prediction more than 1 % under the truth on 95 % of the rows
        #expect(pairs.filter { $0.predicted < 0.99 * $0.measured }.count * 20 < pairs.count)
    }

    /// The expectation output, hand-worked: the risk is a window's chance to
    /// stall, and the prediction the windows' mean tail, times the margin.
    @Test("expectation output, hand-worked: calm + risk × (stall − calm), per task, times the margin")
    func expectationHandWorked() {
        var p = Self.truth
        p.output = .expectation
        p.margin = 1.5
        p.stall.perSliceIdleMs = 0.1
        p.stall.perTaskKiops = 2
        p.idleCalm.perQueueSliceIdleMs = 0.25
        p.idleCalm.perTaskKiopsMs = 2
        p.stall.perOtherGuestsQueue = -0.5
        let model = IdlingModel(parameters: p)
        let point = CalibrationPoint(id: "h", guests: [.init(weight: 100, taskIops: [1500]), .init(weight: 300, taskIops: [100, 100])],
                                     host: BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 8000), repeatIndex: 0)
        // load 6800 KB/s = 6.640625 MB/s, 3 queues; calm 8 + 1 × 6.640625 + 0.25 × 3 queues × 8 ms + 2 × task kIOPS = 20.640625 + 2 × kIOPS
        // g0 (φ 0.25, 1500 IOPS, 2 queues elsewhere): z = −4 + 1.9921875 − 0.75 + 1.2 + 0.8 + 3 − 1 = 1.2421875; calm 23.640625
        // g1 (φ 0.75, 100 IOPS, 1 queue elsewhere):   z = −4 + 1.9921875 − 2.25 + 1.2 + 0.8 + 0.2 − 0.5 = −2.5578125; calm 20.840625
        let predicted = model.predict(point.scenario, settings: point.settings)
        func expected(_ calm: Double, _ z: Double) -> Double { 1.5 * (calm + (1000 - calm) / (1 + exp(-z))) }
        #expect(abs(predicted[0][0] - expected(23.640625, 1.2421875)) < 1e-9)
        #expect(abs(predicted[1][0] - expected(20.840625, -2.5578125)) < 1e-9 && predicted[1][0] == predicted[1][1])
        // slice_idle 0: no risk, the no-idling line (no queue or rate term here) times the margin: 1.5 × (4 + 0.5 × 6.640625)
        var noIdle = point
        noIdle.host = BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 0)
        #expect(model.predict(noIdle.scenario, settings: noIdle.settings).flatMap { $0 }.allSatisfy { abs($0 - 10.98046875) < 1e-9 })
    }

    /// Windows drawn from a known per-window stall risk: the binomial fit
    /// finds the risk's coefficients, the calm lines and the stall level.
    @Test("the expectation fit recovers a known per-window stall risk from 30-window runs")
    func expectationFitRecoversKnownRisk() {
        var truth = Self.truth
        truth.output = .expectation
        truth.stall = .init(intercept: -3, perLoadMBps: 0.05, perShare: -2, perQueue: 0.1, perSliceIdleMs: 0.1, perTaskKiops: 1)
        truth.stallMs = 1024
        truth.idleCalm.perQueueSliceIdleMs = 0.5
        let model = IdlingModel(parameters: truth)
        var rng = SplitMix64(seed: 21)
        let points = CalibrationPoint.design(count: 300, seed: 13).map { point in
            let loadMBps = Units.megabytes(kilobytes: point.scenario.totalDemandKBps)   // as the model predicts: 1 MB = 1024 KB
            let calm = point.host.sliceIdleUs == 0 ? truth.noIdle : truth.idleCalm
            let calmMs = calm.ms(loadMBps: loadMBps, queues: point.scenario.taskCount, sliceIdleMs: point.host.sliceIdleMs)
            let windows: [[[Double]]] = point.guests.indices.map { guest in
                point.guests[guest].taskIops.map { iops in
                    let risk = model.stallRisk(loadMBps: loadMBps, share: point.settings.share(of: guest), queues: point.scenario.taskCount,
                                               sliceIdleMs: point.host.sliceIdleMs, taskIops: Double(iops))
                    return (0..<30).map { _ in Double.random(in: 0..<1, using: &rng) < risk ? 1024 : calmMs }
                }
            }
            return CalibrationDataset.Point(id: point.id, scenario: point.scenario, settings: point.settings,
                                            measuredMs: windows.map { $0.map { $0.reduce(0, +) / 30 } }, windowTailsMs: windows)
        }
        let fitted = IdlingFit().fitExpectation(CalibrationDataset(points: points).part(.train).points)
        #expect(fitted.output == .expectation && fitted.stallMs == 1024 && fitted.margin >= 1)
        let s = fitted.stall
        #expect(abs(s.intercept + 3) < 0.4 && abs(s.perLoadMBps - 0.05) < 0.02 && abs(s.perShare + 2) < 0.4, "\(s)")
        #expect(abs(s.perQueue - 0.1) < 0.06 && abs(s.perSliceIdleMs - 0.1) < 0.04 && abs(s.perTaskKiops - 1) < 0.3, "\(s)")
        // the calm windows are exact: the line's load term comes back within 1 % (a fit on KB/s ÷ 1000 found 1/1.024 of it)
        #expect(abs(fitted.idleCalm.perLoadMBpsMs - 1) < 0.01, "\(fitted.idleCalm)")
        #expect(abs(fitted.idleCalm.interceptMs - 8) < 0.4 && abs(fitted.idleCalm.perQueueSliceIdleMs - 0.5) < 0.03
                && abs(fitted.noIdle.interceptMs - 4) < 0.2, "\(fitted.idleCalm) \(fitted.noIdle)")
        // held out, against the noiseless expectation: within a few % once the margin is taken out
        var unscaled = fitted
        unscaled.margin = 1
        let heldOut = CalibrationDataset(points: points).part(.test).points.map { point in
            (IdlingModel(parameters: unscaled).predict(point.scenario, settings: point.settings), model.predict(point.scenario, settings: point.settings))
        }.flatMap { zip($0.0.flatMap { $0 }, $0.1.flatMap { $0 }).map { (predicted: $0, measured: $1) } }
        #expect(heldOut.count > 50 && Accuracy(heldOut).medianAbsErrorPct < 5, "\(Accuracy(heldOut))")
    }

    @Test("an idling file without output, margin or the new risk terms is the threshold model it always was")
    func olderIdlingFileStillReads() throws {
        let text = """
            kind: idling
            noIdle: {interceptMs: 4, perLoadMBpsMs: 0.5}
            idleCalm: {interceptMs: 8, perLoadMBpsMs: 1}
            stall: {intercept: -4, perLoadMBps: 0.3, perShare: -3, perQueue: 0.4}
            stallMs: 1000
            riskThreshold: 0.5
            """
        #expect(try ModelFiles.parseIdling(text, file: "old.yaml") == Self.truth)
        let bad = try #require(throws: InputError.self) { try ModelFiles.parseIdling(text + "\noutput: mean\n", file: "bad.yaml") }
        #expect("\(bad)".contains("unknown output 'mean'") && "\(bad)".contains("threshold or expectation"), "\(bad)")
    }

    @Test("an idling parameter file reads back exactly and is found by its kind")
    func fileRoundTrip() throws {
        var p = Self.truth
        p.validity = Validity(hostTimeoutSyncMs: 32...124, hostSliceIdleMs: 0...8)
        p.output = .expectation
        p.margin = 1.25
        p.stall.perSliceIdleMs = 0.125
        p.stall.perTaskKiops = -0.5
        p.idleCalm.perQueueSliceIdleMs = 0.375
        p.noIdle.perTaskKiopsMs = 1.5
        p.stall.perOtherGuestsQueue = -0.25
        let text = ModelFiles.idlingYAML(p, comment: "t", provenance: [("date", "2026-11-24")])
        var back = try ModelFiles.parseIdling(text, file: "i.yaml")
        back.provenance = nil
        #expect(back == p)
        #expect(try ModelFiles.parseModel(text, file: "i.yaml", name: "i") is IdlingModel)
        #expect(throws: InputError.self) { try ModelFiles.parseIdling(text.replacingOccurrences(of: "riskThreshold: 0.5", with: "riskThreshold: 1.5"), file: "i.yaml") }
    }
}

struct DatasetSplitTests {
    @Test("the test split is a property of the configuration: more points never move one, repeats go with their point")
    func splitIsStable() {
        let small = ModelFitTests.synthetic(count: 40, seed: 5), large = ModelFitTests.synthetic(count: 200, seed: 5)
        let smallTest = Set(small.part(.test).points.map(\.id))
        #expect(smallTest == Set(large.part(.test).points.map(\.id)).intersection(small.points.map(\.id)))
        #expect(CalibrationDataset.isTest("p20r1") == CalibrationDataset.isTest("p20"))
        let share = Double(large.part(.test).points.count) / Double(large.points.count)
        #expect(share > 0.1 && share < 0.3, "test share \(share)")
    }
}

struct AccuracyReportTests {
    static let point = CalibrationPoint.design(count: 1, seed: 3)[0]
    /// A run of `point` (id "pN" or "pNrK") in which every task measured `ms`.
    static func measured(_ id: String, _ ms: Double) -> CalibrationDataset.Point {
        CalibrationDataset.Point(id: id, scenario: point.scenario, settings: point.settings,
                                 measuredMs: point.scenario.guests.map { $0.tasks.map { _ in ms } })
    }

    /// p1 measured three times (10, 20, 30 ms), p2 once: each repeat of p1 is
    /// predicted by the mean of the other two — 25, 20, 15 — and p2 is left out.
    @Test("per configuration: a configuration's repeats become one point with each task's mean")
    func averagedByConfiguration() {
        let point = CalibrationPoint.design(count: 1, seed: 3)[0]
        func measured(_ id: String, _ ms: Double) -> CalibrationDataset.Point {
            CalibrationDataset.Point(id: id, scenario: point.scenario, settings: point.settings,
                                     measuredMs: point.scenario.guests.indices.map { g in point.scenario.guests[g].tasks.map { _ in ms + Double(g) } })
        }
        let averaged = CalibrationDataset(points: [measured("p1", 10), measured("p2", 5), measured("p1r1", 20), measured("p1r2", 60)])
            .averagedByConfiguration()
        #expect(averaged.points.map(\.id) == ["p1", "p2"])
        #expect(averaged.points[0].measuredMs == point.scenario.guests.indices.map { g in point.scenario.guests[g].tasks.map { _ in 30 + Double(g) } })
        #expect(averaged.points[1].measuredMs[0][0] == 5)
    }

    @Test("the noise floor predicts each repeat by its configuration's other repeats, hand-worked")
    func repeatFloorHandWorked() throws {
        let point = Self.point, measured = Self.measured
        let floor = Accuracy.repeatFloor([measured("p1", 10), measured("p1r1", 20), measured("p1r2", 30), measured("p2", 99)])
        let tasks = point.scenario.taskCount
        #expect(floor.count == 3 * tasks)
        #expect(Set(floor.map { "\($0.predicted)/\($0.measured)" }) == ["25.0/10.0", "20.0/20.0", "15.0/30.0"])
        let accuracy = Accuracy(floor)   // errors 150 %, 0 %, 50 %; one underestimate (15 < 30)
        #expect(accuracy.medianAbsErrorPct == 50 && abs(accuracy.underestimateRate - 1.0 / 3) < 1e-12)
        let model = IdlingModel(parameters: IdlingModelTests.truth)
        var report = AccuracyReport(model: model, data: ["d.csv"], rowsNote: "all", pairs: Accuracy.pairs(model, [measured("p2", 99)]))
        report.setFloor(floor)
        #expect(report.repeatFloor == accuracy)
        #expect(report.text().contains("noise floor (repeats)"))
        let idling = point.settings.host.sliceIdleUs == 0 ? "0" : ">0"   // one configuration: one group, the whole floor
        #expect(report.floorBySliceIdle == [idling: accuracy])
        #expect(report.text().contains("  its slice_idle \(idling == "0" ? "0" : "> 0") runs"))
        // ≤ 10 % under: 15 → 30 needs ×2 (25/20/15 → 50/40/30, errors 400 %, 100 %, 0 %: median 100 %)
        #expect(report.conservativeFloor?.factor == 2 && report.conservativeFloor?.accuracy.medianAbsErrorPct == 100)
        #expect(report.text().contains("floor x2, <= 10 % under"))
        let json = try #require(try JSONSerialization.jsonObject(with: report.summaryJSON()) as? [String: Any])
        #expect((json["repeatFloor"] as? [String: Any])?["medianAbsErrorPct"] as? Double == 50)
    }

    @Test("the floor of averaged runs predicts half of a configuration's runs by the other half, hand-worked")
    func halvesFloorHandWorked() throws {
        let point = Self.point, measured = Self.measured
        let tasks = point.scenario.taskCount
        // four runs: (10 + 20) / 2 = 15 against (30 + 40) / 2 = 35, both ways; p2 has one run and no floor
        let four = Accuracy.halvesFloor([measured("p1", 10), measured("p1r1", 20), measured("p1r2", 30), measured("p1r3", 40),
                                         measured("p2", 99)])
        #expect(four.count == 2 * tasks)
        #expect(Set(four.map { "\($0.predicted)/\($0.measured)" }) == ["35.0/15.0", "15.0/35.0"])
        let accuracy = Accuracy(four)   // errors 133.3 % and 57.1 %, one of each pair under
        #expect(abs(accuracy.p90AbsErrorPct - 2000.0 / 15) < 1e-9 && accuracy.underestimateRate == 0.5)
        // three runs: the odd last one is left out
        let three = Accuracy.halvesFloor([measured("p1", 10), measured("p1r1", 20), measured("p1r2", 300)])
        #expect(Set(three.map { "\($0.predicted)/\($0.measured)" }) == ["20.0/10.0", "10.0/20.0"])
        let model = IdlingModel(parameters: IdlingModelTests.truth)
        var report = AccuracyReport(model: model, data: ["d.csv"], rowsNote: "all", pairs: Accuracy.pairs(model, [measured("p2", 99)]))
        report.setFloor(four, method: "noise floor (half the runs vs the rest)")
        #expect(report.text().contains("noise floor (half the runs vs the rest)") && !report.text().contains("noise floor (repeats)"))
        let json = try #require(try JSONSerialization.jsonObject(with: report.summaryJSON()) as? [String: Any])
        #expect(json["floorMethod"] as? String == "noise floor (half the runs vs the rest)")
    }

    @Test("breakdowns by regime, slice_idle and guest count; JSON has the documented keys; the page is self-contained")
    func breakdowns() throws {
        let model = IdlingModel(parameters: IdlingModelTests.truth)
        let points = CalibrationPoint.design(count: 36, seed: 3).map { point in
            CalibrationDataset.Point(id: point.id, scenario: point.scenario, settings: point.settings,
                                     measuredMs: model.predict(point.scenario, settings: point.settings).map { $0.map { $0 * 2 } },
                                     regime: point.guests.count > 2 ? "device-bound" : "fast")
        }
        let report = AccuracyReport(model: model, data: ["d.csv"], rowsNote: "all", pairs: Accuracy.pairs(model, points))
        // every prediction is half the measured value: 50 % error, all underestimates, in every group
        for group in [report.overall] + Array(report.byRegime.values) + Array(report.bySliceIdleUs.values) + Array(report.byGuestCount.values) {
            #expect(abs(group.medianAbsErrorPct - 50) < 1e-9 && group.underestimateRate == 1)
        }
        #expect(Set(report.byRegime.keys) == ["fast", "device-bound"])
        #expect(Set(report.bySliceIdleUs.keys) == ["0", "1000", "2000", "4000", "6000", "8000"])
        let json = try #require(try JSONSerialization.jsonObject(with: report.summaryJSON()) as? [String: Any])
        for key in ["samples", "medianAbsErrorPct", "p90AbsErrorPct", "underestimateRate", "byRegime", "bySliceIdleUs"] {
            #expect(json[key] != nil, "missing \(key)")
        }
        let html = report.html()
        #expect(html.contains("<svg") && !html.contains("<script") && !html.contains("src=") && !html.contains("href="), "self-contained")
        #expect(html.components(separatedBy: "<circle").count - 1 >= report.pairs.count)
    }
}
