/// An in-memory store holding what a team server answered for one request:
/// the values a spec's names resolved to (render, env, exec) or the names
/// in each scope of a chain (check, which). The existing jobs run against it
/// unchanged, so a remote render is the local render, byte for byte.
public struct ResolvedSecretSnapshot: SecretStore, Sendable {
    private var values: [Scope: [String: SecretValue]]
    private var listings: [Scope: [SecretListing]]

    public init() {
        values = [:]
        listings = [:]
    }

    /// Records that `name` resolved from `scope` with `value`.
    public mutating func add(_ name: String, value: SecretValue, from scope: Scope) {
        values[scope, default: [:]][name] = value
    }

    /// Records the names (sorted or not) in `scope`.
    public mutating func setListing(_ entries: [SecretListing], for scope: Scope) {
        listings[scope] = entries.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    public func listing(of scope: Scope) throws(StoreError) -> [SecretListing] {
        if let listed = listings[scope] { return listed }
        return (values[scope] ?? [:]).keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { SecretListing(name: $0, updated: "") }
    }

    public func contains(_ name: String, in scope: Scope) throws(StoreError) -> Bool {
        if values[scope]?[name] != nil { return true }
        return listings[scope]?.contains { $0.name == name } ?? false
    }

    /// Only the scopes the server answered for (a remote "it exists in …"
    /// hint cannot name scopes the request did not cover).
    public func allScopes() throws(StoreError) -> [Scope] {
        Array(Set(values.keys).union(listings.keys))
    }

    public func value(of name: String, in scope: Scope) throws(StoreError) -> SecretValue? {
        values[scope]?[name]
    }

    /// A snapshot is read-only: writes go to the server directly.
    public func set(_ values: [(name: String, value: SecretValue)], in scope: Scope) throws(StoreError) {
        throw .corrupt(path: "<server answer>", detail: "a resolved snapshot cannot be written")
    }

    public func delete(_ name: String, in scope: Scope) throws(StoreError) {
        throw .corrupt(path: "<server answer>", detail: "a resolved snapshot cannot be written")
    }
}
