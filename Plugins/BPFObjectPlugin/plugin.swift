import Foundation
import PackagePlugin

/// Compiles each `*.bpf.c` in the target's folder with the toolchain's clang
/// (`-target bpf`, CO-RE: `-g` keeps the BTF that libbpf relocates against the
/// running kernel) and embeds the object in a generated Swift file as base64,
/// so the binary carries its BPF program and nothing is installed beside it.
@main
struct BPFObjectPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let directory = target.directoryURL
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".bpf.c") }.sorted()
        let headers = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".h") }
            .map { directory.appending(path: $0) }
        let clang = try context.tool(named: "clang").url
        return names.map { name in
            let stem = String(name.dropLast(".bpf.c".count))
            let object = context.pluginWorkDirectoryURL.appending(path: "\(stem).bpf.o")
            let swift = context.pluginWorkDirectoryURL.appending(path: "\(stem)BPFObject.swift")
            // the multiarch folder holds asm/types.h, which linux/types.h needs
            let script = """
                set -e
                "$1" -target bpf -O2 -g -I/usr/include/$(uname -m)-linux-gnu -I"$2" -c "$3" -o "$4"
                { printf '// Generated from %s by BPFObjectPlugin: do not edit.\\n' "$(basename "$3")"
                  printf 'let %sBPFObjectBase64 = "' "$6"; base64 -w0 "$4"; printf '"\\n'; } > "$5"
                """
            return .buildCommand(
                displayName: "Compiling BPF program \(name)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: ["-c", script, "sh", clang.path, directory.path, directory.appending(path: name).path,
                            object.path, swift.path, stem],
                inputFiles: [directory.appending(path: name)] + headers,
                outputFiles: [swift])
        }
    }
}
