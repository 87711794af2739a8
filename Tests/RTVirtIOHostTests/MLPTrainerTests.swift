import Foundation
import Testing
import RTVirtIO
@testable import RTVirtIOLab

/// The Swift trainer against the inference engine, and the trainer against data.
struct MLPTrainerTests {
    static var checkout: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Engine and trainer agree on `inputs` to a relative 1e-4.
    static func expectEngineMatches(_ modelJSON: Data, features: [String], inputs: [[Double]], trainerMs: [Double]) throws {
        let engine = try MLPModel(json: modelJSON, file: "model.json")
        #expect(engine.featureCount == features.count)
        var out = [Double](repeating: .nan, count: inputs.count)
        let flat = inputs.flatMap { $0 }
        flat.withUnsafeBufferPointer { input in out.withUnsafeMutableBufferPointer { engine.predictBatch(input, count: inputs.count, into: $0) } }
        var worst = 0.0
        for (engineMs, expected) in zip(out, trainerMs) { worst = max(worst, abs(engineMs - expected) / abs(expected)) }
        #expect(worst <= 1e-4, "worst relative difference \(worst)")
    }

    @Test("a model trained on held-in rows: the engine reproduces the trainer on held-out rows (≤ 1e-4), and training helps")
    func engineReproducesTrainer() throws {
        let data = ModelFitTests.synthetic(count: 80, seed: 11)
        var trainer = MLPTrainer()
        (trainer.epochs, trainer.folds) = (40, 3)
        let result = trainer.train(data.part(.train))
        #expect(result.file.members.count == 3)
        #expect(result.file.members[0].layers.map(\.biases.count) == [15, 15, 15, 1])
        let held = trainer.rows(data.part(.test))
        let trainerMs = MLPTrainer.predict(result.file, held.inputs)
        try Self.expectEngineMatches(try JSONEncoder().encode(result.file), features: result.file.features, inputs: held.inputs, trainerMs: trainerMs)
        // the analytical truth spans ~10 to ~1000 ms; a trained net must do far better than predicting one constant
        let trained = Accuracy(zip(trainerMs, held.measuredMs).map { ($0, $1) })
        let median = held.measuredMs.sorted()[held.measuredMs.count / 2]
        let constant = Accuracy(held.measuredMs.map { (median, $0) })
        #expect(trained.medianAbsErrorPct < constant.medianAbsErrorPct / 2, "trained \(trained), constant \(constant)")
    }

    @Test("each bundled MLP: the engine reproduces the trainer's predictions on the test split it was not trained on",
          arguments: ["mlp-fast", "mlp-device-bound", "mlp-fast-windows", "mlp-device-bound-windows"])
    func bundledModelMatchesItsTrainer(name: String) throws {
        let model = Self.checkout.appendingPathComponent("config/models/\(name).json")
        let check = try JSONDecoder().decode(MLPCheck.self, from: Data(contentsOf: Self.checkout.appendingPathComponent("config/models/\(name).check.json")))
        #expect(check.inputs.count > 50)
        try Self.expectEngineMatches(try Data(contentsOf: model), features: check.features, inputs: check.inputs, trainerMs: check.trainerMs)
    }
}
