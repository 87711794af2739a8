import ArgumentParser
import RTVirtIO
import RTVirtIOHost

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put back every value rtvirtio changed, exactly as the journal recorded it.",
        discussion: "Also completes an apply that was killed midway. Example: rtvirtio restore --state-dir /var/lib/rtvirtio")

    @OptionGroup var host: HostOptions

    func run() throws {
        let changes = try Applier(state: host.state).restore()
        print(changes.isEmpty ? "nothing to restore" : "restored:\n" + Table(
            header: ["path", "was", "now"], rows: changes.map { [$0.path, $0.current ?? "(absent)", $0.new] }).render(indent: 2))
    }
}
