import Foundation
import SecretFill
import Testing

/// A store kept in memory, for tests that are about specs, not files.
final class MemoryStore: SecretStore {
    var values: [Scope: [String: SecretValue]] = [:]
    /// Names whose value was asked for, to prove only those are opened.
    var opened: [String] = []

    init(team: [String: String] = [:], project: (String, [String: String])? = nil, cluster: (String, [String: String])? = nil) {
        values[.team] = team.mapValues { try! SecretValue(validating: $0) }
        if let project { values[.project(project.0)] = project.1.mapValues { try! SecretValue(validating: $0) } }
        if let cluster { values[.cluster(cluster.0)] = cluster.1.mapValues { try! SecretValue(validating: $0) } }
    }

    func listing(of scope: Scope) throws(StoreError) -> [SecretListing] {
        (values[scope] ?? [:]).keys.sorted().map { SecretListing(name: $0, updated: "") }
    }

    func contains(_ name: String, in scope: Scope) throws(StoreError) -> Bool { values[scope]?[name] != nil }

    func allScopes() throws(StoreError) -> [Scope] { Array(values.keys) }

    func value(of name: String, in scope: Scope) throws(StoreError) -> SecretValue? {
        guard let value = values[scope]?[name] else { return nil }
        opened.append(name)
        return value
    }

    func set(_ pairs: [(name: String, value: SecretValue)], in scope: Scope) throws(StoreError) {
        for (name, value) in pairs { values[scope, default: [:]][name] = value }
    }

    func delete(_ name: String, in scope: Scope) throws(StoreError) {
        guard values[scope]?.removeValue(forKey: name) != nil else { throw .notFound(name: name, scope: scope) }
    }
}

enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func bytes(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent(name)))
    }

    static let demoKey = "EkaHn/ZMFyf1vcLRyALir2+7xebjorgn/IfiD3uTe0s="

    static func demoStore() throws -> LocalSecretStore {
        try LocalSecretStore(path: root.appendingPathComponent("demo/store.json").path,
                             key: StoreKey(base64: demoKey, source: "demo key"))
    }
}

func scan(_ text: String, detail: SpecScanner.Detail = .full) -> SpecScan {
    SpecScanner(detail: detail).scan(Array(text.utf8), file: "spec.yaml")
}

/// Renders `text` with `store`, returning the output text or the diagnostics.
func render(_ text: String, store: any SecretStore, chain: ScopeChain = ScopeChain()) throws -> Result<String, SpecProblems> {
    let job = RenderJob(chain: chain) { _ throws(StoreError) -> any SecretStore in store }
    return try job.run(SpecSource(label: "spec.yaml", bytes: Array(text.utf8))).map { String(decoding: $0.bytes, as: UTF8.self) }
}
