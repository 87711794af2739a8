import ArgumentParser
import Foundation
import Glibc
import RTVirtIO
import RTVirtIOHost

struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top",
        abstract: "A live view, refreshed every second: each guest's measured tail latency against its targets and the model's prediction.",
        discussion: """
        Needs root and a kernel with BTF (as `observe`). Measured in the host kernel; the prediction is the model's at the \
        settings in force now (the device's own scheduler counts as bfq without idling). Changes nothing. Ctrl-C ends. \
        Example: rtvirtio top --targets /etc/rtvirtio/targets.yaml
        """)

    @OptionGroup var planning: PlanningOptions
    @OptionGroup var host: HostOptions
    @Option(help: "Stop after this many refreshes (default: until Ctrl-C).") var count: Int?

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let (targets, model) = try planning.load()
        let fs = HostFS()
        let view = try host.observeGuests(targets, fs: fs, nothingTo: "observe")
        guard let session = guestObserver(targets, view: view) else { throw ExitCode(1) }
        let present = view.present(targets)
        let (settings, settingsText) = view.settingsInForce(present, fs: fs)
        let predicted = Plan.predicted(model: model, scenario: Scenario(targets: present), settings: settings)
        var live = LiveView(targets: present, predictedMs: Dictionary(uniqueKeysWithValues: predicted.map { guest in
            (guest.name, Dictionary(uniqueKeysWithValues: guest.tasks.map { ($0.name, $0.predictedMs) }))
        }), settingsText: "\(settingsText); model \(model.name)")
        let interactive = isatty(STDOUT_FILENO) != 0
        let started = Date()
        var refresh = 0
        while count.map({ refresh < $0 }) ?? true {
            refresh += 1
            let wait = started.addingTimeInterval(Double(refresh)).timeIntervalSinceNow
            if wait > 0 { usleep(UInt32(wait * 1_000_000)) }
            live.add(window: try session.window())
            let header = "rtvirtio top — \(view.device.devicePath) (\(view.device.majMin)) — \(ISO8601DateFormatter().string(from: Date()))"
            // a terminal gets the screen redrawn in place; a pipe gets one screen after another
            print((interactive ? "\u{1B}[H\u{1B}[2J" : "") + live.render(header: header), terminator: interactive ? "" : "\n")
            fflush(nil)   // every stream: stdout is not concurrency-safe to name in Swift 6
        }
    }
}
