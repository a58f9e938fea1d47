import SecretFill
import SecretFillAPI
import SecretFillWebUI
import SQLKit

extension ServerRequestContext: WebUIRequestContext {
    public var webUIClient: String { client }
}

/// The web UI's backend: the server's own store, keys, grants and audit log
/// (so every page action is checked and audited as its API twin is), and
/// browser sessions in the `sessions` table (migration 2), shared by every
/// server on the database. A session row holds the SHA-256 digest of the
/// cookie's id, never the id.
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
        try await store.run { sql in
            try await sql.raw("""
                INSERT INTO sessions (id_digest, key_name, csrf_token, created_at, last_seen_at)
                VALUES (\(bind: idDigest), \(bind: keyName), \(bind: csrfToken), \(bind: now), \(bind: now))
                """).run()
            try await ServerStore.audit(sql, key: keyName, action: "session.start", scope: "-", names: [], client: client, outcome: "ok")
        }
    }

    func session(idDigest: String, idleSeconds: Int) async throws -> WebUISession? {
        let now = Clock.nowMillis()
        struct Row: Sendable { let key, csrf: String; let grants: String?; let lastSeen: Int; let revoked, expires: Int?; let person: String?; let groups: [String]; let via: String? }
        // A person's session (single sign-on) has no key: its grants are
        // the member list's now, so a removed member is out at their next request.
        let found = try await store.runSession { sql -> (Row, GrantSet?)? in
            let rows = try await sql.raw("""
                SELECT s.key_name, s.csrf_token, s.last_seen_at, s.person, s.person_groups, s.via, k.grants, k.revoked_at, k.expires_at
                FROM sessions s LEFT JOIN api_keys k ON k.name = s.key_name WHERE s.id_digest = \(bind: idDigest)
                """).all()
            guard let row = rows.first else { return nil }
            let found = Row(key: try row.decode(column: "key_name", as: String.self), csrf: try row.decode(column: "csrf_token", as: String.self),
                            grants: try row.decode(column: "grants", as: String?.self), lastSeen: try row.decode(column: "last_seen_at", as: Int.self),
                            revoked: try row.decode(column: "revoked_at", as: Int?.self), expires: try row.decode(column: "expires_at", as: Int?.self),
                            person: try row.decode(column: "person", as: String?.self),
                            groups: (try row.decode(column: "person_groups", as: String?.self) ?? "").split(separator: " ").map(String.init),
                            via: try row.decode(column: "via", as: String?.self))
            guard let person = found.person else { return (found, nil) }
            return (found, try await ServerSingleSignOn.memberGrants(sql, person: person, groups: found.groups))
        }
        guard let (found, memberGrants) = found else { return nil }
        let live: Bool
        if found.person != nil {
            live = now - found.lastSeen < idleSeconds * 1000 && memberGrants != nil
        } else {
            live = found.grants != nil && now - found.lastSeen < idleSeconds * 1000 && found.revoked == nil && (found.expires.map { $0 > now } ?? true)
        }
        guard live else {
            _ = try? await store.runSession { sql in try await sql.raw("DELETE FROM sessions WHERE id_digest = \(bind: idDigest)").run() }
            return nil
        }
        if now - found.lastSeen > 60_000 {
            _ = try? await store.runSession { sql in
                try await sql.raw("UPDATE sessions SET last_seen_at = \(bind: now) WHERE id_digest = \(bind: idDigest)").run()
            }
        }
        let grants = memberGrants ?? (try? GrantSet(parsing: (found.grants ?? "").split(separator: " ").map(String.init))) ?? GrantSet([])
        return WebUISession(principal: ActingKey(name: found.key, grants: grants), csrfToken: found.csrf, via: found.person == nil ? nil : found.via)
    }

    func deleteSession(idDigest: String, client: String) async throws {
        try await store.run { sql in
            let rows = try await sql.raw("SELECT key_name FROM sessions WHERE id_digest = \(bind: idDigest)").all()
            try await sql.raw("DELETE FROM sessions WHERE id_digest = \(bind: idDigest)").run()
            if let key = try rows.first?.decode(column: "key_name", as: String.self) {
                try await ServerStore.audit(sql, key: key, action: "session.end", scope: "-", names: [], client: client, outcome: "ok")
            }
            // Sessions idle for 12 h are gone for good.
            let stale = Clock.nowMillis() - WebUI.idleSeconds * 1000
            try await sql.raw("DELETE FROM sessions WHERE last_seen_at < \(bind: stale)").run()
        }
    }

    func secrets(in scope: Scope, as principal: ActingKey, client: String) async throws -> [WebUISecretRow] {
        try await store.require(principal, .names, in: [scope], action: "list", scopeText: scope.description, names: [], client: client)
        let (kind, id) = ServerStore.columns(scope)
        return try await store.runSession { sql in
            try await sql.raw("SELECT name, updated_at, updated_by FROM secrets WHERE deleted = 0 AND scope_kind = \(bind: kind) AND scope_id = \(bind: id)").all().map { row in
                WebUISecretRow(name: try row.decode(column: "name", as: String.self),
                               updated: Clock.text(millis: try row.decode(column: "updated_at", as: Int.self)),
                               updatedBy: try row.decode(column: "updated_by", as: String.self))
            }
        }
    }

    func scopeIDs(_ kind: Scope.Kind, as principal: ActingKey, client: String) async throws -> [String] {
        guard kind != .team else { return [] }
        let ids = try await store.runSession { sql in
            try await sql.raw("SELECT DISTINCT scope_id FROM secrets WHERE deleted = 0 AND scope_kind = \(bind: kind.rawValue) ORDER BY scope_id").all()
                .map { try $0.decode(column: "scope_id", as: String.self) }
        }
        return ids.filter { id in (try? Scope(kind: kind, id: id)).map { principal.may(.names, in: $0) } ?? false }
    }

    func secretScopes(as principal: ActingKey, client: String) async throws -> [WebUIScopeCount] {
        let counts = try await store.runSession { sql in
            try await sql.raw("SELECT scope_kind, scope_id, COUNT(*) AS n FROM secrets WHERE deleted = 0 GROUP BY scope_kind, scope_id").all().map { row in
                (try row.decode(column: "scope_kind", as: String.self), try row.decode(column: "scope_id", as: String.self),
                 try row.decode(column: "n", as: Int.self))
            }
        }
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
        let (kind, id) = ServerStore.columns(scope)
        return try await store.runSession { sql in
            try await !sql.raw("SELECT 1 AS one FROM secrets WHERE deleted = 0 AND scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").all().isEmpty
        }
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
        _ = try? await store.runSession { sql in try await sql.raw("DELETE FROM sessions WHERE key_name = \(bind: name)").run() }
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
