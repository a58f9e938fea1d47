// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "secretfill",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "secretfill", targets: ["secretfill"]),
        .library(name: "SecretFill", targets: ["SecretFill"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.0"),
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
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),
        .executableTarget(
            name: "secretfill",
            dependencies: [
                "SecretFill",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "SecretFillTests",
            dependencies: ["SecretFill"]
        ),
        .testTarget(
            name: "WebUITests",
            dependencies: [
                "SecretFillWebUI",
                "SecretFill",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["secretfill", "SecretFill"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
