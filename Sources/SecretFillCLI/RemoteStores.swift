import SecretFill
import SecretFillAPI

/// The in-memory stores the existing jobs run against when `--server` is
/// given: one request each, so a remote render is the local render.
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
        return try withClient(endpoint) { try await $0.resolveSnapshot(names: wanted, in: chain) }
    }

    /// check, which, list: the names of every scope asked for, in one `/v1/names`.
    static func names(_ scopes: [Scope], endpoint: ServerEndpoint) throws -> ResolvedSecretSnapshot {
        try withClient(endpoint) { try await $0.namesSnapshot(scopes) }
    }

    /// redact: every value of the chain, shadowed ones included, in one `/v1/values`.
    static func values(_ chain: ScopeChain, endpoint: ServerEndpoint) throws -> ResolvedSecretSnapshot {
        try withClient(endpoint) { try await $0.valuesSnapshot(in: chain) }
    }
}
