/// One convention for sizes, everywhere: a KB is 1024 bytes (fio's `bs=4k`, a 4 KiB
/// page, io.stat's bytes / 1024, bfq's budgets), an MB is 1024 KB. Every conversion
/// between them goes through here; names carry the unit (`requestKB`, `demandKBps`).
public enum Units {
    public static let bytesPerKB = 1024.0
    public static let kbPerMB = 1024.0

    public static func kilobytes(bytes: Double) -> Double { bytes / bytesPerKB }
    public static func megabytes(kilobytes: Double) -> Double { kilobytes / kbPerMB }
    public static func kilobytes(megabytes: Double) -> Double { megabytes * kbPerMB }
}

extension Duration {
    /// The duration in seconds, as the reports and the models count time.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
