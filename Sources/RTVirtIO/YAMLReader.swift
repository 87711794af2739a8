import Yams

/// Walks a composed YAML tree with the positions libyaml recorded, so every
/// error names the file, line, column and key path. Shared by every file
/// format rtvirtio reads (targets, model parameters).
public struct YAMLReader {
    public let file: String

    public init(file: String) { self.file = file }

    /// Parses YAML 1.2 text (JSON included) into a node tree.
    public func root(_ text: String) throws -> Node {
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw InputError(file: file, message: "the file is empty", hint: "see config/targets.example.yaml")
            }
            try checkSize(node)
            return node
        } catch let YamlError.duplicatedKeysInMapping(duplicates, context) {
            let key = duplicates.sorted().first ?? ""
            throw InputError(file: file, line: secondLine(defining: key, in: text, from: context.mark.line) ?? context.mark.line,
                             key: key, message: "duplicate key")
        } catch let error as YamlError {
            throw syntaxError(error)
        }
    }

    /// The most nodes a file may hold once its aliases are expanded: a few hundred
    /// bytes of nested aliases (`a1: &a1 [*a0, *a0, …]`) otherwise expand to millions,
    /// and walking or serialising them hangs the root daemon.
    static let maximumNodes = 200_000

    /// Counts the expanded tree, stopping at the bound.
    private func checkSize(_ root: Node) throws {
        var stack = [root], count = 0
        while let node = stack.popLast() {
            count += 1
            guard count <= Self.maximumNodes else {
                throw InputError(file: file, line: root.mark?.line, message: "more than \(Self.maximumNodes) values once its aliases are expanded",
                                 hint: "write the values out, or use fewer nested aliases (*name)")
            }
            switch node {
            case .scalar, .alias: break
            case .sequence(let sequence): stack.append(contentsOf: sequence)
            case .mapping(let mapping): for (key, value) in mapping { stack.append(key); stack.append(value) }
            }
        }
    }

    /// libyaml reports a duplicate key at its mapping; find the repeated line itself.
    private func secondLine(defining key: String, in text: String, from line: Int) -> Int? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let hits = lines.indices.filter { index in
            guard index + 1 >= line else { return false }
            var trimmed = lines[index].drop { $0 == " " }
            if trimmed.hasPrefix("- ") { trimmed = trimmed.dropFirst(2).drop { $0 == " " } }
            return trimmed.hasPrefix("\(key):") || trimmed.hasPrefix("\"\(key)\":")
        }
        return hits.count >= 2 ? hits[1] + 1 : nil
    }

    private func syntaxError(_ error: YamlError) -> InputError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            return InputError(file: file, line: mark.line, column: mark.column,
                              message: "YAML syntax error: \(detail)")
        default:
            return InputError(file: file, message: "YAML syntax error: \(error)")
        }
    }

    public func error(_ node: Node?, _ key: String, _ message: String, hint: String? = nil) -> InputError {
        InputError(file: file, line: node?.mark?.line, column: node?.mark?.column, key: key,
                   message: message, hint: hint)
    }

    /// A mapping whose keys are checked against `allowed`: unknown keys are an
    /// error with the nearest allowed key suggested, duplicates are an error.
    public func mapping(_ node: Node, _ path: String, allowed: [String]) throws -> Fields {
        guard let mapping = node.mapping else {
            throw error(node, path, "expected a mapping (key: value), found \(kind(node))")
        }
        var fields = Fields(reader: self, path: path, node: node)
        for (keyNode, value) in mapping {
            guard let key = keyNode.string else { throw error(keyNode, path, "keys must be strings") }
            let keyPath = path.isEmpty ? key : "\(path).\(key)"
            guard allowed.contains(key) else {
                let suggestion = nearest(key, among: allowed).map { "did you mean '\($0)'?" }
                throw error(keyNode, keyPath, "unknown key",
                            hint: [suggestion, "allowed: \(allowed.joined(separator: ", "))"]
                                .compactMap { $0 }.joined(separator: "; "))
            }
            if fields.values[key] != nil { throw error(keyNode, keyPath, "duplicate key") }
            fields.values[key] = value
        }
        return fields
    }

    public func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): return scalar.string.isEmpty ? "nothing" : "'\(scalar.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    public struct Fields {
        let reader: YAMLReader
        let path: String
        let node: Node
        public internal(set) var values: [String: Node] = [:]

        public func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

        public func has(_ key: String) -> Bool { values[key] != nil }

        public func node(_ key: String) throws -> Node {
            guard let value = values[key] else {
                throw reader.error(node, keyPath(key), "missing required key")
            }
            return value
        }

        public func string(_ key: String) throws -> String {
            let value = try node(key)
            guard case .scalar(let scalar) = value, value.null == nil, !scalar.string.isEmpty else {
                throw reader.error(value, keyPath(key), "expected a string, found \(reader.kind(value))")
            }
            return scalar.string
        }

        public func optionalString(_ key: String) throws -> String? { has(key) ? try string(key) : nil }

        public func double(_ key: String) throws -> Double {
            let value = try node(key)
            guard case .scalar = value, let number = value.float ?? value.int.map(Double.init),
                  number.isFinite else {
                throw reader.error(value, keyPath(key), "expected a number, found \(reader.kind(value))")
            }
            return number
        }

        public func int(_ key: String) throws -> Int {
            let value = try node(key)
            guard case .scalar = value, let number = value.int else {
                throw reader.error(value, keyPath(key), "expected a whole number, found \(reader.kind(value))")
            }
            return number
        }

        public func positive(_ key: String) throws -> Double {
            let number = try double(key)
            guard number > 0 else {
                throw reader.error(values[key], keyPath(key), "must be greater than 0, found \(formatNumber(number))")
            }
            return number
        }

        /// A number inside a physical range (`unit` for the message): 1e308 IOPS or a
        /// 5e-324 ms target is refused here, before it can overflow a sum to inf.
        public func number(_ key: String, in range: ClosedRange<Double>, unit: String) throws -> Double {
            let number = try double(key)
            guard range.contains(number) else {
                throw reader.error(values[key], keyPath(key), "must be from \(formatNumber(range.lowerBound, decimals: 3)) to \(formatNumber(range.upperBound)) \(unit), found \(formatNumber(number, decimals: 6))")
            }
            return number
        }

        public func int(_ key: String, in range: ClosedRange<Int>) throws -> Int {
            let number = try int(key)
            guard range.contains(number) else {
                throw reader.error(values[key], keyPath(key),
                                   "must be in \(range.lowerBound)...\(range.upperBound), found \(number)")
            }
            return number
        }

        public func list(_ key: String) throws -> [Node] {
            let value = try node(key)
            guard case .sequence(let sequence) = value else {
                throw reader.error(value, keyPath(key), "expected a list, found \(reader.kind(value))")
            }
            return Array(sequence)
        }

        public func numbers(_ key: String) throws -> [Double] {
            try list(key).map { item in
                guard case .scalar = item, let number = item.float ?? item.int.map(Double.init), number.isFinite else {
                    throw reader.error(item, keyPath(key), "expected a number, found \(reader.kind(item))")
                }
                return number
            }
        }
    }
}
