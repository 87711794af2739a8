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
///
/// An I/O belongs to the window it was *issued* in (fio logs completion time;
/// issue = completion − latency): a stalled read issued in second 3 counts in
/// second 3, and a run of `windowCount` seconds has exactly that many full
/// windows — no one-sample window at the end, where the last completions
/// land after the run's time is up.
public struct TailStats: Sendable, Equatable, Codable {
    public var samples: Int
    public var p50Ms: Double
    public var p99Ms: Double
    public var p999Ms: Double
    public var p9999Ms: Double
    public var maxMs: Double
    /// Per 1-second window: the configured percentile's median, mean and maximum over windows.
    public var windows: Int
    public var windowMedianMs: Double
    /// The paper's reference: the windows' tail averaged over many 1-second "tests".
    public var windowMeanMs: Double
    public var windowMaxMs: Double
    public var windowMinSamples: Int
    /// Each 1-second window's percentile, in time order.
    public var windowTailsMs: [Double]

    /// `windowCount`: the run's length in windows, when known (an I/O issued
    /// at or after its end counts in the last window); nil: as many as the issue times span.
    public init(_ samples: [LatencySample], percentile: Double = 99.99, windowMs: UInt64 = 1000, windowCount: Int? = nil) {
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
        let grouped = Dictionary(grouping: samples) { sample -> UInt64 in
            let completedNs = sample.timeMs * 1_000_000
            let window = (completedNs > sample.latencyNs ? completedNs - sample.latencyNs : 0) / (windowMs * 1_000_000)
            return windowCount.map { min(window, UInt64(max(1, $0) - 1)) } ?? window
        }
        let keys = grouped.keys.sorted()
        windowTailsMs = keys.map { ms(histogram(grouped[$0]!), percentile) }
        let sortedTails = windowTailsMs.sorted()
        windows = keys.count
        windowMedianMs = sortedTails.isEmpty ? 0 : sortedTails[sortedTails.count / 2]
        windowMeanMs = sortedTails.isEmpty ? 0 : sortedTails.reduce(0, +) / Double(sortedTails.count)
        windowMaxMs = sortedTails.last ?? 0
        windowMinSamples = grouped.values.map(\.count).min() ?? 0
    }
}
