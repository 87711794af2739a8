import Foundation

/// The on-disk MLP model, format "rtvirtio-mlp" version 1 (JSON).
///
/// - `features`: input names in order (see `MLPFeature`).
/// - `inputNormalization`: x' = (x − mean) / std per feature.
/// - `output`: y = mean + std × raw; with `transform: "log1p"` the latency is expm1(y) ms.
/// - `members`: the ensemble; each member's layers hold `weights` as rows (one
///   row of `inputs` numbers per output unit), `biases`, and `activation`
///   ("relu" or "linear"). Members' latencies (ms) are averaged.
public struct MLPModelFile: Codable, Sendable, Equatable {
    public struct Normalization: Codable, Sendable, Equatable {
        public var mean: [Double]
        public var std: [Double]
        public init(mean: [Double], std: [Double]) { self.mean = mean; self.std = std }
    }
    public struct Output: Codable, Sendable, Equatable {
        public var transform: String
        public var mean: Double
        public var std: Double
        public init(transform: String, mean: Double, std: Double) { self.transform = transform; self.mean = mean; self.std = std }
    }
    public struct Layer: Codable, Sendable, Equatable {
        public var weights: [[Double]]
        public var biases: [Double]
        public var activation: String
        public init(weights: [[Double]], biases: [Double], activation: String) {
            self.weights = weights; self.biases = biases; self.activation = activation
        }
    }
    public struct Member: Codable, Sendable, Equatable {
        public var layers: [Layer]
        public init(layers: [Layer]) { self.layers = layers }
    }

    public var format: String
    public var version: Int
    public var features: [String]
    public var inputNormalization: Normalization
    public var output: Output
    public var members: [Member]
    public var validity: Validity?

    public init(format: String, version: Int, features: [String], inputNormalization: Normalization,
                output: Output, members: [Member], validity: Validity?) {
        self.format = format
        self.version = version
        self.features = features
        self.inputNormalization = inputNormalization
        self.output = output
        self.members = members
        self.validity = validity
    }

    public static let formatName = "rtvirtio-mlp"
}
