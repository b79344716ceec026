// swift-tools-version:6.1
import PackageDescription

// Dependency direction is the architecture:
//   DocketCore (pure Swift domain) ← DocketStore (LMDB + zstd + chain), DocketWire (frames; NIOCore)
//   ← DocketServer (the node on SwiftNIO), DocketClient ← docket (CLI wiring)
// Only DocketStore imports the C modules CLMDB and CZstd.
let package = Package(
    name: "docket",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "docket", targets: ["docket"]),
        .library(name: "DocketCore", targets: ["DocketCore"]),
        .library(name: "DocketStore", targets: ["DocketStore"]),
        .library(name: "DocketWire", targets: ["DocketWire"]),
        .library(name: "DocketServer", targets: ["DocketServer"]),
        .library(name: "DocketClient", targets: ["DocketClient"]),
        .library(name: "DocketTestSupport", targets: ["DocketTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CLMDB",
            pkgConfig: "lmdb",
            providers: [.apt(["liblmdb-dev"]), .brew(["lmdb"])]
        ),
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]
        ),
        .target(name: "DocketCore"),
        .target(
            name: "DocketStore",
            dependencies: [
                "DocketCore", "CLMDB", "CZstd",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Frames and messages of the network protocol (Schemas/protocol.md): NIOCore only.
        .target(
            name: "DocketWire",
            dependencies: ["DocketCore", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // The node: the domain over the store (local mode uses it too), tokens and roles, and the
        // SwiftNIO server.
        .target(
            name: "DocketServer",
            dependencies: [
                "DocketCore", "DocketStore", "DocketWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "DocketClient",
            dependencies: [
                "DocketCore", "DocketWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Synthetic workloads shared by tests, `docket bench` and Benchmarks/ (like NIOTestUtils).
        .target(name: "DocketTestSupport", dependencies: ["DocketCore"]),
        .executableTarget(
            name: "docket",
            dependencies: [
                "DocketCore", "DocketStore", "DocketWire", "DocketServer", "DocketClient", "DocketTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "DocketCoreTests", dependencies: ["DocketCore", "DocketTestSupport"]),
        .testTarget(name: "DocketStoreTests", dependencies: ["DocketStore", "DocketCore", "DocketTestSupport", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "DocketWireTests",
            dependencies: ["DocketWire", "DocketCore", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOTestUtils", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio")]
        ),
        .testTarget(
            name: "DocketServerTests",
            dependencies: ["DocketServer", "DocketClient", "DocketWire", "DocketStore", "DocketCore", "DocketTestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "DocketCLITests", dependencies: ["docket", "DocketStore", "DocketCore", "DocketTestSupport", .product(name: "Crypto", package: "swift-crypto")]),
    ]
)

// One strictness for every target (the swift-log habit).
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .swiftLanguageMode(.v6),
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ])
    target.swiftSettings = settings
}
