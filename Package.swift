// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "rtvirtio",
    products: [
        .executable(name: "rtvirtio", targets: ["rtvirtio"]),
        .executable(name: "rtvirtio-fused", targets: ["rtvirtio-fused"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        .systemLibrary(name: "CCgroup", pkgConfig: "libcgroup", providers: [.apt(["libcgroup-dev"])]),
        .systemLibrary(name: "CLibbpf", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev"])]),
        // The observer's BPF program (C, compiled by the plugin with clang -target bpf) embedded as bytes.
        .plugin(name: "BPFObjectPlugin", capability: .buildTool()),
        .target(name: "RTVirtIOBPF", exclude: ["observer.bpf.c", "observer_shared.h"], plugins: ["BPFObjectPlugin"]),
        // The lab's device-bound bottleneck: a FUSE file with a fixed service time per 4 KiB.
        .executableTarget(name: "rtvirtio-fused", cSettings: [.unsafeFlags(["-I/usr/include/fuse3"])],
                          linkerSettings: [.linkedLibrary("fuse3"), .linkedLibrary("pthread")]),
        // The MLP engine's inner loop in C: AVX2+FMA where the CPU has it, chosen at run time.
        .target(name: "CDenseKernel", cSettings: [.unsafeFlags(["-O3"])]),
        // The planner: pure computation. Yams parses YAML *text*; reading files stays outside.
        .target(name: "RTVirtIO", dependencies: ["CDenseKernel", .product(name: "Yams", package: "Yams")]),
        .target(name: "RTVirtIOHost", dependencies: [
            "RTVirtIO", "CSystemd", "CCgroup", "CLibbpf", "RTVirtIOBPF",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .target(name: "RTVirtIOLab", dependencies: [
            "RTVirtIO", "RTVirtIOHost", .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .executableTarget(name: "rtvirtio", dependencies: [
            "RTVirtIO", "RTVirtIOHost", "RTVirtIOLab",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "RTVirtIOTests", dependencies: ["RTVirtIO"], resources: [.copy("Fixtures")]),
        // the lab's pure parts (schemes, cases files, the planner against the exhaustive grid): no root, no kernel
        .testTarget(name: "RTVirtIOLabTests", dependencies: ["RTVirtIO", "RTVirtIOHost", "RTVirtIOLab", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "RTVirtIOHostTests", dependencies: ["RTVirtIO", "RTVirtIOHost", "RTVirtIOLab",
                                                          .product(name: "Yams", package: "Yams")]),
    ],
    swiftLanguageModes: [.v6]
)
