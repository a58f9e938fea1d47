import SecretFill
import SecretFillAPI

/// Typed calls for each verb, in the library's own terms.
extension TeamClient {
    static func wire(_ scope: Scope) -> (String, String?) { (scope.kind.rawValue, scope.id) }

    /// One `/v1/resolve` request for every name, answered as an in-memory
    /// store the local jobs run against unchanged.
    /// A spec with more names than one request may carry (`APILimits.resolveNames`) takes one request per thousand.
    public func resolveSnapshot(names: [String], in chain: ScopeChain) async throws(ClientFailure) -> ResolvedSecretSnapshot {
        var snapshot = ResolvedSecretSnapshot()
        var start = names.startIndex
        repeat {
            let end = min(names.endIndex, start + APILimits.resolveNames)
            let part = Array(names[start..<end])
            let answer: ResolveResponse = try await post("/v1/resolve", ResolveRequest(project: chain.project, cluster: chain.cluster, names: part))
            for (name, entry) in answer.secrets {
                guard let kind = Scope.Kind(rawValue: entry.scope), let scope = try? Scope(kind: kind, id: entry.id),
                      let value = try? SecretValue(validating: entry.value) else {
                    throw .unavailable("the server sent an unreadable answer for '\(name)'")
                }
                snapshot.add(name, value: value, from: scope)
            }
            start = end
        } while start < names.endIndex
        return snapshot
    }

    /// Every value in every scope of `chain`, shadowed ones included (redact).
    public func valuesSnapshot(in chain: ScopeChain) async throws(ClientFailure) -> ResolvedSecretSnapshot {
        let answer: ValuesResponse = try await post("/v1/values", ValuesRequest(project: chain.project, cluster: chain.cluster))
        var snapshot = ResolvedSecretSnapshot()
        for entry in answer.values {
            guard let kind = Scope.Kind(rawValue: entry.scope), let scope = try? Scope(kind: kind, id: entry.id),
                  let value = try? SecretValue(validating: entry.value) else {
                throw .unavailable("the server sent an unreadable answer for '\(entry.name)'")
            }
            snapshot.add(entry.name, value: value, from: scope)
        }
        return snapshot
    }

    /// The names in every scope of `scopes` (one request), as a store that answers names only.
    public func namesSnapshot(_ scopes: [Scope]) async throws(ClientFailure) -> ResolvedSecretSnapshot {
        let answer: NamesResponse = try await post("/v1/names", NamesRequest(scopes: scopes.map { WireScope(scope: $0.kind.rawValue, id: $0.id) }))
        var snapshot = ResolvedSecretSnapshot()
        for entry in answer.scopes {
            guard let kind = Scope.Kind(rawValue: entry.scope), let scope = try? Scope(kind: kind, id: entry.id) else {
                throw .unavailable("the server sent an unreadable scope")
            }
            snapshot.setListing(entry.secrets.map { SecretListing(name: $0.name, updated: $0.updated) }, for: scope)
        }
        for scope in scopes where (try? snapshot.listing(of: scope)) == nil { snapshot.setListing([], for: scope) }
        return snapshot
    }

    /// Every scope the key may list that holds names, with its names (one
    /// `/v1/scopes`): what a snapshot's hints look through.
    public func listableNames() async throws(ClientFailure) -> ResolvedSecretSnapshot.NameDirectory {
        struct Empty: Encodable {}
        let answer: ScopesResponse = try await post("/v1/scopes", Empty())
        var scopes: [Scope: [SecretListing]] = [:]
        for entry in answer.scopes {
            guard let kind = Scope.Kind(rawValue: entry.scope), let scope = try? Scope(kind: kind, id: entry.id) else {
                throw .unavailable("the server sent an unreadable scope")
            }
            scopes[scope] = entry.secrets.map { SecretListing(name: $0.name, updated: $0.updated) }
                .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
        return ResolvedSecretSnapshot.NameDirectory(listings: scopes, listsEvery: Set(answer.every.compactMap(Scope.Kind.init(rawValue:))))
    }

    public func set(_ values: [(name: String, value: SecretValue)], in scope: Scope) async throws(ClientFailure) -> [NameVersion] {
        let (kind, id) = Self.wire(scope)
        let answer: SetResponse = try await post("/v1/secrets/set", SetRequest(scope: kind, id: id, secrets: values.map { NameValue(name: $0.name, value: $0.value.revealed) }))
        return answer.versions
    }

    public func delete(_ name: String, in scope: Scope, purge: Bool) async throws(ClientFailure) {
        let (kind, id) = Self.wire(scope)
        let _: SetResponse = try await post("/v1/secrets/delete", DeleteRequest(scope: kind, id: id, name: name, purge: purge))
    }

    public func history(of name: String, in scope: Scope) async throws(ClientFailure) -> HistoryResponse {
        let (kind, id) = Self.wire(scope)
        return try await post("/v1/secrets/history", HistoryRequest(scope: kind, id: id, name: name))
    }

    public func rollback(_ name: String, in scope: Scope, to version: Int) async throws(ClientFailure) -> Int {
        let (kind, id) = Self.wire(scope)
        let answer: SetResponse = try await post("/v1/secrets/rollback", RollbackRequest(scope: kind, id: id, name: name, version: version))
        return answer.versions.first?.version ?? 0
    }

    public func createKey(name: String, grants: [String], expiresIn: Int?) async throws(ClientFailure) -> String {
        let answer: CreateKeyResponse = try await post("/v1/keys", CreateKeyRequest(name: name, grants: grants, expiresIn: expiresIn))
        return answer.token
    }

    public func listKeys() async throws(ClientFailure) -> [KeyEntry] {
        struct Empty: Encodable {}
        let answer: KeysResponse = try await post("/v1/keys/list", Empty())
        return answer.keys
    }

    public func revokeKey(name: String) async throws(ClientFailure) {
        let _: SetResponse = try await post("/v1/keys/revoke", RevokeKeyRequest(name: name))
    }

    /// The newest `limit` entries, newest first, a page of at most 1000 at a time;
    /// `more` is true when older entries exist beyond them.
    public func audit(since: Int?, key: String?, secret: String?, limit: Int) async throws(ClientFailure) -> (entries: [AuditEntry], more: Bool) {
        try await audit(since: since, key: key, secret: secret, role: nil, user: nil, limit: limit)
    }

    public func createRole(_ role: RoleEntry) async throws(ClientFailure) {
        let _: SetResponse = try await post("/v1/roles", role)
    }

    public func listRoles() async throws(ClientFailure) -> [RoleEntry] {
        struct Empty: Encodable {}
        let answer: RolesResponse = try await post("/v1/roles/list", Empty())
        return answer.roles
    }

    public func rekey(_ request: RekeyRequest) async throws(ClientFailure) -> RekeyResponse {
        try await post("/v1/rekey", request)
    }

    public func deleteRole(name: String) async throws(ClientFailure) {
        let _: SetResponse = try await post("/v1/roles/delete", DeleteRoleRequest(name: name))
    }

    public func addMember(name: String, grants: [String]) async throws(ClientFailure) -> AddMemberResponse {
        try await post("/v1/members", AddMemberRequest(name: name, grants: grants))
    }

    public func listMembers() async throws(ClientFailure) -> [MemberEntry] {
        struct Empty: Encodable {}
        let answer: MembersResponse = try await post("/v1/members/list", Empty())
        return answer.members
    }

    public func removeMember(name: String) async throws(ClientFailure) {
        let _: SetResponse = try await post("/v1/members/remove", RemoveMemberRequest(name: name))
    }

    public func audit(since: Int?, key: String?, secret: String?, role: String?, user: String?, limit: Int) async throws(ClientFailure) -> (entries: [AuditEntry], more: Bool) {
        var entries: [AuditEntry] = []
        var before: String?
        while true {
            let page = min(1_000, limit - entries.count)
            let answer: AuditResponse = try await post("/v1/audit", AuditRequest(since: since, key: key, secret: secret, limit: page, before: before, role: role, user: user))
            entries += answer.entries
            guard let next = answer.next else { return (entries, false) }
            if entries.count >= limit { return (entries, true) }
            before = next
        }
    }
}
