/// The optimizer's answer: host knobs, a weight per guest, and what the model
/// predicts at exactly those settings.
public struct Plan: Sendable {
    public struct Task: Sendable, Codable, Equatable {
        public var name: String
        public var targetMs: Double
        public var predictedMs: Double
        public var meets: Bool
    }
    public struct Guest: Sendable, Codable, Equatable {
        public var name: String
        public var criticality: Int
        public var weight: Int
        public var weightPinned: Bool
        public var tasks: [Task]
        public var meets: Bool { tasks.allSatisfy(\.meets) }
    }
    public struct Sacrifice: Sendable, Codable, Equatable {
        public var guest: String
        public var reason: String
    }

    public var model: String
    public var host: BfqSettings
    public var guests: [Guest]
    public var sacrificed: [Sacrifice]
    public var warnings: [String]
    public var score: Score
    public var candidatesEvaluated: Int

    public var settings: Settings { Settings(host: host, weights: guests.map(\.weight)) }
    public var tasksMet: Int { guests.reduce(0) { $0 + $1.tasks.filter(\.meets).count } }
    public var taskCount: Int { guests.reduce(0) { $0 + $1.tasks.count } }

    /// Predictions of `model` for `scenario` at `settings`, in the plan's shape.
    public static func predicted(model: any LatencyModel, scenario: Scenario, settings: Settings) -> [Guest] {
        let predictions = model.predict(scenario, settings: settings)
        return scenario.guests.enumerated().map { index, guest in
            Guest(name: guest.name, criticality: guest.criticality, weight: settings.weights[index],
                  weightPinned: guest.pinnedWeight != nil,
                  tasks: guest.tasks.enumerated().map { t, task in
                      Task(name: task.name, targetMs: task.targetMs, predictedMs: predictions[index][t],
                           meets: predictions[index][t] <= task.targetMs)
                  })
        }
    }
}
