import Foundation
import Testing
@testable import RTVirtIO

/// `apply --verify-s` and the daemon's guard: hand-made measurements, the verdict worked out by hand.
struct OutcomeCheckTests {
    static let targets = try! TargetsParser.parse("""
        device: /dev/sdz
        guests:
          - {name: vm0, criticality: 1, tasks: [{name: db, iops: 1000, targetMs: 50}]}
          - {name: vm1, criticality: 2, tasks: [{name: web, iops: 1000, targetMs: 50}]}
        """)

    /// A 3-second measurement: per guest, its requests all at `ms` but one at `tailMs`, `iops` a second.
    static func outcome(_ guests: [(iops: Int, tailMs: Double)]) -> MeasuredOutcome {
        var observation = Observation()
        for _ in 0..<3 {
            var window: [String: [IOOp: LatencyHistogram]] = [:]
            for (index, guest) in guests.enumerated() {
                var h = LatencyHistogram()
                h.record(ns: 1_000_000, count: UInt64(guest.iops - 1))
                h.record(ns: UInt64(guest.tailMs * 1e6))
                window["vm\(index)"] = [.read: h]
            }
            observation.add(window: window, guests: ["vm0", "vm1"])
        }
        return MeasuredOutcome(observation.report(device: "/dev/sdz", durationS: 3, targets: targets), targets: targets)
    }

    @Test("a change that lets the urgent guest meet is kept, even when a less urgent one is given up for it")
    func keptForTheUrgentGuest() {
        let before = Self.outcome([(1000, 200), (1000, 5)]), after = Self.outcome([(1000, 5), (1000, 200)])
        #expect(before.urgentFirst == 0 && after.urgentFirst == 1)
        let verdict = MeasuredOutcome.verdict(before: before, after: after)
        #expect(verdict.keep)
        #expect(verdict.reason == "kept: 1 guests meet every target in urgency order, 0 before (given up for them: vm1/web)")
    }

    @Test("both guests short of their IOPS before and after (a load at the device's capacity): a tail that met and then misses still puts the change back")
    func tailGuardedWhenIopsShortBothTimes() {
        // 930 of 1000 IOPS: under 95 %, so no guest "meets" either time and urgentFirst is 0 both times
        let before = Self.outcome([(930, 2.5), (930, 2.2)]), after = Self.outcome([(975, 248), (930, 287)])
        #expect(before.urgentFirst == 0 && after.urgentFirst == 0)
        let verdict = MeasuredOutcome.verdict(before: before, after: after)
        #expect(!verdict.keep)
        #expect(verdict.reason == "put back: vm0/db, vm1/web met before and miss after")
    }

    @Test("a guest that got its IOPS before and not after puts the change back")
    func iopsLost() {
        let before = Self.outcome([(990, 60), (1000, 60)]), after = Self.outcome([(990, 60), (800, 60)])
        let verdict = MeasuredOutcome.verdict(before: before, after: after)
        #expect(!verdict.keep)
        #expect(verdict.reason == "put back: vm1's IOPS met before and miss after")
    }

    @Test("nothing lost, nothing gained: kept")
    func noWorse() {
        let verdict = MeasuredOutcome.verdict(before: Self.outcome([(1000, 5), (1000, 80)]), after: Self.outcome([(1000, 8), (1000, 90)]))
        #expect(verdict == (true, "kept: no task that met its target before misses after"))
    }
}
