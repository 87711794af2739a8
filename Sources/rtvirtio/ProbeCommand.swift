import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost

struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Measure what a device serves of 4 KiB and of 1 MiB random reads, for a targets file's `capacity:`.",
        discussion: """
        Runs fio read-only (--readonly: it never writes, whatever device is named) with --jobs readers \
        issuing one request at a time, for --seconds of 4 KiB reads and --seconds of 1 MiB ones (twice \
        --seconds in all), and prints the capacity line to put in the targets file: readIops, and readMBps, \
        which tells rtvirtio what a large request costs (without it, a 64 KiB request counts as 16 of 4 KiB, \
        an upper bound). Run it while the guests are idle, or it measures what is left over. Needs root and fio.
        Example: rtvirtio probe --device /dev/sdb --seconds 10
        """)

    @Option(help: ArgumentHelp("The block device the guests share.", valueName: "path")) var device: String
    @Option(help: "How long to read.") var seconds = 10
    @Option(help: "Readers at once (each one request at a time).") var jobs = 4
    @Option(help: "text or json.") var format: OutputFormat = .text

    func validate() throws {
        guard (1...600).contains(seconds) else { throw ValidationError("--seconds must be in 1...600") }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be in 1...64") }
    }

    func run() throws {
        let block = try BlockDevice.resolve(device)   // a block device, or a clear error before fio runs
        FileHandle.standardError.write(Data("probe: reading \(block.devicePath) for \(seconds) s of 4 KiB and \(seconds) s of 1 MiB with \(jobs) readers (read-only)…\n".utf8))
        let iops = try CapacityProbe.readIops(device: block.devicePath, seconds: seconds, jobs: jobs)
        FileHandle.standardError.write(Data("probe: 4 KiB done (\(Int(iops.rounded())) IOPS); 1 MiB…\n".utf8))
        let mbps = try CapacityProbe.largeReadMBps(device: block.devicePath, seconds: seconds, jobs: jobs)
        let rounded = Int(iops.rounded()), mbpsText = formatNumber(mbps, decimals: 1)
        if format == .json {
            print(try encodeJSON(["device": block.devicePath, "readIops": String(rounded), "readMBps": mbpsText,
                                  "seconds": String(seconds), "jobs": String(jobs)]), terminator: "")
        } else {
            print("\(block.devicePath): \(rounded) read IOPS (4 KiB random), \(mbpsText) MB/s (1 MiB random), \(jobs) readers, \(seconds) s each")
            print("in the targets file:\ncapacity: {readIops: \(rounded), readMBps: \(mbpsText)}")
        }
    }
}
