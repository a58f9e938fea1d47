import Logging
import NIOCore
import SecretFill
import SecretFillAPI
import SecretFillJWT
import SQLKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The team's secrets, keys and audit log in the database. Every method
/// checks grants first, writes its audit row in the same transaction as
/// its work, and never puts a value or a token in an error or a log.
public final class ServerStore: Sendable {
    let database: any ServerDatabase
    /// The store key and the data keys values are sealed under, unwrapped
    /// with it (issue 27); nil for `keys`/`audit --database`, which open no value.
    let keyring: DataKeyring?
    let logger: Logger
    let keyCache = KeyCache()
    /// OIDC roles' token checks, with the issuers' key sets cached (issue 26).
    let oidc: JWTVerifier
    /// The counters `/metrics` serves.
    let metrics: ServerMetrics
    /// Seconds a request may wait for the database before it answers 503.
    let deadline: Int
    /// Seconds a write may take before it is rolled back (`writeSeconds`).
    let writeLimit: Int
    /// How long another admin key must still be valid for a revoke of an admin key to go ahead.
    static let adminLastingMillis = 24 * 3600 * 1000
    /// The most versions kept per name.
    static let keptVersions = 10

    /// Refusals before authentication, one audit row per address and second.
    let refusals: RefusalAudit
    /// When PostgreSQL's statistics of the secret tables are due (`TableStatistics`).
    let statistics = TableStatistics()
    /// `POST /v1/rekey`'s data key rotation on this server (`ServerStore+Rekey`).
    let rotation = RotationState()

    /// `deadlines`: the server's own unless a test that shares two
    /// cooperative threads with hundreds of others needs more room.
    init(database: any ServerDatabase, key: ServerStoreKey?, logger: Logger, metrics: ServerMetrics = ServerMetrics(),
         deadlines: (read: Int, write: Int) = (5, ServerStore.writeSeconds)) {
        self.database = database
        self.deadline = deadlines.read
        self.writeLimit = deadlines.write
        keyring = key.map(DataKeyring.init)
        self.logger = logger
        self.metrics = metrics
        oidc = JWTVerifier(keys: JWKSCache(onFetch: { [metrics] in metrics.jwksFetches.increment() }))
        refusals = RefusalAudit(insert: { [database, logger, metrics] record in
            do {
                return try await metrics.audited {
                    try await metrics.databaseCall {
                        try await withDeadline(seconds: 5) { try await database.transaction { sql in try await record.insertReturningID(into: sql) } }
                    }
                }
            } catch {
                logger.error("could not write the audit row of a refused request", metadata: ["client": "\(record.client)"])
                return nil
            }
        }, setCount: { [database, logger, metrics] id, count in
            do {
                try await metrics.databaseCall {
                    try await withDeadline(seconds: 5) {
                        try await database.transaction { sql in try await sql.raw("UPDATE audit_log SET repeats = \(bind: count) WHERE id = \(bind: id)").run() }
                    }
                }
            } catch {
                logger.error("could not count refused requests in the audit log", metadata: ["count": "\(count)"])
            }
        })
    }

    /// Seconds a transaction may take before it is rolled back instead of
    /// committed: well inside the CLI's 10 s, so that an answer the CLI
    /// calls a failure never hides a write that happened.
    static let writeSeconds = 6

    /// Runs `body` in one transaction, committed only if it finished within
    /// `writeSeconds`. The answer comes within `writeSeconds` + 2 s (inside
    /// the CLI's 10 s) even when the database does not answer; a transaction
    /// still running then is rolled back when it ends (it can no longer reach
    /// its COMMIT in time).
    /// `audited`: `body` writes an audit row (counted as written or failed).
    func run<R: Sendable>(audited: Bool = false, _ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let database = self.database
        let writeLimit = self.writeLimit
        let commitBy = NIODeadline.now() + .seconds(Int64(writeLimit))
        let metrics = self.metrics
        let call = { @Sendable () async throws -> R in
            try await metrics.databaseCall {
                try await withDeadline(seconds: writeLimit + 2) { try await database.transaction(until: commitBy, body) }
            }
        }
        if audited { return try await metrics.audited(call) }
        return try await call()
    }

    /// Like `run`, without a transaction: each statement commits on its own.
    func runSession<R: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        let database = self.database
        return try await metrics.databaseCall { try await withDeadline(seconds: deadline) { try await database.session(body) } }
    }

    // MARK: keys

    public func authenticate(token: String?) async throws -> ActingKey {
        guard let token, !token.isEmpty else {
            throw ServerRefusal.unauthenticated("no API key was given (set SECRETFILL_TOKEN or --token-file, or run secretfill login)")
        }
        let notAccepted = ServerRefusal.unauthenticated("the API key was not accepted (unknown to this server)")
        guard APIToken.isWellFormed(token) else { throw notAccepted }
        let digest = APIToken.digest(token)
        let now = Clock.nowMillis()
        let key: KeyCache.Entry
        var looked = false
        if let cached = keyCache.entry(digest: digest, now: now) {
            metrics.keyCacheHits.increment()
            key = cached
        } else {
            metrics.keyCacheMisses.increment()
            looked = true
            let database = self.database
            let found = try await metrics.databaseCall { try await withDeadline(seconds: deadline) { try await database.key(digest: digest) } }
            guard let found, APIToken.constantTimeEqual(found.digest, digest) else { throw notAccepted }
            if let revoked = found.revoked {
                if let person = Self.personOfToken(found.name) {
                    throw ServerRefusal.unauthenticated("the CLI sign-in of \(person) was ended at \(Clock.text(millis: revoked)) (secretfill logout); run secretfill login")
                }
                throw ServerRefusal.unauthenticated("key '\(found.name)' was revoked at \(Clock.text(millis: revoked))")
            }
            let grants: GrantSet
            if Self.personOfToken(found.name) != nil, found.expires.map({ $0 > now }) ?? false {
                // A person's CLI token: the member list's grants now (issue 25).
                grants = try await personTokenGrants(keyName: found.name)
            } else {
                grants = (try? GrantSet(parsing: found.grants.split(separator: " ").map(String.init))) ?? GrantSet([])
            }
            key = KeyCache.Entry(record: found, grants: grants, fetchedAt: now)
            keyCache.keep(key)
        }
        let found = key.record
        if let expires = found.expires, expires <= now {
            if let person = Self.personOfToken(found.name) {
                throw ServerRefusal.unauthenticated("the CLI sign-in of \(person) expired at \(Clock.text(millis: expires)); run secretfill login")
            }
            throw ServerRefusal.unauthenticated("key '\(found.name)' expired at \(Clock.text(millis: expires))")
        }
        if looked, found.lastUsed.map({ now - $0 > 60_000 }) ?? true {
            let name = found.name
            _ = try? await runSession { sql in
                try await sql.raw("UPDATE api_keys SET last_used_at = \(bind: now) WHERE name = \(bind: name)").run()
            }
        }
        return ActingKey(name: Self.personOfToken(found.name) ?? found.name, grants: key.grants)
    }

    public func createKey(name: String, grants: [String], expiresIn: Int?, by actor: ActingKey, client: String) async throws -> String {
        try await requireAdmin(actor, "create keys", action: "key.create", names: [name], client: client)
        guard KeyName.isValid(name) else { throw ServerRefusal.invalid(KeyName.ruleDescription) }
        guard !grants.isEmpty else { throw ServerRefusal.invalid("a key needs at least one --grant; \(Grant.ruleDescription)") }
        let parsed: GrantSet
        do { parsed = try GrantSet(parsing: grants) } catch { throw ServerRefusal.invalid(error.description) }
        if let expiresIn, expiresIn <= 0 || expiresIn > DurationText.maximumSeconds {
            throw ServerRefusal.invalid(DurationText.ruleDescription)
        }
        let token = APIToken.generate()
        let digest = APIToken.digest(token)
        let now = Clock.nowMillis()
        let expires = expiresIn.map { now + $0 * 1000 }
        let grantText = parsed.grants.map(\.description).joined(separator: " ")
        try await run(audited: true) { sql in
            let existing = try await sql.raw("SELECT name FROM api_keys WHERE name = \(bind: name)").all()
            guard existing.isEmpty else { throw ServerRefusal.conflict("a key named '\(name)' exists already (revoked keys keep their name)") }
            try await sql.raw("""
                INSERT INTO api_keys (name, token_digest, grants, created_at, created_by, expires_at, last_used_at, revoked_at)
                VALUES (\(bind: name), \(bind: digest), \(bind: grantText), \(bind: now), \(bind: actor.name), \(bind: expires), NULL, NULL)
                """).run()
            try await Self.audit(sql, key: actor.name, action: "key.create", scope: "keys", names: [name], client: client, outcome: "ok")
        }
        return token
    }

    /// The keys, never a token. `audited` writes the `key.list` row the
    /// API's listing writes; the web page's view of the keys passes false
    /// (a refusal is audited either way).
    public func listKeys(by actor: ActingKey, client: String, audited: Bool = true) async throws -> [KeyEntry] {
        try await requireAdmin(actor, "list keys", action: "key.list", names: [], client: client)
        return try await run(audited: audited) { sql in
            // Neither a role's tokens nor people's CLI tokens (`user:EMAIL/ID`, issue 25) are keys an admin made.
            let rows = try await sql.raw("SELECT name, grants, created_at, expires_at, last_used_at, revoked_at FROM api_keys WHERE role IS NULL AND name NOT LIKE 'user:%'").all()
            if audited {
                try await Self.audit(sql, key: actor.name, action: "key.list", scope: "keys", names: [], client: client, outcome: "ok")
            }
            return try rows.map { row in
                KeyEntry(name: try row.decode(column: "name", as: String.self),
                         grants: try row.decode(column: "grants", as: String.self).split(separator: " ").map(String.init),
                         created: Clock.text(millis: try row.decode(column: "created_at", as: Int.self)),
                         lastUsed: try row.decode(column: "last_used_at", as: Int?.self).map(Clock.text(millis:)),
                         expires: try row.decode(column: "expires_at", as: Int?.self).map(Clock.text(millis:)),
                         revoked: try row.decode(column: "revoked_at", as: Int?.self).map(Clock.text(millis:)))
            }.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
    }

    public func revokeKey(name: String, by actor: ActingKey, client: String) async throws {
        try await requireAdmin(actor, "revoke keys", action: "key.revoke", names: [name], client: client)
        guard KeyName.isValid(name) else { throw ServerRefusal.invalid(KeyName.ruleDescription) }
        let now = Clock.nowMillis()
        let lockAdmins = database.isPostgres
        try await run(audited: true) { sql in
            // Two revokes at once must not both see the other admin alive:
            // PostgreSQL takes a lock that writers of api_keys and members wait
            // for (it conflicts with itself, so the second revoke reads after
            // the first commits); SQLite's BEGIN IMMEDIATE already has one writer.
            if lockAdmins { try await Self.lockAdmins(sql) }
            let rows = try await sql.raw("SELECT revoked_at FROM api_keys WHERE name = \(bind: name)").all()
            guard let row = rows.first else { throw ServerRefusal.notFound("there is no key named '\(name)'") }
            guard try row.decode(column: "revoked_at", as: Int?.self) == nil else {
                throw ServerRefusal.notFound("key '\(name)' is revoked already")
            }
            // Revoking the last admin key would leave nobody able to manage
            // keys or read the audit log through the server. Only admin keys
            // that will still work in 24 h count as another admin: one about
            // to expire would leave the team locked out tomorrow.
            // A role's short-lived tokens manage nothing lasting: they never count.
            let live = try await sql.raw("SELECT name, grants, expires_at FROM api_keys WHERE revoked_at IS NULL AND role IS NULL").all()
            let lasting = now + Self.adminLastingMillis
            var targetIsAdmin = false
            var otherAdmins = 0
            for row in live {
                let admin = try row.decode(column: "grants", as: String.self).split(separator: " ").contains("admin")
                guard admin else { continue }
                let expires = try row.decode(column: "expires_at", as: Int?.self)
                if try row.decode(column: "name", as: String.self) == name {
                    // An expired admin key manages nothing: revoking it changes nothing.
                    targetIsAdmin = expires.map { $0 > now } ?? true
                } else if expires.map({ $0 > lasting }) ?? true {
                    otherAdmins += 1
                }
            }
            // An admin member (issue 25) is another admin too.
            if targetIsAdmin && otherAdmins == 0 {
                for row in try await sql.raw("SELECT grants FROM members").all() where Self.isAdminGrants(try row.decode(column: "grants", as: String.self)) {
                    otherAdmins += 1
                }
            }
            if targetIsAdmin && otherAdmins == 0 {
                throw ServerRefusal.conflict("key '\(name)' is the last admin key: create another admin key before revoking it (admin keys that expire within 24 h do not count)")
            }
            try await sql.raw("UPDATE api_keys SET revoked_at = \(bind: now) WHERE name = \(bind: name)").run()
            try await Self.audit(sql, key: actor.name, action: "key.revoke", scope: "keys", names: [name], client: client, outcome: "ok")
        }
        keyCache.forget(name: name)
    }

    // MARK: secrets

    /// Every name in `names`, resolved project > cluster > team.
    public func resolve(chain: ScopeChain, names: [String], by actor: ActingKey, client: String) async throws
        -> (found: [String: (scope: Scope, value: SecretValue)], missing: [String]) {
        let unique = Self.sortedUnique(names)
        for name in unique where !SecretName.isValid(name) { throw ServerRefusal.invalid("'\(Self.shown(name))': \(SecretName.ruleDescription)") }
        try await require(actor, .read, in: chain.scopes, action: "read", scopeText: chain.description, names: unique, client: client)
        let keyring = try requireKeyring()
        // The audit row is written (and committed) before any value is read:
        // a read that cannot be audited is refused.
        let audit = AuditRecord(time: Clock.nowMillis(), key: actor.name, action: "read", scope: chain.description, names: unique,
                                client: client, outcome: "ok")
        let database = self.database
        let deadline = self.deadline
        let rows = try await metrics.audited { try await metrics.databaseCall { try await database.auditedRead(audit, names: unique, in: chain, deadline: deadline) } }
        // The row of the first scope in the chain that has the name (project > cluster > team).
        let scopes = chain.scopes
        var best: [String: (rank: Int, row: SealedRecord)] = [:]
        best.reserveCapacity(unique.count)
        for row in rows {
            guard let rank = scopes.firstIndex(of: row.scope) else { continue }
            if let held = best[row.name], held.rank <= rank { continue }
            best[row.name] = (rank, row)
        }
        var chosen: [SealedRecord] = []
        chosen.reserveCapacity(best.count)
        var missing: [String] = []
        for name in unique {
            if let row = best[name]?.row { chosen.append(row) } else { missing.append(name) }
        }
        let values = try await keyring.openAll(chosen, from: database) { ($0.sealed, $0.name, $0.scope, $0.version) }
        var found: [String: (scope: Scope, value: SecretValue)] = [:]
        found.reserveCapacity(chosen.count)
        for (row, value) in zip(chosen, values) { found[row.name] = (row.scope, value) }
        return (found, missing)
    }

    /// `names` without repeats, in byte order; as they are when they already
    /// are (what a client that sorts sends), without building a set.
    static func sortedUnique(_ names: [String]) -> [String] {
        var ascending = true
        for index in names.indices.dropFirst() where !names[index - 1].utf8.lexicographicallyPrecedes(names[index].utf8) {
            ascending = false
            break
        }
        return ascending ? names : Array(Set(names)).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// Every current value in every scope of `chain` (for redact).
    public func allValues(chain: ScopeChain, by actor: ActingKey, client: String) async throws -> [(Scope, String, SecretValue)] {
        try await require(actor, .read, in: chain.scopes, action: "read", scopeText: chain.description, names: ["*"], client: client)
        let keyring = try requireKeyring()
        let audit = AuditRecord(time: Clock.nowMillis(), key: actor.name, action: "read", scope: chain.description, names: ["*"],
                                client: client, outcome: "ok")
        let database = self.database
        let deadline = self.deadline
        let rows = try await metrics.audited {
            try await metrics.databaseCall { try await withDeadline(seconds: deadline) { try await database.sqlAuditedRead(audit, names: nil, in: chain) } }
        }
        let values = try await keyring.openAll(rows, from: database) { ($0.sealed, $0.name, $0.scope, $0.version) }
        return zip(rows, values).map { row, value in (row.scope, row.name, value) }
    }

    /// The names in each scope, sorted; no values.
    public func names(in scopes: [Scope], by actor: ActingKey, client: String) async throws -> [(Scope, [SecretListing])] {
        try await require(actor, .names, in: scopes, action: "list", scopeText: scopes.map(\.description).joined(separator: ", "), names: [], client: client)
        guard !scopes.isEmpty else { return [] }
        let rows: [(Scope, SecretListing)] = try await runSession { sql in
            let result = try await sql.raw("SELECT scope_kind, scope_id, name, updated_at FROM secrets WHERE deleted = 0 AND \(Self.scopeCondition(scopes, prefix: ""))").all()
            return try result.map { row in
                (try Self.scope(kind: row.decode(column: "scope_kind", as: String.self), id: row.decode(column: "scope_id", as: String.self)),
                 SecretListing(name: try row.decode(column: "name", as: String.self),
                               updated: Clock.text(millis: try row.decode(column: "updated_at", as: Int.self))))
            }
        }
        return scopes.map { scope in
            (scope, rows.filter { $0.0 == scope }.map(\.1).sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) })
        }
    }

    /// Every scope `actor` may list names in (names, read or write, or
    /// admin) that holds at least one name, with its names, sorted: what
    /// the CLI's "it exists in …" hints look through. A scope the key may
    /// not list is left out, holding names or not.
    public func listableNames(by actor: ActingKey) async throws -> [(Scope, [SecretListing])] {
        guard let condition = Self.listableCondition(actor.grants) else { return [] }
        let rows: [(Scope, SecretListing)] = try await runSession { sql in
            let result = try await sql.raw("SELECT scope_kind, scope_id, name, updated_at FROM secrets WHERE deleted = 0 AND \(condition)").all()
            return try result.map { row in
                (try Self.scope(kind: row.decode(column: "scope_kind", as: String.self), id: row.decode(column: "scope_id", as: String.self)),
                 SecretListing(name: try row.decode(column: "name", as: String.self),
                               updated: Clock.text(millis: try row.decode(column: "updated_at", as: Int.self))))
            }
        }
        var byScope: [Scope: [SecretListing]] = [:]
        // The SQL chose by grant; checked again here, so no row a grant does not cover can get out.
        for (scope, entry) in rows where actor.grants.allows(.names, in: scope) { byScope[scope, default: []].append(entry) }
        return ScopeHints.sorted(Array(byScope.keys)).map { scope in
            (scope, byScope[scope]!.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) })
        }
    }

    /// The kinds of scope whose every scope `grants` may list: team with any
    /// team grant, project or cluster with a `*` grant, all three for admin.
    static func listsEvery(_ grants: GrantSet) -> [Scope.Kind] {
        Scope.Kind.allCases.filter { kind in
            grants.grants.contains { grant in
                switch (grant, kind) {
                case (.admin, _), (.team, .team), (.project(nil, _), .project), (.cluster(nil, _), .cluster): true
                default: false
                }
            }
        }
    }

    /// The rows `grants` may list, as SQL; nil when they may list none.
    static func listableCondition(_ grants: GrantSet) -> SQLQueryString? {
        if grants.isAdmin { return SQLQueryString("1 = 1") }
        var parts: [SQLQueryString] = []
        for grant in grants.grants {
            switch grant {
            case .admin: return SQLQueryString("1 = 1")
            case .team: parts.append("(scope_kind = 'team')")
            case .project(let id, _), .cluster(let id, _):
                let kind = grant.kindText
                if let id {
                    parts.append("(scope_kind = \(bind: kind) AND scope_id = \(bind: id))")
                } else {
                    parts.append("(scope_kind = \(bind: kind))")
                }
            }
        }
        guard let first = parts.first else { return nil }
        var condition = SQLQueryString("(") + first
        for part in parts.dropFirst() { condition = condition + " OR " + part }
        return condition + ")"
    }

    /// What one write did to a name.
    public struct Written: Sendable, Hashable {
        public let name: String
        public let version: Int
        /// True when the name had a current value (it was not new, deleted or purged).
        public let replaced: Bool
    }

    /// Sets every pair or none, each as a new version.
    public func set(_ pairs: [(name: String, value: SecretValue)], in scope: Scope, by actor: ActingKey, client: String, action: String = "set") async throws -> [Written] {
        var order: [String] = []
        var latest: [String: SecretValue] = [:]
        for (name, value) in pairs {
            guard SecretName.isValid(name) else { throw ServerRefusal.invalid("'\(Self.shown(name))': \(SecretName.ruleDescription)") }
            if latest.updateValue(value, forKey: name) == nil { order.append(name) }
        }
        guard !order.isEmpty else { throw ServerRefusal.invalid("nothing to set") }
        try await require(actor, .write, in: [scope], action: action, scopeText: scope.description, names: order, client: client)
        let keyring = try requireKeyring()
        let postgres = database.isPostgres
        let values = order.map { ($0, latest[$0]!) }
        let names = order
        let written = try await run(audited: true) { sql in
            let sealing = try await keyring.active(sql, postgres: postgres)
            var versions: [Written] = []
            for (name, value) in values {
                versions.append(try await Self.writeVersion(sql, name: name, value: value, scope: scope, by: actor.name, key: sealing))
            }
            try await Self.audit(sql, key: actor.name, action: action, scope: scope.description, names: names, client: client, outcome: "ok")
            return versions
        }
        keepStatistics(afterWriting: written.count)
        return written
    }

    public func delete(_ name: String, in scope: Scope, purge: Bool, by actor: ActingKey, client: String) async throws {
        guard SecretName.isValid(name) else { throw ServerRefusal.invalid("'\(Self.shown(name))': \(SecretName.ruleDescription)") }
        let action = purge ? "purge" : "delete"
        try await require(actor, .write, in: [scope], action: action, scopeText: scope.description, names: [name], client: client)
        let (kind, id) = Self.columns(scope)
        let now = Clock.nowMillis()
        try await run(audited: true) { sql in
            let rows = try await sql.raw("SELECT deleted FROM secrets WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").all()
            let live = try rows.first.map { try $0.decode(column: "deleted", as: Int.self) == 0 }
            guard let live, purge || live else {
                throw ServerRefusal.notFound(StoreError.notFound(name: name, scope: scope).description)
            }
            if purge {
                try await sql.raw("DELETE FROM secret_versions WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").run()
                try await sql.raw("DELETE FROM secrets WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").run()
            } else {
                try await sql.raw("UPDATE secrets SET deleted = 1, updated_at = \(bind: now), updated_by = \(bind: actor.name) WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").run()
            }
            try await Self.audit(sql, key: actor.name, action: action, scope: scope.description, names: [name], client: client, outcome: "ok")
        }
        keepStatistics(afterWriting: 1)
    }

    public func history(of name: String, in scope: Scope, by actor: ActingKey, client: String) async throws -> HistoryResponse {
        guard SecretName.isValid(name) else { throw ServerRefusal.invalid("'\(Self.shown(name))': \(SecretName.ruleDescription)") }
        try await require(actor, .write, in: [scope], action: "history", scopeText: scope.description, names: [name], client: client)
        let (kind, id) = Self.columns(scope)
        return try await run(audited: true) { sql in
            let head = try await sql.raw("SELECT current_version, deleted FROM secrets WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").all()
            guard let row = head.first else { throw ServerRefusal.notFound(StoreError.notFound(name: name, scope: scope).description) }
            let current = try row.decode(column: "current_version", as: Int.self)
            let deleted = try row.decode(column: "deleted", as: Int.self) != 0
            let rows = try await sql.raw("SELECT version, created_at, created_by FROM secret_versions WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name) ORDER BY version").all()
            try await Self.audit(sql, key: actor.name, action: "history", scope: scope.description, names: [name], client: client, outcome: "ok")
            let versions = try rows.map { row in
                let version = try row.decode(column: "version", as: Int.self)
                return VersionEntry(version: version, time: Clock.text(millis: try row.decode(column: "created_at", as: Int.self)),
                                    key: try row.decode(column: "created_by", as: String.self), current: version == current && !deleted)
            }
            return HistoryResponse(name: name, deleted: deleted, versions: versions)
        }
    }

    /// Makes version `version` current again, as a new version.
    public func rollback(_ name: String, in scope: Scope, to version: Int, by actor: ActingKey, client: String) async throws -> Written {
        guard SecretName.isValid(name) else { throw ServerRefusal.invalid("'\(Self.shown(name))': \(SecretName.ruleDescription)") }
        guard version >= 1 else { throw ServerRefusal.invalid("versions are numbered from 1") }
        try await require(actor, .write, in: [scope], action: "rollback", scopeText: scope.description, names: [name], client: client)
        let keyring = try requireKeyring()
        let postgres = database.isPostgres
        let (kind, id) = Self.columns(scope)
        let new = try await run(audited: true) { sql in
            let rows = try await sql.raw("SELECT sealed FROM secret_versions WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name) AND version = \(bind: version)").all()
            guard let row = rows.first else {
                throw ServerRefusal.notFound("\(scope) secret '\(name)' has no version \(version) (the last \(Self.keptVersions) are kept)")
            }
            let sealing = try await keyring.active(sql, postgres: postgres)
            let value = try await keyring.open(try row.decode(column: "sealed", as: String.self), name: name, scope: scope, version: version, loadingWith: sql)
            let new = try await Self.writeVersion(sql, name: name, value: value, scope: scope, by: actor.name, key: sealing)
            try await Self.audit(sql, key: actor.name, action: "rollback", scope: scope.description, names: [name], client: client, outcome: "ok")
            return new
        }
        keepStatistics(afterWriting: 1)
        return new
    }

    // MARK: planner statistics

    /// After a write of `rows` names: on PostgreSQL, ANALYZE the secret
    /// tables when the writes since the last one are more than a tenth of
    /// them (`TableStatistics`). It runs after the answer, in its own task:
    /// the write is committed and answered whatever it takes.
    func keepStatistics(afterWriting rows: Int) {
        guard database.isPostgres, statistics.wrote(rows) else { return }
        Task { await analyzeTables() }
    }

    /// At start, once the schema is migrated: ANALYZE when `secrets` holds
    /// rows and migrations were applied or PostgreSQL has never analyzed it
    /// (a restored database); else take its last count as the table's size.
    func prepareStatistics(migrated: Bool) async {
        guard database.isPostgres, statistics.begin() else { return }
        let database = self.database
        let known = try? await withDeadline(seconds: deadline) { try await database.session { sql in try await TableStatistics.known(sql) } }
        if let known, !known.populated || (!migrated && known.rows >= 0) {
            statistics.analyzed(rows: max(0, known.rows))
            return
        }
        await analyzeTables()
    }

    /// Runs ANALYZE on the secret tables; a failure is logged and tried again at the next write.
    func analyzeTables() async {
        let database = self.database
        do {
            let rows = try await withDeadline(seconds: 30) { try await database.session { sql in try await TableStatistics.analyze(sql) } }
            statistics.analyzed(rows: rows)
            logger.debug("analyzed the secret tables", metadata: ["rows": "\(rows)"])
        } catch {
            statistics.analyzeFailed()
            logger.warning("could not update the database's statistics of the secret tables; autovacuum will", metadata: ["reason": "\(ErrorWords.describe(error))"])
        }
    }

    // MARK: audit

    /// Entries on one page of the audit log, unless the request says otherwise, and the most one page may hold.
    public static let auditPageDefault = 100
    public static let auditPageMaximum = 1_000
    /// Characters of a row's `names` read back: rows written before names
    /// were capped per row (10,000 names, 1.3 MB) are cut here, so a page
    /// of the log takes bounded memory whatever the log holds.
    static let auditNamesRead = 16_384

    /// One page of the audit log, newest first: at most `limit` entries
    /// older than the entry `before` names (the previous page's `next`),
    /// and the cursor of the page after it (nil when this is the last).
    public func auditEntries(since seconds: Int?, key: String?, secret: String?, limit: Int? = nil, before: String? = nil, role: String? = nil,
                             user: String? = nil, by actor: ActingKey, client: String) async throws -> (entries: [AuditEntry], next: String?) {
        try await requireAdmin(actor, "read the audit log", action: "audit.read", names: [], client: client)
        if let key, !KeyName.isValid(key), key != "-" { throw ServerRefusal.invalid(KeyName.ruleDescription) }
        var chosen = key
        if let user {
            guard key == nil else { throw ServerRefusal.invalid("key and user each choose whose entries to show: give one") }
            guard let person = MemberName.person(user) else { throw ServerRefusal.invalid("user must be a person's email (LOCAL@DOMAIN)") }
            chosen = ActingKey.personPrefix + person
        }
        let key = chosen
        if let role, !KeyName.isValid(role) { throw ServerRefusal.invalid(RoleDraft.nameRule) }
        if let secret, !SecretName.isValid(secret) { throw ServerRefusal.invalid(SecretName.ruleDescription) }
        if let seconds, seconds < 0 || seconds > DurationText.maximumSeconds {
            throw ServerRefusal.invalid("since must be 0 to \(DurationText.maximumSeconds) seconds")
        }
        let limit = limit ?? Self.auditPageDefault
        guard (1...Self.auditPageMaximum).contains(limit) else {
            throw ServerRefusal.invalid("limit must be 1 to \(Self.auditPageMaximum) entries a page")
        }
        var beforeID: Int?
        if let before {
            guard let id = Int(before), id > 0, before.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                throw ServerRefusal.invalid("before must be the next cursor of an earlier page")
            }
            beforeID = id
        }
        let since = seconds.map { Clock.nowMillis() - $0 * 1000 } ?? 0
        let kept = Self.auditNamesRead
        let beforeCursor = beforeID
        let rows: [(id: Int, entry: AuditEntry)] = try await run { sql in
            var query = SQLQueryString("""
                SELECT audit_log.id, audit_log.time, audit_log.key_name, audit_log.action, audit_log.scope,
                  substr(audit_log.names, 1, \(unsafeRaw: String(kept))) AS names_head, length(audit_log.names) AS names_length,
                  audit_log.client, audit_log.outcome, audit_log.repeats, audit_log.detail, api_keys.subject AS subject
                FROM audit_log LEFT JOIN api_keys ON api_keys.name = audit_log.key_name WHERE audit_log.time >= \(bind: since)
                """)
            if let key { query = query + " AND audit_log.key_name = \(bind: key)" }
            if let role {
                let pattern = "role:" + role.replacing("\\", with: "\\\\").replacing("_", with: "\\_").replacing("%", with: "\\%") + "/%"
                query = query + " AND (audit_log.key_name = \(bind: "role:" + role) OR audit_log.key_name LIKE \(bind: pattern) ESCAPE '\\')"
            }
            if let secret {
                let pattern = "%," + secret.replacing("\\", with: "\\\\").replacing("_", with: "\\_").replacing("%", with: "\\%") + ",%"
                query = query + " AND (',' || audit_log.names || ',') LIKE \(bind: pattern) ESCAPE '\\'"
            }
            if let beforeCursor { query = query + " AND audit_log.id < \(bind: beforeCursor)" }
            query = query + " ORDER BY audit_log.id DESC LIMIT \(unsafeRaw: String(limit + 1))"
            return try await sql.raw(query).all().map { row in
                var names = try row.decode(column: "names_head", as: String.self).split(separator: ",").map(String.init)
                if try row.decode(column: "names_length", as: Int.self) > kept, !names.isEmpty {
                    names.removeLast()
                    names.append("+more")
                }
                let repeats = try row.decode(column: "repeats", as: Int.self)
                let keyName = try row.decode(column: "key_name", as: String.self)
                return (try row.decode(column: "id", as: Int.self),
                        AuditEntry(time: Clock.text(millis: try row.decode(column: "time", as: Int.self)),
                                   key: keyName,
                                   action: try row.decode(column: "action", as: String.self),
                                   scope: try row.decode(column: "scope", as: String.self),
                                   names: names,
                                   client: try row.decode(column: "client", as: String.self),
                                   outcome: try row.decode(column: "outcome", as: String.self),
                                   count: repeats > 1 ? repeats : nil,
                                   actor: Self.actor(ofKeyName: keyName),
                                   subject: try row.decode(column: "subject", as: String?.self),
                                   detail: try row.decode(column: "detail", as: String?.self)))
            }
        }
        let page = rows.prefix(limit)
        let next = rows.count > limit ? page.last.map { String($0.id) } : nil
        return (page.map(\.entry), next)
    }

    /// Records a refused request (best effort: the refusal stands either way).
    public func recordRefusal(key: String, action: String, scope: String, names: [String], client: String) async {
        do {
            try await run(audited: true) { sql in
                try await Self.audit(sql, key: key, action: action, scope: scope, names: names, client: client, outcome: "denied")
            }
        } catch {
            logger.error("could not write the audit row of a refused request", metadata: ["action": "\(action)"])
        }
    }

    // MARK: helpers

    func require(_ actor: ActingKey, _ access: Access, in scopes: [Scope], action: String, scopeText: String, names: [String], client: String) async throws {
        for scope in scopes where !actor.grants.allows(access, in: scope) {
            await recordRefusal(key: actor.name, action: action, scope: scopeText, names: names, client: client)
            throw actor.refusal(access, scope)
        }
    }

    func requireAdmin(_ actor: ActingKey, _ what: String, action: String, names: [String], client: String) async throws {
        guard actor.grants.isAdmin else {
            await recordRefusal(key: actor.name, action: action, scope: "keys", names: names, client: client)
            throw actor.adminRefusal(what)
        }
    }

    func requireKey() throws -> ServerStoreKey { try requireKeyring().storeKey }

    /// Makes the database's first data key if it has none, and loads every
    /// data key the store key unwraps (`serve`'s start).
    func prepareDataKeys() async throws {
        let keyring = try requireKeyring()
        let postgres = database.isPostgres
        // Loads every data key the store key unwraps too, since none is held yet.
        try await database.transaction { sql in _ = try await keyring.active(sql, postgres: postgres) }
    }

    func requireKeyring() throws -> DataKeyring {
        guard let keyring else { throw DatabaseUnavailable(detail: "the server holds no store key") }
        return keyring
    }

    /// Writes `value` as the name's next version. The upsert leaves `deleted`
    /// as it was, so its RETURNING tells what the row held before: a new row
    /// (version 1), a current value (deleted 0) or a deleted one; the row is
    /// locked from then on, so a second statement can clear `deleted` without
    /// a race. (PostgreSQL 15 cannot return the old row from an upsert.)
    static func writeVersion(_ sql: any SQLDatabase, name: String, value: SecretValue, scope: Scope, by keyName: String,
                             key: (id: String, key: StoreKey)) async throws -> Written {
        let (kind, id) = columns(scope)
        let now = Clock.nowMillis()
        let rows = try await sql.raw("""
            INSERT INTO secrets (scope_kind, scope_id, name, current_version, deleted, updated_at, updated_by)
            VALUES (\(bind: kind), \(bind: id), \(bind: name), 1, 0, \(bind: now), \(bind: keyName))
            ON CONFLICT (scope_kind, scope_id, name) DO UPDATE SET current_version = secrets.current_version + 1,
              updated_at = excluded.updated_at, updated_by = excluded.updated_by
            RETURNING current_version, deleted
            """).all()
        guard let row = rows.first else { throw DatabaseUnavailable(detail: "the database returned no version") }
        let version = try row.decode(column: "current_version", as: Int.self)
        let wasDeleted = try row.decode(column: "deleted", as: Int.self) != 0
        if wasDeleted {
            try await sql.raw("UPDATE secrets SET deleted = 0 WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name)").run()
        }
        let sealed = DataKeyring.seal(value, name: name, scope: scope, version: version, with: key)
        try await sql.raw("""
            INSERT INTO secret_versions (scope_kind, scope_id, name, version, sealed, created_at, created_by)
            VALUES (\(bind: kind), \(bind: id), \(bind: name), \(bind: version), \(bind: sealed), \(bind: now), \(bind: keyName))
            """).run()
        try await sql.raw("DELETE FROM secret_versions WHERE scope_kind = \(bind: kind) AND scope_id = \(bind: id) AND name = \(bind: name) AND version <= \(bind: version - keptVersions)").run()
        return Written(name: name, version: version, replaced: version > 1 && !wasDeleted)
    }

    static func audit(_ sql: any SQLDatabase, key: String, action: String, scope: String, names: [String], client: String, outcome: String) async throws {
        try await AuditRecord(time: Clock.nowMillis(), key: key, action: action, scope: scope, names: names, client: client, outcome: outcome)
            .insert(into: sql)
    }

    static func columns(_ scope: Scope) -> (String, String) { (scope.kind.rawValue, scope.id ?? "") }

    static func scope(kind: String, id: String) throws -> Scope {
        guard let kind = Scope.Kind(rawValue: kind) else { throw DatabaseUnavailable(detail: "a row has an unknown scope") }
        return try Scope(kind: kind, id: kind == .team ? nil : id)
    }

    static func scopeCondition(_ scopes: [Scope], prefix: String) -> SQLQueryString {
        var condition = SQLQueryString("(")
        for (index, scope) in scopes.enumerated() {
            let (kind, id) = columns(scope)
            if index > 0 { condition = condition + " OR " }
            condition = condition + "(\(unsafeRaw: prefix)scope_kind = \(bind: kind) AND \(unsafeRaw: prefix)scope_id = \(bind: id))"
        }
        return condition + ")"
    }

    /// A name as a refusal may show it: only if it is short printable ASCII.
    static func shown(_ name: String) -> String {
        name.utf8.count <= 128 && name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "'") }) ? name : "<\(name.utf8.count) bytes>"
    }
}

extension Grant {
    /// `project` or `cluster`: the scope kind a scoped grant covers, as the database spells it.
    fileprivate var kindText: String {
        switch self {
        case .project: Scope.Kind.project.rawValue
        case .cluster: Scope.Kind.cluster.rawValue
        case .team: Scope.Kind.team.rawValue
        case .admin: ""
        }
    }
}
