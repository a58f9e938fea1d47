/// A secret's name and when it was last set, without its value.
public struct SecretListing: Sendable, Hashable {
    public var name: String
    public var updated: String

    public init(name: String, updated: String) {
        self.name = name
        self.updated = updated
    }
}

/// What a store must answer without any key: which names exist where.
///
/// `check` and `secrets which` use only this, so CI can validate specs
/// against a committed store without holding a single secret.
public protocol SecretDirectory {
    /// Names in one scope, sorted.
    func listing(of scope: Scope) throws(StoreError) -> [SecretListing]
    func contains(_ name: String, in scope: Scope) throws(StoreError) -> Bool
    /// Every scope the store has, with or without names in it, in any
    /// order: where "it exists in …" hints look (`ScopeHints`).
    func allScopes() throws(StoreError) -> [Scope]
    /// Whether `allScopes` holds every scope of `kind` that has names, so
    /// that none there means none at all (a team server's snapshot sees
    /// only what its key may list). True unless a store says otherwise.
    func listsEvery(_ kind: Scope.Kind) throws(StoreError) -> Bool
}

extension SecretDirectory {
    public func listsEvery(_ kind: Scope.Kind) throws(StoreError) -> Bool { true }
}

/// How render, env, exec and `render --k8s-secret` reach a store: called on
/// first need, after the one scan of the spec, with the names the job will
/// look up (deduplicated, in spec order). A local store ignores them; a team
/// server fetches exactly those, in one request. A spec without references
/// opens no store.
public typealias StoreOpener = (_ names: [String]) throws(StoreError) -> any SecretStore

/// A scoped secret store that render, env and the `secrets` verbs work
/// through, so another backend (a team server, a database) can replace the
/// local file without touching them.
public protocol SecretStore: SecretDirectory {
    /// The value of `name` in exactly `scope`, or nil when it is not there.
    /// Only this call decrypts, one value at a time.
    func value(of name: String, in scope: Scope) throws(StoreError) -> SecretValue?
    /// Sets every pair or none of them.
    func set(_ values: [(name: String, value: SecretValue)], in scope: Scope) throws(StoreError)
    /// Removes `name` from `scope`; `StoreError.notFound` when it is not there.
    func delete(_ name: String, in scope: Scope) throws(StoreError)
}

extension SecretDirectory {
    /// The most specific scope of `chain` that holds `name`, and the less
    /// specific ones it shadows.
    public func resolution(of name: String, in chain: ScopeChain) throws(StoreError) -> (from: Scope, shadows: [Scope])? {
        var found: [Scope] = []
        for scope in chain.scopes where try contains(name, in: scope) { found.append(scope) }
        guard let first = found.first else { return nil }
        return (first, Array(found.dropFirst()))
    }
}

extension SecretStore {
    /// The value `name` resolves to in `chain` (project, cluster, team).
    public func resolve(_ name: String, in chain: ScopeChain) throws(StoreError) -> SecretValue? {
        for scope in chain.scopes {
            if let value = try value(of: name, in: scope) { return value }
        }
        return nil
    }
}
