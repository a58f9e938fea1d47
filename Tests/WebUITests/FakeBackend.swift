import SecretFill
@testable import SecretFillWebUI

/// An in-memory stand-in for the server, for router tests without a
/// database: grants are `admin`, `team:names` or `team:write` (and the
/// same for `project:*` / `cluster:*`), kept per token.
actor FakeBackend: WebUIBackend {
    struct Key { let name: String; let grants: [String] }
    var keysByToken: [String: Key] = [:]
    var sessions: [String: (key: String, csrf: String)] = [:]
    var secrets: [Scope: [String: SecretValue]] = [:]
    var auditLog: [WebUIAuditRow] = []
    var keyRows: [WebUIKeyRow] = []

    func addKey(token: String, name: String, grants: [String]) {
        keysByToken[token] = Key(name: name, grants: grants)
        keyRows.append(WebUIKeyRow(name: name, grants: grants, created: "2026-01-01T00:00:00Z", lastUsed: nil, expires: nil, revoked: nil))
    }

    func stored(_ name: String, in scope: Scope) -> SecretValue? { secrets[scope]?[name] }
    var sessionCount: Int { sessions.count }

    static func principal(_ key: Key) -> WebUIPrincipal {
        let grants = key.grants
        return WebUIPrincipal(keyName: key.name, grants: grants, isAdmin: grants.contains("admin")) { access, scope in
            let prefix = switch scope.kind { case .team: "team"; case .project: "project:*"; case .cluster: "cluster:*" }
            return grants.contains("\(prefix):write") || (access == .names && grants.contains("\(prefix):names"))
        }
    }

    func authenticate(token: String, client: String) async throws -> WebUIPrincipal? {
        keysByToken[token].map(Self.principal)
    }

    func createSession(idDigest: String, keyName: String, csrfToken: String, client: String) async throws {
        sessions[idDigest] = (keyName, csrfToken)
    }

    func session(idDigest: String, idleSeconds: Int) async throws -> WebUISession? {
        guard let entry = sessions[idDigest], let key = keysByToken.values.first(where: { $0.name == entry.key }) else { return nil }
        return WebUISession(principal: Self.principal(key), csrfToken: entry.csrf)
    }

    func deleteSession(idDigest: String, client: String) async throws { sessions[idDigest] = nil }

    func secrets(in scope: Scope, as principal: WebUIPrincipal, client: String) async throws -> [WebUISecretRow] {
        guard principal.may(.names, in: scope) else { throw WebUIRefusal.denied(principal.refusal(.names, scope)) }
        return (secrets[scope] ?? [:]).keys.map { WebUISecretRow(name: $0, updated: "2026-01-01T00:00:00Z", updatedBy: principal.keyName) }
    }

    func scopeIDs(_ kind: Scope.Kind, as principal: WebUIPrincipal, client: String) async throws -> [String] {
        secrets.keys.filter { $0.kind == kind && principal.may(.names, in: $0) }.compactMap(\.id).sorted()
    }

    func setSecret(name: String, value: SecretValue, in scope: Scope, as principal: WebUIPrincipal, client: String) async throws {
        guard principal.may(.write, in: scope) else { throw WebUIRefusal.denied(principal.refusal(.write, scope)) }
        secrets[scope, default: [:]][name] = value
        auditLog.insert(WebUIAuditRow(time: "t", key: principal.keyName, action: "set", scope: scope.description, names: [name], outcome: "ok"), at: 0)
    }

    func deleteSecret(name: String, in scope: Scope, as principal: WebUIPrincipal, client: String) async throws {
        guard principal.may(.write, in: scope) else { throw WebUIRefusal.denied(principal.refusal(.write, scope)) }
        guard secrets[scope]?[name] != nil else { throw WebUIRefusal.notFound("there is no \(scope) secret '\(name)'") }
        secrets[scope]?[name] = nil
        auditLog.insert(WebUIAuditRow(time: "t", key: principal.keyName, action: "delete", scope: scope.description, names: [name], outcome: "ok"), at: 0)
    }

    func requireAdmin(_ principal: WebUIPrincipal) throws {
        guard principal.isAdmin else { throw WebUIRefusal.denied(principal.adminRefusal("manage keys")) }
    }

    func keys(as principal: WebUIPrincipal, client: String) async throws -> [WebUIKeyRow] {
        try requireAdmin(principal)
        return keyRows
    }

    func createKey(name: String, grants: [String], expires: String?, as principal: WebUIPrincipal, client: String) async throws -> String {
        try requireAdmin(principal)
        guard SecretName.isValid(name) else { throw WebUIRefusal.invalid("a key name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters") }
        let token = "sf_" + SessionTokens.random()
        addKey(token: token, name: name, grants: grants)
        return token
    }

    func revokeKey(name: String, as principal: WebUIPrincipal, client: String) async throws {
        try requireAdmin(principal)
        keysByToken = keysByToken.filter { $0.value.name != name }
        keyRows = keyRows.map { $0.name == name ? WebUIKeyRow(name: $0.name, grants: $0.grants, created: $0.created, lastUsed: nil, expires: nil, revoked: "2026-01-02T00:00:00Z") : $0 }
        sessions = sessions.filter { $0.value.key != name }
    }

    func audit(key: String?, secret: String?, before: String?, as principal: WebUIPrincipal, client: String) async throws -> (rows: [WebUIAuditRow], next: String?) {
        try requireAdmin(principal)
        return (auditLog.filter { (key == nil || $0.key == key) && (secret == nil || $0.names.contains(secret!)) }, nil)
    }

    /// A key row with a hostile name, as a server that did not check names might hold.
    func addHostileKeyRow(_ name: String) {
        keyRows.append(WebUIKeyRow(name: name, grants: ["team:names"], created: "2026-01-01T00:00:00Z", lastUsed: nil, expires: nil, revoked: nil))
    }
}
