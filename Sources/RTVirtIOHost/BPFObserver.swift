import CLibbpf
import Foundation
import Glibc
import RTVirtIO
import RTVirtIOBPF

/// The kernel side of `rtvirtio observe`: the BPF program of
/// Sources/RTVirtIOBPF loaded through libbpf and attached to the block
/// tracepoints, counting one device's requests into per-cgroup, per-op
/// latency histograms that `histograms()` reads. Detached and unloaded on deinit.
public final class BPFObserver: @unchecked Sendable {
    /// Why the kernel cannot be observed here: one line, for the operator.
    public struct Unavailable: Error, CustomStringConvertible, Equatable {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
        public var description: String { "cannot observe in the kernel: \(reason)" }
    }

    public struct Key: Hashable, Sendable {
        public var cgroupID: UInt64
        public var op: IOOp
    }

    private let object: OpaquePointer
    private var links: [OpaquePointer] = []
    private let histogramsFD: Int32
    private let droppedFD: Int32
    public let device: BlockDevice
    /// Only the completion hook attached (requests carry their start): see observer.bpf.c.
    public private(set) var stampMode = false

    /// Loads and attaches; throws `Unavailable` with the reason (not root, no
    /// BTF, a kernel that refuses the program) and leaves nothing attached.
    public static let kernelBTF = "/sys/kernel/btf/vmlinux"

    /// `btfPath`: the kernel's type information that CO-RE relocates against
    /// (another file than the kernel's own only where a distribution ships it apart).
    public init(device: BlockDevice, btfPath: String = BPFObserver.kernelBTF, bytes: [UInt8] = BPFObjects.observer, fs: HostFS = HostFS()) throws {
        self.device = device
        guard geteuid() == 0 else { throw Unavailable("needs root (CAP_BPF and CAP_PERFMON)") }
        guard access(btfPath, R_OK) == 0 else {
            throw Unavailable("the kernel has no BTF at \(btfPath) (CONFIG_DEBUG_INFO_BTF): its types cannot be relocated")
        }
        guard !bytes.isEmpty else { throw Unavailable("this binary carries no BPF program (it was built without clang -target bpf)") }
        LibbpfLog.install()
        let opened: OpaquePointer? = bytes.withUnsafeBytes { raw in
            var opts = bpf_object_open_opts()
            opts.sz = MemoryLayout<bpf_object_open_opts>.size
            return "rtvirtio-observer".withCString { name in
                btfPath.withCString { btf in
                    opts.object_name = name
                    if btfPath != Self.kernelBTF { opts.btf_custom_path = btf }
                    return bpf_object__open_mem(raw.baseAddress, raw.count, &opts)
                }
            }
        }
        guard let opened else { throw Unavailable("libbpf could not open the program: \(Self.reason(errno))") }
        object = opened
        do {
            let loaded = bpf_object__load(object)
            guard loaded == 0 else { throw Unavailable("the kernel refused the program: \(Self.reason(-loaded))") }
            let config = bpf_object__find_map_fd_by_name(object, "rtv_config")
            histogramsFD = bpf_object__find_map_fd_by_name(object, "rtv_hists")
            droppedFD = bpf_object__find_map_fd_by_name(object, "rtv_dropped")
            guard config >= 0, histogramsFD >= 0, droppedFD >= 0 else { throw Unavailable("the program lacks its maps") }
            // every request carries the block layer's start_time_ns where the queue keeps I/O
            // statistics: only the completion hook is needed then (less work per request)
            stampMode = (try? fs.readValue("/sys/dev/block/\(device.majMin)/queue/iostats")) == "1"
            for (index, value) in [device.major, device.minor, stampMode ? 1 : 0].enumerated() {
                var key = UInt32(index), value = value
                guard bpf_map_update_elem(config, &key, &value, UInt64(BPF_ANY)) == 0 else {
                    throw Unavailable("could not set the device filter: \(Self.reason(errno))")
                }
            }
            var program = bpf_object__next_program(object, nil)
            while let current = program {
                defer { program = bpf_object__next_program(object, current) }
                let name = String(cString: bpf_program__name(current))
                if stampMode, name != "rtv_complete" { continue }
                guard let link = bpf_program__attach(current) else {
                    throw Unavailable("could not attach \(name): \(Self.reason(errno))")
                }
                links.append(link)
            }
        } catch {
            for link in links { bpf_link__destroy(link) }
            bpf_object__close(object)
            throw error
        }
    }

    deinit {
        for link in links { bpf_link__destroy(link) }
        bpf_object__close(object)
    }

    static func reason(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        let log = LibbpfLog.last()
        return "\(text) (errno \(code))" + (log.isEmpty ? "" : "; libbpf: \(log)")
    }

    /// Every histogram the kernel holds, cumulative since attaching.
    public func histograms() throws -> [Key: LatencyHistogram] {
        var result: [Key: LatencyHistogram] = [:]
        var key: [UInt64] = [0, 0], next: [UInt64] = [0, 0]
        var slots = [UInt64](repeating: 0, count: LatencyHistogram.bucketCount)
        var first = true
        while true {
            let status = first ? bpf_map_get_next_key(histogramsFD, nil, &next) : bpf_map_get_next_key(histogramsFD, &key, &next)
            first = false
            if status != 0 { break }   // ENOENT: the last key
            key = next
            guard bpf_map_lookup_elem(histogramsFD, &key, &slots) == 0 else { continue }   // deleted meanwhile
            let op: IOOp = switch key[1] & 0xffff_ffff { case 0: .read; case 1: .write; default: .other }
            result[Key(cgroupID: key[0], op: op)] = LatencyHistogram(counts: slots)
        }
        return result
    }

    /// Requests that found no room in the histogram map (more than 4096 cgroup × op pairs).
    public func droppedRequests() -> UInt64 {
        var key: UInt32 = 0, value: UInt64 = 0
        return bpf_map_lookup_elem(droppedFD, &key, &value) == 0 ? value : 0
    }
}

/// libbpf's messages, kept (the last few lines) for the one-line reason an
/// operator sees, instead of being printed to stderr as they come.
enum LibbpfLog {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var lines: [String] = []

    static func install() {
        _ = libbpf_set_print { level, format, args in
            guard level != LIBBPF_DEBUG, let format, let args else { return 0 }
            var buffer = [CChar](repeating: 0, count: 512)
            _ = vsnprintf(&buffer, buffer.count, format, args)
            let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            LibbpfLog.lock.withLock {
                LibbpfLog.lines.append(line)
                if LibbpfLog.lines.count > 3 { LibbpfLog.lines.removeFirst() }
            }
            return 0
        }
    }

    static func last() -> String { lock.withLock { lines.joined(separator: " / ") } }
}
