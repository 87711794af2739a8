/// How good a setting is, compared lexicographically:
/// 1. guests fully meeting their targets, most urgent first (meeting guest 1
///    beats meeting every other guest: the paper's compromise);
/// 2. then the number of tasks that meet;
/// 3. then the smallest relative slack (target − predicted) / target.
public struct Score: Comparable, Sendable, CustomStringConvertible {
    public var guestsMet: [Bool]       // in urgency order
    public var tasksMet: Int
    public var minSlack: Double

    public static func < (lhs: Score, rhs: Score) -> Bool {
        for (l, r) in zip(lhs.guestsMet, rhs.guestsMet) where l != r { return r }
        if lhs.tasksMet != rhs.tasksMet { return lhs.tasksMet < rhs.tasksMet }
        return lhs.minSlack < rhs.minSlack
    }

    public static func == (lhs: Score, rhs: Score) -> Bool {
        lhs.guestsMet == rhs.guestsMet && lhs.tasksMet == rhs.tasksMet && lhs.minSlack == rhs.minSlack
    }

    public var description: String {
        "guests met \(guestsMet.map { $0 ? "1" : "0" }.joined()), tasks met \(tasksMet), min slack \(formatNumber(minSlack * 100))%"
    }
}
