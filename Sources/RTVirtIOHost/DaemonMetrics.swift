import Foundation
import Prometheus
import RTVirtIO

/// The daemon's Prometheus metrics (swift-prometheus), exposed as text for a
/// loopback HTTP endpoint and/or a node-exporter textfile.
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let applies: Counter
    let applyFailures: Counter
    let planSeconds: Gauge
    let timeoutSync: Gauge
    let sliceIdle: Gauge

    public init() {
        applies = registry.makeCounter(descriptor: Self.metric("rtvirtio_applies_total", help: "Plans written to the kernel"))
        applyFailures = registry.makeCounter(descriptor: Self.metric("rtvirtio_apply_failures_total", help: "Applies that failed and were rolled back"))
        planSeconds = registry.makeGauge(descriptor: Self.metric("rtvirtio_plan_seconds", help: "Time the last plan took"))
        // base units in the names (Prometheus's convention): seconds, not ms
        timeoutSync = registry.makeGauge(descriptor: Self.metric("rtvirtio_host_timeout_sync_seconds", help: "Planned host bfq timeout_sync"))
        sliceIdle = registry.makeGauge(descriptor: Self.metric("rtvirtio_host_slice_idle_seconds", help: "Planned host bfq slice_idle"))
    }

    /// A metric's whole name, base unit included (`_seconds`, `_total`), as its one name part.
    static func metric(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public func applied() { applies.increment() }
    public func failed() { applyFailures.increment() }

    /// Each guest's IOPS (reads and writes) in the last interval, every interval: also while the guard
    /// holds the plan (it was set only when planning, and went stale for seconds).
    public func measured(loads: [String: MeasuredLoad], guests: [String]) {
        for guest in guests {
            registry.makeGauge(descriptor: Self.metric("rtvirtio_guest_measured_iops", help: "IOPS (reads and writes) measured in the last interval"), labels: [("guest", guest)])
                .set(loads[guest]?.iops ?? 0)
        }
    }

    public func record(plan: Plan, planSeconds seconds: Double) {
        planSeconds.set(seconds)
        timeoutSync.set(Double(plan.host.timeoutSyncMs) / 1000)
        sliceIdle.set(plan.host.sliceIdleMs / 1000)
        for guest in plan.guests {
            registry.makeGauge(descriptor: Self.metric("rtvirtio_guest_weight", help: "Planned bfq weight"), labels: [("guest", guest.name)])
                .set(Double(guest.weight))
            registry.makeGauge(descriptor: Self.metric("rtvirtio_guest_read_iops_cap", help: "Planned IOPS cap, reads and writes together (0: none)"), labels: [("guest", guest.name)])
                .set(Double(guest.readIopsCap ?? 0))
            for task in guest.tasks {
                let labels = [("guest", guest.name), ("task", task.name)]
                registry.makeGauge(descriptor: Self.metric("rtvirtio_task_predicted_latency_seconds", help: "Predicted tail latency"), labels: labels)
                    .set(task.predictedMs.isFinite ? task.predictedMs / 1000 : .nan)
                registry.makeGauge(descriptor: Self.metric("rtvirtio_task_target_latency_seconds", help: "Tail-latency target"), labels: labels).set(task.targetMs / 1000)
                if let iops = task.predictedIops {
                    registry.makeGauge(descriptor: Self.metric("rtvirtio_task_predicted_iops", help: "IOPS the plan predicts the task gets"), labels: labels).set(iops)
                }
            }
        }
    }

    /// The closed loop's measurement of the last interval: each guest's tail, and per task whether it met.
    /// `tasksMet`: per task, whether the ops it issues measured within its target (`OpVerdict.meets`).
    public func measured(guest: String, tailMs: Double, tasksMet: [(name: String, met: Bool)]) {
        registry.makeGauge(descriptor: Self.metric("rtvirtio_guest_measured_latency_seconds", help: "Tail latency measured in the host kernel over the last interval (the targets' percentile)"), labels: [("guest", guest)])
            .set(tailMs / 1000)
        for task in tasksMet {
            registry.makeGauge(descriptor: Self.metric("rtvirtio_task_target_met", help: "1 when the tail of the ops the task issues (reads, writes) met its target over the last interval"), labels: [("guest", guest), ("task", task.name)])
                .set(task.met ? 1.0 : 0.0)
        }
    }

    /// Each guest's requests by op since the daemon started, as the kernel measured them.
    private let latencyLock = NSLock()
    nonisolated(unsafe) private var latencies: [String: [IOOp: LatencyHistogram]] = [:]

    /// Adds one interval's kernel measurement to rtvirtio_guest_io_latency_seconds.
    public func observed(_ window: [String: [IOOp: LatencyHistogram]]) {
        latencyLock.withLock {
            for (guest, ops) in window { for (op, histogram) in ops { latencies[guest, default: [:]][op] = (latencies[guest]?[op] ?? LatencyHistogram()) + histogram } }
        }
    }

    /// The histogram's bucket bounds, seconds: 0.5 ms to 10 s, where targets and bfq's stalls lie.
    static let latencyBucketsSeconds = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// rtvirtio_guest_io_latency_seconds in Prometheus's text format: swift-prometheus's histograms take
    /// one observation at a time, and the kernel hands over bucket counts (a request counts at its
    /// bucket's middle, within 0.8 % of its latency).
    static func latencyExposition(_ latencies: [String: [IOOp: LatencyHistogram]]) -> String {
        guard !latencies.isEmpty else { return "" }
        var lines = ["# HELP rtvirtio_guest_io_latency_seconds Request latency measured in the host kernel (insertion into the scheduler to completion)",
                     "# TYPE rtvirtio_guest_io_latency_seconds histogram"]
        for guest in latencies.keys.sorted() {
            for (op, histogram) in latencies[guest]!.sorted(by: { $0.key < $1.key }) {
                let labels = "guest=\"\(guest)\",op=\"\(op.rawValue)\""
                var cumulative: UInt64 = 0, sumSeconds = 0.0
                let bounds = latencyBucketsSeconds
                var perBound = [UInt64](repeating: 0, count: bounds.count)
                for (index, count) in histogram.counts.enumerated() where count > 0 {
                    let seconds = LatencyHistogram.representativeNs(bucket: index) / 1e9
                    sumSeconds += seconds * Double(count)
                    if let slot = bounds.firstIndex(where: { seconds <= $0 }) { perBound[slot] += count }
                }
                for (bound, count) in zip(bounds, perBound) {
                    cumulative += count
                    lines.append("rtvirtio_guest_io_latency_seconds_bucket{\(labels),le=\"\(bound)\"} \(cumulative)")
                }
                lines.append("rtvirtio_guest_io_latency_seconds_bucket{\(labels),le=\"+Inf\"} \(histogram.count)")
                lines.append("rtvirtio_guest_io_latency_seconds_sum{\(labels)} \(sumSeconds)")
                lines.append("rtvirtio_guest_io_latency_seconds_count{\(labels)} \(histogram.count)")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func text() -> String { registry.emitToString() + latencyLock.withLock { Self.latencyExposition(latencies) } }

    /// Atomically replaces a node-exporter textfile.
    public func writeTextfile(_ path: String) throws {
        try AtomicFile.replace(path, with: Data(text().utf8), mode: 0o644)   // node-exporter reads it as another user
    }
}
