import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

struct LabBenchObserverCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-observer",
        abstract: "What the kernel observer costs: IOPS at saturation with and without it attached, alternating, as a ratio.",
        discussion: "Needs root, fio and BPF; makes its own loop device. Example: rtvirtio lab bench-observer --pairs 5 --format json")

    @Option(help: "Pairs of runs (with, without).") var pairs = 5
    @Option(help: "Seconds per run.") var secondsPerRun = 5
    @Option(help: "text or json.") var format: OutputFormat = .json

    func validate() throws {
        guard (1...100).contains(pairs), (1...600).contains(secondsPerRun) else { throw ValidationError("--pairs 1-100, --seconds-per-run 1-600") }
    }

    func run() throws {
        let interrupts = LabCleanup.onSignals(command: "bench-observer")
        defer { interrupts.forEach { $0.cancel() } }
        var benchmark = ObserverBenchmark()
        (benchmark.pairs, benchmark.secondsPerRun) = (pairs, secondsPerRun)
        let result = try benchmark.run { FileHandle.standardError.write(Data("bench-observer: \($0)\n".utf8)) }
        if format == .json { print(try encodeJSON(result), terminator: ""); return }
        print("IOPS with / without the observer: median \(formatNumber(result.medianRatio, decimals: 4)) (\(formatNumber(result.minRatio, decimals: 4))–\(formatNumber(result.maxRatio, decimals: 4)) over \(result.pairs) pairs); "
              + "CPU per I/O \(formatNumber(result.cpuMicrosecondsPerIoWith, decimals: 2)) µs with, \(formatNumber(result.cpuMicrosecondsPerIoWithout, decimals: 2)) µs without; goal: \(result.goal)")
    }
}
