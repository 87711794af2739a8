import ArgumentParser
import Foundation
import RTVirtIO

/// Runs a parsed command, awaiting the async ones (the daemon).
func execute(_ command: inout any ParsableCommand) async throws {
    if var asyncCommand = command as? any AsyncParsableCommand {
        try await asyncCommand.run()
    } else {
        try command.run()
    }
}

// Input errors (a bad targets file, a bad flag value) exit 2 with the file,
// line and key; everything else goes through ArgumentParser's own handling.
do {
    var command = try RTVirtIOCommand.parseAsRoot()
    try await execute(&command)
} catch let error as InputError {
    FileHandle.standardError.write(Data("rtvirtio: error: \(error)\n".utf8))
    exit(2)
} catch {
    RTVirtIOCommand.exit(withError: error)
}
