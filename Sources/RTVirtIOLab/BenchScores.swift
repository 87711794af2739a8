import Foundation
import RTVirtIO

/// The scores beyond all-or-nothing that tell an operator what a scheme did
/// for the guests in the order they matter.
extension BenchResults.Run {
    /// The fraction of the run's tasks that passed.
    public var taskPassRate: Double { tasks.isEmpty ? 0 : Double(tasks.filter(\.pass).count) / Double(tasks.count) }

    /// Guests, most urgent first, that met every target with ≥ 95 % of their
    /// IOPS before the first that did not, over the number of guests: what
    /// rtvirtio's optimizer promises to maximise.
    public var urgentFirstScore: Double {
        guard !urgencyOrder.isEmpty else { return 0 }
        let met = urgencyOrder.prefix { guest in tasks.filter { $0.guest == guest }.allSatisfy(\.pass) }.count
        return Double(met) / Double(urgencyOrder.count)
    }

    /// The most urgent guest met every target with ≥ 95 % of its IOPS: the operator's first
    /// question ("is my urgent VM within its target?"), which the other scores average away.
    public var mostUrgentMet: Bool {
        guard let first = urgencyOrder.first else { return false }
        return tasks.filter { $0.guest == first }.allSatisfy(\.pass)
    }

    /// Delivered against demanded IOPS, per guest (in urgency order).
    public struct GuestIops: Codable, Sendable, Equatable {
        public var guest: String
        public var demandedIops: Double
        public var achievedIops: Double
    }

    public var guests: [GuestIops] {
        urgencyOrder.map { guest in
            let own = tasks.filter { $0.guest == guest }
            return GuestIops(guest: guest, demandedIops: own.reduce(0) { $0 + $1.demandedIops }, achievedIops: own.reduce(0) { $0 + $1.achievedIops })
        }
    }
}

extension Array where Element: Hashable {
    /// The elements in their first order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

/// The Wilson score interval of a binomial proportion: honest for the few
/// repeats of a benchmark case, where p ± z·√(p(1−p)/n) collapses to [0, 0]
/// or [1, 1].
public struct WilsonInterval: Sendable, Equatable {
    public var low: Double
    public var high: Double

    public init(successes: Int, trials: Int, z: Double = 1.959964) {
        guard trials > 0 else { (low, high) = (0, 1); return }
        let n = Double(trials), p = Double(successes) / n, z2 = z * z
        let centre = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z * ((p * (1 - p) / n + z2 / (4 * n * n)).squareRoot()) / (1 + z2 / n)
        (low, high) = (max(0, centre - half), min(1, centre + half))
    }
}

extension BenchResults.CaseResult {
    /// The share of runs in which the most urgent guest met every target.
    public var mostUrgentMetRate: Double { runs.isEmpty ? 0 : Double(runs.filter(\.mostUrgentMet).count) / Double(runs.count) }

    public var passInterval: WilsonInterval { WilsonInterval(successes: runs.filter(\.pass).count, trials: runs.count) }
}

extension BenchResults.SchemeResult {
    /// The mean over cases of the share of runs in which the most urgent guest met every target.
    public var mostUrgentMetRate: Double { cases.isEmpty ? 0 : cases.values.reduce(0) { $0 + $1.mostUrgentMetRate } / Double(cases.count) }
}

extension BenchResults {
    /// How far the host kernel's measurement agrees with fio's over every task of every run that has both.
    public func kernelAgreement() -> String? {
        KernelAgreement(schemes.values.flatMap { $0.cases.values.flatMap { $0.runs.flatMap(\.tasks) } }.compactMap { task in
            task.kernel.map { KernelAgreement.Pair(fioCount: task.samples, fioP99Ms: task.p99Ms, fioP9999Ms: task.p9999Ms, kernel: $0) }
        })?.summary
    }
}

/// The host kernel's measurement (rtvirtio's observer) against fio's, over task runs that
/// have both: the relative difference of counts and of p99 and p99.99 (median and p90 of
/// |kernel − fio| / fio), and the median of fio − kernel at p99.99: the time spent outside
/// the block layer (system call, wake-up, blk-throttle's queue for a capped guest).
public struct KernelAgreement: Sendable {
    public struct Pair: Sendable {
        public var fioCount: Int
        /// nil in bench results written before fio's p99 was recorded.
        public var fioP99Ms: Double?
        public var fioP9999Ms: Double
        public var kernel: KernelMeasurement
        public init(fioCount: Int, fioP99Ms: Double?, fioP9999Ms: Double, kernel: KernelMeasurement) {
            (self.fioCount, self.fioP99Ms, self.fioP9999Ms, self.kernel) = (fioCount, fioP99Ms, fioP9999Ms, kernel)
        }
    }

    public var pairs: [Pair]
    public init?(_ pairs: [Pair]) {
        guard !pairs.isEmpty else { return nil }
        self.pairs = pairs
    }

    static func quantile(_ values: [Double], _ q: Double) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int((q * Double(sorted.count - 1)).rounded()))]
    }

    /// |kernel − fio| / fio per pair where both are known.
    static func relative(_ pairs: [Pair], _ fio: (Pair) -> Double?, _ kernel: (Pair) -> Double?) -> [Double] {
        pairs.compactMap { pair in
            guard let f = fio(pair), let k = kernel(pair), f > 0 else { return nil }
            return abs(k - f) / f
        }
    }

    public var counts: [Double] { Self.relative(pairs, { $0.fioCount > 0 ? Double($0.fioCount) : nil }, { Double($0.kernel.count) }) }
    public var p99: [Double] { Self.relative(pairs, \.fioP99Ms, \.kernel.p99Ms) }
    public var p9999: [Double] { Self.relative(pairs, { $0.fioP9999Ms }, \.kernel.p9999Ms) }

    public var summary: String {
        func percent(_ v: Double) -> String { formatNumber(v * 100, decimals: 1) + " %" }
        func spread(_ values: [Double]) -> String {
            "\(percent(Self.quantile(values, 0.5))) at the median, \(percent(Self.quantile(values, 0.9))) at p90"
        }
        let outside = pairs.compactMap { pair in pair.kernel.p9999Ms.map { pair.fioP9999Ms - $0 } }
        return "Host kernel (rtvirtio's observer) against fio, \(pairs.count) task runs: request counts differ by \(spread(counts)); "
            + (p99.isEmpty ? "" : "p99 by \(spread(p99)); ")
            + "p99.99 by \(spread(p9999)); fio's p99.99 exceeds the kernel's by \(formatNumber(Self.quantile(outside, 0.5), decimals: 2)) ms "
            + "at the median (time outside the block layer: the system call, the wake-up, blk-throttle's queue for a capped guest).\n"
    }
}

extension BenchResults {
    /// Per rtvirtio scheme, against the best other scheme of each case (by mean urgent-first
    /// score): the mean of both over the cases, and every case where a baseline did better —
    /// with what rtvirtio chose and why its runs failed — so losing cases are named, not averaged away.
    public func rtvirtioAgainstBaselines() -> String {
        let ours = schemeOrder.filter { $0.hasPrefix("rtvirtio") }
        let baselines = schemeOrder.filter { !$0.hasPrefix("rtvirtio") }
        guard !ours.isEmpty, !baselines.isEmpty else { return "" }
        var lines: [String] = []
        for name in ours {
            var ourScores: [Double] = [], bestScores: [Double] = []
            var losses: [String] = []
            var clearWins = 0, clearLosses = 0
            for caseName in caseOrder {
                guard let mine = schemes[name]?.cases[caseName], !mine.runs.isEmpty else { continue }
                let best = baselines.compactMap { b in schemes[b]?.cases[caseName].map { (b, $0.urgentFirstScore) } }.max { $0.1 < $1.1 }
                guard let best else { continue }
                ourScores.append(mine.urgentFirstScore)
                bestScores.append(best.1)
                let theirs = schemes[best.0]?.cases[caseName]?.runs ?? []
                let p = Self.permutationP(theirs.map(\.urgentFirstScore), mine.runs.map(\.urgentFirstScore))
                if let p, p < 0.05 { if mine.urgentFirstScore > best.1 { clearWins += 1 } else if mine.urgentFirstScore < best.1 { clearLosses += 1 } }
                guard best.1 > mine.urgentFirstScore + 1e-9 else { continue }
                // a scheme that measures before planning may choose differently in each run
                let choices = mine.runs.map(\.choice).uniqued()
                let chose = choices.count == 1 ? choices[0] : "per run: " + choices.joined(separator: "; ")
                let failed = mine.runs.flatMap { run in run.tasks.filter { !$0.pass }.map { task in
                    "\(task.guest)/\(task.task) \(formatNumber(task.p9999Ms, decimals: 1)) ms, \(formatNumber(task.achievedIops, decimals: 0)) of \(formatNumber(task.demandedIops, decimals: 0)) IOPS"
                } }
                func perRun(_ runs: [Run]) -> String { runs.map { formatNumber($0.urgentFirstScore, decimals: 2) }.joined(separator: " ") }
                // both left the device as it was in every run: what differs is the runs, not a setting
                let sameSettings = mine.runs.allSatisfy { !$0.settings.changesTheDevice } && theirs.allSatisfy { !$0.settings.changesTheDevice }
                losses.append("- \(caseName): \(best.0) \(formatNumber(best.1, decimals: 2)) > \(name) \(formatNumber(mine.urgentFirstScore, decimals: 2)) "
                              + "(per run: \(perRun(theirs)) against \(perRun(mine.runs))\(p.map { "; exact permutation test p \(formatNumber($0, decimals: 2))" } ?? "")); "
                              + "\(name) chose \(chose)\(sameSettings ? ", the settings \(best.0) ran under, in every run: the runs differ, not the settings" : ""); its failed tasks (all repeats): \(failed.prefix(6).joined(separator: "; "))\(failed.count > 6 ? "; …" : "")")
            }
            func mean(_ v: [Double]) -> Double { v.isEmpty ? 0 : v.reduce(0, +) / Double(v.count) }
            lines.append("\(name) against the best baseline of each case (urgent-first, mean over \(ourScores.count) cases): "
                         + "\(formatNumber(mean(ourScores), decimals: 3)) against \(formatNumber(mean(bestScores), decimals: 3)); "
                         + "beyond the runs' draw (exact permutation test p < 0.05) better in \(clearWins), worse in \(clearLosses); "
                         + "a baseline did better in \(losses.count) case\(losses.count == 1 ? "" : "s")\(losses.isEmpty ? "." : ":")")
            lines += losses
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension BenchResults {
    /// How often the runs, their scheme labels shuffled, differ in mean by at least as much as `a`
    /// and `b` do (two-sided, exact over every split; nil beyond 20 runs): a loss at p 0.44 is a
    /// draw of 5 runs, not a scheme that does worse.
    public static func permutationP(_ a: [Double], _ b: [Double]) -> Double? {
        let all = a + b
        guard !a.isEmpty, !b.isEmpty, all.count <= 20 else { return nil }
        let total = all.reduce(0, +)
        func gap(_ sumA: Double) -> Double { abs(sumA / Double(a.count) - (total - sumA) / Double(b.count)) }
        let observed = gap(a.reduce(0, +)) - 1e-9
        var extreme = 0, splits = 0
        // every choice of a.count runs out of all as the first scheme's
        func choose(from start: Int, left: Int, sum: Double) {
            guard left > 0 else { splits += 1; if gap(sum) >= observed { extreme += 1 }; return }
            guard start <= all.count - left else { return }
            for i in start...(all.count - left) { choose(from: i + 1, left: left - 1, sum: sum + all[i]) }
        }
        choose(from: 0, left: a.count, sum: 0)
        return Double(extreme) / Double(splits)
    }
}

extension BenchResults.Run {
    /// What the scheme chose for this run, and what it measured before choosing, in words.
    var choice: String {
        var notes: [String] = []
        if let measured = measuredBeforePlanning { notes.append("measured before: \(Self.delivered(measured))") }
        if let shortfall = shortfallUnderFirstPlan, let firstPlan {
            notes.append(firstPlan == settings ? "under it: \(Self.delivered(shortfall)), planned again to the same"
                         : "first \(describe(firstPlan)), under which \(Self.delivered(shortfall))")
        }
        if !checkWorstFractions.isEmpty {
            notes.append("checked: the worst uncapped task got " + checkWorstFractions.map { formatNumber(100 * $0, decimals: 1) + " %" }.joined(separator: ", then "))
        }
        return describe(settings) + (notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))")
    }

    func describe(_ settings: SchemeSettings) -> String {
        (settings.usesBfq ? "bfq timeout_sync \(settings.host.timeoutSyncMs) ms, slice_idle \(formatNumber(settings.host.sliceIdleMs, decimals: 3)) ms" : settings.scheduler)
            + (settings.capsIops.map { caps in ", caps " + zip(tasks.map(\.guest).uniqued(), caps).compactMap { g, c in c.map { "\(g) \($0)" } }.joined(separator: ", ") } ?? "")
    }

    static func delivered(_ measured: MeasuredDelivery) -> String {
        "\(formatNumber(measured.deliveredIops4K, decimals: 0)) of \(formatNumber(measured.askedIops4K, decimals: 0)) IOPS delivered"
    }
}
