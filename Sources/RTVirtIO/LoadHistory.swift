/// What a guest asks, from its last few intervals: the one with the most reads. A guest
/// stalled for an interval reads little in it, and planning on that would lower its
/// weight and stall it more (measured: the open-loop daemon flipped vm0's weight from
/// 1000 to 60 after one such interval, and vm0 then waited 927 ms).
public struct LoadHistory: Sendable {
    public static let intervalsKept = 5
    public private(set) var recent: [String: [MeasuredLoad]] = [:]

    public init() {}

    /// Adds this interval's loads (guests absent from it are forgotten) and returns each guest's demand.
    public mutating func add(_ loads: [String: MeasuredLoad]) -> [String: MeasuredLoad] {
        recent = recent.filter { loads[$0.key] != nil }
        for (guest, load) in loads {
            recent[guest, default: []].append(load)
            if recent[guest]!.count > Self.intervalsKept { recent[guest]!.removeFirst() }
        }
        return recent.compactMapValues { $0.max { $0.iops < $1.iops } }
    }
}
