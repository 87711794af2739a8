import Foundation
import Logging
import RTVirtIO
import ServiceLifecycle
import UnixSignals

/// What the daemon needs to know to run.
public struct DaemonConfiguration: Sendable {
    public var targetsPath: String
    public var modelOverride: String?
    public var paramsOverride: String?
    public var cgroupRoot: String?
    public var state: StateDirectory
    public var interval: Duration
    public var metricsTextfile: String?
    /// A cgroup tree to use instead of the live one (benchmarks on a v2 fixture).
    public var hierarchy: CgroupHierarchy?
    /// Measure each guest in the kernel and correct the model from it (where BPF runs).
    public var closedLoop = true
    /// Intervals measured before and after each change the daemon makes (0: no guard).
    public var verifyIntervals = 3

    public init(targetsPath: String, modelOverride: String?, paramsOverride: String?, cgroupRoot: String?,
                state: StateDirectory, interval: Duration, metricsTextfile: String?) {
        self.targetsPath = targetsPath
        self.modelOverride = modelOverride
        self.paramsOverride = paramsOverride
        self.cgroupRoot = cgroupRoot
        self.state = state
        self.interval = interval
        self.metricsTextfile = metricsTextfile
    }

    public func with(hierarchy: CgroupHierarchy?) -> DaemonConfiguration {
        var copy = self
        copy.hierarchy = hierarchy
        if let hierarchy { copy.state.allowedRoots.append(hierarchy.mountPoint) }   // a fixture tree's files may be journaled
        return copy
    }
}

/// The daemon's state and one observe → plan → apply step. An actor, so a
/// SIGHUP reload and the loop never interleave.
public actor DaemonCore {
    let configuration: DaemonConfiguration
    let notifier = SystemdNotifier()
    let logger: Logger
    public nonisolated let metrics = DaemonMetrics()
    let fs = HostFS()
    var targets: Targets
    var model: any LatencyModel
    var applied: Plan?
    /// The kernel values of the applied plan, to check for drift without re-reading the journal.
    var appliedEntries: [JournalEntry] = []
    /// Each guest's cgroup when the plan was applied: a domain that restarts comes back in a new one.
    var appliedCgroups: [String: String] = [:]
    /// When the running libvirt domains' metadata is read again (`libvirt:` in the targets).
    var domainsReadAt = ContinuousClock.now
    static let domainsInterval = Duration.seconds(30)
    /// The loads the last plan was made for, and whether targets changed since.
    var plannedLoads: [String: MeasuredLoad]?
    var lastPlan: Plan?
    /// Loads within this fraction of the planned ones are not worth a new plan.
    let loadTolerance = 0.05
    var counters: [String: (IoCounters, ContinuousClock.Instant)] = [:]
    /// Each guest's demand: its busiest recent interval.
    var loadHistory = LoadHistory()
    var failures = 0
    var retryAt: ContinuousClock.Instant?
    var ready = false
    public nonisolated let heartbeat = Heartbeat()
    var lastChange = "none yet"
    let hysteresis = PlanHysteresis()
    /// The closed loop: the kernel observer, what it taught, and each guest's misses in a row.
    var observer: BPFObserver?
    var session: GuestObserver?
    var observerUnavailable: String?
    var corrections = MeasuredCorrections()
    var missesInARow: [String: Int] = [:]
    /// Windows a guest must miss in a row before the daemon re-plans for it.
    let missesToReplan = 2
    /// Every change on trial: measured before and after, put back when worse.
    var guardian: DaemonGuard

    public init(configuration: DaemonConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        guardian = DaemonGuard(windows: configuration.verifyIntervals)
        (targets, model) = try Self.load(configuration, logger: logger)
    }

    static func loadTargets(_ configuration: DaemonConfiguration, logger: Logger) throws -> Targets {
        try ConfigFiles.loadTargets(configuration.targetsPath, warn: { logger.warning("\($0)") })
    }

    /// The targets (a domain whose metadata the file overrides is said in the log) and the model.
    static func load(_ configuration: DaemonConfiguration, logger: Logger) throws -> (Targets, any LatencyModel) {
        let targets = try loadTargets(configuration, logger: logger)
        let model = try ConfigFiles.loadModel(configuration.modelOverride.map(ModelChoice.init) ?? targets.model,
                                              params: configuration.paramsOverride ?? targets.modelParams)
        return (targets, model)
    }

    /// Alive when the loop finished a step recently (the watchdog's condition).
    /// Read without the actor: a tick busy with slow guest agents still counts as alive.
    public nonisolated func isAlive() -> Bool {
        heartbeat.alive(quiet: max(configuration.interval * 3, .seconds(10)))
    }

    /// Measured load per guest since the previous step (reads and writes, and the share that were reads).
    func measure(_ view: HostView) -> [String: MeasuredLoad] {
        var loads: [String: MeasuredLoad] = [:]
        let now = ContinuousClock.now
        var seen = Set<String>()
        for (guest, cgroup) in view.cgroups {
            seen.insert(guest)
            guard let current = try? IoCounters.read(cgroup: cgroup, majMin: view.device.majMin, hierarchy: view.hierarchy, fs: fs) else { continue }
            if let (previous, at) = counters[guest], current.isLater(than: previous) {
                let seconds = (now - at).inSeconds
                loads[guest] = MeasuredLoad(ios: current.ios - previous.ios, bytes: current.bytes - previous.bytes, seconds: seconds,
                                            readIos: current.readIos - previous.readIos)
            }
            counters[guest] = (current, now)
        }
        counters = counters.filter { seen.contains($0.key) }    // a guest that went away starts afresh
        return loads
    }

    public func tick() {
        heartbeat.tickBegan()
        defer { heartbeat.tickEnded() }
        readDomainsIfDue()
        let view: HostView
        do {
            view = try HostView.observe(targets, cgroupRoot: configuration.cgroupRoot, fs: fs, hierarchy: configuration.hierarchy)
        } catch {
            logger.error("cannot observe the host: \(error)")
            notifier.status("error: \(error)")
            return
        }
        for warning in view.warnings { logger.warning("\(warning)") }
        let present = view.present(targets)
        guard !present.guests.isEmpty else {
            notifier.status("no guest found; waiting")
            return
        }
        let lastInterval = measure(view)
        metrics.measured(loads: lastInterval, guests: present.guests.map(\.name))
        let capsInForce = Dictionary((applied?.guests ?? []).compactMap { g in g.readIopsCap.map { (g.name, $0) } }, uniquingKeysWith: { a, _ in a })
        let measured = LoadScaling.demandEvidence(loadHistory.add(lastInterval), capsIops: capsInForce)
        let missed = closeTheLoop(view)
        if guardHolds(view: view) {
            if let shown = applied ?? lastPlan { report(view: view, plan: shown) } else { notifier.status("measuring what the guests get before the first change") }
            return
        }
        let moved = view.cgroups.filter { name, cgroup in appliedCgroups[name].map { $0 != cgroup } ?? false }.keys.sorted()
        if !moved.isEmpty {
            logger.notice("\(moved.joined(separator: ", ")) came back in a new cgroup (a restarted domain?): applying the plan there")
        }
        let drifted = !moved.isEmpty || appliedEntries.contains { entry in
            guard let current = try? entry.current(fs) else { return false }   // a vanished cgroup is not drift
            return current != entry.applied
        }
        if !missed, let lastPlan, let plannedLoads, !drifted, Self.close(measured, plannedLoads, tolerance: loadTolerance),
           Set(lastPlan.guests.map(\.name)) == Set(present.guests.map(\.name)), retryAt == nil {
            report(view: view, plan: lastPlan)
            return
        }
        // the guests as measured: their loads, and the read/write mix the caps are split by
        let scaled = LoadScaling.scaled(present, measured: measured)
        let scenario = Scenario(targets: scaled)
        let started = ContinuousClock.now
        let plan: Plan
        do {
            let corrected: any LatencyModel = corrections.isEmpty ? model : CorrectedModel(base: model, corrections: corrections)
            let schedulers = try? view.device.schedulers(fs)
            plan = try Optimizer(model: corrected, space: present.search).plan(scenario, currentScheduler: schedulers?.selected,
                                                                                     offersBfq: schedulers?.offersBfq ?? true)
        } catch {
            logger.error("cannot plan: \(error)")
            notifier.status("error: \(error)")
            return
        }
        lastPlan = plan
        plannedLoads = measured
        let planTime = ContinuousClock.now - started
        metrics.record(plan: plan, planSeconds: planTime.inSeconds)
        let applier = Applier(fs: fs, state: configuration.state, logger: logger)
        if let retryAt, ContinuousClock.now < retryAt {
            // backing off after a failure
        } else if guardian.isRejected(plan.settings) {
            logger.debug("not applying settings that measured worse a short while ago")
        } else if hysteresis.matters(from: applied, to: plan) || drifted || (missed && plan.host != applied?.host) {
            do {
                let before = measurementBeforeChange()
                let (previous, previousEntries) = (applied, appliedEntries)
                let desired = HostSettings.desired(plan: plan, device: view.device, hierarchy: view.hierarchy, cgroups: view.cgroups, fs: fs,
                                                   guests: scaled.guests)
                let changes = try applier.apply(desired, device: view.device)
                applied = plan
                appliedEntries = desired
                appliedCgroups = view.cgroups
                failures = 0
                retryAt = nil
                metrics.applied()
                if let before, !changes.isEmpty {
                    guardian.trial = DaemonGuard.Trial(before: before, previous: previous, previousEntries: previousEntries, settings: plan.settings)
                    guardian.restart()
                }
                if !changes.isEmpty {
                    lastChange = "\(Date().formatted(.iso8601)) \(changes.count) values"
                    logger.notice("applied plan: timeout_sync \(plan.host.timeoutSyncMs) ms, slice_idle \(formatNumber(plan.host.sliceIdleMs, decimals: 3)) ms, weights \(plan.guests.map { "\($0.name)=\($0.weight)" }.joined(separator: " "))")
                }
                for guest in plan.guests { for task in guest.tasks where !task.meets {
                    logger.warning("predicted to miss", metadata: ["guest": "\(guest.name)", "task": "\(task.name)",
                        "predictedMs": "\(formatNumber(task.predictedMs))", "targetMs": "\(formatNumber(task.targetMs))"])
                } }
            } catch {
                failures += 1
                metrics.failed()
                let backoff = min(configuration.interval * (1 << min(failures, 8)), .seconds(300))
                retryAt = ContinuousClock.now + backoff
                logger.error("apply failed (attempt \(failures), next in \(backoff)): \(error)")
            }
        }
        report(view: view, plan: plan)
    }

    /// The kernel's measurement of the last interval: each guest's tail against the
    /// applied plan's prediction, recorded as a correction for the settings in force;
    /// a guest that missed its tightest target `missesToReplan` windows in a row is
    /// logged (GUEST=, TASK=, MEASURED_MS=, TARGET_MS=) and makes the daemon re-plan.
    /// Without BPF the daemon runs open loop, and says so once.
    func closeTheLoop(_ view: HostView) -> Bool {
        guard configuration.closedLoop, observerUnavailable == nil else { return false }
        if observer == nil {
            do {
                observer = try BPFObserver(device: view.device)
                logger.notice("closed loop: measuring each guest in the kernel on \(view.device.devicePath)")
            } catch {
                observerUnavailable = "\(error)"
                logger.warning("\(error); the daemon runs open loop (on the model alone)")
                return false
            }
        }
        let guests = view.cgroups.sorted { $0.key < $1.key }.map { (name: $0.key, cgroup: $0.value) }
        if session.map({ $0.guests.map(\.name) != guests.map(\.name) || $0.guests.map(\.cgroup) != guests.map(\.cgroup) }) ?? true {
            session = GuestObserver(observer: observer!, guests: guests)
            // on v2 a guest whose parent lacks io measures nothing until the first apply enables it
            for warning in GuestObserver.unchargedWarnings(guests, hierarchy: view.hierarchy, fs: fs) { logger.warning("\(warning)") }
            _ = try? session?.window()   // start counting now
            guardian.trial = nil         // other guests: what was measured before says nothing now
            guardian.restart(afterChange: false)
            return false
        }
        guard let session, let window = try? session.window() else { return false }
        metrics.observed(window)
        guardian.add(window: window, guests: guests.map(\.name))
        guard let applied else { return false }
        var replan = false
        for guest in applied.guests {
            let histograms = window[guest.name] ?? [:]
            let all = histograms.values.reduce(LatencyHistogram(), +)
            // each op held to the targets of the tasks that issue it (a backup's slow writes are not its reader's miss)
            let declared = targets.guests.first { $0.name == guest.name }?.tasks ?? []
            guard let allTail = all.percentileMs(targets.percentile),
                  let verdict = OpVerdict.worst(histograms, tasks: declared, percentile: targets.percentile) else { continue }
            let (tail, tightest) = (verdict.tailMs, verdict.task)
            metrics.measured(guest: guest.name, tailMs: allTail, tasksMet: declared.map {
                (name: $0.name, met: OpVerdict.meets(histograms, task: $0, percentile: targets.percentile))
            })
            let predicted = guest.tasks.map(\.predictedMs).max() ?? tail
            corrections.record(host: applied.host, guest: guest.name, measuredMs: tail, predictedMs: predicted, targetMs: tightest.targetMs)
            if verdict.misses {
                missesInARow[guest.name, default: 0] += 1
                if missesInARow[guest.name]! >= missesToReplan {
                    logger.warning("measured miss", metadata: ["guest": "\(guest.name)", "task": "\(tightest.name)", "op": "\(verdict.op.rawValue)",
                        "measuredMs": "\(formatNumber(tail, decimals: 2))", "targetMs": "\(formatNumber(tightest.targetMs))",
                        "predictedMs": "\(formatNumber(predicted, decimals: 2))"])
                    logger.notice("\(guest.name) measured \(formatNumber(tail, decimals: 2)) ms (target \(formatNumber(tightest.targetMs)) ms) at timeout_sync \(applied.host.timeoutSyncMs) ms, slice_idle \(formatNumber(applied.host.sliceIdleMs, decimals: 3)) ms, where \(formatNumber(predicted, decimals: 2)) ms was predicted: predictions at that setting now × \(formatNumber(corrections.factor(host: applied.host, guest: guest.name) ?? 1, decimals: 2)); re-planning")
                    replan = true
                }
            } else {
                missesInARow[guest.name] = 0
            }
        }
        return replan
    }

    /// Whether every guest's load is within `tolerance` of the planned one (same guests measured).
    static func close(_ now: [String: MeasuredLoad], _ planned: [String: MeasuredLoad], tolerance: Double) -> Bool {
        guard Set(now.keys) == Set(planned.keys) else { return false }
        return now.allSatisfy { name, load in
            let before = planned[name]!
            return abs(load.iops - before.iops) <= tolerance * before.iops
                && abs(load.requestKB - before.requestKB) <= tolerance * before.requestKB
        }
    }

    /// STATUS= (READY=1 the first time a plan is in place) and the metrics textfile.
    func report(view: HostView, plan: Plan) {
        let shown = applied ?? plan
        let status = "\(shown.guests.count) guests, \(shown.tasksMet)/\(shown.taskCount) tasks predicted to meet, last change: \(lastChange)"
            + (view.skipped.isEmpty ? "" : ", missing: \(view.skipped.joined(separator: ","))")
            + (failures > 0 ? ", apply failing (\(failures))" : "")
        if !ready && applied != nil {
            ready = true
            notifier.ready(status: status)
        } else {
            notifier.status(status)
        }
        if let path = configuration.metricsTextfile {
            do { try metrics.writeTextfile(path) } catch { logger.warning("metrics textfile: \(error)") }
        }
    }

    /// With `libvirt:` in the targets, domains start, stop and change their metadata
    /// while the daemon runs: their targets are read again every 30 s (SIGHUP at once).
    func readDomainsIfDue() {
        guard targets.libvirtURI != nil, ContinuousClock.now - domainsReadAt >= Self.domainsInterval else { return }
        domainsReadAt = ContinuousClock.now
        do {
            let fresh = try Self.loadTargets(configuration, logger: logger)
            guard fresh.guests != targets.guests else { return }
            logger.notice("the libvirt domains' targets changed: now \(fresh.guests.map(\.name).joined(separator: ", "))")
            targets = fresh
            plannedLoads = nil
        } catch {
            logger.warning("reading the libvirt domains' targets failed, keeping the previous ones: \(error)")
        }
    }

    /// SIGHUP: re-read the targets file and the model; a broken file keeps the old ones.
    public func reload() {
        notifier.reloading()
        do {
            (targets, model) = try Self.load(configuration, logger: logger)
            plannedLoads = nil
            corrections = MeasuredCorrections()   // a new model or new targets: what was learnt no longer applies
            logger.notice("reloaded \(configuration.targetsPath)")
        } catch {
            logger.error("reload of \(configuration.targetsPath) failed, keeping the previous targets: \(error)")
        }
        tick()
        notifier.notify("READY=1")
    }

    /// SIGTERM/SIGINT: STOPPING=1, then restore unless the targets say keep.
    public func stop() {
        notifier.stopping()
        guard targets.onStop == .restore else {
            logger.notice("stopping; onStop: keep leaves the applied settings in place")
            return
        }
        do {
            let restored = try Applier(fs: fs, state: configuration.state, logger: logger).restore()
            logger.notice("stopping; restored \(restored.count) values")
        } catch {
            logger.error("stopping; restore failed: \(error); run `rtvirtio restore`")
        }
    }
}

/// The daemon as a swift-service-lifecycle Service: the loop, SIGHUP
/// reloads, the watchdog; graceful shutdown (SIGTERM/SIGINT) comes from the
/// ServiceGroup.
public struct DaemonService: Service {
    let core: DaemonCore
    let interval: Duration

    public init(core: DaemonCore, interval: Duration) {
        self.core = core
        self.interval = interval
    }

    public func run() async throws {
        let notifier = SystemdNotifier()
        let core = self.core, interval = self.interval
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    await core.tick()
                    try? await Task.sleep(for: interval)
                }
            }
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) { await core.reload() }
            }
            if let pace = notifier.watchdogInterval() {
                group.addTask {
                    while !Task.isCancelled {
                        if core.isAlive() { notifier.watchdog() }
                        try? await Task.sleep(for: pace)
                    }
                }
            }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        await core.stop()
    }
}
