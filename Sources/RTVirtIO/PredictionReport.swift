/// Predictions at fixed settings (`rtvirtio predict`).
public struct PredictionReport: Sendable {
    public var model: String
    public var settings: Settings
    public var guests: [Plan.Guest]
    public var warnings: [String]

    public init(model: String, settings: Settings, guests: [Plan.Guest], warnings: [String]) {
        self.model = model
        self.settings = settings
        self.guests = guests
        self.warnings = warnings
    }

    struct JSONReport: Encodable {
        struct Task: Encodable {
            var guest: String; var task: String; var predictedMs: Double?; var targetMs: Double
            var requestedIops: Double; var predictedIops: Double?; var meets: Bool
        }
        var model: String
        var hostTimeoutSyncMs: Int
        var hostSliceIdleMs: Double
        var weights: [String: Int]
        var tasks: [Task]
        var warnings: [String]
    }

    public func json() throws -> String {
        try encodeJSON(JSONReport(
            model: model, hostTimeoutSyncMs: settings.host.timeoutSyncMs, hostSliceIdleMs: settings.host.sliceIdleMs,
            weights: Dictionary(uniqueKeysWithValues: guests.map { ($0.name, $0.weight) }),
            tasks: guests.flatMap { guest in
                guest.tasks.map { .init(guest: guest.name, task: $0.name, predictedMs: $0.predictedMs.isFinite ? $0.predictedMs : nil,
                                        targetMs: $0.targetMs, requestedIops: $0.requestedIops, predictedIops: $0.predictedIops, meets: $0.meets) }
            },
            warnings: warnings))
    }

    public func text() -> String {
        var text = "model \(model); host timeout_sync \(settings.host.timeoutSyncMs) ms, slice_idle \(formatNumber(settings.host.sliceIdleMs, decimals: 3)) ms\n"
        text += Table(header: ["guest", "weight", "task", "target ms", "predicted ms", ""], rows: guests.flatMap { guest in
            guest.tasks.map { [guest.name, String(guest.weight), $0.name, formatNumber($0.targetMs), formatNumber($0.predictedMs), $0.meets ? "meets" : "MISSES"] }
        }).render(indent: 0) + "\n"
        for warning in warnings { text += "warning: \(warning)\n" }
        return text
    }
}
