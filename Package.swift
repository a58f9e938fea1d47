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
            name: "CLITests",
            dependencies: ["secretfill", "SecretFill"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
