import CSystemd
import Foundation
import Glibc

/// sd_notify(3) and the watchdog, through libsystemd. Without NOTIFY_SOCKET
/// every call is a harmless no-op, so the daemon runs the same by hand.
public struct SystemdNotifier: Sendable {
    public init() {}

    @discardableResult
    public func notify(_ state: String) -> Bool { sd_notify(0, state) > 0 }

    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)") }
    public func status(_ text: String) { notify("STATUS=\(text)") }
    public func stopping() { notify("STOPPING=1") }
    public func watchdog() { notify("WATCHDOG=1") }

    /// RELOADING=1 with the CLOCK_MONOTONIC time systemd's notify-reload asks for.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let microseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
        notify("RELOADING=1\nMONOTONIC_USEC=\(microseconds)")
    }

    /// How often to send WATCHDOG=1 (half of WATCHDOG_USEC), or nil when the watchdog is off.
    public func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    /// Whether stderr is connected to the journal (systemd sets JOURNAL_STREAM).
    public static var underJournal: Bool { ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil }
}
