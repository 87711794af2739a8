import Foundation
import Synchronization

/// The daemon's liveness, readable without waiting for the daemon's actor: a tick
/// that talks to slow guest agents (5 s deadline each) must not starve systemd's
/// watchdog, or systemd kills and restarts a daemon that is only waiting.
public final class Heartbeat: Sendable {
    /// Uptime in ns when the running tick began (0: none running), and when the last one ended.
    private let began = Atomic<Int64>(0)
    private let ended = Atomic<Int64>(Heartbeat.now())
    /// The longest a tick may run and still count as alive: a few guests' agent deadlines.
    public static let longestTick: Int64 = 120_000_000_000

    public init() {}

    static func now() -> Int64 { Int64(DispatchTime.now().uptimeNanoseconds) }

    public func tickBegan() { began.store(Self.now(), ordering: .releasing) }
    public func tickEnded() {
        ended.store(Self.now(), ordering: .releasing)
        began.store(0, ordering: .releasing)
    }

    /// Alive when a tick is running for less than `longestTick`, or the last one ended within `quiet`.
    public func alive(quiet: Duration) -> Bool {
        let now = Self.now()
        let running = began.load(ordering: .acquiring)
        if running != 0 { return now - running < Self.longestTick }
        let quietNs = quiet.components.seconds * 1_000_000_000 + quiet.components.attoseconds / 1_000_000_000
        return now - ended.load(ordering: .acquiring) < quietNs
    }
}
