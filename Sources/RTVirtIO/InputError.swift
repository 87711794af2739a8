/// A problem with something an operator wrote: a targets file, a model file, a flag.
/// It says where (file:line:column), which key, what is wrong and what is allowed.
public struct InputError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var key: String?
    public var message: String
    public var hint: String?

    public init(file: String, line: Int? = nil, column: Int? = nil, key: String? = nil,
                message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        // what a file holds may be huge: an error quotes it, but never more than a screenful
        self.key = key.map { Self.clipped($0, 200) }
        self.message = Self.clipped(message, 400)
        self.hint = hint.map { Self.clipped($0, 400) }
    }

    static func clipped(_ text: String, _ limit: Int) -> String {
        text.count <= limit ? text : text.prefix(limit) + "… (\(text.count) characters)"
    }

    public var description: String {
        var location = file
        if let line { location += ":\(line)" }
        if let column { location += ":\(column)" }
        var text = "\(location): "
        if let key, !key.isEmpty { text += "\(key): " }
        text += message
        if let hint { text += " (\(hint))" }
        return text
    }
}

/// Edit distance, to suggest the key an operator probably meant.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where j <= b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1,
                             previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

func nearest(_ word: String, among candidates: [String]) -> String? {
    let scored = candidates.map { ($0, editDistance(word, $0)) }.min { $0.1 < $1.1 }
    guard let (best, distance) = scored, distance <= max(2, word.count / 3) else { return nil }
    return best
}
