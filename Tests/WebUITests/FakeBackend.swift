import Foundation
import SecretFill
import SecretFillAPI
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
    /// Every value each name was set to, oldest first (version = index + 1), and who set it.
    var versions: [Scope: [String: [(value: SecretValue, key: String)]]] = [:]
    /// `key.list` rows the API's listing wrote (the page's view writes none).
    var keyListAudits = 0
    var roles: [String: RoleEntry] = [:]
    /// `role.create` and `role.delete` calls that changed something, in order.
    var roleChanges: [String] = []
    var members: [String: MemberEntry] = [:]
    var memberChanges: [String] = []

    func addKey(token: String, name: String, grants: [String]) {
        keysByToken[token] = Key(name: name, grants: grants)
        keyRows.append(WebUIKeyRow(name: name, grants: grants, created: "2026-01-01T00:00:00Z", lastUsed: nil, expires: nil, revoked: nil))
    }

    /// Now, as the server writes times: `2026-01-02T03:04:05Z`.
    static func now() -> String { isoTime(WebUITime.nowSeconds()) }

    func stored(_ name: String, in scope: Scope) -> SecretValue? { secrets[scope]?[name] }
    var sessionCount: Int { sessions.count }

    static func principal(_ key: Key) -> ActingKey {
        ActingKey(name: key.name, grants: (try? GrantSet(parsing: key.grants)) ?? GrantSet([]))
    }

    func authenticate(token: String, client: String) async throws -> ActingKey? {
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

    func secrets(in scope: Scope, as principal: ActingKey, client: String) async throws -> [WebUISecretRow] {
        guard principal.may(.names, in: scope) else { throw principal.refusal(.names, scope) }
        return (secrets[scope] ?? [:]).keys.map { WebUISecretRow(name: $0, updated: "2026-01-01T00:00:00Z", updatedBy: principal.name) }
    }

    func scopeIDs(_ kind: Scope.Kind, as principal: ActingKey, client: String) async throws -> [String] {
        secrets.keys.filter { $0.kind == kind && principal.may(.names, in: $0) }.compactMap(\.id).sorted()
    }

    func setSecret(name: String, value: SecretValue, in scope: Scope, as principal: ActingKey, client: String) async throws {
        guard principal.may(.write, in: scope) else { throw principal.refusal(.write, scope) }
        secrets[scope, default: [:]][name] = value
        versions[scope, default: [:]][name, default: []].append((value, principal.name))
        auditLog.insert(WebUIAuditRow(time: Self.now(), key: principal.name, action: "set", scope: scope.description, names: [name], outcome: "ok", client: client), at: 0)
    }

    func deleteSecret(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws {
        guard principal.may(.write, in: scope) else { throw principal.refusal(.write, scope) }
        guard secrets[scope]?[name] != nil else { throw ServerRefusal.notFound("there is no \(scope) secret '\(name)'") }
        secrets[scope]?[name] = nil
        auditLog.insert(WebUIAuditRow(time: Self.now(), key: principal.name, action: "delete", scope: scope.description, names: [name], outcome: "ok"), at: 0)
    }

    func requireAdmin(_ principal: ActingKey) throws {
        guard principal.isAdmin else { throw principal.adminRefusal("manage keys") }
    }

    func keys(as principal: ActingKey, client: String) async throws -> [WebUIKeyRow] {
        try requireAdmin(principal)
        keyListAudits += 1
        return keyRows
    }

    func keysForPage(as principal: ActingKey, client: String) async throws -> [WebUIKeyRow] {
        try requireAdmin(principal)
        return keyRows
    }

    func history(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws -> HistoryResponse {
        guard principal.may(.write, in: scope) else { throw principal.refusal(.write, scope) }
        guard let kept = versions[scope]?[name] else { throw ServerRefusal.notFound("there is no \(scope) secret '\(name)'") }
        let live = secrets[scope]?[name] != nil
        auditLog.insert(WebUIAuditRow(time: Self.now(), key: principal.name, action: "history", scope: scope.description, names: [name], outcome: "ok", client: client), at: 0)
        return HistoryResponse(name: name, deleted: !live, versions: kept.enumerated().map { index, entry in
            VersionEntry(version: index + 1, time: "2026-01-01T00:00:0\(min(index, 9))Z", key: entry.key, current: live && index == kept.count - 1)
        })
    }

    func rollback(name: String, in scope: Scope, to version: Int, as principal: ActingKey, client: String) async throws -> Int {
        guard principal.may(.write, in: scope) else { throw principal.refusal(.write, scope) }
        guard let kept = versions[scope]?[name], version >= 1, version <= kept.count else {
            throw ServerRefusal.notFound("\(scope) secret '\(name)' has no version \(version)")
        }
        let value = kept[version - 1].value
        secrets[scope, default: [:]][name] = value
        versions[scope, default: [:]][name, default: []].append((value, principal.name))
        auditLog.insert(WebUIAuditRow(time: Self.now(), key: principal.name, action: "rollback", scope: scope.description, names: [name], outcome: "ok", client: client), at: 0)
        return kept.count + 1
    }

    func createKey(name: String, grants: [String], expires: String?, as principal: ActingKey, client: String) async throws -> String {
        try requireAdmin(principal)
        guard SecretName.isValid(name) else { throw ServerRefusal.invalid("a key name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters") }
        let token = "sf_" + SessionTokens.random()
        addKey(token: token, name: name, grants: grants)
        return token
    }

    func revokeKey(name: String, as principal: ActingKey, client: String) async throws {
        try requireAdmin(principal)
        keysByToken = keysByToken.filter { $0.value.name != name }
        keyRows = keyRows.map { $0.name == name ? WebUIKeyRow(name: $0.name, grants: $0.grants, created: $0.created, lastUsed: nil, expires: nil, revoked: "2026-01-02T00:00:00Z") : $0 }
        sessions = sessions.filter { $0.value.key != name }
    }

    func roles(as principal: ActingKey, client: String) async throws -> [RoleEntry] {
        try requireAdmin(principal)
        return Array(roles.values)
    }

    /// Checks as much as a page test needs of what the server checks: the name, https, a conflict.
    func createRole(_ role: RoleEntry, as principal: ActingKey, client: String) async throws {
        try requireAdmin(principal)
        guard role.jwks != nil || role.issuer.hasPrefix("https://") else {
            throw ServerRefusal.invalid("the issuer's discovery needs https (plain http only on loopback), or give the keys with --jwks-file")
        }
        guard roles[role.name] == nil else { throw ServerRefusal.conflict("a role named '\(role.name)' exists already (delete it first)") }
        var stored = role
        stored.created = Self.now()
        roles[role.name] = stored
        roleChanges.append("create \(role.name)")
    }

    func deleteRole(name: String, as principal: ActingKey, client: String) async throws {
        try requireAdmin(principal)
        guard roles.removeValue(forKey: name) != nil else { throw ServerRefusal.notFound("there is no role named '\(name)'") }
        roleChanges.append("delete \(name)")
    }

    func members(as principal: ActingKey, client: String) async throws -> [MemberEntry] {
        try requireAdmin(principal)
        return Array(members.values)
    }

    /// As the server: the name checked and kept in lower case, grants checked, an existing member's replaced.
    func addMember(name: String, grants: [String], as principal: ActingKey, client: String) async throws -> AddMemberResponse {
        try requireAdmin(principal)
        guard let member = MemberName.normalized(name) else { throw ServerRefusal.invalid(MemberName.ruleDescription) }
        guard !grants.isEmpty else { throw ServerRefusal.invalid("a member needs at least one --grant; \(Grant.ruleDescription)") }
        do { _ = try GrantSet(parsing: grants) } catch { throw ServerRefusal.invalid(error.description) }
        let updated = members[member] != nil
        members[member] = MemberEntry(name: member, grants: grants, created: members[member]?.created ?? Self.now(), updated: Self.now())
        memberChanges.append("\(updated ? "update" : "add") \(member)")
        return AddMemberResponse(name: member, updated: updated)
    }

    func removeMember(name: String, as principal: ActingKey, client: String) async throws {
        try requireAdmin(principal)
        guard members.removeValue(forKey: name) != nil else { throw ServerRefusal.notFound("there is no member '\(name)'") }
        memberChanges.append("remove \(name)")
    }

    func audit(key: String?, secret: String?, before: String?, as principal: ActingKey, client: String) async throws -> (rows: [WebUIAuditRow], next: String?) {
        try await audit(key: key, secret: secret, sinceSeconds: nil, before: before, as: principal, client: client)
    }

    /// 100 a page, newest first; the cursor is the offset of the next page.
    func audit(key: String?, secret: String?, sinceSeconds: Int?, before: String?, as principal: ActingKey, client: String) async throws -> (rows: [WebUIAuditRow], next: String?) {
        try requireAdmin(principal)
        let now = WebUITime.nowSeconds()
        let matching = auditLog.filter { row in
            (key == nil || row.key == key) && (secret == nil || row.names.contains(secret!))
                && (sinceSeconds == nil || (WebUITime.seconds(row.time).map { $0 >= now - sinceSeconds! } ?? true))
        }
        let start = before.flatMap { Int($0) } ?? 0
        let page = Array(matching.dropFirst(start).prefix(100))
        return (page, start + 100 < matching.count ? String(start + 100) : nil)
    }

    func appendAudit(_ row: WebUIAuditRow) { auditLog.append(row) }
    func addKeyRow(_ row: WebUIKeyRow) { keyRows.append(row) }

    /// A key row with a hostile name, as a server that did not check names might hold.
    func addHostileKeyRow(_ name: String) {
        keyRows.append(WebUIKeyRow(name: name, grants: ["team:names"], created: "2026-01-01T00:00:00Z", lastUsed: nil, expires: nil, revoked: nil))
    }
}
