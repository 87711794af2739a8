import ArgumentParser
import Foundation
import RTVirtIO

// Input errors (a bad targets file, a bad flag value) exit 2 with the file,
// line and key; everything else goes through ArgumentParser's own handling.
do {
    var command = try RTVirtIOCommand.parseAsRoot()
    try command.run()
} catch let error as InputError {
    FileHandle.standardError.write(Data("rtvirtio: error: \(error)\n".utf8))
    exit(2)
} catch {
    RTVirtIOCommand.exit(withError: error)
}
