import Foundation
import RTVirtIO

/// Trains the paper's MLP (Table I inputs, 3 hidden layers × 15 ReLU, k-fold,
/// the k members averaged, underestimates punished harder) in plain Swift, in
/// Double, and exports the foundation's model file. Its forward pass is
/// written independently of the inference engine, so the two can be checked
/// against each other.
public struct MLPTrainer: Sendable {
    public var features: [MLPFeature]
    public var hidden = [15, 15, 15]
    public var epochs = 300
    public var learningRate = 0.005
    public var batchSize = 32
    public var underestimatePenalty = 4.0
    public var folds = 5
    public var seed: UInt64 = 1

    /// The inputs that vary on the testbed (guest knobs are constant there).
    public static let defaultFeatures: [MLPFeature] = [.guestCount, .tasksInGuest, .guestWeightShare, .taskIops,
                                                      .guestDemandKBps, .otherGuestsDemandKBps, .hostTimeoutSyncMs, .hostSliceIdleMs]

    /// The default inputs and what a task does (op, queue depth, the others' requests in flight, its own bytes):
    /// for data with writers (`lab calibrate --workload writers`).
    public static let opFeatures: [MLPFeature] = defaultFeatures + [.taskRequestKB, .taskReadFraction, .taskQueueDepth, .othersQueuedKB]

    public init(features: [MLPFeature] = MLPTrainer.defaultFeatures) { self.features = features }

    /// One training row per measured task: raw features and the measured latency.
    public struct Rows: Sendable {
        public var inputs: [[Double]] = []
        public var measuredMs: [Double] = []
        public var point: [Int] = []
    }

    public func rows(_ dataset: CalibrationDataset) -> Rows {
        var rows = Rows()
        for (index, point) in dataset.points.enumerated() {
            for (g, measured) in point.measuredMs.enumerated() {
                for (t, ms) in measured.enumerated() where ms > 0 {
                    rows.inputs.append(features.map { $0.value(point.scenario, guest: g, task: t, share: point.settings.share(of: g), host: point.settings.host) })
                    rows.measuredMs.append(ms)
                    rows.point.append(index)
                }
            }
        }
        return rows
    }

    /// Dense layers in Double: weights row-major (outputs × inputs).
    public struct Network: Sendable {
        public var weights: [[Double]]
        public var biases: [[Double]]
        public var shapes: [(inputs: Int, outputs: Int)]

        init(shapes: [(Int, Int)], rng: inout SplitMix64) {
            self.shapes = shapes.map { (inputs: $0.0, outputs: $0.1) }
            weights = shapes.map { inputs, outputs in   // He initialisation for ReLU
                let scale = (2 / Double(inputs)).squareRoot()
                return (0..<(inputs * outputs)).map { _ in scale * Self.gaussian(&rng) }
            }
            biases = shapes.map { [Double](repeating: 0, count: $0.1) }
        }

        static func gaussian(_ rng: inout SplitMix64) -> Double {
            let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
            return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
        }

        /// Activations of every layer for one normalised input (the last is the raw output).
        func forward(_ x: [Double]) -> [[Double]] {
            var activations = [x]
            for (l, shape) in shapes.enumerated() {
                let input = activations[l]
                var output = biases[l]
                for o in 0..<shape.outputs {
                    var sum = output[o]
                    for i in 0..<shape.inputs { sum += weights[l][o * shape.inputs + i] * input[i] }
                    output[o] = l == shapes.count - 1 ? sum : max(sum, 0)
                }
                activations.append(output)
            }
            return activations
        }

        /// Adds d(loss)/d(parameters) for one row to `gw`/`gb`, given d(loss)/d(output).
        func backward(_ activations: [[Double]], outputGradient: Double, gw: inout [[Double]], gb: inout [[Double]]) {
            var delta = [outputGradient]
            for l in stride(from: shapes.count - 1, through: 0, by: -1) {
                let shape = shapes[l], input = activations[l]
                var previous = [Double](repeating: 0, count: shape.inputs)
                for o in 0..<shape.outputs where delta[o] != 0 {
                    gb[l][o] += delta[o]
                    for i in 0..<shape.inputs {
                        gw[l][o * shape.inputs + i] += delta[o] * input[i]
                        previous[i] += delta[o] * weights[l][o * shape.inputs + i]
                    }
                }
                if l > 0 { delta = zip(previous, activations[l]).map { $1 > 0 ? $0 : 0 } }
            }
        }
    }

    public struct Result: Sendable {
        public var file: MLPModelFile
        /// Each row predicted by the member that did not train on it (ms).
        public var outOfFold: [(predicted: Double, measured: Double)]
    }

    public func train(_ dataset: CalibrationDataset, progress: (String) -> Void = { _ in }) -> Result {
        let data = rows(dataset)
        let n = features.count
        let mean = (0..<n).map { f in data.inputs.reduce(0) { $0 + $1[f] } / Double(data.inputs.count) }
        let std = (0..<n).map { f in
            let variance = data.inputs.reduce(0) { $0 + ($1[f] - mean[f]) * ($1[f] - mean[f]) } / Double(data.inputs.count)
            return variance > 0 ? variance.squareRoot() : 1
        }
        let logs = data.measuredMs.map { log1p($0) }
        let outMean = logs.reduce(0, +) / Double(logs.count)
        let outStd = max((logs.reduce(0) { $0 + ($1 - outMean) * ($1 - outMean) } / Double(logs.count)).squareRoot(), 1e-9)
        let x = data.inputs.map { row in (0..<n).map { (row[$0] - mean[$0]) / std[$0] } }
        let y = logs.map { ($0 - outMean) / outStd }
        let pointFolds = dataset.folds(folds, seed: seed)
        var foldOfPoint = [Int](repeating: 0, count: dataset.points.count)
        for (k, fold) in pointFolds.enumerated() { for p in fold { foldOfPoint[p] = k } }
        let shapes = zip([n] + hidden, hidden + [1]).map { ($0, $1) }
        var members: [MLPModelFile.Member] = []
        var outOfFold = [(predicted: Double, measured: Double)](repeating: (0, 0), count: y.count)
        for k in 0..<folds {
            let trainRows = y.indices.filter { foldOfPoint[data.point[$0]] != k }
            let validRows = y.indices.filter { foldOfPoint[data.point[$0]] == k }
            var rng = SplitMix64(seed: seed &+ UInt64(k) &* 7919)
            let network = fitMember(Network(shapes: shapes, rng: &rng), x: x, y: y, train: trainRows, valid: validRows, rng: &rng)
            for row in validRows {
                outOfFold[row] = (expm1(outMean + outStd * network.forward(x[row]).last![0]), data.measuredMs[row])
            }
            members.append(MLPModelFile.Member(layers: network.shapes.indices.map { l in
                MLPModelFile.Layer(weights: (0..<network.shapes[l].outputs).map { o in
                    Array(network.weights[l][(o * network.shapes[l].inputs)..<((o + 1) * network.shapes[l].inputs)]) },
                                   biases: network.biases[l], activation: l == network.shapes.count - 1 ? "linear" : "relu")
            }))
            progress("member \(k + 1) of \(folds) trained")
        }
        let file = MLPModelFile(format: MLPModelFile.formatName, version: 1, features: features.map(\.rawValue),
                                inputNormalization: .init(mean: mean, std: std),
                                output: .init(transform: "log1p", mean: outMean, std: outStd),
                                members: members, validity: dataset.validity())
        return Result(file: file, outOfFold: outOfFold)
    }

    /// Asymmetric squared error on the normalised log latency.
    func loss(_ predicted: Double, _ target: Double) -> (value: Double, gradient: Double) {
        let r = predicted - target, w = r < 0 ? underestimatePenalty : 1
        return (w * r * r, 2 * w * r)
    }

    /// Adam on mini-batches; keeps the epoch with the lowest validation loss.
    func fitMember(_ start: Network, x: [[Double]], y: [Double], train: [Int], valid: [Int], rng: inout SplitMix64) -> Network {
        var net = start, best = start, bestLoss = Double.infinity
        let zeroW = net.weights.map { [Double](repeating: 0, count: $0.count) }, zeroB = net.biases.map { [Double](repeating: 0, count: $0.count) }
        var mW = zeroW, vW = zeroW, mB = zeroB, vB = zeroB
        var step = 0.0
        let (beta1, beta2, epsilon) = (0.9, 0.999, 1e-8)
        var order = train
        for _ in 0..<epochs {
            order.shuffle(using: &rng)
            for start in stride(from: 0, to: order.count, by: batchSize) {
                let batch = order[start..<min(start + batchSize, order.count)]
                var gW = zeroW, gB = zeroB
                for row in batch {
                    let activations = net.forward(x[row])
                    net.backward(activations, outputGradient: loss(activations.last![0], y[row]).gradient / Double(batch.count), gw: &gW, gb: &gB)
                }
                step += 1
                let correction1 = 1 - pow(beta1, step), correction2 = 1 - pow(beta2, step)
                func update(_ p: inout [Double], _ g: [Double], _ m: inout [Double], _ v: inout [Double]) {
                    for i in p.indices {
                        m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                        p[i] -= learningRate * (m[i] / correction1) / ((v[i] / correction2).squareRoot() + epsilon)
                    }
                }
                for l in net.weights.indices {
                    update(&net.weights[l], gW[l], &mW[l], &vW[l])
                    update(&net.biases[l], gB[l], &mB[l], &vB[l])
                }
            }
            let validation = valid.isEmpty ? 0 : valid.reduce(0) { $0 + loss(net.forward(x[$1]).last![0], y[$1]).value } / Double(valid.count)
            if validation < bestLoss { (bestLoss, best) = (validation, net) }
        }
        return best
    }

    /// The trainer's own forward pass of a model file, in Double: latency (ms) per raw input row.
    public static func predict(_ file: MLPModelFile, _ inputs: [[Double]]) -> [Double] {
        inputs.map { raw in
            let x = raw.indices.map { (raw[$0] - file.inputNormalization.mean[$0]) / file.inputNormalization.std[$0] }
            let sum = file.members.reduce(0.0) { total, member in
                var a = x
                for layer in member.layers {
                    a = layer.weights.indices.map { o in
                        let s = zip(layer.weights[o], a).reduce(layer.biases[o]) { $0 + $1.0 * $1.1 }
                        return layer.activation == "relu" ? max(s, 0) : s
                    }
                }
                let y = file.output.mean + file.output.std * a[0]
                return total + (file.output.transform == "log1p" ? expm1(y) : y)
            }
            return sum / Double(file.members.count)
        }
    }
}

/// Rows the trainer predicted, kept beside a model file so that a test can
/// hold the inference engine to the trainer's numbers.
public struct MLPCheck: Codable, Sendable {
    public var features: [String]
    public var inputs: [[Double]]
    public var trainerMs: [Double]
    public init(features: [String], inputs: [[Double]], trainerMs: [Double]) {
        self.features = features; self.inputs = inputs; self.trainerMs = trainerMs
    }
}
