import ArgumentParser
import Glibc
import Foundation
import RTVirtIO
import RTVirtIOHost

struct ApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Plan, then write bfq settings, cgroup weights and caps to the kernel, transactionally.",
        discussion: """
        Originals are journaled (fsynced) in the state directory before the first write; every write is read \
        back; on any failure the values this run changed are put back. `rtvirtio restore` undoes everything. \
        With --verify-s S the guests are measured in the kernel for S seconds before and S seconds after, and \
        the change is kept only if it did not make them worse (more guests meet every target in urgency order, \
        or as many and no task that met misses); otherwise it is put back and both measurements are shown. \
        Where the targets give the device's capacity and no caps or idling are in force, the caps are sized from what \
        the device delivered in the measurement before, not from the fitted efficiency; and where a guest the plan leaves \
        uncapped then got less than its tasks ask (what it is short counted on its fastest task, which misses below 95 %: \
        the device delivered less than it was sized for), rtvirtio plans again on what \
        the device delivered under the plan, applies that and measures again, keeping it only if not worse — up to \(MeasuredDelivery.maxReplans) times \
        while an uncapped guest still falls short (each round's caps are sized on the last, so they only tighten). \
        On a device without bfq the device's own scheduler stays and caps are the only knob. \
        Exit status: 0 applied, 1 failed (host as before), 2 bad input, 3 applied without missing guests, \
        5 applied, measured worse, put back.
        Example: rtvirtio apply --targets /etc/rtvirtio/targets.yaml --dry-run
        """)

    @OptionGroup var planning: PlanningOptions
    @OptionGroup var host: HostOptions
    @Flag(help: "Print the plan and the exact writes; write nothing.") var dryRun = false
    @Option(help: "text or json.") var format: OutputFormat = .text
    @Option(help: ArgumentHelp("Measure the guests S seconds before and after; keep the change only if they are not worse (1-3600).", valueName: "S"))
    var verifyS: Int?

    func validate() throws {
        if let verifyS {
            guard (1...3600).contains(verifyS) else { throw ValidationError("--verify-s wants 1 to 3600 seconds (got \(verifyS))") }
            guard !dryRun else { throw ValidationError("--verify-s measures a change: it cannot go with --dry-run") }
        }
    }

    struct Output: Encodable {
        var dryRun: Bool
        var device: String
        var changes: [Applier.Change]
        var skipped: [String]
        var warnings: [String]
        var verification: String?
    }

    func run() throws {
        let (targets, model) = try planning.load()
        let fs = HostFS()
        guard dryRun || geteuid() == 0 else {
            throw ValidationError("apply writes sysfs and cgroup files: run it as root (or use --dry-run)")
        }
        let view = try host.observeGuests(targets, fs: fs, nothingTo: "apply")
        let present = view.present(targets)
        // with --verify-s the guests are measured first, and the plan sized from what the device delivered
        let measuredBefore = try verifyS.map { try GuestsBefore.measure(view: view, targets: present, seconds: $0, fs: fs, otherwise: "nothing applied (--verify-s needs the measurement)") }
        let (currentScheduler, offersBfq) = try view.device.schedulers(fs)
        func planned(measured: MeasuredDelivery?) throws -> Plan {
            var scenario = Scenario(targets: present)
            scenario.delivery?.measured = measured
            return try Optimizer(model: model, space: present.search).plan(scenario, currentScheduler: currentScheduler, offersBfq: offersBfq)
        }
        func desired(_ plan: Plan) -> [JournalEntry] {
            HostSettings.desired(plan: plan, device: view.device, hierarchy: view.hierarchy, cgroups: view.cgroups, fs: fs, guests: present.guests)
        }
        var plan = try planned(measured: measuredBefore?.delivery)
        let before = view.baseline(fs: fs)   // read before anything is written
        let applier = Applier(fs: fs, state: host.state)
        var verification: (kept: Bool, text: String)?
        var changes: [Applier.Change]
        if dryRun {
            changes = try applier.entries(for: desired(plan), device: view.device).changes
        } else if let verifyS, let measuredBefore {
            var after: MeasuredOutcome?
            (changes, verification, after) = try verifiedApply(applier, desired: desired(plan), view: view, targets: present, seconds: verifyS, session: measuredBefore.session, before: measuredBefore.outcome)
            // the device may deliver less under the plan than it was sized for (it changed, the fit was
            // wrong, depth-1 readers cannot use all of it): planned again on what it delivered then, up to
            // MeasuredDelivery.maxReplans times, each kept only if not worse again
            var replans = 0
            while replans < MeasuredDelivery.maxReplans, verification?.kept == true, let under = after,
                  let shortfall = Self.shortfall(present, plan: plan, after: under),
                  case let again = try planned(measured: shortfall), again.settings != plan.settings {
                replans += 1
                printError("under the plan the device delivered \(formatNumber(shortfall.deliveredIops4K, decimals: 0)) of the \(formatNumber(shortfall.askedIops4K, decimals: 0)) IOPS asked, and a guest the plan leaves uncapped got less than its tasks ask (its fastest under 95 %): planning again on that (\(replans) of at most \(MeasuredDelivery.maxReplans))…")
                let next = try verifiedApply(applier, desired: desired(again), view: view, targets: present, seconds: verifyS, session: measuredBefore.session, before: under)
                verification = (true, (verification?.text ?? "") + "Planned again on what the device delivered under the plan before:\n" + next.verification.text)
                guard next.verification.kept else { break }
                (plan, changes, after) = (again, Self.merged(changes, next.changes), next.after)
            }
        } else {
            changes = try applier.apply(desired(plan), device: view.device)
        }
        let report = PlanReport(plan: plan, device: targets.device, baseline: before)
        if format == .json {
            print(try encodeJSON(Output(dryRun: dryRun, device: view.device.devicePath, changes: changes,
                                        skipped: view.skipped, warnings: view.warnings + plan.warnings,
                                        verification: verification?.text)), terminator: "")
        } else {
            print(report.text())
            print(dryRun ? "Would write (nothing written, --dry-run):" : "Wrote:")
            print(changes.isEmpty ? "  nothing: the host already has these values" : Table(
                header: ["path", "current", "new"],
                rows: changes.map { [$0.path, $0.current ?? "(absent)", $0.new] }).render(indent: 2))
            if let verification { print("\nVerified by measurement:\n" + verification.text) }
        }
        if verification?.kept == false { throw ExitCode(5) }
        if !view.skipped.isEmpty { throw ExitCode(3) }
    }

    /// Apply, measure; put back unless the guests are not worse than `before`. What they got after, where measured.
    func verifiedApply(_ applier: Applier, desired: [JournalEntry], view: HostView, targets: Targets,
                       seconds: Int, session: GuestObserver, before: MeasuredOutcome) throws -> (changes: [Applier.Change], verification: (kept: Bool, text: String), after: MeasuredOutcome?) {
        var text = ""
        var after: MeasuredOutcome?
        let result = try applier.applyVerified(desired, device: view.device) {
            printError("applied; measuring \(seconds) s after…")
            let outcome = MeasuredOutcome(try session.observe(seconds: seconds, percentile: targets.percentile)
                .report(device: view.device.devicePath, durationS: Double(seconds), targets: targets), targets: targets)
            after = outcome
            let verdict = MeasuredOutcome.verdict(before: before, after: outcome)
            text = MeasuredOutcome.table(before: before, after: outcome, seconds: seconds) + "  " + verdict.reason + "\n"
            return verdict.keep
        }
        if result.changes.isEmpty { text = "  nothing changed, nothing to verify\n" }
        return (result.changes, (result.kept, text), after)
    }

    /// What the device delivered under `plan`, where a task of a guest it leaves uncapped got less than 95 %
    /// of what it asks (`MeasuredDelivery.shortfall`, the kernel's count per guest spread over its tasks); nil where the plan held, the capacity is not declared, or a guest did nothing.
    static func shortfall(_ targets: Targets, plan: Plan, after: MeasuredOutcome) -> MeasuredDelivery? {
        let scenario = Scenario(targets: targets)
        guard let device = scenario.delivery, plan.host.sliceIdleUs == 0 else { return nil }
        let measured = Dictionary(uniqueKeysWithValues: after.guests.filter { $0.iops > 0 }.map { ($0.name, $0.iops) })
        return MeasuredDelivery.shortfall(scenario, guestIops: measured, caps: plan.settings.capsIops, on: device)
    }

    /// Two applies' changes as one list: a path the second wrote again keeps the first's "current".
    static func merged(_ first: [Applier.Change], _ second: [Applier.Change]) -> [Applier.Change] {
        var result = first
        for change in second {
            if let i = result.firstIndex(where: { $0.path == change.path }) { result[i].new = change.new } else { result.append(change) }
        }
        return result
    }
}
