// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "SwiftPool",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "swiftpool", targets: ["swiftpool"]),
        // The libraries below exist for fuzz/Package.swift, a separate package whose libFuzzer
        // targets call the same parsers and state machines as production; a package can only use
        // another package's modules through its products. They add nothing to this package's build.
        .library(name: "PostgresWire", targets: ["PostgresWire"]),
        .library(name: "Configuration", targets: ["Configuration"]),
        .library(name: "Routing", targets: ["Routing"]),
        .library(name: "Cluster", targets: ["Cluster"]),
        .library(name: "Proxy", targets: ["Proxy"]),
        .library(name: "AdminCore", targets: ["AdminCore"]),
        .library(name: "AdminHTTP", targets: ["AdminHTTP"]),
        .library(name: "PCP", targets: ["PCP"]),
        .library(name: "Watchdog", targets: ["Watchdog"]),
        .library(name: "Etcd", targets: ["Etcd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        // Time as an input: the cluster's loops sleep on an injected clock (AnyClock), tests drive
        // a TestClock instead of sleeping.
        .package(url: "https://github.com/pointfreeco/swift-clocks.git", from: "1.1.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(
            name: "PostgresWire",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(name: "Configuration"),
        // Client certificates checked against revocation lists (`ssl_crl_file`) with the system's
        // OpenSSL: swift-nio-ssl's BoringSSL has no API for CRLs.
        .target(name: "CX509Verify", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "Metrics"),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        .target(name: "Routing", dependencies: ["PostgresWire"]),
        .target(
            name: "Cluster",
            dependencies: [
                "Configuration", "CLibPQ", "Metrics",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Clocks", package: "swift-clocks"),
            ]
        ),
        .target(
            name: "Proxy",
            dependencies: [
                "PostgresWire", "Configuration", "Cluster", "Routing", "Metrics", "CX509Verify",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "AdminCore",
            dependencies: [
                "Cluster", "Configuration", "Proxy", "Watchdog",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "AdminHTTP",
            dependencies: [
                "AdminCore", "CMicroHTTPD", "Configuration", "PostgresWire", "Cluster", "Proxy", "Metrics", "Watchdog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Watchdog",
            dependencies: [
                "Configuration", "Cluster",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Etcd",
            dependencies: [
                "Configuration", "Cluster", "Watchdog",
                .product(name: "AsyncHTTPClient", package: "async-http-client", moduleAliases: ["Configuration": "SwiftConfiguration"]),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .target(
            name: "PCP",
            dependencies: [
                "AdminCore", "PostgresWire", "Configuration", "Cluster", "Watchdog",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "swiftpool",
            dependencies: [
                "AdminCore", "AdminHTTP", "Cluster", "Configuration", "Etcd", "PCP", "PostgresWire", "Proxy", "Routing", "Watchdog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            linkerSettings: [
                // lld with packed relative relocations (DT_RELR, glibc 2.36+): 130,000 relocations
                // of the position-independent binary in a few kilobytes instead of 3 MB read at every
                // start and kept resident, and a faster link than the default gold (bench/README.md).
                .unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"], .when(platforms: [.linux])),
            ]
        ),
        .testTarget(
            name: "PostgresWireTests",
            dependencies: [
                "PostgresWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "ConfigurationTests", dependencies: ["Configuration"]),
        .testTarget(name: "RoutingTests", dependencies: ["Routing"]),
        .testTarget(name: "WatchdogTests", dependencies: ["Watchdog"]),
        .testTarget(name: "EtcdTests", dependencies: ["Etcd", "Watchdog"]),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "Cluster", "Configuration", .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "PCPTests", dependencies: ["PCP", "PostgresWire", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(
            name: "AdminCoreTests",
            dependencies: ["AdminCore", "Cluster", "Configuration", "Proxy", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "AdminHTTPTests",
            dependencies: [
                "AdminHTTP", "Metrics", "Cluster", "Configuration", "Proxy", "Watchdog",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy", "PostgresWire", "Configuration", "Cluster", "Routing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
