/// Scores settings with a model; reuses one prediction buffer (a class, so
/// the buffer is shared, not copied, and freed once).
///
/// `scenario` is the load the latency model sees; `requested` what the tasks
/// ask for (they differ where caps hold a guest below its demand). Where the
/// device's capacity is known, a task meets only if it also gets ≥ 95 % of
/// the IOPS it asks for.
final class Evaluator {
    let model: any LatencyModel
    let scenario: Scenario
    let requested: Scenario
    /// Caps every scored setting carries (the optimizer's capped search).
    let caps: [Int?]?
    let order: [Int]
    let buffer: UnsafeMutableBufferPointer<Double>

    deinit { buffer.deallocate() }

    init(model: any LatencyModel, scenario: Scenario, requested: Scenario? = nil, caps: [Int?]? = nil) {
        self.model = model
        self.scenario = scenario
        self.requested = requested ?? scenario
        self.caps = caps
        self.order = scenario.urgencyOrder
        buffer = .allocate(capacity: max(1, scenario.guests.map(\.tasks.count).max() ?? 0))
    }

    func withCaps(_ settings: Settings) -> Settings {
        var result = settings
        if result.capsIops == nil { result.capsIops = caps }
        return result
    }

    /// Delivered IOPS per task, where the device's capacity is known.
    func delivered(_ settings: Settings) -> [[Double]]? {
        requested.delivery.map { $0.delivered(requested, settings: withCaps(settings)) }
    }

    /// Relative slack of each task of `guest` at `share`; returns whether all meet.
    func guestMeets(_ guest: Int, share: Double, host: BfqSettings) -> Bool {
        let tasks = scenario.guests[guest].tasks
        model.predictGuest(scenario, guest: guest, share: share, host: host, into: buffer)
        return tasks.indices.allSatisfy { buffer[$0] <= tasks[$0].targetMs }
    }

    /// The guest's predictions (ms) at `share`, copied out of the buffer.
    func predictions(_ guest: Int, share: Double, host: BfqSettings) -> [Double] {
        model.predictGuest(scenario, guest: guest, share: share, host: host, into: buffer)
        return Array(buffer[0..<scenario.guests[guest].tasks.count])
    }

    /// Whether every task of `guest` has relative slack ≥ `level` (≥ max(level, 0)
    /// where `required`), ignoring tasks marked `skip`.
    func guestReaches(_ guest: Int, share: Double, host: BfqSettings, level: Double, required: [Bool], skip: [Bool]) -> Bool {
        let tasks = scenario.guests[guest].tasks
        model.predictGuest(scenario, guest: guest, share: share, host: host, into: buffer)
        for t in tasks.indices where !skip[t] {
            let floor = required[t] ? max(level, 0) : level
            if buffer[t] > tasks[t].targetMs * (1 - floor) { return false }
        }
        return true
    }

    func score(_ settings: Settings) -> Score {
        let total = Double(settings.weights.reduce(0, +))
        let delivered = delivered(settings)
        var guestsMet = [Bool](repeating: false, count: order.count)
        var tasksMet = 0
        var minSlack = Double.infinity
        for (rank, guest) in order.enumerated() {
            let tasks = scenario.guests[guest].tasks
            let share = Double(settings.weights[guest]) / total
            var all = true
            model.predictGuest(scenario, guest: guest, share: share, host: settings.host, into: buffer)
            for t in tasks.indices {
                var slack = (tasks[t].targetMs - buffer[t]) / tasks[t].targetMs
                var meets = buffer[t] <= tasks[t].targetMs
                if let delivered {
                    let asked = requested.guests[guest].tasks[t].iops
                    let iopsSlack = delivered[guest][t] / (DeliveryModel.minimumFraction * asked) - 1
                    slack = min(slack, iopsSlack)
                    meets = meets && iopsSlack >= -1e-9
                }
                minSlack = min(minSlack, slack.isNaN ? -.infinity : slack)
                if meets { tasksMet += 1 } else { all = false }
            }
            guestsMet[rank] = all
        }
        return Score(guestsMet: guestsMet, tasksMet: tasksMet, minSlack: minSlack)
    }
}
