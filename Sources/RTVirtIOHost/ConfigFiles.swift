import Foundation
import RTVirtIO

/// Reads the operator's files (targets, model parameters) from disk and hands
/// their text to the pure parsers; a missing or unreadable file is an
/// `InputError` like any other bad input.
public enum ConfigFiles {
    public static func readText(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError(file: path, message: "no such file", hint: "check the path; see config/targets.example.yaml")
        }
        guard !isDirectory.boolValue else { throw InputError(file: path, message: "is a directory, not a file") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError(file: path, message: "cannot be read (\(String(cString: strerror(errno))))",
                             hint: "check its permissions")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError(file: path, message: "is not UTF-8 text")
        }
        return text
    }

    /// The targets file, with the running libvirt domains' guests where it asks for them
    /// (`libvirt: {uri}`); `warn` hears of each domain whose metadata the file overrides.
    public static func loadTargets(_ path: String, domains: (String) -> LibvirtDomains = { LibvirtDomains(uri: $0) },
                                   warn: (String) -> Void = { FileHandle.standardError.write(Data("rtvirtio: \($0)\n".utf8)) }) throws -> Targets {
        let targets = try TargetsParser.parse(try readText(path), file: path)
        guard let uri = targets.libvirtURI else { return targets }
        let (merged, ignored) = LibvirtMetadata.merged(targets, domains: try domains(uri).guests())
        ignored.forEach(warn)
        guard !merged.guests.isEmpty else {
            throw InputError(file: path, key: "libvirt", message: "no guest: the file declares none and no running domain of \(uri) has rtvirtio metadata",
                             hint: "virsh metadata DOMAIN --uri \(LibvirtMetadata.namespace) --key rtvirtio --set '<targets>{criticality: 1, tasks: [...]}</targets>'")
        }
        return merged
    }

    /// Where bundled model files are looked for, first match wins.
    public static func modelDirectories() -> [String] {
        var directories: [String] = []
        if let fromEnvironment = ProcessInfo.processInfo.environment["RTVIRTIO_MODELS"] { directories.append(fromEnvironment) }
        directories.append("/etc/rtvirtio/models")
        // A binary run from the build tree (.build/<triple>/<config>/rtvirtio) finds the checkout's models.
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            directory = directory.deletingLastPathComponent()
            if directory.lastPathComponent != ".build" && !directory.path.contains("/.build") {
                directories.append(directory.appendingPathComponent("config/models").path)
                break
            }
        }
        directories.append(FileManager.default.currentDirectoryPath + "/config/models")
        return directories
    }

    public static func bundled(_ name: String) -> String? {
        modelDirectories().map { "\($0)/\(name)" }.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// The model a targets file (or a flag) asks for.
    /// - analytical: `params`, or the bundled analytical-fast.yaml (fitted), else analytical-paper.yaml
    /// - mlp: the bundled mlp-fast.json
    /// - idling: the bundled idling-fast.yaml (rtvirtio's stall model)
    /// - op-aware: the bundled op-aware-fast.yaml (the idling model told writes, request sizes, queue depths)
    /// - a path: `.json` is an MLP file, anything else a YAML parameter file whose `kind:` says which model.
    public static func loadModel(_ choice: ModelChoice, params: String?) throws -> any LatencyModel {
        switch choice {
        case .analytical:
            return AnalyticalModel(parameters: try loadAnalyticalParameters(params))
        case .mlp:
            let path = try params ?? bundledOrFail("mlp-fast.json", what: "MLP model")
            return try loadMLP(path, name: "mlp")
        case .idling:
            let path = try params ?? bundledOrFail("idling-fast.yaml", what: "idling model")
            return IdlingModel(parameters: try ModelFiles.parseIdling(try readText(path), file: path), name: "idling")
        case .opAware:
            let path = try params ?? bundledOrFail("op-aware-fast.yaml", what: "op-aware model")
            return try ModelFiles.parseOpAware(try readText(path), file: path)
        case .file(let path):
            if path.hasSuffix(".json") { return try loadMLP(path, name: path) }
            return try ModelFiles.parseModel(try readText(path), file: path, name: path)
        }
    }

    /// `path`, or the bundled parameters: fitted on this kind of host (analytical-fast.yaml) when
    /// present, else the paper's constants with hand-set λ (analytical-paper.yaml).
    public static func loadAnalyticalParameters(_ path: String?) throws -> AnalyticalParameters {
        let path = try path ?? bundled("analytical-fast.yaml") ?? bundledOrFail("analytical-paper.yaml", what: "analytical parameters")
        return try ModelFiles.parseAnalytical(try readText(path), file: path)
    }

    static func loadMLP(_ path: String, name: String) throws -> MLPModel {
        try MLPModel(json: Data(try readText(path).utf8), file: path, name: name)
    }

    public static func bundledOrFail(_ name: String, what: String) throws -> String {
        guard let path = bundled(name) else {
            throw InputError(file: name, message: "no bundled \(what) found in \(modelDirectories().joined(separator: ", "))",
                             hint: "give a model file with --model FILE or modelParams:, or set RTVIRTIO_MODELS")
        }
        return path
    }
}
