import ArgumentParser
import RTVirtIO

struct RTVirtIOCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtvirtio",
        abstract: "Predictable tail latency of VM disk reads on a KVM host, through bfq and cgroup weights.",
        discussion: """
        Declare per-guest, per-task tail-latency targets in a targets file; rtvirtio predicts each \
        task's 99.99th-percentile latency for candidate bfq settings and cgroup weights, picks the \
        settings that meet the most urgent targets first, and writes them to the kernel. \
        `rtvirtio restore` always puts the host back as it was.
        """,
        version: RTVirtIOVersion.current,
        subcommands: [PlanCommand.self, PredictCommand.self, ApplyCommand.self, StatusCommand.self, RestoreCommand.self, GuestsCommand.self, ObserveCommand.self, TopCommand.self, DaemonCommand.self, BenchCommand.self, LabCommand.self])
}
