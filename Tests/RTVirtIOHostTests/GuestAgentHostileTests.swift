import Foundation
import Glibc
import Testing
@testable import RTVirtIOHost

/// A guest agent socket that answers as a hostile or broken guest would.
final class FakeAgent: @unchecked Sendable {
    let path: String
    let fd: Int32

    /// `answer(clientFD)` runs for each connection on a thread of its own.
    init(answer: @escaping @Sendable (Int32) -> Void) throws {
        path = NSTemporaryDirectory() + "rtvirtio-agent-\(UUID().uuidString.prefix(8)).sock"
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard bound == 0, listen(fd, 4) == 0 else { throw HostError("bind", path: path, errno: errno) }
        let listener = fd
        Thread {
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                Thread { answer(client); close(client) }.start()
            }
        }.start()
    }

    deinit { shutdown(fd, Int32(SHUT_RDWR)); close(fd); unlink(path) }

    static func write(_ fd: Int32, _ text: String) -> Bool {
        text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } > 0
    }
}

struct GuestAgentHostileTests {
    static func timed(_ body: () throws -> Void) -> (error: String?, seconds: Double) {
        let start = Date()
        do { try body(); return (nil, Date().timeIntervalSince(start)) } catch { return ("\(error)", Date().timeIntervalSince(start)) }
    }

    @Test("a guest that streams bytes without a newline costs bounded memory and one deadline (issue 18, 9)")
    func endlessLine() throws {
        let agent = try FakeAgent { client in
            let junk = String(repeating: "x", count: 65536)
            for _ in 0..<64 where FakeAgent.write(client, junk) {}   // 4 MiB, no newline
        }
        var files = GuestAgentFiles(socket: agent.path)
        files.timeoutMs = 2000
        let result = Self.timed { _ = try files.read("/sys/block/vda/queue/scheduler") }
        #expect(result.error?.contains("a reply longer than 262144 bytes") == true, "\(result)")
        #expect(result.seconds < 2.5)
    }

    @Test("a guest that keeps answering lines that are not our sync ends within the deadline (issue 18, 10)")
    func neverSyncs() throws {
        let agent = try FakeAgent { client in
            for _ in 0..<100_000 { guard FakeAgent.write(client, "{\"return\": 1}\n") else { return }; usleep(1000) }
        }
        var files = GuestAgentFiles(socket: agent.path)
        files.timeoutMs = 700
        let result = Self.timed { _ = try files.read("/x") }
        #expect(result.error?.contains("no complete reply within 700 ms") == true, "\(result)")
        #expect(result.seconds < 1.5)
    }

    /// An agent that syncs as qemu-ga does and then answers every request with `error` (the desc).
    static func failing(_ desc: String) throws -> FakeAgent {
        try FakeAgent { client in
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(client, &buffer, buffer.count, 0)
            guard count > 0, let request = try? JSONSerialization.jsonObject(with: Data(buffer[..<count])) as? [String: Any],
                  let id = (request["arguments"] as? [String: Any])?["id"] as? Int else { return }
            var marker: UInt8 = 0xFF
            _ = send(client, &marker, 1, Int32(MSG_NOSIGNAL))
            _ = FakeAgent.write(client, "{\"return\": \(id)}\n")
            while recv(client, &buffer, buffer.count, 0) > 0 {
                _ = FakeAgent.write(client, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"\(desc)\"}}\n")
            }
        }
    }

    @Test("a failed read through the agent is an error, not an absent file: restore would never put the value back (issue 18, 13)")
    func failedReadIsNotAbsence() throws {
        let path = "/sys/block/vda/queue/iosched/slice_idle_us"
        let denied = try Self.failing("failed to open file '\(path)' (mode: 'r'): Permission denied")
        let entry = JournalEntry(kind: .value, path: path, original: nil, applied: "0", guest: "vm0", agent: denied.path)
        let error = try #require(throws: HostError.self) { try entry.current(HostFS()) }
        #expect("\(error)".contains("Permission denied"))
        // only the guest saying the file is not there is an absence
        let missing = try Self.failing("failed to open file '\(path)' (mode: 'r'): No such file or directory")
        #expect(try JournalEntry(kind: .value, path: path, original: nil, applied: "0", guest: "vm0", agent: missing.path).current(HostFS()) == nil)
    }

    @Test("a guest's error text reaches logs with its control characters escaped (issue 18, 14)")
    func errorTextIsEscaped() throws {
        let agent = try FakeAgent { client in
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = recv(client, &buffer, buffer.count, 0)
            guard count > 0, let request = try? JSONSerialization.jsonObject(with: Data(buffer[..<count])) as? [String: Any],
                  let id = (request["arguments"] as? [String: Any])?["id"] as? Int else { return }
            var marker: UInt8 = 0xFF   // the raw byte qemu-ga puts before its sync reply
            _ = send(client, &marker, 1, Int32(MSG_NOSIGNAL))
            _ = FakeAgent.write(client, "{\"return\": \(id)}\n")
            _ = recv(client, &buffer, buffer.count, 0)
            _ = FakeAgent.write(client, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"\\u001b[2Jgone\\r\\nfake log line\"}}\n")
        }
        let result = Self.timed { _ = try GuestAgentFiles(socket: agent.path).read("/x") }
        let error = try #require(result.error)
        #expect(error.contains("GenericError: \\u{1B}[2Jgone\\u{D}\\u{A}fake log line") && !error.contains("\u{1B}") && !error.contains("\n"), "\(error)")
    }
}
