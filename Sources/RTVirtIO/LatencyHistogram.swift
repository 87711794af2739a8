/// Request latencies in the observer's log-linear buckets of nanoseconds (the
/// layout of Sources/RTVirtIOBPF/observer_shared.h): exact below 128 ns, then
/// 64 buckets per power of two, so a bucket's middle lies within 0.8 % of
/// every value in it; up to 2^37 ns (137 s), beyond that in the last bucket.
/// Histograms of the same layout merge and difference exactly, by bucket.
public struct LatencyHistogram: Sendable, Equatable, Codable {
    public static let subBits = 6
    public static let subBuckets = 64
    public static let bucketCount = 2048

    /// Counts by bucket; always `bucketCount` long.
    public private(set) var counts: [UInt64]

    public init() { counts = [UInt64](repeating: 0, count: Self.bucketCount) }

    /// From the kernel's slots; a slice of another length is refused (a map of another layout).
    public init?(counts: [UInt64]) {
        guard counts.count == Self.bucketCount else { return nil }
        self.counts = counts
    }

    /// The bucket of a latency, as the BPF program computes it.
    public static func bucket(ns: UInt64) -> Int {
        if ns < UInt64(2 * subBuckets) { return Int(ns) }
        let msb = 63 - ns.leadingZeroBitCount
        let e = msb - subBits
        let index = subBuckets * e + Int(ns >> UInt64(e))
        return min(index, bucketCount - 1)
    }

    /// The smallest latency in a bucket, and its width (ns).
    public static func bounds(bucket: Int) -> (lowNs: UInt64, widthNs: UInt64) {
        if bucket < 2 * subBuckets { return (UInt64(bucket), 1) }
        let e = bucket / subBuckets - 1
        let top = bucket - subBuckets * e
        return (UInt64(top) << UInt64(e), UInt64(1) << UInt64(e))
    }

    /// The value a bucket stands for: its middle (its value, where it holds one).
    public static func representativeNs(bucket: Int) -> Double {
        let (low, width) = bounds(bucket: bucket)
        return Double(low) + Double(width - 1) / 2
    }

    public mutating func record(ns: UInt64, count: UInt64 = 1) { counts[Self.bucket(ns: ns)] += count }

    public var count: UInt64 { counts.reduce(0, +) }

    public static func + (a: LatencyHistogram, b: LatencyHistogram) -> LatencyHistogram {
        var sum = a
        for i in sum.counts.indices { sum.counts[i] &+= b.counts[i] }
        return sum
    }

    /// What was added between an earlier snapshot of the same counters and this one
    /// (a bucket that went down, after the kernel's map entry was recreated, counts from zero).
    public func since(_ earlier: LatencyHistogram) -> LatencyHistogram {
        var delta = self
        for i in delta.counts.indices { delta.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : counts[i] }
        return delta
    }

    /// The nearest-rank percentile in ms (the bucket holding the ⌈p/100·n⌉-th
    /// smallest latency, at its middle); nil without samples.
    public func percentileMs(_ p: Double) -> Double? {
        let total = count
        guard total > 0 else { return nil }
        let rank = max(1, UInt64((p / 100 * Double(total)).rounded(.up)))
        var seen: UInt64 = 0
        for (bucket, n) in counts.enumerated() where n > 0 {
            seen += n
            if seen >= rank { return Self.representativeNs(bucket: bucket) / 1e6 }
        }
        return nil
    }

    public var maxMs: Double? { counts.lastIndex { $0 > 0 }.map { Self.representativeNs(bucket: $0) / 1e6 } }
}
