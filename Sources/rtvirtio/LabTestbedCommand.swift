import ArgumentParser
import Foundation
import RTVirtIOLab

extension LabTestbed.Regime: ExpressibleByArgument {}

struct LabTestbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "testbed",
        abstract: "Bring the lab's real-bfq testbed up or down, or show it.",
        discussion: "Example: rtvirtio lab testbed up --regime fast; rtvirtio lab testbed down")

    enum Action: String, ExpressibleByArgument, CaseIterable { case up, down, status }

    @Argument(help: "up, down or status.") var action: Action
    @Option(help: "fast (loop over a local file) or device-bound (FUSE bottleneck; not built yet).") var regime: LabTestbed.Regime = .fast
    @Option(help: "Size of the backing file in MiB.") var sizeMb = 512

    func run() throws {
        switch action {
        case .up:
            let testbed = try LabTestbed.up(regime: regime, sizeMB: sizeMb)
            print("testbed \(testbed.regime.rawValue): \(testbed.device) (bfq) over \(testbed.image), cgroups under \(testbed.cgroupRoot)")
        case .down:
            guard let testbed = try LabTestbed.current() else { print("no testbed is up"); return }
            try testbed.down()
            print("testbed removed: \(testbed.device), \(testbed.cgroupRoot), \(testbed.image)")
        case .status:
            guard let testbed = try LabTestbed.current() else { print("no testbed is up"); return }
            print("testbed \(testbed.regime.rawValue) since \(testbed.createdAt): \(testbed.device) over \(testbed.image), cgroups under \(testbed.cgroupRoot)")
        }
    }
}
