import Foundation
import Glibc

/// Files inside a guest, through its QEMU guest agent (qemu-ga) on a unix
/// socket: `guest-file-open/read/write/close`, one connection per call, each
/// started with `guest-sync-delimited` so a stale reply is never taken for ours.
/// Used for the guest-side bfq knobs (`guestAgent:` in targets.yaml).
public struct GuestAgentFiles: Sendable {
    public var socket: String
    /// One deadline for a whole session (connect, sync, the calls): a slow or
    /// hostile guest costs the root daemon at most this long.
    public var timeoutMs: Int32 = 5000
    /// The longest reply line taken from a guest (a 64 KiB read is ~88 KiB of base64).
    public static let maxReplyBytes = 256 * 1024

    public init(socket: String) { self.socket = socket }

    /// The operation of an error the guest agent itself replied.
    static let replyError = "guest agent"

    /// The file's trimmed value, or nil where it is not there — only the guest's "No such
    /// file or directory" says so, in the one session that reads it. A timeout or any other
    /// failure is an error, never an absence: recorded as absent, a value would never be
    /// put back by `restore`.
    public func readValueIfPresent(_ path: String) throws -> String? {
        do {
            return try readValue(path)
        } catch let error as HostError where error.operation == Self.replyError && error.detail?.contains("No such file or directory") == true {
            return nil   // the guest's own ENOENT, not a socket that is not there
        }
    }

    public func readValue(_ path: String) throws -> String { try read(path).trimmingCharacters(in: .whitespacesAndNewlines) }

    public func read(_ path: String) throws -> String {
        try session { call in
            let handle = try call("guest-file-open", ["path": path, "mode": "r"])
            defer { _ = try? call("guest-file-close", ["handle": handle]) }
            let reply = try call("guest-file-read", ["handle": handle, "count": 65536]) as? [String: Any]
            guard let base64 = reply?["buf-b64"] as? String, let data = Data(base64Encoded: base64) else {
                throw HostError("read through the guest agent", path: display(path), detail: "no data in the reply")
            }
            return String(decoding: data, as: UTF8.self)
        }
    }

    public func write(_ path: String, _ value: String) throws {
        try session { call in
            let handle = try call("guest-file-open", ["path": path, "mode": "w"])
            _ = try call("guest-file-write", ["handle": handle, "buf-b64": Data(value.utf8).base64EncodedString()])
            _ = try call("guest-file-close", ["handle": handle])   // the guest's write(2) happens at its flush
        }
    }

    func display(_ path: String) -> String { "\(path) in the guest behind \(socket)" }

    /// Control characters escaped (\u{1B} for ESC): text from a guest is never a terminal command.
    static func printable<S: StringProtocol>(_ text: S) -> String {
        String(text).unicodeScalars.map { $0.properties.generalCategory == .control ? "\\u{\(String($0.value, radix: 16, uppercase: true))}" : String($0) }.joined()
    }

    /// Connects, syncs, runs `body` with a request function, disconnects.
    func session<T>(_ body: (_ call: (String, [String: Any]) throws -> Any) throws -> T) throws -> T {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw HostError("socket for the guest agent", path: socket, errno: errno) }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(socket.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw HostError("connect to the guest agent", path: socket, detail: "socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: bytes + [0]) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            throw HostError("connect to the guest agent", path: socket, errno: errno,
                            detail: "is the VM running with a guest agent channel, and qemu-ga started inside it?")
        }
        var buffer = [UInt8]()
        var scanned = 0   // bytes of `buffer` known to hold no newline: each byte is looked at once
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(timeoutMs) * 1_000_000
        func send(_ object: [String: Any]) throws {
            let data = try JSONSerialization.data(withJSONObject: object) + Data("\n".utf8)
            let sent = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, data.count, Int32(MSG_NOSIGNAL)) }
            guard sent == data.count else { throw HostError("send to the guest agent", path: socket, errno: errno) }
        }
        func receiveLine() throws -> [UInt8] {
            while true {
                if let newline = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    scanned = 0
                    return line
                }
                scanned = buffer.count
                guard buffer.count <= Self.maxReplyBytes else {
                    throw HostError("read from the guest agent", path: socket, detail: "a reply longer than \(Self.maxReplyBytes) bytes; the guest is not answering as qemu-ga does")
                }
                let now = DispatchTime.now().uptimeNanoseconds
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard now < deadline, poll(&poller, 1, Int32((deadline - now) / 1_000_000) + 1) > 0 else {
                    throw HostError("wait for the guest agent", path: socket, detail: "no complete reply within \(timeoutMs) ms")
                }
                var chunk = [UInt8](repeating: 0, count: 65536)
                let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, 65536, 0) }
                guard count > 0 else { throw HostError("read from the guest agent", path: socket, errno: count < 0 ? errno : ECONNRESET) }
                buffer += chunk[0..<count]
            }
        }
        func reply(_ line: [UInt8]) throws -> [String: Any] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else {
                throw HostError("read from the guest agent", path: socket, detail: "not JSON: \(Self.printable(String(decoding: line.prefix(200), as: UTF8.self)))")
            }
            if let error = object["error"] as? [String: Any] {
                // a guest's words go into logs and status: no control characters from it
                throw HostError(Self.replyError, path: socket, detail: Self.printable("\(error["class"] ?? "error"): \(error["desc"] ?? "")".prefix(500)))
            }
            return object
        }
        // guest-sync-delimited: the reply follows a 0xFF byte; anything before it is stale
        let id = Int.random(in: 1...Int(Int32.max))
        try send(["execute": "guest-sync-delimited", "arguments": ["id": id]])
        while true {   // ends: every receiveLine answers within the session's deadline or throws
            var line = try receiveLine()
            if let marker = line.lastIndex(of: 0xFF) { line.removeSubrange(...marker) }
            if let object = try? reply(line), object["return"] as? Int == id { break }
        }
        return try body { command, arguments in
            try send(["execute": command, "arguments": arguments])
            return try reply(try receiveLine())["return"] ?? NSNull()
        }
    }
}
