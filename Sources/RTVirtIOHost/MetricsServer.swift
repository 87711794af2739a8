import Foundation
import Glibc

/// A minimal HTTP/1.0 responder for GET /metrics, bound to a loopback
/// address only (an operator's metrics must not leak to the network).
public final class MetricsServer: @unchecked Sendable {
    let socketFD: Int32
    let body: @Sendable () -> String
    public let port: UInt16

    /// `address` is "127.0.0.1:9464" (IPv4 loopback) or "[::1]:9464"; port 0 picks a free one.
    public init(address: String, body: @escaping @Sendable () -> String) throws {
        self.body = body
        let parsed = try Self.parse(address)
        let (host, port, ipv6) = (parsed.host, parsed.port, parsed.ipv6)
        let socketFD = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.socketFD = socketFD
        guard socketFD >= 0 else { throw HostError("open metrics socket for", path: address, errno: errno) }
        var yes: Int32 = 1
        setsockopt(socketFD, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var result: Int32
        if ipv6 {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &sin6.sin6_addr)
            result = withUnsafePointer(to: &sin6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &sin.sin_addr)
            result = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard result == 0, listen(socketFD, 16) == 0 else {
            let code = errno
            close(socketFD)
            throw HostError("listen for metrics on", path: address, errno: code)
        }
        var bound = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) } }
        self.port = withUnsafePointer(to: &bound) { pointer in
            ipv6 ? UInt16(bigEndian: pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port })
                 : UInt16(bigEndian: pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port })
        }
    }

    /// "127.0.0.1:9464" or "[::1]:9464", checked: the host must parse as an address
    /// (inet_pton: no "127.1", no leading zeros, no spaces) inside 127.0.0.0/8 or be ::1,
    /// the port a number in 0...65535 — anything else is refused, never bound to 0.0.0.0.
    static func parse(_ address: String) throws -> (host: String, port: UInt16, ipv6: Bool) {
        func refuse(_ why: String) -> HostError {
            HostError("serve metrics on", path: String(address.prefix(64)), detail: why + "; expected a loopback HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464")
        }
        let host: String, portText: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]"), address[close...].hasPrefix("]:") else { throw refuse("an IPv6 address needs [ADDRESS]:PORT") }
            host = String(address[address.index(after: address.startIndex)..<close])
            portText = address[address.index(close, offsetBy: 2)...]
        } else {
            guard let colon = address.lastIndex(of: ":") else { throw refuse("no port") }
            host = String(address[..<colon])
            portText = address[address.index(after: colon)...]
        }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), portText.allSatisfy(\.isNumber), let port = UInt16(portText) else {
            throw refuse("bad port '\(portText.prefix(16))'")
        }
        if address.hasPrefix("[") {
            var raw = in6_addr()
            guard inet_pton(AF_INET6, host, &raw) == 1 else { throw refuse("'\(host.prefix(40))' is no IPv6 address") }
            var loopback = in6_addr()
            _ = inet_pton(AF_INET6, "::1", &loopback)
            guard withUnsafeBytes(of: raw, { Array($0) }) == withUnsafeBytes(of: loopback, { Array($0) }) else { throw refuse("only ::1 is allowed for IPv6") }
            return (host, port, true)
        }
        var raw = in_addr()
        guard inet_pton(AF_INET, host, &raw) == 1 else { throw refuse("'\(host.prefix(40))' is no IPv4 address") }
        guard UInt32(bigEndian: raw.s_addr) >> 24 == 127 else { throw refuse("only loopback addresses (127.0.0.0/8, ::1) are allowed") }
        return (host, port, false)
    }

    /// Clients served at once; more are closed at once (a scraper retries).
    static let maximumClients = 8
    private let clients = NSLock()
    private var active = 0

    /// Accepts on a thread of its own until the process ends; each client on its own
    /// thread with a 2 s deadline to send its request and to take the response, so a
    /// client that never speaks or never reads holds up no other.
    public func start() {
        let thread = Thread { [self] in
            while true {
                let client = accept(socketFD, nil, nil)
                if client < 0 {
                    switch errno {
                    case EBADF, EINVAL, ENOTSOCK: return        // the socket is gone
                    case EINTR, ECONNABORTED: continue
                    default: usleep(100_000); continue          // EMFILE, ENFILE, ENOBUFS, ENOMEM: pass, then try again
                    }
                }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                let admitted = clients.withLock { active < Self.maximumClients ? { active += 1; return true }() : false }
                guard admitted else { close(client); continue }
                let worker = Thread { [self] in
                    handle(client)
                    clients.withLock { active -= 1 }
                }
                worker.name = "rtvirtio-metrics-client"
                worker.start()
            }
        }
        thread.name = "rtvirtio-metrics"
        thread.start()
    }

    func handle(_ client: Int32) {
        defer { close(client) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 2048)
        let count = recv(client, &buffer, buffer.count, 0)
        guard count > 0 else { return }
        let requestLine = String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\r\n").first ?? ""
        let ok = requestLine.hasPrefix("GET /metrics ") || requestLine == "GET /metrics"
        let content = ok ? body() : "not found; try /metrics\n"
        let response = Array(("HTTP/1.0 \(ok ? "200 OK" : "404 Not Found")\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(content.utf8.count)\r\nConnection: close\r\n\r\n" + content).utf8)
        var sent = 0
        while sent < response.count {   // a partial send goes on where it stopped; a timeout or error ends it
            let n = response[sent...].withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            sent += n
        }
    }
}
