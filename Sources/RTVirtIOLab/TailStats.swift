import Histogram

/// One I/O's latency from a fio latency log.
public struct LatencySample: Sendable, Equatable {
    public var timeMs: UInt64
    public var latencyNs: UInt64

    public init(timeMs: UInt64, latencyNs: UInt64) {
        self.timeMs = timeMs
        self.latencyNs = latencyNs
    }

    /// fio's per-I/O log (log_avg_msec=0): "time ms, latency ns, direction, block size, offset".
    public static func parseFioLog(_ text: String) -> [LatencySample] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ",")
            guard fields.count >= 2,
                  let time = UInt64(fields[0].trimmingCharacters(in: .whitespaces)),
                  let latency = UInt64(fields[1].trimmingCharacters(in: .whitespaces)) else { return nil }
            return LatencySample(timeMs: time, latencyNs: latency)
        }
    }
}

/// Tail latency as the paper defines it — a high percentile within 1-second
/// windows — with the sample counts that say how much each number means (a
/// p99.99 of 500 samples is simply the maximum).
public struct TailStats: Sendable, Equatable, Codable {
    public var samples: Int
    public var p50Ms: Double
    public var p99Ms: Double
    public var p999Ms: Double
    public var p9999Ms: Double
    public var maxMs: Double
    /// Per 1-second window: the configured percentile's median and maximum over windows.
    public var windows: Int
    public var windowMedianMs: Double
    public var windowMaxMs: Double
    public var windowMinSamples: Int
    /// Each 1-second window's percentile, in time order.
    public var windowTailsMs: [Double]

    public init(_ samples: [LatencySample], percentile: Double = 99.99, windowMs: UInt64 = 1000) {
        func histogram(_ values: some Sequence<LatencySample>) -> Histogram<UInt64> {
            // 1 µs to 100 s, 3 significant digits
            var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 100_000_000, numberOfSignificantValueDigits: .three)
            for sample in values { _ = histogram.record(max(1, min(sample.latencyNs / 1000, 100_000_000))) }
            return histogram
        }
        func ms(_ histogram: Histogram<UInt64>, _ p: Double) -> Double {
            histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(p)) / 1000
        }
        let all = histogram(samples)
        self.samples = samples.count
        p50Ms = ms(all, 50)
        p99Ms = ms(all, 99)
        p999Ms = ms(all, 99.9)
        p9999Ms = ms(all, percentile)
        maxMs = all.totalCount == 0 ? 0 : Double(all.max) / 1000
        let grouped = Dictionary(grouping: samples) { $0.timeMs / windowMs }
        windowTailsMs = grouped.keys.sorted().map { ms(histogram(grouped[$0]!), percentile) }
        let perWindow = grouped.values.map { (tail: ms(histogram($0), percentile), count: $0.count) }.sorted { $0.tail < $1.tail }
        windows = perWindow.count
        windowMedianMs = perWindow.isEmpty ? 0 : perWindow[perWindow.count / 2].tail
        windowMaxMs = perWindow.last?.tail ?? 0
        windowMinSamples = perWindow.map(\.count).min() ?? 0
    }
}
