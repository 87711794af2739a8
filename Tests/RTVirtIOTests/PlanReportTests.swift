import Foundation
import Testing
@testable import RTVirtIO

struct PlanReportTests {
    static func report() throws -> PlanReport {
        let scenario = OptimizerTests.scenario([(370, 1500), (370, 1500)])
        let plan = try Optimizer(model: OptimizerTests.model, space: .paper).plan(scenario)
        return PlanReport(plan: plan, device: "/dev/loop7", baseline: .kernelDefaults(guests: ["vm0", "vm1"]))
    }

    @Test func jsonHasTheDocumentedShape() throws {
        let report = try Self.report()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(try report.json().utf8)) as? [String: Any])
        #expect(object["model"] as? String == "analytical")
        let host = try #require(object["host"] as? [String: Any])
        #expect(host["timeoutSyncMs"] as? Int == report.plan.host.timeoutSyncMs)
        #expect(host["sliceIdleMs"] as? Double == report.plan.host.sliceIdleMs)
        let guests = try #require(object["guests"] as? [[String: Any]])
        #expect(guests.map { $0["name"] as? String } == ["vm0", "vm1"])
        #expect(guests[0]["weight"] as? Int == report.plan.guests[0].weight)
        let task = try #require((guests[0]["tasks"] as? [[String: Any]])?.first)
        // predictedIops is absent (null) without a capacity: nothing to predict it from
        #expect(Set(task.keys) == ["name", "targetMs", "predictedMs", "requestedIops", "meets", "op", "requestKB", "queueDepth"])
        #expect(task["op"] as? String == "read" && task["requestKB"] as? Double == 4 && task["queueDepth"] as? Int == 1)
        #expect(abs((task["predictedMs"] as? Double ?? 0) - report.plan.guests[0].tasks[0].predictedMs) < 1e-9)
        let sacrificed = try #require(object["sacrificed"] as? [[String: Any]])
        #expect(sacrificed.first?["guest"] as? String == "vm1")
    }

    @Test func textSaysWhatChangesAndWhoMissesByHowMuch() throws {
        let report = try Self.report()
        let text = report.text()
        let missing = report.plan.guests[1].tasks[0]
        #expect(text.contains("timeout_sync  124 ms          \(report.plan.host.timeoutSyncMs) ms"))
        #expect(text.contains("weight 100 → \(report.plan.guests[0].weight)"))
        #expect(text.contains("MISS by \(formatNumber(missing.predictedMs - missing.targetMs)) ms"))
        #expect(text.contains("Result: 1 of 2 guests meet all targets; 1 of 2 tasks meet."))
        #expect(text.contains("Sacrificed (more urgent guests come first):\n  vm1: needs"))
    }

    @Test func htmlIsSelfContainedWithAnInlineChart() throws {
        var report = try Self.report()
        report.device = "/dev/<odd>"
        let html = report.html()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg xmlns='http://www.w3.org/2000/svg'"))
        #expect(html.components(separatedBy: "<rect ").count - 1 == 2, "one bar per task")
        #expect(html.contains("/dev/&lt;odd&gt;"))
        #expect(!html.contains("<script") && !html.contains("src="), "no external resources")
    }

    @Test func formattingHelpers() {
        #expect(formatNumber(3) == "3")
        #expect(formatNumber(2.25) == "2.3" || formatNumber(2.25) == "2.2")
        #expect(formatNumber(0.5, decimals: 3) == "0.5")
        #expect(formatNumber(.infinity) == "inf")
        #expect(niceCeiling(730) == 1000)
        #expect(niceCeiling(120) == 200)
        #expect(niceCeiling(2340) == 2500)
        #expect(niceCeiling(0.3) == 0.5)
        #expect(editDistance("targetMS", "targetMs") == 0)
        #expect(editDistance("percentil", "percentile") == 1)
    }
}
