/// Caps on the least urgent guests when the device is saturated: the knob
/// that reserves capacity for the urgent ones, which weights and bfq's knobs
/// cannot do (without idling weights have no force; with it every guest
/// risks second-long stalls).
extension Optimizer {
    /// The share of the usable capacity the caps hand out: the rest absorbs
    /// what the capacity measurement and the model do not see.
    static let capHeadroom = 0.92

    /// Read IOPS caps (4 KiB) when the guests together ask for more than the
    /// device delivers without idling, else nil. Guests in urgency order keep
    /// their whole demand while it fits; the first that does not fit gets what
    /// is left, the rest a floor (1 % of the capacity, at least 10 IOPS) —
    /// so no guest whose demand fits is ever capped, nor the most urgent one
    /// (a cap cannot give it more than the others' floors leave it).
    /// `idling`: size them for what the device delivers with bfq's idling on.
    public static func capsByUrgency(_ scenario: Scenario, idling: Bool = false) -> [Int?]? {
        guard let delivery = scenario.delivery else { return nil }
        let demands = scenario.guests.map(delivery.cost4K)
        let usable = delivery.usableIops(idling: idling, tasks: DeliveryModel.competing(scenario))
        guard demands.reduce(0, +) > usable else { return nil }
        let floor = max(10, (0.01 * delivery.capacityIops).rounded())
        var remaining = usable * capHeadroom
        var caps = [Int?](repeating: nil, count: scenario.guests.count)
        let order = scenario.urgencyOrder
        for (rank, guest) in order.enumerated() {
            let reserved = floor * Double(order.count - rank - 1)
            if rank == 0 || demands[guest] <= remaining - reserved {
                remaining -= min(demands[guest], remaining - reserved)
            } else {
                let cap = max(floor, (remaining - reserved).rounded(.down))
                caps[guest] = Int(cap)
                remaining -= cap
            }
        }
        return caps.contains { $0 != nil } ? caps : nil
    }

    /// One sentence per capped guest: how much, what it asks, for whom.
    func capExplanations(_ scenario: Scenario, guests: [Plan.Guest], idling: Bool) -> [String] {
        guard let delivery = scenario.delivery else { return [] }
        let order = scenario.urgencyOrder
        return order.enumerated().compactMap { rank, g in
            guard let cap = guests[g].readIopsCap else { return nil }
            let asks = delivery.cost4K(scenario.guests[g])
            let protected = order[..<rank].filter { guests[$0].readIopsCap == nil }.map { guests[$0].name }
            let forWhom = protected.isEmpty ? "so that the device is not saturated"
                : "so that \(protected.joined(separator: ", ")) \(protected.count == 1 ? "gets" : "get") the IOPS \(protected.count == 1 ? "it asks" : "they ask") for"
            // the unit of the capacity: 4 KiB requests; a guest that writes or asks for larger ones is told so
            let plain = scenario.guests[g].tasks.allSatisfy { $0.op == .read && $0.requestKB <= 4 }
            let how = delivery.usesMeasurement(idling: idling) ? "was measured delivering" : "delivers about"
            return "\(guests[g].name) capped at \(cap) \(plain ? "read IOPS" : "IOPS of 4 KiB, reads and writes") (asks \(formatNumber(asks, decimals: 0))) \(forWhom): the device \(how) "
                + "\(formatNumber(delivery.usableIops(idling: idling, tasks: DeliveryModel.competing(scenario)), decimals: 0)) IOPS \(idling ? "with" : "without") idling and the guests ask \(formatNumber(scenario.asked4K ?? 0, decimals: 0))"
        }
    }
}

extension Scenario {
    /// The scenario as the device's time sees it, for the latency models (fitted on 4 KiB reads,
    /// their load in KB/s): a request of `requestKB` as the 4 KiB reads it costs
    /// (`DeliveryModel.requestCost4K`) × 4 KiB. Without the device's large-read bandwidth that is
    /// its own size; with the fast testbed's 1372 MB/s a 1 MiB read is 42 KiB of 4 KiB reads'
    /// time, where counting its bytes made the idling model predict 200 ms for an urgent reader
    /// beside it (measured: a few ms when the device is not saturated).
    public var inDeviceTime: Scenario {
        guard let delivery, delivery.largeReadMBps != nil else { return self }
        return Scenario(guests: guests.map { guest in
            guest.mapTasks { task in
                var seen = task
                if task.requestKB > 4 { seen.requestKB = 4 * delivery.requestCost4K(requestKB: task.requestKB) }
                return seen
            }
        }, delivery: delivery)
    }

    /// The load the latency model sees under caps: a capped guest's tasks ask
    /// only for their max-min fair part of its cap.
    public func capped(_ caps: [Int?]) -> Scenario {
        Scenario(guests: zip(guests, caps).map { guest, cap in
            guard let cap else { return guest }
            let demands = guest.tasks.map { DeliveryModel.cost4K(iops: $0.iops, requestKB: $0.requestKB, on: delivery) }
            let allowed = DeliveryModel.maxMinFair(demands: demands, capacity: Double(cap))
            var tasks = guest.tasks
            for t in tasks.indices { tasks[t].iops = allowed[t] / DeliveryModel.requestCost4K(requestKB: tasks[t].requestKB, on: delivery) }
            return guest.replacingTasks(tasks)
        }, delivery: delivery)
    }
}
