import Foundation

/// The BPF objects compiled into this binary (see Plugins/BPFObjectPlugin).
public enum BPFObjects {
    /// observer.bpf.c: per-cgroup, per-op request latency histograms of one device.
    public static var observer: [UInt8] { [UInt8](Data(base64Encoded: observerBPFObjectBase64) ?? Data()) }
}
