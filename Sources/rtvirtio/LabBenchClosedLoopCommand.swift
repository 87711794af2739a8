import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOLab

struct LabBenchClosedLoopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-closed-loop",
        abstract: "Windows until the daemon's closed loop brings the urgent guest within its target, starting from the paper's model.",
        discussion: """
        On the device-bound testbed (brought up if none is; taken down after): three guests reading at \
        1000 IOPS each, targets 50 / 200 / 1000 ms, bfq at the kernel's defaults; the daemon runs closed \
        loop, then open loop on the same load, while every guest is measured in the kernel each second. \
        Takes about 2 × --seconds plus the testbed's set-up. Needs root, fio, BPF and the v1 blkio hierarchy.
        Example: rtvirtio lab bench-closed-loop --seconds 60 --out bench/results/closed-loop.json
        """)

    @Option(help: ArgumentHelp("The model the daemon starts from.", valueName: "file")) var params = "config/models/analytical-paper.yaml"
    @Option(help: "Seconds per mode.") var seconds = 60
    @Option(help: "The daemon's interval (s).") var intervalS = 1.0
    @Option(help: ArgumentHelp("Write the JSON here (default: standard output).", valueName: "file")) var out: String?

    func validate() throws {
        guard (10...3600).contains(seconds) else { throw ValidationError("--seconds must be in 10...3600") }
        guard intervalS >= 0.5, intervalS <= 10 else { throw ValidationError("--interval-s must be in 0.5...10") }
        guard FileManager.default.fileExists(atPath: params) else { throw ValidationError("no model file at \(params)") }
    }

    func run() throws {
        let interrupts = LabCleanup.onSignals(command: "bench-closed-loop")
        defer { interrupts.forEach { $0.cancel() } }
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var benchmark = ClosedLoopBenchmark(binary: binary, params: URL(fileURLWithPath: params).standardizedFileURL.path)
        (benchmark.seconds, benchmark.intervalS) = (seconds, intervalS)
        let result = try benchmark.run { FileHandle.standardError.write(Data("bench-closed-loop: \($0)\n".utf8)) }
        let json = try encodeJSON(result)
        if let out { try json.write(toFile: out, atomically: true, encoding: .utf8) } else { print(json, terminator: "") }
    }
}
