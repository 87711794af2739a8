import Foundation
import RTVirtIOHost

/// Where a measured dataset came from, written beside it as NAME.provenance.yaml.
public enum Provenance {
    /// The checkout's HEAD, or "?" outside one.
    /// HEAD, with "+dirty" when tracked files differ from it: a binary built from an
    /// uncommitted tree must not be credited to the commit (writers-fast-capacity was).
    public static func gitCommit(in directory: String = FileManager.default.currentDirectoryPath) -> String {
        let head = ((try? runProgram("/usr/bin/git", ["-C", directory, "rev-parse", "HEAD"])) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
        let changed = (try? runProgram("/usr/bin/git", ["-C", directory, "status", "--porcelain", "--untracked-files=no"]))?.isEmpty == false
        return head + (changed ? "+dirty" : "")
    }

    /// The binary that measured: its path, SHA-256 and modification time. `gitCommit` is the checkout's
    /// HEAD as the run started, which need not be what the binary was built from (paper24-fast-nobfq named
    /// 7568d12, its binary was 0e829bd); the hash ties a result to the binary kept beside it.
    public static func binary(_ path: String = "/proc/self/exe") -> String {
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? path
        let sum = ((try? runProgram("/usr/bin/sha256sum", [resolved])) ?? "?").split(separator: " ").first.map(String.init) ?? "?"
        let modified = (try? FileManager.default.attributesOfItem(atPath: resolved))?[.modificationDate] as? Date
        return "\(resolved), sha256 \(sum), modified \(modified.map { ISO8601DateFormatter().string(from: $0) } ?? "?")"
    }

    /// `existing` with `line` ("  - {…}") appended to its `resumed:` list, which
    /// need not be the last key (a hand-written `notes:` may follow it); a new
    /// list at the end if there is none.
    public static func addingResume(_ line: String, to existing: String) -> String {
        var lines = existing.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        let entry = line.hasSuffix("\n") ? String(line.dropLast()) : line
        guard var end = lines.firstIndex(of: "resumed:") else { return (lines + ["resumed:", entry]).joined(separator: "\n") + "\n" }
        end += 1
        while end < lines.count, lines[end].hasPrefix("  - ") { end += 1 }
        lines.insert(entry, at: end)
        return lines.joined(separator: "\n") + "\n"
    }

    public static func write(for dataset: String, testbed: LabTestbed, command: String, scheduler: String = "bfq",
                             workload: CalibrationPoint.Workload = .reads) throws {
        let regime = testbed.regime.rawValue
        let kernel = (try? HostFS().readValue("/proc/sys/kernel/osrelease")) ?? "?"
        let cpu = ((try? HostFS().read("/proc/cpuinfo")) ?? "").split(separator: "\n")
            .first { $0.hasPrefix("model name") }.map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "?"
        let fio = ((try? runProgram("/usr/bin/fio", ["--version"])) ?? "?").trimmingCharacters(in: .whitespacesAndNewlines)
        let commit = gitCommit()
        let path = (dataset as NSString).deletingPathExtension + ".provenance.yaml"
        // a resumed run keeps the first run's record and adds its own line
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), existing.contains("dataset:") {
            let line = "  - {date: \"\(ISO8601DateFormatter().string(from: Date()))\", gitCommit: \"\(commit)\", command: \"\(command)\"}\n"
            try addingResume(line, to: existing).write(toFile: path, atomically: true, encoding: .utf8)
            return
        }
        let text = """
        dataset: \((dataset as NSString).lastPathComponent)
        regime: \(regime)
        device: "\(testbed.deviceDescription)"
        scheduler: "\(scheduler == "bfq" ? "bfq (the design's knobs and weights written per point)" : "\(scheduler) for every point (the testbed's bfq put back after each); knobs and weights recorded as the models' proxy: bfq without idling, equal weights")"
        load: "one fio job per task, all in one fio process: \(workload == .reads ? "4 KiB random reads, O_DIRECT, psync, rate_iops = task IOPS" : "random O_DIRECT reads, writes or both (randrw, rwmixread 70 or 30, rate_iops split per direction), 4/16/64 KiB, psync at depth 1 and libaio at 4/16/32, rate_iops = task IOPS; every point has a writer; the op, readPercent and queueDepth columns say which"); total latency (fio lat log, per I/O)"
        guestKnobs: "no guest kernel on this testbed: guest timeout_sync/slice_idle recorded as the defaults (124 ms / 8 ms), not varied"
        kernel: "\(kernel)"
        cpu: "\(cpu) x \(ProcessInfo.processInfo.processorCount)"
        fio: "\(fio)"
        gitCommit: "\(commit)"
        date: "\(ISO8601DateFormatter().string(from: Date()))"
        command: "\(command)"

        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}
