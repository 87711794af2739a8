import Foundation

/// Predicts each task's tail latency (ms) for one guest, given the share of
/// the device's weight that guest holds and the host's bfq knobs.
///
/// Models see weights only as the guest's share φ_i = w_i / Σw (Eq. 3 of the
/// paper); that lets the optimizer search shares first and pick integer
/// weights last.
public protocol LatencyModel: Sendable {
    var name: String { get }
    var validity: Validity { get }
    /// Writes one prediction (ms) per task of `guest` into `out[0..<tasks]`.
    func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings,
                      into out: UnsafeMutableBufferPointer<Double>)
}

extension LatencyModel {
    /// Predictions for every task at fixed settings: [guest][task] in ms.
    public func predict(_ scenario: Scenario, settings: Settings) -> [[Double]] {
        scenario.guests.indices.map { guest in
            var out = [Double](repeating: 0, count: scenario.guests[guest].tasks.count)
            out.withUnsafeMutableBufferPointer {
                predictGuest(scenario, guest: guest, share: settings.share(of: guest), host: settings.host, into: $0)
            }
            return out
        }
    }
}

/// The ranges of knobs and loads a model was fitted on. The optimizer never
/// proposes host knobs outside them.
public struct Validity: Sendable, Equatable, Codable {
    public var hostTimeoutSyncMs: ClosedRange<Double>?
    public var hostSliceIdleMs: ClosedRange<Double>?
    public var guestCount: ClosedRange<Double>?
    public var taskIops: ClosedRange<Double>?

    public init(hostTimeoutSyncMs: ClosedRange<Double>? = nil, hostSliceIdleMs: ClosedRange<Double>? = nil,
                guestCount: ClosedRange<Double>? = nil, taskIops: ClosedRange<Double>? = nil) {
        self.hostTimeoutSyncMs = hostTimeoutSyncMs
        self.hostSliceIdleMs = hostSliceIdleMs
        self.guestCount = guestCount
        self.taskIops = taskIops
    }

    public static let unbounded = Validity()

    public func allows(_ host: BfqSettings) -> Bool {
        (hostTimeoutSyncMs?.contains(Double(host.timeoutSyncMs)) ?? true)
            && (hostSliceIdleMs?.contains(host.sliceIdleMs) ?? true)
    }

    /// Where a scenario leaves the fitted load range: warnings for the report.
    public func warnings(for scenario: Scenario) -> [String] {
        var notes: [String] = []
        if let range = guestCount, !range.contains(Double(scenario.guests.count)) {
            notes.append("\(scenario.guests.count) guests is outside the model's fitted range \(format(range))")
        }
        if let range = taskIops {
            for guest in scenario.guests {
                for task in guest.tasks where !range.contains(task.iops) {
                    notes.append("\(guest.name)/\(task.name): \(formatNumber(task.iops)) IOPS is outside the model's fitted range \(format(range))")
                }
            }
        }
        return notes
    }

    private func format(_ range: ClosedRange<Double>) -> String {
        "\(formatNumber(range.lowerBound))...\(formatNumber(range.upperBound))"
    }
}
