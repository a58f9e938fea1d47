import SecretFill
import SecretFillAPI

/// A signed-in browser session, as the server stored it: the key it acts
/// as (the pages ask for `names` or `write`; values never reach the browser).
public struct WebUISession: Sendable {
    public let principal: ActingKey
    /// The per-session token every state-changing form must carry.
    public let csrfToken: String
    /// How a person signed in (`--oidc-name`); nil for an API key's session.
    public let via: String?

    public init(principal: ActingKey, csrfToken: String, via: String? = nil) {
        self.principal = principal
        self.csrfToken = csrfToken
        self.via = via
    }

    /// The header's words: `key admin`, or `ana@acme.dev (Acme SSO)`.
    public var who: String {
        guard principal.isPerson else { return "key \(principal.name)" }
        let person = principal.name.dropFirst(ActingKey.personPrefix.count)
        return via.map { "\(person) (\($0))" } ?? String(person)
    }
}

/// One name in a scope's list: never its value.
public struct WebUISecretRow: Sendable, Hashable {
    public let name: String
    /// `2026-01-02T03:04:05Z`
    public let updated: String
    /// The key that made the current version.
    public let updatedBy: String

    public init(name: String, updated: String, updatedBy: String) {
        self.name = name
        self.updated = updated
        self.updatedBy = updatedBy
    }
}

/// One API key as the keys page shows it: never its token (the API's own type).
public typealias WebUIKeyRow = KeyEntry

/// One audit entry: names and places, never a value or a token.
public struct WebUIAuditRow: Sendable, Hashable {
    public let time: String
    public let key: String
    public let action: String
    public let scope: String
    public let names: [String]
    public let outcome: String
    /// Requests the row stands for, when more than one.
    public var count: Int?
    /// The client's address the request came from (`-` when unknown).
    public var client: String?

    public init(time: String, key: String, action: String, scope: String, names: [String], outcome: String, count: Int? = nil, client: String? = nil) {
        self.count = count
        self.client = client
        self.time = time
        self.key = key
        self.action = action
        self.scope = scope
        self.names = names
        self.outcome = outcome
    }
}

/// A scope that holds secrets, for the Secrets index: how many names it holds.
public struct WebUIScopeCount: Sendable, Hashable {
    public let scope: Scope
    public let count: Int

    public init(scope: Scope, count: Int) {
        self.scope = scope
        self.count = count
    }
}

/// Everything the pages need from `secretfill serve`: its keys, grants,
/// store and audit log, and a sessions table in the same database (so two
/// servers share sign-ins). Every call that acts on secrets or keys checks
/// the principal's grants again and writes the audit row its CLI twin
/// writes. Session ids reach the backend only as SHA-256 digests.
public protocol WebUIBackend: Sendable {
    /// The key a token belongs to, or nil when it is unknown, revoked or
    /// expired (the page does not say which).
    func authenticate(token: String, client: String) async throws -> ActingKey?

    func createSession(idDigest: String, keyName: String, csrfToken: String, client: String) async throws
    /// The live session with this digest, its last use moved to now; nil
    /// when unknown, idle longer than `idleSeconds`, or its key is no longer
    /// valid.
    func session(idDigest: String, idleSeconds: Int) async throws -> WebUISession?
    func deleteSession(idDigest: String, client: String) async throws

    /// The names in `scope`, any order.
    func secrets(in scope: Scope, as principal: ActingKey, client: String) async throws -> [WebUISecretRow]
    /// The project or cluster ids that hold secrets and that `principal` may list.
    func scopeIDs(_ kind: Scope.Kind, as principal: ActingKey, client: String) async throws -> [String]
    func setSecret(name: String, value: SecretValue, in scope: Scope, as principal: ActingKey, client: String) async throws
    func deleteSecret(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws

    func keys(as principal: ActingKey, client: String) async throws -> [WebUIKeyRow]
    /// Returns the new token (shown once). `expires` is a duration like `90d`.
    func createKey(name: String, grants: [String], expires: String?, as principal: ActingKey, client: String) async throws -> String
    func revokeKey(name: String, as principal: ActingKey, client: String) async throws

    /// The OIDC roles, for the API Keys page's Roles section (admin): checked
    /// like the API's `roles list` but not audited as a `role.list` on every view.
    func roles(as principal: ActingKey, client: String) async throws -> [RoleEntry]
    /// Creates a role (admin; audited `role.create`). The server checks the
    /// settings again: a refusal is a `ServerRefusal` the page shows.
    func createRole(_ role: RoleEntry, as principal: ActingKey, client: String) async throws
    /// Deletes a role and ends every token it issued (admin; audited `role.delete`).
    func deleteRole(name: String, as principal: ActingKey, client: String) async throws

    /// The members (issue 25), for the Members page (admin): checked like the
    /// API's `members list` but not audited as a `member.list` on every view.
    func members(as principal: ActingKey, client: String) async throws -> [MemberEntry]
    /// Adds a member or replaces its grants (admin; audited `member.add`).
    func addMember(name: String, grants: [String], as principal: ActingKey, client: String) async throws -> AddMemberResponse
    /// Removes a member (admin; audited `member.remove`); the last admin is refused (`conflict`).
    func removeMember(name: String, as principal: ActingKey, client: String) async throws

    /// One page of the audit log, newest first (100 entries), older than
    /// the cursor `before`; `next` is the cursor of the page after it.
    func audit(key: String?, secret: String?, before: String?, as principal: ActingKey, client: String) async throws -> (rows: [WebUIAuditRow], next: String?)

    // The calls below came with the Secrets index, history and rollback;
    // each has a default built on the calls above (see the extension), so a
    // backend written before them still serves the pages.

    /// Team (when it holds secrets) and every project and cluster that holds
    /// secrets and that `principal` may list, with how many names each holds.
    func secretScopes(as principal: ActingKey, client: String) async throws -> [WebUIScopeCount]
    /// Whether `name` has a current value in `scope` (needs `names`).
    func secretExists(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws -> Bool
    /// Sets `name` and says whether it replaced a current value (`Updated …` rather than `Set …`).
    func setSecretReporting(name: String, value: SecretValue, in scope: Scope, as principal: ActingKey, client: String) async throws -> Bool
    /// The kept versions of `name` (needs `write`, as `secrets history` does; audited `history`).
    func history(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws -> HistoryResponse
    /// Makes `version` current again as a new version, which it returns (needs `write`; audited `rollback`).
    func rollback(name: String, in scope: Scope, to version: Int, as principal: ActingKey, client: String) async throws -> Int
    /// The keys for the API Keys page: checked like `keys(as:client:)` but
    /// not audited as a `key.list` on every view (the API's listing still is).
    func keysForPage(as principal: ActingKey, client: String) async throws -> [WebUIKeyRow]
    /// `audit(key:secret:before:)` limited to entries no older than `sinceSeconds` ago.
    func audit(key: String?, secret: String?, sinceSeconds: Int?, before: String?, as principal: ActingKey, client: String) async throws -> (rows: [WebUIAuditRow], next: String?)
}

extension WebUIBackend {
    public func secretScopes(as principal: ActingKey, client: String) async throws -> [WebUIScopeCount] {
        var scopes: [Scope] = []
        if principal.may(.names, in: .team) { scopes.append(.team) }
        for kind in [Scope.Kind.project, .cluster] {
            for id in try await scopeIDs(kind, as: principal, client: client) {
                if let scope = try? Scope(kind: kind, id: id) { scopes.append(scope) }
            }
        }
        var out: [WebUIScopeCount] = []
        for scope in scopes {
            let count = try await secrets(in: scope, as: principal, client: client).count
            if count > 0 || scope == .team { out.append(WebUIScopeCount(scope: scope, count: count)) }
        }
        return out
    }

    public func secretExists(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws -> Bool {
        try await secrets(in: scope, as: principal, client: client).contains { $0.name == name }
    }

    public func setSecretReporting(name: String, value: SecretValue, in scope: Scope, as principal: ActingKey, client: String) async throws -> Bool {
        let existed = (try? await secretExists(name: name, in: scope, as: principal, client: client)) ?? false
        try await setSecret(name: name, value: value, in: scope, as: principal, client: client)
        return existed
    }

    public func history(name: String, in scope: Scope, as principal: ActingKey, client: String) async throws -> HistoryResponse {
        throw ServerRefusal.notFound("this server keeps no history for \(scope) secret '\(name)'")
    }

    public func rollback(name: String, in scope: Scope, to version: Int, as principal: ActingKey, client: String) async throws -> Int {
        throw ServerRefusal.notFound("this server keeps no history for \(scope) secret '\(name)'")
    }

    public func keysForPage(as principal: ActingKey, client: String) async throws -> [WebUIKeyRow] {
        try await keys(as: principal, client: client)
    }

    public func audit(key: String?, secret: String?, sinceSeconds: Int?, before: String?, as principal: ActingKey, client: String) async throws -> (rows: [WebUIAuditRow], next: String?) {
        let page = try await audit(key: key, secret: secret, before: before, as: principal, client: client)
        guard let sinceSeconds else { return page }
        let now = WebUITime.nowSeconds()
        return (page.rows.filter { WebUITime.seconds($0.time).map { $0 >= now - sinceSeconds } ?? true }, page.next)
    }
}
