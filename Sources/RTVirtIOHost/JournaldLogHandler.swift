import CSystemd
import Foundation
import Glibc
import Logging

/// swift-log to the journal with structured fields (PRIORITY, GUEST, TASK,
/// PREDICTED_MS, TARGET_MS, ... from the metadata), via sd_journal_sendv.
public struct JournaldLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// syslog priorities, as journald expects them.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Journal field names: upper case letters, digits, underscore.
    static func fieldName(_ key: String) -> String {
        var name = ""
        for character in key {
            if character.isUppercase && !name.isEmpty && name.last != "_" { name.append("_") }
            name.append(character.isLetter || character.isNumber ? Character(character.uppercased()) : "_")
        }
        return name
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        var fields = ["MESSAGE=\(event.message)", "PRIORITY=\(Self.priority(event.level))", "SYSLOG_IDENTIFIER=rtvirtio",
                      "CODE_FILE=\(event.file)", "CODE_LINE=\(event.line)", "CODE_FUNC=\(event.function)"]
        fields += merged.map { "\(Self.fieldName($0.key))=\($0.value)" }
        let buffers = fields.map { strdup($0)! }
        defer { buffers.forEach { free($0) } }
        var vectors = buffers.map { iovec(iov_base: UnsafeMutableRawPointer($0), iov_len: strlen($0)) }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
    }
}

public enum RTVirtIOLogging {
    /// The journal under systemd, stderr otherwise.
    public static func bootstrap(level: Logger.Level = .info) {
        LoggingSystem.bootstrap { label in
            var handler: LogHandler = SystemdNotifier.underJournal ? JournaldLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
