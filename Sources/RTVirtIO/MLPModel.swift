import CDenseKernel
import Foundation

/// Our MLP inference engine: dense layers in flat Float storage, evaluated
/// with stack scratch space, so a prediction allocates nothing on the heap.
public struct MLPModel: LatencyModel {
    struct Layer: Sendable {
        let inputs: Int
        let outputs: Int
        let weightOffset: Int     // into `parameters`, row-major outputs × inputs
        let biasOffset: Int
        let relu: Bool
    }

    public let name: String
    public let validity: Validity
    public let provenance: String?
    let features: [MLPFeature]
    let inputMean: [Float]
    let inputScale: [Float]       // 1 / std
    let outputMean: Double
    let outputStd: Double
    let outputLog: Bool
    let members: [[Layer]]
    let parameters: [Float]
    let widest: Int

    public var featureCount: Int { features.count }

    /// Whether the dense layers run the AVX2+FMA build of the kernel on this CPU.
    public static var usesWideKernel: Bool { rtv_dense_uses_avx2() != 0 }

    /// Bounds on a model's size: a prediction is a few thousand multiply-adds, run for
    /// every candidate setting of every plan; a file beyond these is refused, not run.
    static let maximumMembers = 16, maximumLayers = 8, maximumWidth = 1024

    /// Decodes and checks a model file: shapes, finiteness, known names, size.
    public init(json: Data, file: String, name: String = "mlp") throws {
        func fail(_ key: String, _ message: String) -> InputError {
            InputError(file: file, key: key, message: message)
        }
        let model: MLPModelFile
        do {
            model = try JSONDecoder().decode(MLPModelFile.self, from: json)
        } catch let DecodingError.dataCorrupted(context) {
            throw fail(context.codingPath.map(\.stringValue).joined(separator: "."),
                       "not valid JSON: \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, context) {
            throw fail((context.codingPath + [key]).map(\.stringValue).joined(separator: "."), "missing required key")
        } catch let DecodingError.typeMismatch(_, context) {
            throw fail(context.codingPath.map(\.stringValue).joined(separator: "."), "wrong type: \(context.debugDescription)")
        } catch let DecodingError.valueNotFound(_, context) {
            throw fail(context.codingPath.map(\.stringValue).joined(separator: "."), "missing value")
        }
        guard model.format == MLPModelFile.formatName else {
            throw fail("format", "expected '\(MLPModelFile.formatName)', found '\(model.format)'")
        }
        guard model.version == 1 else { throw fail("version", "this rtvirtio reads version 1, found \(model.version)") }
        var features: [MLPFeature] = []
        for (index, featureName) in model.features.enumerated() {
            guard let feature = MLPFeature(rawValue: featureName) else {
                throw fail("features[\(index)]", "unknown feature '\(featureName)'"
                           + (nearest(featureName, among: MLPFeature.allCases.map(\.rawValue)).map { ", did you mean '\($0)'?" } ?? ""))
            }
            features.append(feature)
        }
        guard !features.isEmpty else { throw fail("features", "needs at least one feature") }
        let norm = model.inputNormalization
        guard norm.mean.count == features.count, norm.std.count == features.count else {
            throw fail("inputNormalization", "mean and std need \(features.count) values each (one per feature), found \(norm.mean.count) and \(norm.std.count)")
        }
        guard (norm.mean + norm.std).allSatisfy(\.isFinite), norm.std.allSatisfy({ $0 > 0 }) else {
            throw fail("inputNormalization", "values must be finite and every std > 0")
        }
        // the engine computes in Float: a finite Double beyond Float's range (1e300), or a std whose
        // inverse is (1e-300), would turn every prediction into NaN
        guard norm.mean.allSatisfy({ Float($0).isFinite }), norm.std.allSatisfy({ Float(1 / $0).isFinite && Float($0) > 0 }) else {
            throw fail("inputNormalization", "values must fit in a 32-bit float (|x| < 3.4e38, std > 3e-39 and 1/std < 3.4e38)")
        }
        guard ["none", "log1p"].contains(model.output.transform) else {
            throw fail("output.transform", "unknown transform '\(model.output.transform)' (allowed: none, log1p)")
        }
        guard model.output.mean.isFinite, model.output.std.isFinite, model.output.std > 0 else {
            throw fail("output", "mean must be finite and std finite and > 0")
        }
        guard !model.members.isEmpty else { throw fail("members", "needs at least one member") }
        guard model.members.count <= Self.maximumMembers else {
            throw fail("members", "at most \(Self.maximumMembers) members, found \(model.members.count)")
        }

        var parameters: [Float] = []
        var members: [[Layer]] = []
        var widest = features.count
        for (m, member) in model.members.enumerated() {
            var inputs = features.count
            var layers: [Layer] = []
            guard !member.layers.isEmpty else { throw fail("members[\(m)].layers", "needs at least one layer") }
            guard member.layers.count <= Self.maximumLayers else {
                throw fail("members[\(m)].layers", "at most \(Self.maximumLayers) layers, found \(member.layers.count)")
            }
            for (l, layer) in member.layers.enumerated() {
                let key = "members[\(m)].layers[\(l)]"
                guard ["relu", "linear"].contains(layer.activation) else {
                    throw fail("\(key).activation", "unknown activation '\(layer.activation)' (allowed: relu, linear)")
                }
                guard layer.weights.count <= Self.maximumWidth else {
                    throw fail("\(key).weights", "at most \(Self.maximumWidth) units per layer, found \(layer.weights.count)")
                }
                guard !layer.weights.isEmpty, layer.weights.allSatisfy({ $0.count == inputs }) else {
                    throw fail("\(key).weights", "expected rows of \(inputs) values (the previous layer's width)")
                }
                guard layer.biases.count == layer.weights.count else {
                    throw fail("\(key).biases", "expected \(layer.weights.count) values (one per row of weights), found \(layer.biases.count)")
                }
                guard layer.weights.joined().allSatisfy(\.isFinite), layer.biases.allSatisfy(\.isFinite) else {
                    throw fail(key, "weights and biases must be finite (found NaN or infinity)")
                }
                guard layer.weights.joined().allSatisfy({ Float($0).isFinite }), layer.biases.allSatisfy({ Float($0).isFinite }) else {
                    throw fail(key, "weights and biases must fit in a 32-bit float (|x| < 3.4e38)")
                }
                layers.append(Layer(inputs: inputs, outputs: layer.weights.count, weightOffset: parameters.count,
                                    biasOffset: parameters.count + inputs * layer.weights.count,
                                    relu: layer.activation == "relu"))
                parameters += layer.weights.joined().map(Float.init)
                parameters += layer.biases.map(Float.init)
                inputs = layer.weights.count
                widest = max(widest, inputs)
            }
            guard inputs == 1 else {
                throw fail("members[\(m)].layers[\(member.layers.count - 1)].weights", "the last layer must have 1 output, found \(inputs)")
            }
            members.append(layers)
        }
        self.name = name
        self.validity = model.validity ?? .unbounded
        self.features = features
        self.inputMean = norm.mean.map(Float.init)
        self.inputScale = norm.std.map { Float(1 / $0) }
        self.outputMean = model.output.mean
        self.outputStd = model.output.std
        self.outputLog = model.output.transform == "log1p"
        self.members = members
        self.parameters = parameters
        self.widest = widest
        let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any]
        self.provenance = object?["provenance"].flatMap {
            (try? JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys])).flatMap { String(data: $0, encoding: .utf8) }
        }
    }

    /// Rows evaluated together in `predictBatch`: a block's activations are
    /// stored unit-major (all rows of unit 0, then unit 1, ...), so the inner
    /// loop runs over rows, contiguous, and vectorises.

    /// Evaluates rows of raw (unnormalised) features: `inputs` holds
    /// `count × featureCount` values, `out` receives `count` latencies in ms.
    public func predictBatch(_ inputs: UnsafeBufferPointer<Double>, count: Int, into out: UnsafeMutableBufferPointer<Double>) {
        precondition(inputs.count >= count * featureCount && out.count >= count)
        let n = featureCount
        let block = 32   // rows per block: BLOCK in Sources/CDenseKernel/dense_kernel.c
        withUnsafeTemporaryAllocation(of: Float.self, capacity: (n + 2 * widest) * block) { scratch in
            let x0 = scratch.baseAddress!, a0 = x0 + n * block, b0 = a0 + widest * block
            inputMean.withUnsafeBufferPointer { mean in
            inputScale.withUnsafeBufferPointer { scale in
            parameters.withUnsafeBufferPointer { p in
                var start = 0
                while start < count {
                    let rows = min(block, count - start)
                    for r in 0..<rows {
                        let raw = inputs.baseAddress! + (start + r) * n
                        for f in 0..<n { x0[f * block + r] = (Float(raw[f]) - mean[f]) * scale[f] }
                    }
                    for r in 0..<rows { out[start + r] = 0 }
                    for layers in members {
                        var x = x0, a = a0, b = b0
                        for layer in layers {
                            rtv_dense_block32(p.baseAddress! + layer.weightOffset, p.baseAddress! + layer.biasOffset, x, a,
                                              Int32(layer.inputs), Int32(layer.outputs), layer.relu ? 1 : 0)
                            x = a
                            swap(&a, &b)
                        }
                        for r in 0..<rows {
                            let y = outputMean + outputStd * Double(x[r])
                            out[start + r] += outputLog ? expm1(y) : y
                        }
                    }
                    for r in 0..<rows { out[start + r] /= Double(members.count) }
                    start += rows
                }
            }}}
        }
    }

    public func predictGuest(_ scenario: Scenario, guest: Int, share: Double, host: BfqSettings,
                             into out: UnsafeMutableBufferPointer<Double>) {
        let n = featureCount
        withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { row in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * widest + n) { scratch in
                for task in scenario.guests[guest].tasks.indices {
                    for f in 0..<n {
                        row[f] = features[f].value(scenario, guest: guest, task: task, share: share, host: host)
                    }
                    out[task] = evaluate(UnsafePointer(row.baseAddress!), scratch.baseAddress!)
                }
            }
        }
    }

    /// One row through every member; `scratch` holds 2 × widest + featureCount floats.
    @inline(__always)
    func evaluate(_ raw: UnsafePointer<Double>, _ scratch: UnsafeMutablePointer<Float>) -> Double {
        let n = featureCount
        let input = scratch
        var a = scratch + n
        var b = scratch + n + widest
        inputMean.withUnsafeBufferPointer { mean in
            inputScale.withUnsafeBufferPointer { scale in
                for f in 0..<n { input[f] = (Float(raw[f]) - mean[f]) * scale[f] }
            }
        }
        var sum = 0.0
        parameters.withUnsafeBufferPointer { p in
            let base = p.baseAddress!
            for layers in members {
                var x = UnsafePointer(input)
                for layer in layers {
                    // the C kernel's one-row loop: the batch's arithmetic, so planner and benchmark agree
                    rtv_dense_row(base + layer.weightOffset, base + layer.biasOffset, x, a,
                                  Int32(layer.inputs), Int32(layer.outputs), layer.relu ? 1 : 0)
                    x = UnsafePointer(a)
                    swap(&a, &b)
                }
                let y = outputMean + outputStd * Double(x[0])
                sum += outputLog ? expm1(y) : y
            }
        }
        return sum / Double(members.count)
    }
}
