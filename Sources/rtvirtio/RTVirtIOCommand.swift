import ArgumentParser
import RTVirtIO

struct RTVirtIOCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rtvirtio",
        abstract: "Predictable tail latency of VM disk I/O (reads and writes) on a KVM host, through bfq, cgroup weights and caps.",
        discussion: """
        Declare per-guest, per-task tail-latency targets in a targets file; rtvirtio predicts each \
        task's 99.99th-percentile latency (and, with the device's capacity, the IOPS it gets) for \
        candidate bfq settings, cgroup weights and caps on the least urgent guests, picks the settings \
        that meet the most urgent targets first — or keeps the device's own scheduler where that already \
        meets them — and writes them to the kernel. It measures each guest in the kernel (observe, top, \
        apply --verify-s, the daemon's closed loop) and trusts that over its models. \
        `rtvirtio restore` always puts the host back as it was.
        """,
        version: RTVirtIOVersion.current,
        subcommands: [PlanCommand.self, PredictCommand.self, ApplyCommand.self, StatusCommand.self, RestoreCommand.self, GuestsCommand.self, ProbeCommand.self, ObserveCommand.self, TopCommand.self, DaemonCommand.self, BenchCommand.self, LabCommand.self])
}
