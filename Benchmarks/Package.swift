// swift-tools-version:6.1
import PackageDescription

// Benchmarks for Docket, kept as their own package so the main package (and CI, which runs
// `swift test` there) never resolves or builds package-benchmark. See README.md.
let package = Package(
    name: "DocketBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The parent package. `name:` pins the name products are looked up under, so this works
        // whatever the checkout directory is called (a path dependency's identity is its folder name).
        .package(name: "docket", path: "../"),
        // Already in the parent's graph; named here only to quieten the store's logger.
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // package-benchmark (renamed ordo-one/benchmark). Naming the traits turns off the default
        // "RuntimeInterposer" trait, whose swift-runtime-interposer dependency is not available
        // here; "MallocInterposer" keeps the malloc metrics.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Helpers shared by the store benchmarks: temporary data directories, filling a log.
        .target(
            name: "DocketBenchmarkSupport",
            dependencies: [
                .product(name: "DocketCore", package: "docket"),
                .product(name: "DocketStore", package: "docket"),
                .product(name: "DocketTestSupport", package: "docket"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "StoreAppend",
            dependencies: [
                "DocketBenchmarkSupport",
                .product(name: "DocketCore", package: "docket"),
                .product(name: "DocketStore", package: "docket"),
                .product(name: "DocketTestSupport", package: "docket"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/StoreAppend",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "StoreReplay",
            dependencies: [
                "DocketBenchmarkSupport",
                .product(name: "DocketCore", package: "docket"),
                .product(name: "DocketStore", package: "docket"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/StoreReplay",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Codecs",
            dependencies: [
                .product(name: "DocketCore", package: "docket"),
                .product(name: "DocketTestSupport", package: "docket"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Codecs",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)

for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    target.swiftSettings = settings
}
