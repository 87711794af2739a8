/// A guest's measured tail held against its tasks' targets op by op (issue 16): a read is
/// held to the tightest target of the tasks that read, a write to that of the tasks that
/// write; a flush or discard ("other") to the writers' (it is their data being made
/// durable). An op none of its tasks declares is held to the tightest target of all: the
/// declaration is what the operator promised about the guest. Before, every request was
/// held to the guest's tightest target, so a backup's slow writes made its urgent reader
/// look late.
public struct OpVerdict: Sendable, Equatable {
    public var op: IOOp
    public var tailMs: Double
    /// The task whose target the op is held to.
    public var task: TaskSpec
    public var misses: Bool { tailMs > task.targetMs }

    /// The op furthest over (or closest to) its target, by measured tail / target; nil when no op measured anything.
    public static func worst(_ histograms: [IOOp: LatencyHistogram], tasks: [TaskSpec], percentile: Double) -> OpVerdict? {
        histograms.keys.sorted().compactMap { op -> OpVerdict? in
            guard let tailMs = histograms[op]?.percentileMs(percentile), let task = tightest(for: op, in: tasks) else { return nil }
            return OpVerdict(op: op, tailMs: tailMs, task: task)
        }.max { $0.tailMs / $0.task.targetMs < $1.tailMs / $1.task.targetMs }
    }

    /// Whether the ops `task` issues (read, write; flushes with writes) measured within its target; an op not measured does not count against it.
    public static func meets(_ histograms: [IOOp: LatencyHistogram], task: TaskSpec, percentile: Double) -> Bool {
        IOOp.allCases.filter { issues(task, $0) }.allSatisfy { op in
            (histograms[op]?.percentileMs(percentile)).map { $0 <= task.targetMs } ?? true
        }
    }

    /// Whether `task`'s requests include `op`: reads where it reads; writes, and the flushes that make them durable, where it writes.
    static func issues(_ task: TaskSpec, _ op: IOOp) -> Bool {
        switch op {
        case .read: task.op.readFraction > 0
        case .write, .other: task.op.readFraction < 1
        }
    }

    static func tightest(for op: IOOp, in tasks: [TaskSpec]) -> TaskSpec? {
        let issuing = tasks.filter { issues($0, op) }
        return (issuing.isEmpty ? tasks : issuing).min { $0.targetMs < $1.targetMs }
    }
}
