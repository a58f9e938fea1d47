import SecretFill
import SecretFillAPI
import SecretFillWebUI

extension ServerRequestContext: WebUIRequestContext {
    public var webUIClient: String { client }
}

/// The web UI's backend: the server's own store, keys, grants and audit log
/// (so every page action is checked and audited as its API twin is), and
/// browser sessions, through the repository's `SessionRows`.
struct ServerWebUIBackend: WebUIBackend {
    let store: ServerStore

    func authenticate(token: String, client: String) async throws -> ActingKey? {
        do {
            return try await store.authenticate(token: token)
        } catch is ServerRefusal {
            await store.refusals.note(client: client, action: "session.start")
            return nil
        }
    }

    func createSession(idDigest: String, keyName: String, csrfToken: String, client: String) async throws {
        let now = Clock.nowMillis()
        try await store.run { rows in
            try await rows.insertSession(idDigest: idDigest, keyName: keyName, csrfToken: csrfToken, at: now)
            try await ServerStore.audit(rows, key: keyName, action: "session.start", scope: "-", names: [], client: client, outcome: "ok")
        }
    }

    func session(idDigest: String, idleSeconds: Int) async throws -> WebUISession? {
        let now = Clock.nowMillis()
        // A person's session (single sign-on) has no key: its grants are
        // the member list's now, so a removed member is out at their next request.
        let found = try await store.runSession { rows -> (SessionRecord, GrantSet?)? in
            guard let found = try await rows.session(idDigest: idDigest) else { return nil }
            guard let person = found.person else { return (found, nil) }
            return (found, try await ServerSingleSignOn.memberGrants(rows, person: person, groups: found.groups))
        }
        guard let (found, memberGrants) = found else { return nil }
        let live: Bool
        if found.person != nil {
            live = now - found.lastSeen < idleSeconds * 1000 && memberGrants != nil
        } else {
            live = found.grants != nil && now - found.lastSeen < idleSeconds * 1000 && found.revoked == nil && (found.expires.map { $0 > now } ?? true)
        }
        guard live else {
            _ = try? await store.runSession { rows in try await rows.deleteSession(idDigest: idDigest) }
            return nil
        }
        if now - found.lastSeen > 60_000 {
            _ = try? await store.runSession { rows in try await rows.touchSession(idDigest: idDigest, at: now) }
        }
        let grants = memberGrants ?? (try? GrantSet(parsing: (found.grants ?? "").split(separator: " ").map(String.init))) ?? GrantSet([])
        return WebUISession(principal: ActingKey(name: found.key, grants: grants), csrfToken: found.csrf, via: found.person == nil ? nil : found.via)
    }

    func deleteSession(idDigest: String, client: String) async throws {
        try await store.run { rows in
            let key = try await rows.sessionKey(idDigest: idDigest)
            try await rows.deleteSession(idDigest: idDigest)
            if let key {
                try await ServerStore.audit(rows, key: key, action: "session.end", scope: "-", names: [], client: client, outcome: "ok")
            }
            // Sessions idle for 12 h are gone for good.
            let stale = Clock.nowMillis() - WebUI.idleSeconds * 1000
            try await rows.deleteSessions(seenBefore: stale)
        }
    }

    func secrets(in scope: Scope, as principal: ActingKey, client: String) async throws -> [WebUISecretRow] {
        try await store.require(principal, .names, in: [scope], action: "list", scopeText: scope.description, names: [], client: client)
        return try await store.runSession { rows in try await rows.secretRows(in: scope) }
    }

    func scopeIDs(_ kind: Scope.Kind, as principal: ActingKey, client: String) async throws -> [String] {
        guard kind != .team else { return [] }
        let ids = try await store.runSession { rows in try await rows.scopeIDs(kind) }
        return ids.filter { id in (try? Scope(kind: kind, id: id)).map { principal.may(.names, in: $0) } ?? false }
    }

    func secretScopes(as principal: ActingKey, client: String) async throws -> [WebUIScopeCount] {
        let counts = try await store.runSession { rows in try await rows.scopeCounts() }
        var out: [WebUIScopeCount] = []
        var team = 0
        for (kind, id, count) in counts {
            guard let scope = try? ServerStore.scope(kind: kind, id: id) else { continue }
            if scope == .team { team = count; continue }
            if principal.may(.names, in: scope) { out.append(WebUIScopeCount(scope: scope, count: count)) }
        }
        if principal.may(.names, in: .team) { out.insert(WebUIScopeCount(scope: .team, count: team), at: 0) }
        return out
    }

    func secretExists(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws -> Bool {
        try await store.require(principal, .names, in: [scope], action: "list", scopeText: scope.description, names: [name], client: client)
        return try await store.runSession { rows in try await rows.exists(name, in: scope) }
    }

    func setSecretReporting(name: String, value: SecretValue, in scope: Scope, as principal: ActingKey, client: String) async throws -> Bool {
        try await store.set([(name, value)], in: scope, by: principal, client: client).first?.replaced ?? false
    }

    func history(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws -> HistoryResponse {
        try await store.history(of: name, in: scope, by: principal, client: client)
    }

    func rollback(name: String, in scope: Scope, to version: Int, as principal: ActingKey, client: String) async throws -> Int {
        try await store.rollback(name, in: scope, to: version, by: principal, client: client).version
    }

    func keysForPage(as principal: ActingKey, client: String) async throws -> [WebUIKeyRow] {
        try await store.listKeys(by: principal, client: client, audited: false)
    }

    func setSecret(name: String, value: SecretValue, in scope: Scope, as principal: ActingKey, client: String) async throws {
        _ = try await store.set([(name, value)], in: scope, by: principal, client: client)
    }

    func deleteSecret(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws {
        try await store.delete(name, in: scope, purge: false, by: principal, client: client)
    }

    func keys(as principal: ActingKey, client: String) async throws -> [WebUIKeyRow] {
        try await store.listKeys(by: principal, client: client)
    }

    func createKey(name: String, grants: [String], expires: String?, as principal: ActingKey, client: String) async throws -> String {
        let seconds: Int?
        if let expires {
            guard let parsed = DurationText.seconds(expires) else { throw ServerRefusal.invalid(DurationText.ruleDescription) }
            seconds = parsed
        } else {
            seconds = nil
        }
        return try await store.createKey(name: name, grants: grants, expiresIn: seconds, by: principal, client: client)
    }

    func revokeKey(name: String, as principal: ActingKey, client: String) async throws {
        try await store.revokeKey(name: name, by: principal, client: client)
        // The revoked key's browser sessions end with it.
        _ = try? await store.runSession { rows in try await rows.deleteSessions(ofKey: name) }
    }

    func roles(as principal: ActingKey, client: String) async throws -> [RoleEntry] {
        try await store.listRoles(by: principal, client: client, audited: false)
    }

    func createRole(_ role: RoleEntry, as principal: ActingKey, client: String) async throws {
        try await store.createRole(role, by: principal, client: client)
    }

    func deleteRole(name: String, as principal: ActingKey, client: String) async throws {
        try await store.deleteRole(name: name, by: principal, client: client)
    }

    func members(as principal: ActingKey, client: String) async throws -> [MemberEntry] {
        try await store.listMembers(by: principal, client: client, audited: false)
    }

    func addMember(name: String, grants: [String], as principal: ActingKey, client: String) async throws -> AddMemberResponse {
        try await store.addMember(name: name, grants: grants, by: principal, client: client)
    }

    func removeMember(name: String, as principal: ActingKey, client: String) async throws {
        try await store.removeMember(name: name, by: principal, client: client)
    }

    func audit(key: String?, secret: String?, before: String?, as principal: ActingKey, client: String) async throws -> (rows: [WebUIAuditRow], next: String?) {
        try await audit(key: key, secret: secret, sinceSeconds: nil, before: before, as: principal, client: client)
    }

    func audit(key: String?, secret: String?, sinceSeconds: Int?, before: String?, as principal: ActingKey, client: String) async throws -> (rows: [WebUIAuditRow], next: String?) {
        let page = try await store.auditEntries(since: sinceSeconds, key: key, secret: secret, before: before, by: principal, client: client)
        return (page.entries.map {
            WebUIAuditRow(time: $0.time, key: $0.key, action: $0.action, scope: $0.scope, names: $0.names, outcome: $0.outcome,
                          count: $0.count, client: $0.client)
        }, page.next)
    }
}
