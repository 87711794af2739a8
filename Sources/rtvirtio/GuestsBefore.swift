import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost

/// What the guests got before any change, measured in the kernel, and what the device delivered
/// to them then, where that says something about the device: its capacity declared, no caps in
/// force and no idling (a capped or idling device delivers less than it can, by design).
/// `apply --verify-s` and `plan --measure-s` plan on it.
struct GuestsBefore {
    var session: GuestObserver
    var outcome: MeasuredOutcome
    var delivery: MeasuredDelivery?

    static func measure(view: HostView, targets: Targets, seconds: Int, fs: HostFS, otherwise: String) throws -> GuestsBefore {
        guard let session = guestObserver(targets, view: view, otherwise: otherwise) else { throw ExitCode(1) }
        printError("measuring the guests \(seconds) s before planning…")
        let report = try session.observe(seconds: seconds, percentile: targets.percentile)
            .report(device: view.device.devicePath, durationS: Double(seconds), targets: targets)
        let inForce = view.settingsInForce(targets, fs: fs).settings
        let scenario = Scenario(targets: targets)
        let measured = report.guests.filter { !$0.ops.isEmpty }.map { ($0.name, $0.iops) }
        var delivery: MeasuredDelivery?
        if let device = scenario.delivery {
            let why = inForce.capsIops != nil ? "caps are in force" : inForce.host.sliceIdleUs > 0 ? "bfq idles" : nil
            delivery = why == nil ? MeasuredDelivery(scenario, guestIops: Dictionary(uniqueKeysWithValues: measured), on: device) : nil
            if delivery == nil {
                printError("note: caps are sized from the delivery model, not from this measurement: \(why ?? "not every guest was measured")")
            }
        }
        return GuestsBefore(session: session, outcome: MeasuredOutcome(report, targets: targets), delivery: delivery)
    }
}
