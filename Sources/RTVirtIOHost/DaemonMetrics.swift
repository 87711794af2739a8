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
        applies = registry.makeCounter(name: "rtvirtio_applies_total", help: "Plans written to the kernel")
        applyFailures = registry.makeCounter(name: "rtvirtio_apply_failures_total", help: "Applies that failed and were rolled back")
        planSeconds = registry.makeGauge(name: "rtvirtio_plan_seconds", help: "Time the last plan took")
        timeoutSync = registry.makeGauge(name: "rtvirtio_host_timeout_sync_ms", help: "Planned host bfq timeout_sync")
        sliceIdle = registry.makeGauge(name: "rtvirtio_host_slice_idle_ms", help: "Planned host bfq slice_idle")
    }

    public func applied() { applies.increment() }
    public func failed() { applyFailures.increment() }

    public func record(plan: Plan, planSeconds seconds: Double, measured: [String: MeasuredLoad]) {
        planSeconds.set(seconds)
        timeoutSync.set(Double(plan.host.timeoutSyncMs))
        sliceIdle.set(plan.host.sliceIdleMs)
        for guest in plan.guests {
            registry.makeGauge(name: "rtvirtio_guest_weight", labels: [("guest", guest.name)], help: "Planned bfq weight")
                .set(Double(guest.weight))
            registry.makeGauge(name: "rtvirtio_guest_measured_iops", labels: [("guest", guest.name)], help: "Read IOPS measured in the last interval")
                .set(measured[guest.name]?.iops ?? 0)
            for task in guest.tasks {
                let labels = [("guest", guest.name), ("task", task.name)]
                registry.makeGauge(name: "rtvirtio_task_predicted_ms", labels: labels, help: "Predicted tail latency")
                    .set(task.predictedMs.isFinite ? task.predictedMs : .nan)
                registry.makeGauge(name: "rtvirtio_task_target_ms", labels: labels, help: "Tail-latency target").set(task.targetMs)
            }
        }
    }

    public func text() -> String { registry.emitToString() }

    /// Atomically replaces a node-exporter textfile.
    public func writeTextfile(_ path: String) throws {
        let temporary = path + ".tmp"
        try text().write(toFile: temporary, atomically: false, encoding: .utf8)
        guard rename(temporary, path) == 0 else { throw HostError("rename metrics textfile to", path: path, errno: errno) }
    }
}
