// swift-tools-version:6.2
// libFuzzer targets for SwiftPool's parsers and protocol state machines. A package of its own so
// that the root package's `swift build` never builds (or needs the sanitizer flags of) these
// executables. Build and run with fuzz/run.sh; see fuzz/README.md.
import PackageDescription

let swiftPool = "SwiftPool"

/// One executable per fuzz target: its `LLVMFuzzerTestOneInput`, and a main.swift that hands it
/// to libFuzzer's driver (linked in by `-sanitize=fuzzer`).
func fuzzTarget(_ name: String, _ products: [String], logging: Bool = false, crypto: Bool = false) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["FuzzSupport", .product(name: "NIOCore", package: "swift-nio")]
            + products.map { .product(name: $0, package: swiftPool) }
            + (logging ? [.product(name: "Logging", package: "swift-log")] : [])
            + (crypto ? [.product(name: "Crypto", package: "swift-crypto")] : []),
        path: "Sources/\(name)")
}

let package = Package(
    name: "SwiftPoolFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: swiftPool, path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        .target(name: "CFuzzer", path: "Sources/CFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzer"], path: "Sources/FuzzSupport"),
        fuzzTarget("startup-packet", ["PostgresWire"]),
        fuzzTarget("client-framing", ["PostgresWire"]),
        fuzzTarget("backend-stream", ["PostgresWire", "Proxy"]),
        fuzzTarget("sql", ["Routing"]),
        fuzzTarget("pgpool-conf", ["Configuration"]),
        fuzzTarget("pool-hba", ["Configuration"]),
        fuzzTarget("pool-passwd", ["Configuration", "PostgresWire"]),
        fuzzTarget("pcp-conf", ["Configuration", "AdminHTTP", "PostgresWire"]),
        fuzzTarget("admin-http", ["AdminCore", "AdminHTTP", "Cluster", "Configuration", "Proxy"], logging: true),
        fuzzTarget("pcp", ["PCP", "PostgresWire", "Configuration"]),
        fuzzTarget("scram", ["PostgresWire"]),
        fuzzTarget("watchdog", ["Watchdog"], crypto: true),
    ],
    swiftLanguageModes: [.v6]
)
