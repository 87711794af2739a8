import ArgumentParser
import RTVirtIO

struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict every task's tail latency at fixed settings (nothing is written).",
        discussion: "Example: rtvirtio predict --targets targets.yaml --host-slice-idle-ms 2 --weight vm0=500")

    @OptionGroup var planning: PlanningOptions

    @Option(help: "Host bfq timeout_sync in ms (1-10000).") var hostTimeoutSyncMs = BfqSettings.kernelDefault.timeoutSyncMs
    @Option(help: "Host bfq slice_idle in ms (0-1000, fractions allowed).") var hostSliceIdleMs = BfqSettings.kernelDefault.sliceIdleMs
    @Option(help: "Guest bfq timeout_sync in ms, for every guest (default: each guest's guestBfq).") var guestTimeoutSyncMs: Int?
    @Option(help: "Guest bfq slice_idle in ms, for every guest (default: each guest's guestBfq).") var guestSliceIdleMs: Double?
    @Option(name: .customLong("weight"), parsing: .singleValue,
            help: ArgumentHelp("A guest's weight (1...1000), repeatable. Default: the pinned weight, else 100.", valueName: "name=weight"))
    var weights: [String] = []
    @Option(help: "text or json.") var format: OutputFormat = .text

    func validate() throws {
        // the targets file's bounds, through the same conversion: no value can trap
        for (name, ms) in [("--host-timeout-sync-ms", Double(hostTimeoutSyncMs)), ("--guest-timeout-sync-ms", guestTimeoutSyncMs.map(Double.init))] {
            if let ms, BfqSettings.timeoutSyncMs(ms) == nil { throw ValidationError("\(name) wants whole ms from 1 to 10000 (got \(formatNumber(ms)))") }
        }
        for (name, ms) in [("--host-slice-idle-ms", Optional(hostSliceIdleMs)), ("--guest-slice-idle-ms", guestSliceIdleMs)] {
            if let ms, BfqSettings.sliceIdleUs(ms: ms) == nil { throw ValidationError("\(name) wants 0 to 1000 ms in whole µs (got \(formatNumber(ms, decimals: 6)))") }
        }
        _ = try parsedWeights()
    }

    func parsedWeights() throws -> [String: Int] {
        var result: [String: Int] = [:]
        for item in weights {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let weight = Int(parts[1]), (1...1000).contains(weight) else {
                throw ValidationError("--weight '\(item)': expected NAME=W with W in 1...1000")
            }
            result[parts[0]] = weight
        }
        return result
    }

    func run() throws {
        var (targets, model) = try planning.load()
        let given = try parsedWeights()
        if let unknown = given.keys.first(where: { name in !targets.guests.contains { $0.name == name } }) {
            throw ValidationError("--weight names '\(unknown)', which is not a guest of \(planning.targets)")
        }
        for index in targets.guests.indices {
            if let ts = guestTimeoutSyncMs { targets.guests[index].guestBfq.timeoutSyncMs = ts }
            if let si = guestSliceIdleMs.flatMap(BfqSettings.sliceIdleUs(ms:)) { targets.guests[index].guestBfq.sliceIdleUs = si }
        }
        let scenario = Scenario(targets: targets)
        let settings = Settings(
            host: BfqSettings(timeoutSyncMs: hostTimeoutSyncMs, sliceIdleUs: BfqSettings.sliceIdleUs(ms: hostSliceIdleMs) ?? 0),
            weights: targets.guests.map { given[$0.name] ?? $0.weight ?? 100 })
        let guests = Plan.predicted(model: model, scenario: scenario, settings: settings)
        let report = PredictionReport(model: model.name, settings: settings, guests: guests,
                                      warnings: model.validity.warnings(for: scenario)
                                        + (model.validity.allows(settings.host) ? [] : ["host settings are outside the model's validity"]))
        print(format == .json ? try report.json() : report.text(), terminator: "")
    }
}
