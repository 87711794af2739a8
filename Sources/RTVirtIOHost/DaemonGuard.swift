import Foundation
import RTVirtIO

/// `apply --verify-s`'s check, guarding every change the daemon makes: the
/// guests are measured under the settings in force before a change, the
/// change is on trial for `DaemonGuard.windows` intervals, and it stays only
/// if `MeasuredOutcome.verdict` keeps it; otherwise the previous settings go
/// back and the rejected ones are not tried again for `holdIntervals`.
/// Without the kernel observer there is nothing to measure and no guard.
struct DaemonGuard {
    /// A change under trial: what was measured before it, and what to put back.
    struct Trial {
        /// Judged against the targets in force when the trial ends (a reload may change them).
        var before: Measurement
        var previous: Plan?
        var previousEntries: [JournalEntry]
        var settings: Settings
    }

    struct Measurement {
        var observation: Observation
        var seconds: Double
        func outcome(targets: Targets, device: String) -> MeasuredOutcome {
            MeasuredOutcome(observation.report(device: device, durationS: seconds, targets: targets), targets: targets)
        }
    }

    /// Intervals measured before a change and after it.
    let windows: Int
    /// Intervals a rejected setting is not tried again.
    let holdIntervals = 30
    /// The windows measured since the last change (or since the daemon started).
    var underCurrent = Observation()
    var since = ContinuousClock.now
    var trial: Trial?
    /// Settings put back, and until when (in ticks) they stay rejected.
    var rejected: [Settings: Int] = [:]
    var ticks = 0

    init(windows: Int) { self.windows = windows }

    var enabled: Bool { windows > 0 }

    /// The first window after a change straddles it (requests queued under the old settings
    /// drain under the new): it belongs to neither, and is left out.
    var settling = false

    mutating func add(window: [String: [IOOp: LatencyHistogram]], guests: [String]) {
        if settling {
            settling = false
            since = .now
            return
        }
        underCurrent.add(window: window, guests: guests)
    }

    /// What was measured since the last change.
    var measurement: Measurement {
        Measurement(observation: underCurrent, seconds: (ContinuousClock.now - since).inSeconds)
    }

    /// Enough windows under the settings in force to judge them: `windows`, or, with no
    /// change on trial, one window in which the most urgent guest already missed — the
    /// settings in force have shown what they do to it, and waiting only prolongs the miss.
    func measuredEnough(targets: Targets, device: String) -> Bool {
        if underCurrent.windows >= windows { return true }
        guard trial == nil, underCurrent.windows >= 1 else { return false }
        return measurement.outcome(targets: targets, device: device).guests.first?.met == false
    }

    /// Starts measuring afresh; `afterChange`: the settings just changed, so the next window settles.
    mutating func restart(afterChange: Bool = true) {
        underCurrent = Observation(percentile: underCurrent.percentile)
        since = .now
        settling = afterChange
    }

    func isRejected(_ settings: Settings) -> Bool { (rejected[settings] ?? 0) > ticks }

    mutating func reject(_ settings: Settings) { rejected[settings] = ticks + holdIntervals }
}

extension DaemonCore {
    /// The guard runs where it is on and the kernel observer measures the guests.
    var guarding: Bool { guardian.enabled && session != nil }

    /// Called each tick with the guard on: ends a trial whose windows are in, putting
    /// the previous settings back when the change made things worse. True while the
    /// daemon must not change anything (a trial running, or the settings in force not
    /// yet measured long enough to compare a change against).
    func guardHolds(view: HostView) -> Bool {
        guard guarding else { return false }
        guardian.ticks += 1
        guard guardian.measuredEnough(targets: targets, device: view.device.devicePath) else { return true }
        guard let trial = guardian.trial else { return false }
        let device = view.device.devicePath
        let before = trial.before.outcome(targets: targets, device: device), after = guardian.measurement.outcome(targets: targets, device: device)
        let (keep, reason) = MeasuredOutcome.verdict(before: before, after: after)
        let table = MeasuredOutcome.table(before: before, after: after, seconds: Int((Double(guardian.windows) * configuration.interval.inSeconds).rounded()))
        guardian.trial = nil
        if keep {   // the trial's windows go on as the measurement of the settings now in force
            logger.notice("the change measured no worse, \(reason)\n\(table)")
            return false
        }
        guardian.restart()
        do {
            let applier = Applier(fs: fs, state: configuration.state, logger: logger)
            if trial.previous == nil || trial.previousEntries.isEmpty {
                _ = try applier.restore()
            } else {
                _ = try applier.apply(trial.previousEntries, device: view.device)
            }
            applied = trial.previous
            appliedEntries = trial.previousEntries
            guardian.reject(trial.settings)
            metrics.applied()
            lastChange = "\(Date().formatted(.iso8601)) put back"
            logger.notice("the change made things worse, \(reason); not trying it again for \(guardian.holdIntervals) intervals\n\(table)")
        } catch {
            logger.error("the change made things worse (\(reason)) and putting the previous settings back failed: \(error); run `rtvirtio restore`")
        }
        return true
    }

    /// What the settings in force gave, to judge a change against; nil without the guard.
    func measurementBeforeChange() -> DaemonGuard.Measurement? {
        guarding ? guardian.measurement : nil
    }
}
