import Foundation
import Testing
import RTVirtIO
@testable import RTVirtIOHost

/// systemd/rtvirtio.service passes `systemd-analyze verify` (with ExecStart
/// pointed at the freshly built binary, since nothing is installed here).
struct SystemdUnitTests {
    static let analyze = "/usr/bin/systemd-analyze"
    static var unitPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("systemd/rtvirtio.service").path
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: analyze), "needs systemd-analyze (package systemd)"))
    func unitFileVerifiesClean() throws {
        let directory = NSTemporaryDirectory() + "rtvirtio-unit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let unit = try String(contentsOfFile: Self.unitPath, encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/rtvirtio ", with: Live.binary + " ")
        try unit.write(toFile: directory + "/rtvirtio.service", atomically: true, encoding: .utf8)
        let result = Live.run(Self.analyze, ["verify", "--man=no", directory + "/rtvirtio.service"])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(!(result.stdout + result.stderr).contains("rtvirtio.service:"), "\(result.stderr)")
        #expect(unit.contains("Type=notify") && unit.contains("WatchdogSec=") && unit.contains("ExecReload="))
    }
}

struct DaemonMetricsTests {
    @Test("the daemon's metrics pass promtool check metrics: base units in names, counters end in _total")
    func promtoolFindsNothing() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool") else {
            print("skipping: promtool (Debian's prometheus package) is not installed"); return
        }
        let scenario = Scenario(guests: [.init(name: "vm0", criticality: 1, pinnedWeight: nil, guestBfq: .kernelDefault,
                                               tasks: [TaskSpec(name: "db", iops: 1500, targetMs: 25)]),
                                         .init(name: "vm1", criticality: 2, pinnedWeight: nil, guestBfq: .kernelDefault,
                                               tasks: [TaskSpec(name: "web", iops: 1500, targetMs: 50)])],
                                delivery: DeliveryModel(capacityIops: 2000))
        let plan = try Optimizer(model: try ConfigFiles.loadModel(.idling, params: nil), space: .standard).plan(scenario)
        #expect(plan.guests[1].readIopsCap != nil, "premise: a plan with a cap, so that every metric appears")
        let metrics = DaemonMetrics()
        metrics.applied()
        metrics.record(plan: plan, planSeconds: 0.001)
        metrics.measured(loads: [:], guests: plan.guests.map(\.name))
        var reads = LatencyHistogram(), writes = LatencyHistogram()
        reads.record(ns: 800_000, count: 3)          // 0.8 ms: in the 1 ms bucket
        reads.record(ns: 1_200_000_000)              // a 1.2 s stall: in the 2.5 s bucket
        writes.record(ns: 30_000_000)                // 30 ms
        metrics.observed(["vm0": [.read: reads, .write: writes]])
        metrics.observed(["vm0": [.read: reads]])    // cumulative over intervals
        metrics.measured(guest: "vm0", tailMs: 1200, tasksMet: plan.guests[0].tasks.map { (name: $0.name, met: false) })
        let text = metrics.text()
        #expect(text.contains("rtvirtio_guest_io_latency_seconds_bucket{guest=\"vm0\",op=\"read\",le=\"0.0005\"} 0\n"), "\(text)")
        #expect(text.contains("rtvirtio_guest_io_latency_seconds_bucket{guest=\"vm0\",op=\"read\",le=\"0.001\"} 6\n"))
        #expect(text.contains("rtvirtio_guest_io_latency_seconds_bucket{guest=\"vm0\",op=\"read\",le=\"1.0\"} 6\n"))
        #expect(text.contains("rtvirtio_guest_io_latency_seconds_bucket{guest=\"vm0\",op=\"read\",le=\"2.5\"} 8\n"))
        #expect(text.contains("rtvirtio_guest_io_latency_seconds_count{guest=\"vm0\",op=\"write\"} 1\n"))
        #expect(text.contains("rtvirtio_task_target_met{guest=\"vm0\",task=\"db\"} 0"))
        #expect(text.contains("rtvirtio_task_target_latency_seconds{guest=\"vm0\",task=\"db\"} 0.025"), "\(text)")
        let input = Pipe(), output = Pipe()
        let promtool = Process()
        promtool.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        promtool.arguments = ["check", "metrics"]
        (promtool.standardInput, promtool.standardOutput, promtool.standardError) = (input, output, output)
        try promtool.run()
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        promtool.waitUntilExit()
        #expect(promtool.terminationStatus == 0 && said.isEmpty, "promtool: \(said)\n\(text)")
    }
}

struct MetricsAddressTests {
    @Test("metrics addresses: loopback only, parsed, never bound to 0.0.0.0 (issue 18, 15-16)")
    func onlyLoopbackParses() throws {
        #expect(try MetricsServer.parse("127.0.0.1:9464") == ("127.0.0.1", 9464, false))
        #expect(try MetricsServer.parse("127.3.2.1:0") == ("127.3.2.1", 0, false))
        #expect(try MetricsServer.parse("[::1]:9464") == ("::1", 9464, true))
        for bad in ["127.1:9464", "127.0.0.01:9464", "127.0.0.1 :9464", "0.0.0.0:9464", "10.0.0.1:9464", "[::1]", "[::1]x9464",
                    "[::]:9464", "127.0.0.1:", "127.0.0.1:99999", "127.0.0.1:+80", "localhost:9464", "9464", ""] {
            #expect(throws: HostError.self, "\(bad)") { try MetricsServer.parse(bad) }
        }
        let server = try MetricsServer(address: "127.0.0.1:0") { "x 1\n" }
        #expect(server.port > 0)
    }
}

struct MetricsServerClientsTests {
    static func connect(_ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr)
        _ = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        return fd
    }

    /// GET /metrics on a fresh connection: the whole response.
    static func get(_ port: UInt16) -> String {
        let fd = connect(port)
        defer { close(fd) }
        _ = "GET /metrics HTTP/1.0\r\n\r\n".withCString { send(fd, $0, strlen($0), 0) }
        var response: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { break }
            response += buffer[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

    @Test("metrics: a client that never sends its request holds up no other; a response larger than the socket buffer arrives whole (issue 18, 17)",
          .timeLimit(.minutes(1)))
    func silentClientBlocksNoOne() throws {
        let body = String(repeating: "rtvirtio_test_metric 1\n", count: 40_000)   // ~920 KB: many sends
        let server = try MetricsServer(address: "127.0.0.1:0") { body }
        server.start()
        let silent = Self.connect(server.port)   // connects and says nothing
        defer { close(silent) }
        usleep(100_000)
        let started = Date()
        let response = Self.get(server.port)
        let seconds = Date().timeIntervalSince(started)
        #expect(seconds < 1, "served after \(seconds) s: the silent client held the server")
        #expect(response.hasPrefix("HTTP/1.0 200 OK") && response.hasSuffix(body), "\(response.count) bytes")
    }
}
