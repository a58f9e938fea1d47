// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "secretfill",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "secretfill", targets: ["secretfill"]),
        .executable(name: "secretfill-team", targets: ["secretfill-team"]),
        .library(name: "SecretFill", targets: ["SecretFill"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.0"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/vapor/sql-kit", from: "3.36.0"),
        .package(url: "https://github.com/vapor/postgres-kit", from: "2.17.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/vapor/sqlite-kit", from: "4.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .target(
            name: "SecretFill",
            dependencies: [
                "CYAML",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The web UI of `secretfill serve` (issue 14): pages, sessions, CSRF, headers. No database code.
        .target(
            name: "SecretFillWebUI",
            dependencies: [
                "SecretFill",
                "SecretFillAPI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        // The HTTP API's wire types (Codable), matching Sources/SecretFillAPI/openapi.yaml. No networking.
        .target(
            name: "SecretFillAPI",
            dependencies: ["SecretFill"],
            exclude: ["openapi.yaml"]
        ),
        // OIDC/JWT verification for CI roles (issue 26) and, later, people's SSO (issue 25):
        // JWKS discovery and cache, jwt-kit signature checks, claim rules. No database code.
        .target(
            name: "SecretFillJWT",
            dependencies: [
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // The PKCS#11 declarations secretfill uses (issue 27, the store key in an HSM), from the standard: no system header needed.
        .target(name: "CPKCS11"),
        // An AES key in a PKCS#11 token (dlopen of the module named by --key-pkcs11), used without its bytes leaving the token,
        // as a store key (SecretFill's StoreSealingKey) for a server's database and the local store file.
        .target(
            name: "SecretFillPKCS11",
            dependencies: ["SecretFill", "CPKCS11", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // `secretfill serve`: Hummingbird 2 over SQLKit (PostgreSQL or SQLite, one SQL code path).
        .target(
            name: "SecretFillServer",
            dependencies: [
                "SecretFill",
                "SecretFillAPI",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "SecretFillWebUI",
                "SecretFillJWT",
                "SecretFillPKCS11",
            ]
        ),
        // The CLI's side of the HTTP API (async-http-client, TLS verification on).
        .target(
            name: "SecretFillClient",
            dependencies: [
                "SecretFill",
                "SecretFillAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        // Every command's definition and its local work; the networking parts
        // come in through `TeamComponents`, so this links no networking. It
        // links SecretFillPKCS11 (no networking: dlopen of the token's module)
        // for a local store whose key is in a token.
        .target(
            name: "SecretFillCLI",
            dependencies: [
                "SecretFill",
                "SecretFillAPI",
                "SecretFillPKCS11",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // `secretfill`: the local program. It hands commands that talk to a
        // team server to `secretfill-team` (see README, "Two programs").
        .executableTarget(
            name: "secretfill",
            dependencies: ["SecretFillCLI"]
        ),
        // `secretfill-team`: the same commands with the server and the client.
        .executableTarget(
            name: "secretfill-team",
            dependencies: [
                "SecretFillCLI",
                "SecretFill",
                "SecretFillAPI",
                "SecretFillServer",
                "SecretFillClient",
                "SecretFillJWT",
                "SecretFillPKCS11",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SecretFillTests",
            dependencies: ["SecretFill", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .testTarget(
            name: "WebUITests",
            dependencies: [
                "SecretFillWebUI",
                "SecretFill",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        // Unit tests of the server's hot path (no server started; CLITests start real ones).
        .testTarget(
            name: "ServerUnitTests",
            dependencies: [
                "SecretFillServer",
                "SecretFillAPI",
                "SecretFill",
                "SecretFillWebUI",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SQLKit", package: "sql-kit"),
                "SecretFillJWT",
                "OIDCTestSupport",
                "SecretFillPKCS11",
                "CPKCS11",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        // Tests' OIDC issuer on loopback, signing keys (jwt-kit) and `bao server -dev` (issue 26).
        .target(
            name: "OIDCTestSupport",
            dependencies: [
                "SecretFillJWT",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/OIDCTestSupport"
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["secretfill", "secretfill-team", "SecretFill", "OIDCTestSupport", "SecretFillJWT"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
