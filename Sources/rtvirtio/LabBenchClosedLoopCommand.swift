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

    @Option(help: ArgumentHelp("The model file the daemon starts from (analytical, idling or MLP).", valueName: "file")) var params = "config/models/analytical-paper.yaml"
    @Option(help: "Seconds per mode.") var seconds = 60
    @Option(help: "The daemon's interval (s).") var intervalS = 1.0
    @Option(help: ArgumentHelp("Each guest's read IOPS, most urgent first (2 to 8 guests).", valueName: "n,n,...")) var guestsIops = "1000,1000,1000"
    @Option(help: ArgumentHelp("Each guest's target (ms), most urgent first.", valueName: "ms,ms,...")) var targetsMs = "50,200,1000"
    @Option(help: ArgumentHelp("The device's capacity for the targets file (4 KiB read IOPS): lets the daemon cap the least urgent guests when they ask for more.", valueName: "IOPS"))
    var capacityIops: Int?
    @Option(help: ArgumentHelp("Write the JSON here (default: standard output).", valueName: "file")) var out: String?

    func validate() throws {
        guard (10...3600).contains(seconds) else { throw ValidationError("--seconds must be in 10...3600") }
        guard intervalS >= 0.5, intervalS <= 10 else { throw ValidationError("--interval-s must be in 0.5...10") }
        guard FileManager.default.fileExists(atPath: params) else { throw ValidationError("no model file at \(params)") }
        let (iops, targets) = try parsedGuests()
        guard (2...8).contains(iops.count), iops.count == targets.count else {
            throw ValidationError("--guests-iops and --targets-ms want the same number of guests, 2 to 8 (got \(iops.count) and \(targets.count))")
        }
        if let capacityIops, !(100...10_000_000).contains(capacityIops) { throw ValidationError("--capacity-iops wants 100 to 10000000") }
    }

    func parsedGuests() throws -> (iops: [Int], targetsMs: [Double]) {
        let iops = guestsIops.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        let targets = targetsMs.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard iops.allSatisfy({ ($0 ?? 0) >= 1 && ($0 ?? 0) <= 100_000 }) else { throw ValidationError("--guests-iops wants numbers from 1 to 100000, comma-separated (got '\(guestsIops)')") }
        guard targets.allSatisfy({ ($0 ?? 0) > 0 && ($0 ?? 0) <= 60_000 }) else { throw ValidationError("--targets-ms wants milliseconds from 0 to 60000, comma-separated (got '\(targetsMs)')") }
        return (iops.compactMap { $0 }, targets.compactMap { $0 })
    }

    func run() throws {
        let interrupts = LabCleanup.onSignals(command: "bench-closed-loop")
        defer { interrupts.forEach { $0.cancel() } }
        let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        var benchmark = ClosedLoopBenchmark(binary: binary, params: URL(fileURLWithPath: params).standardizedFileURL.path)
        (benchmark.seconds, benchmark.intervalS) = (seconds, intervalS)
        (benchmark.guestsIops, benchmark.targetsMs) = try parsedGuests()
        benchmark.capacityIops = capacityIops
        let result = try benchmark.run { FileHandle.standardError.write(Data("bench-closed-loop: \($0)\n".utf8)) }
        let json = try encodeJSON(result)
        if let out { try json.write(toFile: out, atomically: true, encoding: .utf8) } else { print(json, terminator: "") }
    }
}
