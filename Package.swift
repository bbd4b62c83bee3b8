// swift-tools-version: 6.2
import PackageDescription

// Dependency direction: warden (executable) → WardenEngine → WardenPluginKit (the contract:
// swift-log only). Plugin families know the contract, WardenPluginSupport (the shared HTTP
// client, contained processes) and their own client libraries: WardenPlugins (core
// families), WardenPostgres (postgres-nio), WardenKubernetes (kubeconfig YAML);
// WardenBuiltins lists them all for the executable.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "warden",
    products: [
        .executable(name: "warden", targets: ["warden"]),
        .library(name: "WardenPluginKit", targets: ["WardenPluginKit"]),
        .library(name: "WardenPlugins", targets: ["WardenPlugins"]),
        .library(name: "WardenBuiltins", targets: ["WardenBuiltins"]),
        .library(name: "WardenEngine", targets: ["WardenEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    ],
    targets: [
        // libsystemd (sd_notify, sd-journal, sd-bus), loaded on first use: its headers come
        // from libsystemd-dev, the library from libsystemd0 at run time.
        .target(name: "CSystemd"),
        // sqlite3_config, which is variadic: its header from libsqlite3-dev, like GRDB's.
        .target(name: "CSQLiteSettings", linkerSettings: [.linkedLibrary("sqlite3")]),
        // A timerfd that tells the scheduler when the wall clock is set.
        .target(name: "CClockWatch"),
        .target(
            name: "WardenPluginKit",
            // The contract: swift-log and the standard library, nothing a plugin family uses.
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // What several plugin families share: the host's HTTP client, bounded HTTP exchanges,
        // and child processes contained in their own process group.
        .target(
            name: "WardenPluginSupport",
            dependencies: [
                "WardenPluginKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        // Monitor, Host, systemd (sd-bus, sd-journal), Observability, System, Nagios, custom executables.
        .target(
            name: "WardenPlugins",
            dependencies: [
                "WardenPluginKit",
                "WardenPluginSupport",
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "WardenPostgres",
            dependencies: [
                "WardenPluginKit",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "WardenKubernetes",
            dependencies: [
                "WardenPluginKit",
                "WardenPluginSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "WardenBuiltins",
            dependencies: ["WardenPluginKit", "WardenPlugins", "WardenPostgres", "WardenKubernetes"],
            swiftSettings: strict
        ),
        .target(
            name: "WardenEngine",
            dependencies: [
                "WardenPluginKit",
                "CSystemd",
                "CSQLiteSettings",
                "CClockWatch",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strict,
            plugins: ["EmbedMigrations"]
        ),
        // Bakes migrations/*.sql into the engine at build time, so the binary carries its
        // schema wherever it is installed.
        .executableTarget(
            name: "embed-migrations",
            path: "Plugins/EmbedMigrationsTool",
            swiftSettings: strict
        ),
        .plugin(
            name: "EmbedMigrations",
            capability: .buildTool(),
            dependencies: ["embed-migrations"]
        ),
        .executableTarget(
            name: "warden",
            dependencies: [
                "WardenEngine",
                "WardenBuiltins",
                "WardenPlugins",
                "WardenPluginSupport",
                "WardenPluginKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: strict
        ),
        // `make bench`: measurements that back the engine's design choices (bench/README.md).
        .executableTarget(
            name: "warden-bench",
            dependencies: ["WardenEngine", "WardenPluginKit", .product(name: "Logging", package: "swift-log")],
            path: "bench/warden-bench",
            swiftSettings: strict
        ),
        .target(
            name: "WardenTestSupport",
            dependencies: [
                "WardenPluginKit",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tests/WardenTestSupport",
            swiftSettings: strict
        ),
        .testTarget(
            name: "WardenPluginKitTests",
            dependencies: ["WardenPluginKit"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WardenPluginsTests",
            dependencies: [
                "WardenPlugins", "WardenPluginKit", "WardenEngine", "WardenTestSupport",
                "WardenBuiltins", "WardenPostgres", "WardenKubernetes", "WardenPluginSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WardenEngineTests",
            dependencies: [
                "WardenEngine", "WardenPluginKit", "WardenPlugins", "WardenBuiltins", "WardenTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "WardenCLITests",
            dependencies: ["warden", "WardenTestSupport", "WardenPluginKit"],
            swiftSettings: strict
        ),
    ]
)
