import Foundation

// How rtvirtio writes for people and programs, in one place: numbers, percentages,
// HTML escaping, JSON, text tables. Every report and command uses these.

/// Numbers for people: integers without ".0", others with up to 3 decimals.
public func formatNumber(_ value: Double, decimals: Int = 1) -> String {
    if value.isInfinite { return value > 0 ? "inf" : "-inf" }
    if value.isNaN { return "nan" }
    if abs(value) >= 1e15 || (value != 0 && abs(value) < 1e-6) { return String(format: "%.3g", value) }   // 1e+300, not 300 digits; 5e-324, not 0
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    var text = String(format: "%.\(decimals)f", value)
    if text.contains(".") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text
}

func formatPercent(_ fraction: Double) -> String { "\(formatNumber(fraction * 100))%" }

public func escapeHTML(_ text: String) -> String {
    var out = ""
    for character in text {
        switch character {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(character)
        }
    }
    return out
}

/// Pretty, key-sorted JSON text, newline-terminated.
public func encodeJSON<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
}

/// A plain text table with columns padded to their widest cell.
public struct Table {
    public var header: [String]
    public var rows: [[String]]

    public init(header: [String], rows: [[String]]) {
        self.header = header
        self.rows = rows
    }

    public func render(indent: Int) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        let pad = String(repeating: " ", count: indent)
        return all.map { row in
            pad + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
