// The HTTP API's request and response bodies, as described in openapi.yaml
// beside this file. Hand-written Codable types (see README, "Team server"):
// the server and the client both use these, so they cannot drift apart.

/// A scope on the wire: `{"scope": "team"|"project"|"cluster", "id": ID|null}`.
public struct WireScope: Codable, Sendable, Hashable {
    public var scope: String
    public var id: String?

    public init(scope: String, id: String?) {
        self.scope = scope
        self.id = id
    }
}

/// `POST /v1/resolve`: every name a spec references, resolved in one request.
public struct ResolveRequest: Codable, Sendable {
    public var project: String?
    public var cluster: String?
    public var names: [String]

    public init(project: String?, cluster: String?, names: [String]) {
        self.project = project
        self.cluster = cluster
        self.names = names
    }
}

public struct ResolvedSecret: Codable, Sendable {
    public var value: String
    public var scope: String
    public var id: String?

    enum CodingKeys: String, CodingKey { case value, scope, id }

    /// `"id": null` for team, as the document says, rather than no key.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(value, forKey: .value)
        try container.encode(scope, forKey: .scope)
        try container.encode(id, forKey: .id)
    }

    public init(value: String, scope: String, id: String?) {
        self.value = value
        self.scope = scope
        self.id = id
    }
}

public struct ResolveResponse: Codable, Sendable {
    public var secrets: [String: ResolvedSecret]
    public var missing: [String]

    public init(secrets: [String: ResolvedSecret], missing: [String]) {
        self.secrets = secrets
        self.missing = missing
    }
}

/// `POST /v1/values`: every value in every scope of a chain, shadowed ones
/// included (what `redact` must hide).
public struct ValuesRequest: Codable, Sendable {
    public var project: String?
    public var cluster: String?

    public init(project: String?, cluster: String?) {
        self.project = project
        self.cluster = cluster
    }
}

public struct ScopedValue: Codable, Sendable {
    public var name: String
    public var value: String
    public var scope: String
    public var id: String?

    public init(name: String, value: String, scope: String, id: String?) {
        self.name = name
        self.value = value
        self.scope = scope
        self.id = id
    }
}

public struct ValuesResponse: Codable, Sendable {
    public var values: [ScopedValue]

    public init(values: [ScopedValue]) { self.values = values }
}

/// `POST /v1/names`: the names (never values) in each scope asked for.
public struct NamesRequest: Codable, Sendable {
    public var scopes: [WireScope]

    public init(scopes: [WireScope]) { self.scopes = scopes }
}

public struct NameEntry: Codable, Sendable, Hashable {
    public var name: String
    public var updated: String

    public init(name: String, updated: String) {
        self.name = name
        self.updated = updated
    }
}

public struct ScopeNames: Codable, Sendable {
    public var scope: String
    public var id: String?
    public var secrets: [NameEntry]

    public init(scope: String, id: String?, secrets: [NameEntry]) {
        self.scope = scope
        self.id = id
        self.secrets = secrets
    }
}

public struct NamesResponse: Codable, Sendable {
    public var scopes: [ScopeNames]

    public init(scopes: [ScopeNames]) { self.scopes = scopes }
}

/// `POST /v1/scopes`: every scope the key may list names in that holds
/// names, with its names; and the kinds (`team`, `project`, `cluster`) whose
/// every scope the key may list, so "no project has any" is said only when true.
public struct ScopesResponse: Codable, Sendable {
    public var scopes: [ScopeNames]
    public var every: [String]

    public init(scopes: [ScopeNames], every: [String]) {
        self.scopes = scopes
        self.every = every
    }
}

public struct NameValue: Codable, Sendable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// `POST /v1/secrets/set`: sets every pair or none (set and import).
public struct SetRequest: Codable, Sendable {
    public var scope: String
    public var id: String?
    public var secrets: [NameValue]

    public init(scope: String, id: String?, secrets: [NameValue]) {
        self.scope = scope
        self.id = id
        self.secrets = secrets
    }
}

public struct NameVersion: Codable, Sendable {
    public var name: String
    public var version: Int
    /// True when the write replaced a current value; false when the name was
    /// new, deleted or purged. Absent from servers before it was added.
    public var replaced: Bool?

    public init(name: String, version: Int, replaced: Bool?) {
        self.name = name
        self.version = version
        self.replaced = replaced
    }

    /// Whether a current value was replaced: the server's word, or (from an
    /// older server) the version number's guess, which counts a deleted name
    /// set again as replaced.
    public var replacedCurrent: Bool { replaced ?? (version > 1) }
}

public struct SetResponse: Codable, Sendable {
    public var versions: [NameVersion]

    public init(versions: [NameVersion]) { self.versions = versions }
}

/// `POST /v1/secrets/delete`: soft unless `purge`.
public struct DeleteRequest: Codable, Sendable {
    public var scope: String
    public var id: String?
    public var name: String
    public var purge: Bool?

    public init(scope: String, id: String?, name: String, purge: Bool) {
        self.scope = scope
        self.id = id
        self.name = name
        self.purge = purge
    }
}

/// `POST /v1/secrets/history`.
public struct HistoryRequest: Codable, Sendable {
    public var scope: String
    public var id: String?
    public var name: String

    public init(scope: String, id: String?, name: String) {
        self.scope = scope
        self.id = id
        self.name = name
    }
}

public struct VersionEntry: Codable, Sendable {
    public var version: Int
    public var time: String
    public var key: String
    public var current: Bool

    public init(version: Int, time: String, key: String, current: Bool) {
        self.version = version
        self.time = time
        self.key = key
        self.current = current
    }
}

public struct HistoryResponse: Codable, Sendable {
    public var name: String
    /// True when the name is deleted (soft): its history remains.
    public var deleted: Bool
    public var versions: [VersionEntry]

    public init(name: String, deleted: Bool, versions: [VersionEntry]) {
        self.name = name
        self.deleted = deleted
        self.versions = versions
    }
}

/// `POST /v1/secrets/rollback`: makes version N current again, as a new version.
public struct RollbackRequest: Codable, Sendable {
    public var scope: String
    public var id: String?
    public var name: String
    public var version: Int

    public init(scope: String, id: String?, name: String, version: Int) {
        self.scope = scope
        self.id = id
        self.name = name
        self.version = version
    }
}

/// `POST /v1/keys`.
public struct CreateKeyRequest: Codable, Sendable {
    public var name: String
    public var grants: [String]
    /// Seconds from now, or null for a key that does not expire.
    public var expiresIn: Int?

    public init(name: String, grants: [String], expiresIn: Int?) {
        self.name = name
        self.grants = grants
        self.expiresIn = expiresIn
    }
}

public struct CreateKeyResponse: Codable, Sendable {
    public var name: String
    public var token: String

    public init(name: String, token: String) {
        self.name = name
        self.token = token
    }
}

public struct KeyEntry: Codable, Sendable, Hashable {
    public var name: String
    public var grants: [String]
    public var created: String
    public var lastUsed: String?
    public var expires: String?
    public var revoked: String?

    public init(name: String, grants: [String], created: String, lastUsed: String?, expires: String?, revoked: String?) {
        self.name = name
        self.grants = grants
        self.created = created
        self.lastUsed = lastUsed
        self.expires = expires
        self.revoked = revoked
    }
}

public struct KeysResponse: Codable, Sendable {
    public var keys: [KeyEntry]

    public init(keys: [KeyEntry]) { self.keys = keys }
}

/// `POST /v1/keys/revoke`.
public struct RevokeKeyRequest: Codable, Sendable {
    public var name: String

    public init(name: String) { self.name = name }
}

/// `POST /v1/audit`: one page of entries, newest first, filtered.
public struct AuditRequest: Codable, Sendable {
    /// Only entries newer than this many seconds.
    public var since: Int?
    public var key: String?
    public var secret: String?
    /// Entries in the page: 1 to 1000, default 100.
    public var limit: Int?
    /// The `next` cursor of the page before: entries older than those.
    public var before: String?
    /// Only entries of this OIDC role: its exchanges and the requests made with the tokens it issued.
    public var role: String?
    /// Only this person's entries (issue 25): their email, or `sub` when they have no verified email.
    public var user: String?

    public init(since: Int?, key: String?, secret: String?, limit: Int? = nil, before: String? = nil, role: String? = nil, user: String? = nil) {
        self.since = since
        self.key = key
        self.secret = secret
        self.limit = limit
        self.before = before
        self.role = role
        self.user = user
    }
}

public struct AuditEntry: Codable, Sendable {
    public var time: String
    public var key: String
    public var action: String
    public var scope: String
    /// At most the first 100 names the request gave, then `+N more`.
    public var names: [String]
    public var client: String
    public var outcome: String
    /// How many requests the entry stands for, when more than one (refusals
    /// before authentication: one entry per client address per second).
    public var count: Int?
    /// Who acted: `key:NAME` for an API key, `user:EMAIL` for a person signed in through single sign-on, `role:NAME` for a token an OIDC role issued.
    public var actor: String?
    /// The OIDC token's `sub` behind a role's token (e.g. `repo:acme/api:ref:refs/heads/main`).
    public var subject: String?
    /// An OIDC exchange's issuer and, when refused, the check that failed (never the token).
    public var detail: String?

    public init(time: String, key: String, action: String, scope: String, names: [String], client: String, outcome: String, count: Int? = nil,
                actor: String? = nil, subject: String? = nil, detail: String? = nil) {
        self.time = time
        self.key = key
        self.action = action
        self.scope = scope
        self.names = names
        self.client = client
        self.outcome = outcome
        self.count = count
        self.actor = actor
        self.subject = subject
        self.detail = detail
    }
}

/// `POST /v1/login/token` (issue 25, `secretfill login`): the one-time code
/// the CLI's loopback address received after the person signed in through
/// the identity provider, with the CLI's own PKCE verifier (so a code that
/// leaked is useless to anyone else), for a CLI token bound to that person.
public struct LoginTokenRequest: Codable, Sendable {
    public var code: String
    public var verifier: String
    /// How long the token lasts (`12h`, `30m`, `1d`; default 12 h, at most `serve --max-cli-ttl`).
    public var ttl: String?

    public init(code: String, verifier: String, ttl: String?) {
        self.code = code
        self.verifier = verifier
        self.ttl = ttl
    }
}

public struct LoginTokenResponse: Codable, Sendable {
    /// `sf_…`, valid until `expiresAt`; its grants are the person's as a member, read at each request.
    public var token: String
    public var expiresAt: String
    /// The person: `ana@acme.dev`.
    public var user: String
    public var grants: [String]

    public init(token: String, expiresAt: String, user: String, grants: [String]) {
        self.token = token
        self.expiresAt = expiresAt
        self.user = user
        self.grants = grants
    }
}

/// `POST /v1/whoami`: who the presented token is.
public struct WhoamiResponse: Codable, Sendable {
    /// `key:NAME`, `user:EMAIL` or `role:NAME`.
    public var actor: String
    /// How a person signed in (`--oidc-name`); nil for keys and roles.
    public var via: String?
    public var grants: [String]
    /// RFC 3339, UTC; nil when the token does not expire.
    public var expiresAt: String?

    public init(actor: String, via: String?, grants: [String], expiresAt: String?) {
        self.actor = actor
        self.via = via
        self.grants = grants
        self.expiresAt = expiresAt
    }
}

/// `POST /v1/auth/oidc`: a CI job's OIDC token (a JWT) for a role's short-lived token.
public struct OIDCExchangeRequest: Codable, Sendable {
    public var role: String
    public var jwt: String

    public init(role: String, jwt: String) {
        self.role = role
        self.jwt = jwt
    }
}

public struct OIDCExchangeResponse: Codable, Sendable {
    /// `sf_…`, valid until `expiresAt`, with the role's grants.
    public var token: String
    /// RFC 3339, UTC.
    public var expiresAt: String
    public var grants: [String]

    public init(token: String, expiresAt: String, grants: [String]) {
        self.token = token
        self.expiresAt = expiresAt
        self.grants = grants
    }
}

/// The 401 of `POST /v1/auth/oidc`: `message` names the failed check (`check`), never the token.
public struct OIDCRefusalBody: Codable, Sendable {
    public var error: String
    public var reason: String
    public var message: String
    public var check: String

    public init(message: String, check: String) {
        self.error = message
        self.reason = "unauthenticated"
        self.message = message
        self.check = check
    }
}

/// An OIDC role: who may exchange which tokens for which grants.
public struct RoleEntry: Codable, Sendable, Hashable {
    public var name: String
    public var issuer: String
    public var audiences: [String]
    /// Claim name → pattern (`*` matches any run of characters).
    public var boundClaims: [String: String]
    public var boundSubject: String?
    public var grants: [String]
    /// Seconds an issued token lasts, and the most a role may set.
    public var ttl: Int
    public var maxTTL: Int
    /// A JWKS document given with `--jwks-file` (nothing is fetched), or null: discovery.
    public var jwks: String?
    public var created: String?

    public init(name: String, issuer: String, audiences: [String], boundClaims: [String: String], boundSubject: String?, grants: [String],
                ttl: Int, maxTTL: Int, jwks: String?, created: String? = nil) {
        self.name = name
        self.issuer = issuer
        self.audiences = audiences
        self.boundClaims = boundClaims
        self.boundSubject = boundSubject
        self.grants = grants
        self.ttl = ttl
        self.maxTTL = maxTTL
        self.jwks = jwks
        self.created = created
    }
}

public struct RolesResponse: Codable, Sendable {
    public var roles: [RoleEntry]

    public init(roles: [RoleEntry]) { self.roles = roles }
}

/// A member of the team (issue 25): a person of the company's identity
/// provider, named by email, or a group of them (`group:NAME`), with the
/// grants an API key would have.
public struct MemberEntry: Codable, Sendable, Hashable {
    public var name: String
    public var grants: [String]
    public var created: String?
    public var updated: String?

    public init(name: String, grants: [String], created: String? = nil, updated: String? = nil) {
        self.name = name
        self.grants = grants
        self.created = created
        self.updated = updated
    }
}

/// `POST /v1/members`: adds a member, or replaces an existing member's grants.
public struct AddMemberRequest: Codable, Sendable {
    public var name: String
    public var grants: [String]

    public init(name: String, grants: [String]) {
        self.name = name
        self.grants = grants
    }
}

public struct AddMemberResponse: Codable, Sendable {
    /// The member's name as stored (an email in lower case).
    public var name: String
    /// True when the member existed and its grants were replaced.
    public var updated: Bool

    public init(name: String, updated: Bool) {
        self.name = name
        self.updated = updated
    }
}

public struct MembersResponse: Codable, Sendable {
    public var members: [MemberEntry]

    public init(members: [MemberEntry]) { self.members = members }
}

/// `POST /v1/members/remove`.
public struct RemoveMemberRequest: Codable, Sendable {
    public var name: String

    public init(name: String) { self.name = name }
}

/// `POST /v1/backup` (admin): the answer is the backup file itself.
public struct BackupRequest: Codable, Sendable {
    /// Whether the audit log goes in (default true; `backup --no-audit` sends false).
    public var audit: Bool?

    public init(audit: Bool?) { self.audit = audit }
}

/// `POST /v1/rekey` (admin): `status`, `data` (start, or resume, a data key
/// rotation that the server runs on its own: poll `status`), or `new-key`
/// (wrap the data keys under `newKey`, base64 of 32 bytes).
public struct RekeyRequest: Codable, Sendable {
    public var operation: String
    public var newKey: String?

    public init(operation: String, newKey: String? = nil) {
        self.operation = operation
        self.newKey = newKey
    }
}

/// The answer to `POST /v1/rekey`.
public struct RekeyResponse: Codable, Sendable {
    /// `done`, `in progress: N of M values` or `no rotation started`.
    public var state: String
    /// What `new-key` did, in words.
    public var summary: String?
    /// Whether this server is running a rotation now.
    public var running: Bool
    /// Why this server's last rotation stopped, if it did (run `data` again to finish).
    public var error: String?

    public init(state: String, summary: String? = nil, running: Bool, error: String? = nil) {
        self.state = state
        self.summary = summary
        self.running = running
        self.error = error
    }
}

/// `POST /v1/roles/delete`.
public struct DeleteRoleRequest: Codable, Sendable {
    public var name: String

    public init(name: String) { self.name = name }
}

public struct AuditResponse: Codable, Sendable {
    /// Newest first.
    public var entries: [AuditEntry]
    /// The cursor for the next (older) page, as `before`; absent on the last page.
    public var next: String?

    public init(entries: [AuditEntry], next: String? = nil) {
        self.entries = entries
        self.next = next
    }
}

/// Every non-2xx answer: `{"error": MESSAGE, "reason": REASON}`, where
/// REASON is `unauthenticated` (401), `denied` (403), `invalid` (400),
/// `not_found` (404), `too_large` (413) or `unavailable` (503).
public struct ErrorBody: Codable, Sendable {
    public var error: String
    public var reason: String

    public init(error: String, reason: String) {
        self.error = error
        self.reason = reason
    }
}

/// What one request may carry (the OpenAPI document's `maxItems`): enough
/// for any spec or import, small enough that no request can make the
/// server, its database or its audit log do unbounded work.
public enum APILimits {
    /// Names in one `POST /v1/resolve`; a client with more sends several.
    public static let resolveNames = 1_000
    /// Secrets in one `POST /v1/secrets/set`; `secrets import --batch` splits larger imports.
    /// A set writes each name in its own statements inside one transaction that must commit
    /// within `ServerStore.writeSeconds`: 250 take about a quarter of a second on PostgreSQL,
    /// leaving room for a loaded machine (1000 missed the deadline under the test suite's load).
    public static let setSecrets = 250
}
