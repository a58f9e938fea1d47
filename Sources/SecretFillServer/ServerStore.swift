import Logging
import NIOCore
import SecretFill
import SecretFillAPI
import SecretFillJWT
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The team's secrets, keys and audit log in the database. Every method
/// checks grants first, writes its audit row in the same transaction as
/// its work, and never puts a value or a token in an error or a log. The
/// statements are the repository's (`ServerRepository`, in `Repository/`):
/// this type decides, seals and opens, and chooses the transactions.
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
                        try await withDeadline(seconds: 5) { try await database.repositoryTransaction { rows in try await rows.insertAuditReturningID(record) } }
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
                        try await database.repositoryTransaction { rows in try await rows.setAuditRepeats(id: id, count: count) }
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
    /// `body` reads and writes through the transaction's repository.
    func run<R: Sendable>(audited: Bool = false, _ body: @escaping @Sendable (any ServerRepository) async throws -> R) async throws -> R {
        let database = self.database
        let writeLimit = self.writeLimit
        let commitBy = NIODeadline.now() + .seconds(Int64(writeLimit))
        let metrics = self.metrics
        let call = { @Sendable () async throws -> R in
            try await metrics.databaseCall {
                try await withDeadline(seconds: writeLimit + 2) { try await database.repositoryTransaction(until: commitBy, body) }
            }
        }
        if audited { return try await metrics.audited(call) }
        return try await call()
    }

    /// Like `run`, without a transaction: each statement commits on its own.
    func runSession<R: Sendable>(_ body: @escaping @Sendable (any ServerRepository) async throws -> R) async throws -> R {
        let database = self.database
        return try await metrics.databaseCall { try await withDeadline(seconds: deadline) { try await database.repositorySession(body) } }
    }

    // MARK: keys

    public func authenticate(token: String?) async throws -> ActingKey {
        try await authenticate(token: token, digest: nil)
    }

    /// As `authenticate(token:)`, for the key a request presents, hashed once (`PresentedKey`).
    func authenticate(_ presented: PresentedKey) async throws -> ActingKey {
        try await authenticate(token: presented.token.get(), digest: presented.digest)
    }

    /// `digest`: `APIToken.digest(token)` when the caller has it already.
    private func authenticate(token: String?, digest known: String?) async throws -> ActingKey {
        guard let token, !token.isEmpty else {
            throw ServerRefusal.unauthenticated("no API key was given (set SECRETFILL_TOKEN or --token-file, or run secretfill login)")
        }
        let notAccepted = ServerRefusal.unauthenticated("the API key was not accepted (unknown to this server)")
        // A digest given was made of a well-formed token (`PresentedKey`).
        guard known != nil || APIToken.isWellFormed(token) else { throw notAccepted }
        let digest = known ?? APIToken.digest(token)
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
            _ = try? await runSession { rows in try await rows.touchKey(name, at: now) }
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
        try await run(audited: true) { rows in
            guard try await !rows.keyExists(name) else { throw ServerRefusal.conflict("a key named '\(name)' exists already (revoked keys keep their name)") }
            try await rows.insertKey(name, digest: digest, grants: grantText, at: now, by: actor.name, expires: expires)
            try await Self.audit(rows, key: actor.name, action: "key.create", scope: "keys", names: [name], client: client, outcome: "ok")
        }
        return token
    }

    /// The keys, never a token. `audited` writes the `key.list` row the
    /// API's listing writes; the web page's view of the keys passes false
    /// (a refusal is audited either way).
    public func listKeys(by actor: ActingKey, client: String, audited: Bool = true) async throws -> [KeyEntry] {
        try await requireAdmin(actor, "list keys", action: "key.list", names: [], client: client)
        return try await run(audited: audited) { rows in
            let keys = try await rows.keyEntries()
            if audited {
                try await Self.audit(rows, key: actor.name, action: "key.list", scope: "keys", names: [], client: client, outcome: "ok")
            }
            return keys.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
    }

    public func revokeKey(name: String, by actor: ActingKey, client: String) async throws {
        try await requireAdmin(actor, "revoke keys", action: "key.revoke", names: [name], client: client)
        guard KeyName.isValid(name) else { throw ServerRefusal.invalid(KeyName.ruleDescription) }
        let now = Clock.nowMillis()
        try await run(audited: true) { rows in
            // Two revokes at once must not both see the other admin alive:
            // PostgreSQL takes a lock that writers of api_keys and members wait
            // for (it conflicts with itself, so the second revoke reads after
            // the first commits); SQLite's BEGIN IMMEDIATE already has one writer.
            try await rows.lockAdmins()
            guard let revoked = try await rows.revokedAt(name) else { throw ServerRefusal.notFound("there is no key named '\(name)'") }
            guard revoked == nil else {
                throw ServerRefusal.notFound("key '\(name)' is revoked already")
            }
            // Revoking the last admin key would leave nobody able to manage
            // keys or read the audit log through the server. Only admin keys
            // that will still work in 24 h count as another admin: one about
            // to expire would leave the team locked out tomorrow.
            // A role's short-lived tokens manage nothing lasting: they never count.
            let live = try await rows.unrevokedKeys()
            let lasting = now + Self.adminLastingMillis
            var targetIsAdmin = false
            var otherAdmins = 0
            for key in live {
                let admin = key.grants.split(separator: " ").contains("admin")
                guard admin else { continue }
                let expires = key.expires
                if key.name == name {
                    // An expired admin key manages nothing: revoking it changes nothing.
                    targetIsAdmin = expires.map { $0 > now } ?? true
                } else if expires.map({ $0 > lasting }) ?? true {
                    otherAdmins += 1
                }
            }
            // An admin member (issue 25) is another admin too.
            if targetIsAdmin && otherAdmins == 0 {
                for grants in try await rows.allMemberGrants() where Self.isAdminGrants(grants) {
                    otherAdmins += 1
                }
            }
            if targetIsAdmin && otherAdmins == 0 {
                throw ServerRefusal.conflict("key '\(name)' is the last admin key: create another admin key before revoking it (admin keys that expire within 24 h do not count)")
            }
            try await rows.revokeKey(name, at: now)
            try await Self.audit(rows, key: actor.name, action: "key.revoke", scope: "keys", names: [name], client: client, outcome: "ok")
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
        let rows: [(Scope, SecretListing)] = try await runSession { rows in try await rows.listings(in: scopes) }
        return scopes.map { scope in
            (scope, rows.filter { $0.0 == scope }.map(\.1).sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) })
        }
    }

    /// Every scope `actor` may list names in (names, read or write, or
    /// admin) that holds at least one name, with its names, sorted: what
    /// the CLI's "it exists in …" hints look through. A scope the key may
    /// not list is left out, holding names or not.
    public func listableNames(by actor: ActingKey) async throws -> [(Scope, [SecretListing])] {
        // Grants that list nothing ask nothing of the database.
        guard !actor.grants.grants.isEmpty else { return [] }
        let grants = actor.grants
        let rows: [(Scope, SecretListing)] = try await runSession { rows in try await rows.listings(listableBy: grants) }
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
        let values = order.map { ($0, latest[$0]!) }
        let names = order
        let written = try await run(audited: true) { rows in
            let sealing = try await keyring.active(rows)
            var versions: [Written] = []
            for (name, value) in values {
                versions.append(try await Self.writeVersion(rows, name: name, value: value, scope: scope, by: actor.name, key: sealing))
            }
            try await Self.audit(rows, key: actor.name, action: action, scope: scope.description, names: names, client: client, outcome: "ok")
            return versions
        }
        keepStatistics(afterWriting: written.count)
        return written
    }

    public func delete(_ name: String, in scope: Scope, purge: Bool, by actor: ActingKey, client: String) async throws {
        guard SecretName.isValid(name) else { throw ServerRefusal.invalid("'\(Self.shown(name))': \(SecretName.ruleDescription)") }
        let action = purge ? "purge" : "delete"
        try await require(actor, .write, in: [scope], action: action, scopeText: scope.description, names: [name], client: client)
        let now = Clock.nowMillis()
        try await run(audited: true) { rows in
            let live = try await rows.isLive(name, in: scope)
            guard let live, purge || live else {
                throw ServerRefusal.notFound(StoreError.notFound(name: name, scope: scope).description)
            }
            if purge {
                try await rows.purge(name, in: scope)
            } else {
                try await rows.markDeleted(name, in: scope, at: now, by: actor.name)
            }
            try await Self.audit(rows, key: actor.name, action: action, scope: scope.description, names: [name], client: client, outcome: "ok")
        }
        keepStatistics(afterWriting: 1)
    }

    public func history(of name: String, in scope: Scope, by actor: ActingKey, client: String) async throws -> HistoryResponse {
        guard SecretName.isValid(name) else { throw ServerRefusal.invalid("'\(Self.shown(name))': \(SecretName.ruleDescription)") }
        try await require(actor, .write, in: [scope], action: "history", scopeText: scope.description, names: [name], client: client)
        return try await run(audited: true) { rows in
            guard let (current, deleted) = try await rows.head(of: name, in: scope) else {
                throw ServerRefusal.notFound(StoreError.notFound(name: name, scope: scope).description)
            }
            let kept = try await rows.versions(of: name, in: scope)
            try await Self.audit(rows, key: actor.name, action: "history", scope: scope.description, names: [name], client: client, outcome: "ok")
            let versions = kept.map { row in
                VersionEntry(version: row.version, time: Clock.text(millis: row.created), key: row.by, current: row.version == current && !deleted)
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
        let new = try await run(audited: true) { rows in
            guard let sealed = try await rows.sealed(name, in: scope, version: version) else {
                throw ServerRefusal.notFound("\(scope) secret '\(name)' has no version \(version) (the last \(Self.keptVersions) are kept)")
            }
            let sealing = try await keyring.active(rows)
            let value = try await keyring.open(sealed, name: name, scope: scope, version: version, loadingWith: rows)
            let new = try await Self.writeVersion(rows, name: name, value: value, scope: scope, by: actor.name, key: sealing)
            try await Self.audit(rows, key: actor.name, action: "rollback", scope: scope.description, names: [name], client: client, outcome: "ok")
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
        let known = try? await withDeadline(seconds: deadline) { try await database.repositorySession { rows in try await rows.secretTableEstimate() } }
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
            let rows = try await withDeadline(seconds: 30) { try await database.repositorySession { rows in try await rows.analyzeSecretTables() } }
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
        let rows = try await run { rows in
            try await rows.auditPage(since: since, key: key, role: role, secret: secret, before: beforeCursor, limit: limit, namesRead: kept)
        }
        let page = rows.prefix(limit)
        let next = rows.count > limit ? page.last.map { String($0.id) } : nil
        return (page.map(\.entry), next)
    }

    /// Records a refused request (best effort: the refusal stands either way).
    public func recordRefusal(key: String, action: String, scope: String, names: [String], client: String) async {
        do {
            try await run(audited: true) { rows in
                try await Self.audit(rows, key: key, action: action, scope: scope, names: names, client: client, outcome: "denied")
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
        // Loads every data key the store key unwraps too, since none is held yet.
        try await database.repositoryTransaction { rows in _ = try await keyring.active(rows) }
    }

    func requireKeyring() throws -> DataKeyring {
        guard let keyring else { throw DatabaseUnavailable(detail: "the server holds no store key") }
        return keyring
    }

    /// Writes `value` as the name's next version, sealed under `key`, and
    /// drops the versions older than the last `keptVersions`.
    static func writeVersion(_ rows: any SecretRows, name: String, value: SecretValue, scope: Scope, by keyName: String,
                             key: (id: String, key: StoreKey)) async throws -> Written {
        let now = Clock.nowMillis()
        let (version, wasDeleted) = try await rows.nextVersion(of: name, in: scope, at: now, by: keyName)
        let sealed = DataKeyring.seal(value, name: name, scope: scope, version: version, with: key)
        try await rows.insertVersion(version, sealed: sealed, of: name, in: scope, at: now, by: keyName)
        try await rows.dropVersions(through: version - keptVersions, of: name, in: scope)
        return Written(name: name, version: version, replaced: version > 1 && !wasDeleted)
    }

    static func audit(_ rows: any AuditRows, key: String, action: String, scope: String, names: [String], client: String, outcome: String) async throws {
        try await rows.insertAudit(AuditRecord(time: Clock.nowMillis(), key: key, action: action, scope: scope, names: names, client: client, outcome: outcome))
    }

    static func columns(_ scope: Scope) -> (String, String) { (scope.kind.rawValue, scope.id ?? "") }

    static func scope(kind: String, id: String) throws -> Scope {
        guard let kind = Scope.Kind(rawValue: kind) else { throw DatabaseUnavailable(detail: "a row has an unknown scope") }
        return try Scope(kind: kind, id: kind == .team ? nil : id)
    }

    /// A name as a refusal may show it: only if it is short printable ASCII.
    static func shown(_ name: String) -> String {
        name.utf8.count <= 128 && name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "'") }) ? name : "<\(name.utf8.count) bytes>"
    }
}
