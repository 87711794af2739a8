import Foundation
import Testing

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
