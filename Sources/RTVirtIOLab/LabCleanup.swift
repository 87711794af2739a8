import Dispatch
import Foundation
import Glibc
import Synchronization

/// What a running lab command must undo if it is stopped by SIGINT or SIGTERM
/// (Ctrl-C, `timeout`, systemd): child processes it started, loop devices it
/// attached, scratch directories, the testbed. Each piece registers its undo
/// when it makes something and withdraws it when it undid it itself; a signal
/// runs what is left, newest first, and exits 130.
public enum LabCleanup {
    private static let actions = Mutex<[(id: Int, action: @Sendable () -> Void)]>([])
    private static let nextID = Atomic<Int>(1)

    @discardableResult
    public static func add(_ action: @escaping @Sendable () -> Void) -> Int {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        actions.withLock { $0.append((id, action)) }
        return id
    }

    public static func remove(_ id: Int) { actions.withLock { $0.removeAll { $0.id == id } } }

    /// Ctrl-C / SIGTERM: kill the loads and remove the testbed, then exit 130.
    public static func removeOnInterrupt(_ testbed: LabTestbed, command: String) -> [DispatchSourceSignal] {
        add { try? testbed.down() }
        return onSignals(command: command)
    }

    /// Runs (and forgets) every registered undo, newest first.
    public static func runAll() {
        let pending = actions.withLock { current -> [(id: Int, action: @Sendable () -> Void)] in
            defer { current.removeAll() }
            return current
        }
        for entry in pending.reversed() { entry.action() }
    }

    /// A child process stopped with the command: SIGTERM, then SIGKILL after 2 s
    /// (only while it runs: a reaped child's pid may be another process's by then).
    @discardableResult
    public static func add(process: Process) -> Int { add { stop(process) } }

    /// SIGTERM, then SIGKILL after 2 s, then reaped; nothing if it has ended.
    public static func stop(_ process: Process) {
        let pid = process.processIdentifier
        guard process.isRunning, kill(pid, SIGTERM) == 0 else { return }
        for _ in 0..<20 where process.isRunning { usleep(100_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    /// SIGINT and SIGTERM run every undo, say so, and exit 130. Keep the sources alive.
    public static func onSignals(command: String) -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                runAll()
                FileHandle.standardError.write(Data("\(command): interrupted; what it made is removed\n".utf8))
                Glibc.exit(130)
            }
            source.resume()
            return source
        }
    }
}
