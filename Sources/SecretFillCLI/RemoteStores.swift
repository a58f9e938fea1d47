import SecretFill
import SecretFillAPI

/// The in-memory stores the existing jobs run against when `--server` is
/// given: one request each, so a remote render is the local render. render,
/// env, exec, check, which and list also get the names of every scope the key
/// may list, fetched in a second request only when a hint needs them (an
/// unknown name, an empty scope), so their hints are the local ones.
enum RemoteStores {
    /// render, env: every name the specs reference, resolved in one `/v1/resolve`.
    static func forSpecs(_ sources: [SpecSource], chain: ScopeChain, endpoint: ServerEndpoint) throws -> ResolvedSecretSnapshot {
        var names: [String] = []
        var seen: Set<String> = []
        for source in sources {
            for name in SpecScanner(detail: .references).scan(source.bytes, file: source.label).secretNames where seen.insert(name).inserted {
                names.append(name)
            }
        }
        guard !names.isEmpty else { return ResolvedSecretSnapshot() }
        let wanted = names
        return withDirectory(try withClient(endpoint) { try await $0.resolveSnapshot(names: wanted, in: chain) }, endpoint: endpoint)
    }

    /// check, which, list: the names of every scope asked for, in one `/v1/names`.
    static func names(_ scopes: [Scope], endpoint: ServerEndpoint) throws -> ResolvedSecretSnapshot {
        withDirectory(try withClient(endpoint) { try await $0.namesSnapshot(scopes) }, endpoint: endpoint)
    }

    /// `snapshot`, answering for the other scopes the key may list from one
    /// `/v1/scopes`, asked on first need. A hint is not worth a failure of
    /// its own: when that request fails, the hints say less and nothing else changes.
    static func withDirectory(_ snapshot: ResolvedSecretSnapshot, endpoint: ServerEndpoint) -> ResolvedSecretSnapshot {
        var snapshot = snapshot
        snapshot.setDirectory {
            try? withClient(endpoint, mapping: { _ in Exit.failure }) { try await $0.listableNames() }
        }
        return snapshot
    }

    /// redact: every value of the chain, shadowed ones included, in one `/v1/values`.
    static func values(_ chain: ScopeChain, endpoint: ServerEndpoint) throws -> ResolvedSecretSnapshot {
        try withClient(endpoint) { try await $0.valuesSnapshot(in: chain) }
    }
}
