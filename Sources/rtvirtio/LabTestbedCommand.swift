import ArgumentParser
import Foundation
import Glibc
import RTVirtIOHost
import RTVirtIOLab

extension LabTestbed.Regime: ExpressibleByArgument {}

struct LabTestbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "Bring the lab's real-bfq testbed up or down, or show it.",
        discussion: "Example: rtvirtio lab testbed up --regime fast; rtvirtio lab testbed down")

    enum Action: String, ExpressibleByArgument, CaseIterable { case up, down, status }

    @Argument(help: "up, down or status.") var action: Action
    @Option(help: "fast (loop over a local file) or device-bound (loop over rtvirtio-fused, a FUSE file with a fixed service time).")
    var regime: LabTestbed.Regime = .fast
    @Option(help: "Size of the backing file in MiB.") var sizeMb = 512
    @Option(help: "device-bound: service time per 4 KiB, µs (284: 3521 IOPS, what the contended cases were scaled to).") var serviceUs = LabTestbed.defaultServiceTimeUs
    @Option(help: ArgumentHelp("device-bound: per 4 KiB written, µs (--service-us if not given).", valueName: "µs"))
    var writeServiceUs: Int?

    func validate() throws {
        if let writeServiceUs, !(1...1_000_000).contains(writeServiceUs) { throw ValidationError("--write-service-us must be 1…1000000") }
    }

    func run() throws {
        switch action {
        case .up:
            let lock = try LabTestbed.exclusive()
            defer { close(lock) }
            let testbed = try LabTestbed.up(regime: regime, sizeMB: sizeMb, serviceTimeUs: serviceUs, writeServiceTimeUs: writeServiceUs)
            print("testbed \(testbed.regime.rawValue): \(testbed.device): \(testbed.deviceDescription); cgroups under \(testbed.cgroupRoot)")
            print("capacity: \(Int(try testbed.measureCapacityIops())) IOPS (4 jobs of 4 KiB random reads, 3 s, under \((try? BlockDevice.resolve(testbed.device).scheduler(HostFS())) ?? "its scheduler"))")
        case .down:
            let lock = try LabTestbed.exclusive()
            defer { close(lock) }
            guard let testbed = try LabTestbed.current() else { print("no testbed is up"); return }
            try testbed.down()
            print("testbed removed: \(testbed.device), \(testbed.cgroupRoot), \(testbed.image)")
        case .status:
            guard let testbed = try LabTestbed.current() else { print("no testbed is up"); return }
            print("testbed \(testbed.regime.rawValue) since \(testbed.createdAt): \(testbed.device) over \(testbed.image), cgroups under \(testbed.cgroupRoot)")
        }
    }
}
