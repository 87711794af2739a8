import ArgumentParser

struct LabCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lab",
        abstract: "Testbed, calibration and benchmarks (for developers of rtvirtio's models).",
        subcommands: [LabTestbedCommand.self, LabCalibrateCommand.self, LabFitCommand.self, LabAccuracyCommand.self, LabTrainMLPCommand.self, LabBenchPlannerCommand.self, LabBenchDaemonCommand.self, LabBenchObserverCommand.self, LabBenchClosedLoopCommand.self])
}
