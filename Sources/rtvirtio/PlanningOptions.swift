import ArgumentParser
import RTVirtIO
import RTVirtIOHost

/// Options every planning command shares: the targets file and the model.
struct PlanningOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The targets file (YAML or JSON).", valueName: "file"))
    var targets: String

    @Option(name: .long, help: ArgumentHelp("analytical, mlp, idling, or a model file (.json = MLP, else a YAML parameter file of its `kind:`). Default: the targets file's `model:`.", valueName: "model"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp("Parameter file for the chosen model. Default: the targets file's `modelParams:`, else the bundled one.", valueName: "file"))
    var params: String?

    func load() throws -> (targets: Targets, model: any LatencyModel) {
        let targets = try ConfigFiles.loadTargets(self.targets)
        let choice = model.map(ModelChoice.init) ?? targets.model
        let model = try ConfigFiles.loadModel(choice, params: params ?? targets.modelParams)
        return (targets, model)
    }
}

/// Formats of the commands that draw a page (plan, lab accuracy).
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, html
}

/// Formats of every other command: --help offers only what the command prints.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
