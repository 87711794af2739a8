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
    public var passInterval: WilsonInterval { WilsonInterval(successes: runs.filter(\.pass).count, trials: runs.count) }
}
