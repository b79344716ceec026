// swift-tools-version:6.1
import PackageDescription

// Dependency direction is the architecture:
//   DocketCore (pure Swift domain) ← DocketStore (LMDB + zstd + chain) ← docket (CLI wiring)
// Only DocketStore imports the C modules CLMDB and CZstd.
let package = Package(
    name: "docket",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "docket", targets: ["docket"]),
        .library(name: "DocketCore", targets: ["DocketCore"]),
        .library(name: "DocketStore", targets: ["DocketStore"]),
        .library(name: "DocketTestSupport", targets: ["DocketTestSupport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
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
        // Synthetic workloads shared by tests, `docket bench` and Benchmarks/ (like NIOTestUtils).
        .target(name: "DocketTestSupport", dependencies: ["DocketCore"]),
        .executableTarget(
            name: "docket",
            dependencies: [
                "DocketCore", "DocketStore", "DocketTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "DocketCoreTests", dependencies: ["DocketCore", "DocketTestSupport"]),
        .testTarget(name: "DocketStoreTests", dependencies: ["DocketStore", "DocketCore", "DocketTestSupport"]),
        .testTarget(name: "DocketCLITests", dependencies: ["docket", "DocketStore", "DocketCore", "DocketTestSupport"]),
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
