import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOLab

struct LabBenchDaemonCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-daemon",
        abstract: "RSS and CPU of a real daemon with many guests on a cgroup-v2 fixture (beside a one-guest baseline), then RSS over many steps.",
        discussion: "Needs root (loop devices). Example: rtvirtio lab bench-daemon --guests 64 --duration-s 600 --iterations 100000")

    @Option(help: "Guests in the fixture tree.") var guests = 64
    @Option(help: "Seconds the two daemons run.") var durationS = 600.0
    @Option(help: "The daemons' interval.") var intervalS = 1.0
    @Option(help: "In-process steps for the RSS-over-iterations check.") var iterations = 100_000

    func run() async throws {
        let interrupts = LabCleanup.onSignals(command: "bench-daemon")
        defer { interrupts.forEach { $0.cancel() } }
        var benchmark = DaemonBenchmark(binary: CommandLine.arguments[0].hasPrefix("/") ? CommandLine.arguments[0]
                                        : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0])
        benchmark.guests = guests
        benchmark.durationS = durationS
        benchmark.intervalS = intervalS
        benchmark.iterations = iterations
        let result = try await benchmark.run { FileHandle.standardError.write(Data("bench-daemon: \($0)\n".utf8)) }
        print(try encodeJSON(result), terminator: "")
    }
}
