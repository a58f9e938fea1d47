#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An in-memory store holding what a team server answered for one request:
/// the values a spec's names resolved to (render, env, exec) or the names
/// in each scope of a chain (check, which). The existing jobs run against it
/// unchanged, so a remote render is the local render, byte for byte.
///
/// With a `directory` it also answers for the scopes its request did not
/// cover: the names of every scope the key may list, fetched on the first
/// question about them. Only hints ask (`ScopeHints`: an unknown name, an
/// empty scope), so a request that succeeds never fetches them.
public struct ResolvedSecretSnapshot: SecretStore, Sendable {
    private var values: [Scope: [String: SecretValue]]
    private var listings: [Scope: [SecretListing]]
    private var directory: LazyDirectory?

    public init() {
        values = [:]
        listings = [:]
    }

    /// Where the names of every scope the key may list come from, asked at
    /// most once. nil when they cannot be had (the hints then name only the
    /// scopes the request covered, as without a directory).
    public typealias DirectoryLoader = @Sendable () -> NameDirectory?

    /// Every scope a key may list that holds names, each with all of them,
    /// and the kinds whose every scope the key may list.
    public struct NameDirectory: Sendable {
        public var listings: [Scope: [SecretListing]]
        public var listsEvery: Set<Scope.Kind>

        public init(listings: [Scope: [SecretListing]], listsEvery: Set<Scope.Kind>) {
            self.listings = listings
            self.listsEvery = listsEvery
        }
    }

    /// Answers for scopes outside the request from `load`, on first need.
    public mutating func setDirectory(_ load: @escaping DirectoryLoader) {
        directory = LazyDirectory(load)
    }

    /// The directory's scopes, or nil when there is none or it failed.
    private var loaded: [Scope: [SecretListing]]? { directory?.value?.listings }

    /// Known only from a directory: without one, a snapshot holds the scopes
    /// of its request alone.
    public func listsEvery(_ kind: Scope.Kind) throws(StoreError) -> Bool {
        directory?.value?.listsEvery.contains(kind) ?? false
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
        // The directory is complete for every scope the key may list (one
        // it does not name holds nothing); without it, the names resolved.
        if let loaded { return loaded[scope] ?? [] }
        return (values[scope] ?? [:]).keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { SecretListing(name: $0, updated: "") }
    }

    public func contains(_ name: String, in scope: Scope) throws(StoreError) -> Bool {
        if values[scope]?[name] != nil { return true }
        if let listed = listings[scope] { return listed.contains { $0.name == name } }
        return loaded?[scope]?.contains { $0.name == name } ?? false
    }

    /// The scopes the server answered for and, with a directory, every
    /// scope the key may list that holds names (never one it may not list).
    public func allScopes() throws(StoreError) -> [Scope] {
        var scopes = Set(values.keys).union(listings.keys)
        if let loaded { scopes.formUnion(loaded.keys) }
        return Array(scopes)
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

/// A value computed on first use, once, whichever thread asks.
private final class LazyDirectory: @unchecked Sendable {
    private let load: ResolvedSecretSnapshot.DirectoryLoader
    private var result: ResolvedSecretSnapshot.NameDirectory?
    private var done = false
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    init(_ load: @escaping ResolvedSecretSnapshot.DirectoryLoader) {
        self.load = load
        pthread_mutex_init(lock, nil)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    var value: ResolvedSecretSnapshot.NameDirectory? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        if !done {
            result = load()
            done = true
        }
        return result
    }
}
