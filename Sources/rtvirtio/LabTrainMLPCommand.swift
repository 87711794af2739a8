import ArgumentParser
import Foundation
import RTVirtIO
import RTVirtIOHost
import RTVirtIOLab

struct LabTrainMLPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-mlp",
        abstract: "Train the paper's MLP (3 × 15 ReLU, k-fold members averaged, underestimates punished) and export it.",
        discussion: """
        Trains in Swift, in Double, on the train split (the test split is left for `lab accuracy`). Writes the model \
        (rtvirtio-mlp JSON with provenance) and, beside it, NAME.check.json: the test split's inputs with the trainer's \
        own predictions, which the tests compare with the inference engine. Build in release mode: training takes minutes. \
        Example: rtvirtio lab train-mlp --data data/calibration/fast.csv --out config/models/mlp-fast.json
        """)

    @Option(name: .customLong("data"), parsing: .upToNextOption, help: ArgumentHelp("Calibration CSVs.", valueName: "file"))
    var data: [String]
    @Option(help: ArgumentHelp("Measured value to learn: " + CalibrationDataset.Measure.choices + ".")) var measure: CalibrationDataset.Measure = .p9999
    @Option(help: "Epochs per member (the best epoch on the member's held-out fold is kept).") var epochs = 300
    @Option(help: "Folds, and so ensemble members.") var folds = 5
    @Option(help: "Seed of initialisation and shuffling.") var seed: UInt64 = 1
    @Option(help: "How much more an underestimate costs than an overestimate.") var underestimatePenalty = 4.0
    @Flag(help: "Also learn from what each task does: its request size, share of reads, queue depth and the others' requests in flight (data with writers).")
    var withOps = false
    @Option(help: ArgumentHelp("Where to write the model (.json).", valueName: "file")) var out: String

    func validate() throws {
        guard out.hasSuffix(".json") else { throw ValidationError("--out must end in .json (MLP model files are JSON)") }
        guard epochs > 0, folds >= 2 else { throw ValidationError("need --epochs ≥ 1 and --folds ≥ 2") }
    }

    func run() throws {
        let train = try LabData.load(data, measure: measure, part: .train)
        let test = try LabData.load(data, measure: measure, part: .test)
        var trainer = MLPTrainer(features: withOps ? MLPTrainer.opFeatures : MLPTrainer.defaultFeatures)
        (trainer.epochs, trainer.folds, trainer.seed, trainer.underestimatePenalty) = (epochs, folds, seed, underestimatePenalty)
        let result = trainer.train(train) { FileHandle.standardError.write(Data("train-mlp: \($0)\n".utf8)) }
        let outOfFold = Accuracy(result.outOfFold)
        let testRows = trainer.rows(test)
        let testPredictions = MLPTrainer.predict(result.file, testRows.inputs)
        let onTest = Accuracy(zip(testPredictions, testRows.measuredMs).map { ($0, $1) })
        let provenance: [String: String] = [
            "data": data.joined(separator: ", "),
            "rows": "\(result.outOfFold.count) tasks of \(train.points.count) points (train split)",
            "measure": measure.rawValue,
            "recipe": "\(trainer.hidden.count) hidden layers x \(trainer.hidden[0]) ReLU, Adam lr \(trainer.learningRate), batch \(trainer.batchSize), \(epochs) epochs (best held-out epoch kept), \(folds) members averaged, underestimates x\(formatNumber(underestimatePenalty)) in the squared log loss, seed \(seed)",
            "heldOut": "\(folds)-fold out-of-fold: median |error| \(AccuracyReport.percent(outOfFold.medianAbsErrorPct)), p90 \(AccuracyReport.percent(outOfFold.p90AbsErrorPct)), underestimates \(AccuracyReport.percent(outOfFold.underestimateRate * 100))",
            "gitCommit": Provenance.gitCommit(),
            "date": ISO8601DateFormatter().string(from: Date()),
            "command": CommandLine.arguments.joined(separator: " "),
        ]
        try Self.writeJSON(result.file, extra: ["provenance": provenance], to: out)
        let check = (out as NSString).deletingPathExtension + ".check.json"
        try Self.writeJSON(MLPCheck(features: result.file.features, inputs: testRows.inputs, trainerMs: testPredictions), extra: [:], to: check)
        _ = try ConfigFiles.loadModel(.file(out), params: nil)   // the engine must read what we wrote
        print("""
            trained \(folds) members on \(train.points.count) points (\(result.outOfFold.count) tasks), measure \(measure.rawValue)
            \(AccuracyReport.table([("out of fold (\(folds)-fold)", outOfFold), ("test split", onTest)]))
            wrote \(out) and \(check)
            """)
    }

    static func writeJSON(_ value: some Encodable, extra: [String: Any], to path: String) throws {
        let encoded = try JSONEncoder().encode(value)
        var object = try JSONSerialization.jsonObject(with: encoded) as! [String: Any]
        object.merge(extra) { $1 }
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
