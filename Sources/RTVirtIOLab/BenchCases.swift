import RTVirtIO
import Yams

/// A benchmark's cases file: guests in the targets.yaml guest schema without
/// `match` (the benchmark makes the cgroups), a written rule for how the
/// targets were set, and the host knobs the rtvirtio schemes may search.
public struct BenchCases: Sendable {
    public struct Case: Sendable {
        public var name: String
        public var regime: String?
        public var guests: [GuestSpec]
        /// The cases file's `capacityIops`: the rtvirtio schemes predict delivered IOPS and may cap.
        public var capacityIops: Double?
        /// The cases file's `capacityReadMBps`: large reads' bandwidth, what a large request costs.
        public var capacityReadMBps: Double?
        public var delivery: DeliveryModel? { capacityIops.map { DeliveryModel(capacityIops: $0, largeReadMBps: capacityReadMBps) } }
        public var scenario: Scenario {
            Scenario(guests: guests.map { Scenario.Guest(name: $0.name, criticality: $0.criticality, pinnedWeight: $0.weight,
                                                         guestBfq: $0.guestBfq, tasks: $0.tasks) },
                     delivery: delivery)
        }
    }

    public var targetRule: String
    /// How the cases' loads were set against the device (contended cases), and the capacity they were scaled to.
    public var scaleRule: String?
    public var capacityIops: Double?
    public var search: SearchSpace
    public var cases: [Case]

    /// The regimes the cases name, each once, sorted.
    public var namedRegimes: [String] { Set(cases.compactMap(\.regime)).sorted() }

    public static func parse(_ text: String, file: String) throws -> BenchCases {
        let reader = YAMLReader(file: file)
        let top = try reader.mapping(try reader.root(text), "", allowed: ["targetRule", "scaleRule", "capacityIops", "capacityReadMBps", "search", "cases"])
        let search = top.has("search") ? try TargetsParser.parseSearch(reader, try top.node("search")) : .standard
        var cases: [Case] = []
        for (index, node) in try top.list("cases").enumerated() {
            let path = "cases[\(index)]"
            let fields = try reader.mapping(node, path, allowed: ["name", "regime", "guests"])
            let name = try fields.string("name")
            try TargetsParser.checkName(reader, name, fields.values["name"], "\(path).name")
            guard !cases.contains(where: { $0.name == name }) else {
                throw reader.error(fields.values["name"], "\(path).name", "duplicate case name '\(name)'")
            }
            let guestNodes = try fields.list("guests")
            guard !guestNodes.isEmpty else { throw reader.error(fields.values["guests"], "\(path).guests", "needs at least one guest") }
            var guests: [GuestSpec] = []
            for (g, guestNode) in guestNodes.enumerated() {
                let guest = try TargetsParser.parseGuest(reader, guestNode, index: g)
                guard guest.match == nil else {
                    throw reader.error(guestNode, "\(path).guests[\(g)].match", "not allowed in a cases file", hint: "the benchmark makes each guest's cgroup")
                }
                guard !guests.contains(where: { $0.name == guest.name }) else {
                    throw reader.error(guestNode, "\(path).guests[\(g)].name", "duplicate guest name '\(guest.name)'")
                }
                guests.append(guest)
            }
            cases.append(Case(name: name, regime: try fields.optionalString("regime"), guests: guests))
        }
        guard !cases.isEmpty else { throw reader.error(top.values["cases"], "cases", "needs at least one case") }
        let capacity = top.has("capacityIops") ? try top.double("capacityIops") : nil
        if let capacity, !(capacity > 0 && capacity < 1e8) {
            throw reader.error(top.values["capacityIops"], "capacityIops", "must be a number of IOPS above 0 (got \(capacity))")
        }
        let mbps = top.has("capacityReadMBps") ? try top.double("capacityReadMBps") : nil
        if let mbps, !(mbps > 0 && mbps <= 1e6) || capacity == nil {
            throw reader.error(top.values["capacityReadMBps"], "capacityReadMBps", "must be MB/s above 0, beside a capacityIops")
        }
        for index in cases.indices { (cases[index].capacityIops, cases[index].capacityReadMBps) = (capacity, mbps) }
        return BenchCases(targetRule: try top.string("targetRule"), scaleRule: try top.optionalString("scaleRule"),
                          capacityIops: capacity, search: search, cases: cases)
    }
}
