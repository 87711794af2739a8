import ArgumentParser
import Logging
import RTVirtIO
import RTVirtIOHost
import ServiceLifecycle

struct DaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "daemon",
        abstract: "Observe, re-plan and apply continuously; restore on stop (the systemd service).",
        discussion: """
        Every interval: measure each guest's reads and writes from its cgroup, scale its tasks' load (and take its \
        measured read/write mix where its tasks declare one far from it), re-plan, and apply \
        only when the plan changes enough to matter. Closed loop (where BPF runs): each guest is measured in the \
        kernel every interval, each op held to the targets of the tasks that issue it, the model's predictions at the settings in force are corrected by what was \
        measured there, and a guest missing its target two intervals in a row makes the daemon re-plan; every \
        change is measured for --verify-intervals against the settings before it and put back if it made \
        things worse (as `apply --verify-s`); a change waits until the settings in force were measured for as \
        long, or for one interval in which the most urgent guest missed. Speaks sd_notify (READY, STATUS, WATCHDOG, RELOADING, \
        STOPPING); SIGHUP re-reads the targets file; SIGTERM restores the host (onStop: restore).
        Example: rtvirtio daemon --targets /etc/rtvirtio/targets.yaml --metrics 127.0.0.1:9464
        """)

    @OptionGroup var planning: PlanningOptions
    @OptionGroup var host: HostOptions
    @Option(help: "Seconds between steps.") var intervalS = 5.0
    @Option(help: ArgumentHelp("Serve Prometheus metrics on this loopback HOST:PORT (off by default).", valueName: "addr"))
    var metrics: String?
    @Option(help: ArgumentHelp("Also write the metrics to this node-exporter textfile each step.", valueName: "file"))
    var metricsTextfile: String?
    @Flag(help: "Plan on the model alone: no measurement in the kernel, no corrections.") var openLoop = false
    @Option(help: ArgumentHelp("""
        Intervals each change is measured against the settings before it; a change that makes \
        things worse (a guest meeting before misses after, fewer guests meeting in urgency order) \
        is put back and not tried again for 30 intervals. 0: no guard. Needs the kernel observer.
        """, valueName: "n"))
    var verifyIntervals = 3
    @Option(help: .hidden) var cgroupV2Fixture: String?   // benchmarks: a v2 tree in a plain directory

    func validate() throws {
        guard intervalS >= 0.1, intervalS <= 3600 else { throw ValidationError("--interval-s must be in 0.1...3600") }
        guard (0...100).contains(verifyIntervals) else { throw ValidationError("--verify-intervals must be in 0...100") }
    }

    func run() async throws {
        RTVirtIOLogging.bootstrap()
        let logger = Logger(label: "rtvirtio")
        let interval = Duration.milliseconds(Int64(intervalS * 1000))
        var configuration = DaemonConfiguration(
            targetsPath: planning.targets, modelOverride: planning.model, paramsOverride: planning.params,
            cgroupRoot: host.cgroupRoot, state: host.state, interval: interval, metricsTextfile: metricsTextfile)
            .with(hierarchy: cgroupV2Fixture.map { CgroupHierarchy(version: .v2, mountPoint: $0) })
        configuration.closedLoop = !openLoop && cgroupV2Fixture == nil
        configuration.verifyIntervals = verifyIntervals
        let core = try DaemonCore(configuration: configuration, logger: logger)
        // held for the daemon's life: a manual apply or restore meanwhile is refused with its pid
        let lock = try configuration.state.lock()
        defer { configuration.state.unlock(lock) }
        if let metrics {
            let server = try MetricsServer(address: metrics) { core.metrics.text() }
            server.start()
            logger.notice("metrics on http://\(metrics)/metrics")
        }
        let group = ServiceGroup(configuration: .init(
            services: [DaemonService(core: core, interval: interval)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
