import ArgumentParser
import RTVirtIO
import RTVirtIOHost

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show every value rtvirtio manages: original, applied, current, and drift.",
        discussion: "Exit status 4 when something drifted (someone else changed a value).")

    @OptionGroup var host: HostOptions
    @Option(help: "text or json.") var format: ReportFormat = .text

    struct Output: Encodable {
        var device: String?
        var values: [Applier.Status]
    }

    func run() throws {
        let (journal, values) = try Applier(state: host.state).status()
        if format == .json {
            print(try encodeJSON(Output(device: journal?.device, values: values)), terminator: "")
        } else if let journal {
            print("device \(journal.device) (\(journal.majMin)), applied since \(journal.createdAt)")
            print(Table(header: ["path", "guest", "original", "applied", "current", ""], rows: values.map {
                [$0.path, $0.guest ?? "", $0.original ?? "(absent)", $0.applied, $0.current ?? "(absent)", $0.drift ? "DRIFT" : ""]
            }).render(indent: 0))
        } else {
            print("rtvirtio has changed nothing on this host (no journal in \(host.stateDir))")
        }
        if values.contains(where: \.drift) { throw ExitCode(4) }
    }
}
