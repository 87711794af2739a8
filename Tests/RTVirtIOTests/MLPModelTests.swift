import Foundation
import Testing
@testable import RTVirtIO

struct MLPModelTests {
    static func fixture() throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "tiny-mlp", withExtension: "json", subdirectory: "Fixtures"))
        return try Data(contentsOf: url)
    }

    static func scenario(iops: Double) -> Scenario {
        Scenario(guests: [.init(name: "g", criticality: 1, pinnedWeight: nil, guestBfq: .kernelDefault,
                                tasks: [TaskSpec(name: "t", iops: iops, targetMs: 100)])])
    }

    /// iops 300, slice_idle 2 → x = [2, 2]. Member 1: h = relu([2, 2, 0.5]) → 2 + 4 − 0.5 + 0.25 = 5.75 → 10 + 2 × 5.75 = 21.5.
    /// Member 2: 0.5 × 2 + 0.5 × 2 + 1 = 3 → 16. Average 18.75.
    @Test func ensembleOutputMatchesHandComputation() throws {
        let model = try MLPModel(json: try Self.fixture(), file: "tiny-mlp.json")
        let prediction = model.predict(Self.scenario(iops: 300), settings: Settings(host: BfqSettings(timeoutSyncMs: 124, sliceIdleUs: 2000), weights: [100]))
        #expect(abs(prediction[0][0] - 18.75) < 1e-5)
        #expect(model.validity.hostSliceIdleMs == 0...8)
        #expect(model.provenance?.contains("hand-made") == true)
    }

    /// iops 0, slice_idle 3 → x = [−1, 3]. Member 1: relu([−1, 3, −3.5]) = [0, 3, 0] → 6.25 → 22.5.
    /// Member 2: −0.5 + 1.5 + 1 = 2 → 14. Average 18.25.
    @Test func reluClampsNegativeUnitsInABatch() throws {
        let model = try MLPModel(json: try Self.fixture(), file: "tiny-mlp.json")
        let rows: [Double] = [0, 3, 300, 2]
        var out = [Double](repeating: 0, count: 2)
        rows.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { model.predictBatch(input, count: 2, into: $0) }
        }
        #expect(abs(out[0] - 18.25) < 1e-5)
        #expect(abs(out[1] - 18.75) < 1e-5)
    }

    @Test func log1pOutputIsInverted() throws {
        let json = """
        {"format":"rtvirtio-mlp","version":1,"features":["taskIops"],"inputNormalization":{"mean":[0],"std":[1]},
         "output":{"transform":"log1p","mean":0,"std":1},
         "members":[{"layers":[{"weights":[[0]],"biases":[\(log(11.0))],"activation":"linear"}]}]}
        """
        let model = try MLPModel(json: Data(json.utf8), file: "m.json")
        let prediction = model.predict(Self.scenario(iops: 5), settings: Settings(host: .kernelDefault, weights: [1]))
        #expect(abs(prediction[0][0] - 10) < 1e-4)
    }

    static func mutated(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        var object = try #require(try JSONSerialization.jsonObject(with: try fixture()) as? [String: Any])
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    static func firstLayer(_ object: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
        var members = object["members"] as! [[String: Any]]
        var layers = members[0]["layers"] as! [[String: Any]]
        edit(&layers[0])
        members[0]["layers"] = layers
        object["members"] = members
    }

    /// Each malformation and the key its error must name.
    static func malform(_ label: String, _ o: inout [String: Any]) -> String {
        switch label {
        case "row width": firstLayer(&o) { $0["weights"] = [[1, 0, 0], [0, 1, 0], [1, -1, 0]] }; return "members[0].layers[0].weights"
        case "bias count": firstLayer(&o) { $0["biases"] = [0, 0] }; return "members[0].layers[0].biases"
        case "activation": firstLayer(&o) { $0["activation"] = "tanh" }; return "members[0].layers[0].activation"
        case "feature": o["features"] = ["taskIops", "hostSliceIdle"]; return "features[1]"
        case "normalization size": o["inputNormalization"] = ["mean": [0], "std": [1]]; return "inputNormalization"
        case "zero std": o["inputNormalization"] = ["mean": [0, 0], "std": [1, 0]]; return "inputNormalization"
        case "format": o["format"] = "onnx"; return "format"
        case "version": o["version"] = 2; return "version"
        case "transform": o["output"] = ["transform": "exp", "mean": 0, "std": 1]; return "output.transform"
        // finite Doubles that overflow the engine's Float: NaN for every task before the fix
        case "float-overflowing weight": firstLayer(&o) { $0["biases"] = [1e300, 0, 0] }; return "members[0].layers[0]"
        case "float-underflowing std": o["inputNormalization"] = ["mean": [0, 0], "std": [1, 1e-300]]; return "inputNormalization"
        // a 2000-unit layer, 20 layers, 17 members: seconds per prediction before the fix
        case "too wide": firstLayer(&o) { $0["weights"] = Array(repeating: [1, 0], count: 2000); $0["biases"] = Array(repeating: 0, count: 2000) }
            return "members[0].layers[0].weights"
        case "too deep":
            var members = o["members"] as! [[String: Any]]
            members[0]["layers"] = Array(repeating: ["weights": [[1]], "biases": [0], "activation": "linear"] as [String: Any], count: 19)
                + [["weights": [[1]], "biases": [0], "activation": "linear"]]
            o["members"] = members
            return "members[0].layers"
        case "too many members": o["members"] = Array(repeating: (o["members"] as! [[String: Any]])[1], count: 17); return "members"
        default: o.removeValue(forKey: "members"); return "members"
        }
    }

    @Test(arguments: ["row width", "bias count", "activation", "feature", "normalization size", "zero std",
                      "format", "version", "transform", "missing members", "float-overflowing weight", "float-underflowing std",
                      "too wide", "too deep", "too many members"])
    func malformedFilesAreRejectedWithTheKey(_ label: String) throws {
        var key = ""
        let data = try Self.mutated { key = Self.malform(label, &$0) }
        let error = try #require(throws: InputError.self) { try MLPModel(json: data, file: "bad.json") }
        #expect(error.key == key, "\(label): \(error)")
        #expect(error.description.hasPrefix("bad.json: \(key): "))
    }

    @Test func nanWeightsAreRejected() throws {
        // JSON has no NaN literal; a huge exponent decodes to infinity, which must be refused the same way.
        let text = String(decoding: try Self.fixture(), as: UTF8.self).replacingOccurrences(of: "\"biases\": [0.25]", with: "\"biases\": [1e999]")
        let error = try #require(throws: InputError.self) { try MLPModel(json: Data(text.utf8), file: "nan.json") }
        #expect(error.description.contains("nan.json"))
    }

    @Test func lastLayerMustHaveOneOutput() throws {
        let data = try Self.mutated { o in
            var members = o["members"] as! [[String: Any]]
            members[1] = ["layers": [["weights": [[1, 0], [0, 1]], "biases": [0, 0], "activation": "linear"]]]
            o["members"] = members
        }
        let error = try #require(throws: InputError.self) { try MLPModel(json: data, file: "m.json") }
        #expect(error.message.contains("1 output"))
    }
}

/// The planner and the benchmark run one forward pass (issue 17, 7): a row evaluated on its
/// own, as the planner does, gives the very bits the 32-row block kernel gives it.
struct MLPOneForwardPassTests {
    @Test("the planner's one-row pass and the block kernel agree bit for bit on the bundled MLP")
    func rowAndBlockAgree() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("config/models/mlp-device-bound.json")
        let model = try MLPModel(json: try Data(contentsOf: file), file: file.path)
        let n = model.featureCount, count = 77   // two full blocks and a partial one
        var rng = SplitMix64(seed: 17)
        let rows = (0..<count * n).map { _ in Double(rng.next() % 10_000) / 10 }
        var batch = [Double](repeating: 0, count: count)
        rows.withUnsafeBufferPointer { input in batch.withUnsafeMutableBufferPointer { model.predictBatch(input, count: count, into: $0) } }
        var differing: [String] = []
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * model.widest + n) { scratch in
            rows.withUnsafeBufferPointer { input in
                for r in 0..<count {
                    let single = model.evaluate(input.baseAddress! + r * n, scratch.baseAddress!)
                    if single.bitPattern != batch[r].bitPattern { differing.append("row \(r): \(single) against \(batch[r])") }
                }
            }
        }
        #expect(differing.isEmpty, "\(differing.count) of \(count) rows differ: \(differing.prefix(3))")
    }
}
