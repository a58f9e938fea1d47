import SecretFill
import SecretFillAPI

/// Where a verb's secrets are: the local store file or a team server. Chosen
/// once, by `StoreOptions.open(lockTimeout:)`; the verbs call this and never
/// ask which. Every failure is a `StoreError` (a server's refusal is
/// `.service`), so both report through the same path with the same exit codes.
protocol SecretBackend {
    /// render, env, exec: a store answering `names` in `chain`, for the
    /// jobs' one scan (`StoreOpener`); a server answers in one `/v1/resolve`.
    func resolving(_ names: [String], in chain: ScopeChain) throws(StoreError) -> any SecretStore
    /// check, list, which: the names of `scopes`, no value (a names grant
    /// is enough on a server; no key locally).
    func directory(of scopes: [Scope]) throws(StoreError) -> any SecretDirectory
    /// redact: every value of `chain`, shadowed ones included.
    func values(in chain: ScopeChain) throws(StoreError) -> any SecretStore
    /// Sets every entry or none; how many replaced a current value. A server
    /// takes at most `APILimits.setSecrets` at once: more are refused unless
    /// `batched`, then sent in all-or-nothing batches (`label` names the source).
    func set(_ entries: [(name: String, value: SecretValue)], in scope: Scope, batched: Bool, label: String) throws(StoreError) -> Int
    /// Deletes `name`; `purge` removes its history too. Whether history was
    /// removed (the local file keeps none, so there it never is).
    @discardableResult
    func delete(_ name: String, in scope: Scope, purge: Bool) throws(StoreError) -> Bool
    func history(of name: String, in scope: Scope) throws(StoreError) -> HistoryResponse
    /// Makes `version` current again as a new version; the new number.
    func rollback(_ name: String, in scope: Scope, to version: Int) throws(StoreError) -> Int
}

extension StoreOptions {
    /// The store this command uses: `--server` (or `SECRETFILL_SERVER`) if
    /// given, else the store file. Nothing is opened yet.
    func open(lockTimeout: Double = FileLock.defaultTimeout) throws -> any SecretBackend {
        if let endpoint = try endpoint() {
            return RemoteBackend(endpoint: endpoint, components: try TeamComponents.required())
        }
        var configuration = configuration
        configuration.lockTimeout = lockTimeout
        return LocalBackend(configuration: configuration)
    }
}

/// The store file: opened per call, with the key only when a value is read or written.
struct LocalBackend: SecretBackend {
    let configuration: StoreConfiguration

    func resolving(_ names: [String], in chain: ScopeChain) throws(StoreError) -> any SecretStore {
        try configuration.openStore(needsKey: true)
    }

    func directory(of scopes: [Scope]) throws(StoreError) -> any SecretDirectory {
        try configuration.openStore(needsKey: false)
    }

    func values(in chain: ScopeChain) throws(StoreError) -> any SecretStore {
        try configuration.openStore(needsKey: true)
    }

    func set(_ entries: [(name: String, value: SecretValue)], in scope: Scope, batched: Bool, label: String) throws(StoreError) -> Int {
        guard !entries.isEmpty else { return 0 }
        return try configuration.openStore(needsKey: true).setReplacing(entries, in: scope).count
    }

    func delete(_ name: String, in scope: Scope, purge: Bool) throws(StoreError) -> Bool {
        try configuration.openStore(needsKey: true).delete(name, in: scope)
        return false
    }

    func history(of name: String, in scope: Scope) throws(StoreError) -> HistoryResponse { throw .keepsNoHistory }

    func rollback(_ name: String, in scope: Scope, to version: Int) throws(StoreError) -> Int { throw .keepsNoHistory }
}

/// A team server: one request per call, each through a client opened and
/// shut down for it.
struct RemoteBackend: SecretBackend {
    let endpoint: ServerEndpoint
    let components: TeamComponents

    func resolving(_ names: [String], in chain: ScopeChain) throws(StoreError) -> any SecretStore {
        guard !names.isEmpty else { return ResolvedSecretSnapshot() }
        return withDirectory(try call { try await $0.resolveSnapshot(names: names, in: chain) })
    }

    func directory(of scopes: [Scope]) throws(StoreError) -> any SecretDirectory {
        withDirectory(try call { try await $0.namesSnapshot(scopes) })
    }

    func values(in chain: ScopeChain) throws(StoreError) -> any SecretStore {
        try call { try await $0.valuesSnapshot(in: chain) }
    }

    func set(_ entries: [(name: String, value: SecretValue)], in scope: Scope, batched: Bool, label: String) throws(StoreError) -> Int {
        let limit = APILimits.setSecrets
        if entries.count > limit && !batched {
            throw .service(StoreServiceFailure(.invalid, "\(label) has \(entries.count) secrets; a team server takes at most \(limit) in one all-or-nothing request, so nothing was sent: give --batch to send them in batches of \(limit), each all or nothing, or split the file"))
        }
        var replaced = 0
        for (index, start) in stride(from: 0, to: entries.count, by: limit).enumerated() {
            let part = Array(entries[start..<min(entries.count, start + limit)])
            do throws(StoreError) {
                replaced += try call { try await $0.set(part, in: scope) }.filter(\.replacedCurrent).count
            } catch where index > 0 {
                Terminal.warn("secretfill: the first \(index) batch(es), \(index * limit) of \(entries.count) secrets, were imported; batch \(index + 1) and the rest were not")
                throw error
            }
        }
        return replaced
    }

    func delete(_ name: String, in scope: Scope, purge: Bool) throws(StoreError) -> Bool {
        try call { try await $0.delete(name, in: scope, purge: purge) }
        return purge
    }

    func history(of name: String, in scope: Scope) throws(StoreError) -> HistoryResponse {
        try call { try await $0.history(of: name, in: scope) }
    }

    func rollback(_ name: String, in scope: Scope, to version: Int) throws(StoreError) -> Int {
        try call { try await $0.rollback(name, in: scope, to: version) }
    }

    /// `snapshot`, answering for the other scopes the key may list from one
    /// `/v1/scopes`, asked on first need (an unknown name, an empty scope), so
    /// the hints are the local ones. A hint is not worth a failure of its own:
    /// when that request fails, the hints say less and nothing else changes.
    private func withDirectory(_ snapshot: ResolvedSecretSnapshot) -> ResolvedSecretSnapshot {
        var snapshot = snapshot
        let backend = self
        snapshot.setDirectory { try? backend.call { try await $0.listableNames() } }
        return snapshot
    }

    /// One client, one call, shut down whatever happens; the client's
    /// failure becomes the store's, with the server's words.
    private func call<T: Sendable>(_ body: @escaping @Sendable (any TeamService) async throws -> T) throws(StoreError) -> T {
        let (connect, endpoint) = (components.connect, self.endpoint)
        do {
            return try runBlocking {
                let service = try connect(endpoint)
                do {
                    let result = try await body(service)
                    await service.shutdown()
                    return result
                } catch {
                    await service.shutdown()
                    throw error
                }
            }
        } catch let failure as ClientFailure {
            throw .service(failure.storeFailure)
        } catch {
            // Nothing else is thrown above; should that change, say what is known.
            throw .service(StoreServiceFailure(.other, "the request to \(endpoint.url) failed"))
        }
    }
}

extension ClientFailure {
    /// The same words, sorted by the exit status they get.
    var storeFailure: StoreServiceFailure {
        switch self {
        case .refused(let m): StoreServiceFailure(.refused, m)
        case .invalid(let m): StoreServiceFailure(.invalid, m)
        case .unavailable(let m): StoreServiceFailure(.unavailable, m)
        case .notFound(let m): StoreServiceFailure(.notFound, m)
        case .other(let m): StoreServiceFailure(.other, m)
        }
    }
}
