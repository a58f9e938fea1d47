import SQLKit

/// The schema, as numbered steps recorded in `schema_migrations`. A database
/// whose schema is newer than the last step here is refused.
enum Migrations {
    struct Step: Sendable {
        let version: Int
        let summary: String
        let statements: @Sendable (_ postgres: Bool) -> [String]
    }

    static let steps: [Step] = [
        Step(version: 1, summary: "keys, secrets, versions, audit log") { postgres in
            let autoID = postgres ? "BIGSERIAL PRIMARY KEY" : "INTEGER PRIMARY KEY AUTOINCREMENT"
            return [
                "CREATE TABLE server_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                """
                CREATE TABLE api_keys (name TEXT PRIMARY KEY, token_digest TEXT NOT NULL UNIQUE, grants TEXT NOT NULL,
                  created_at BIGINT NOT NULL, created_by TEXT NOT NULL, expires_at BIGINT, last_used_at BIGINT, revoked_at BIGINT)
                """,
                """
                CREATE TABLE secrets (scope_kind TEXT NOT NULL, scope_id TEXT NOT NULL, name TEXT NOT NULL,
                  current_version BIGINT NOT NULL, deleted BIGINT NOT NULL, updated_at BIGINT NOT NULL, updated_by TEXT NOT NULL,
                  PRIMARY KEY (scope_kind, scope_id, name))
                """,
                "CREATE INDEX secrets_by_name ON secrets (name)",
                """
                CREATE TABLE secret_versions (scope_kind TEXT NOT NULL, scope_id TEXT NOT NULL, name TEXT NOT NULL,
                  version BIGINT NOT NULL, sealed TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL,
                  PRIMARY KEY (scope_kind, scope_id, name, version))
                """,
                """
                CREATE TABLE audit_log (id \(autoID), time BIGINT NOT NULL, key_name TEXT NOT NULL, action TEXT NOT NULL,
                  scope TEXT NOT NULL, names TEXT NOT NULL, client TEXT NOT NULL, outcome TEXT NOT NULL)
                """,
                "CREATE INDEX audit_log_by_time ON audit_log (time)",
            ]
        },
        // Issue 14 (web UI): browser sessions, shared by every server on the database.
        // `id_digest` is the SHA-256 of the cookie's id; the id itself is stored nowhere.
        Step(version: 2, summary: "web UI sessions") { _ in
            [
                """
                CREATE TABLE sessions (id_digest TEXT PRIMARY KEY, key_name TEXT NOT NULL, csrf_token TEXT NOT NULL,
                  created_at BIGINT NOT NULL, last_seen_at BIGINT NOT NULL)
                """,
                "CREATE INDEX sessions_by_key ON sessions (key_name)",
            ]
        },
        // Issue 23: refusals before authentication are audited one row per
        // address and second, with the number of requests it stands for.
        Step(version: 3, summary: "audit rows count repeated refusals") { _ in
            ["ALTER TABLE audit_log ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1"]
        },
        // Issue 26: OIDC roles. A role's short-lived tokens are rows of api_keys
        // (digest only, expiry, revocation, the key cache: as any key) named
        // `role:NAME/ID`, with the role and the OIDC token's `sub`; an exchange's
        // audit row says its issuer and, when refused, the check (`detail`).
        Step(version: 4, summary: "OIDC roles and their short-lived tokens") { _ in
            [
                """
                CREATE TABLE oidc_roles (name TEXT PRIMARY KEY, issuer TEXT NOT NULL, audiences TEXT NOT NULL, bound_claims TEXT NOT NULL,
                  bound_subject TEXT, grants TEXT NOT NULL, ttl_seconds BIGINT NOT NULL, max_ttl_seconds BIGINT NOT NULL, jwks TEXT,
                  created_at BIGINT NOT NULL, created_by TEXT NOT NULL)
                """,
                "ALTER TABLE api_keys ADD COLUMN role TEXT",
                "ALTER TABLE api_keys ADD COLUMN subject TEXT",
                "CREATE INDEX api_keys_by_role ON api_keys (role)",
                "ALTER TABLE audit_log ADD COLUMN detail TEXT",
            ]
        },
        // Issue 25: members (a person by email, or `group:NAME`) with grants.
        Step(version: 5, summary: "members") { _ in
            [
                """
                CREATE TABLE members (name TEXT PRIMARY KEY, grants TEXT NOT NULL, created_at BIGINT NOT NULL, created_by TEXT NOT NULL,
                  updated_at BIGINT NOT NULL)
                """,
            ]
        },
        // Issue 27: envelope sealing. Each data key, wrapped under the store
        // key; `server_meta` names the active one. Values name their data key
        // in their own text (`EnvelopeText`); those sealed before this step
        // (under the store key) stay as they are and still open.
        Step(version: 6, summary: "data keys (envelope sealing)") { _ in
            ["CREATE TABLE data_keys (id TEXT PRIMARY KEY, wrapped TEXT NOT NULL, created_at BIGINT NOT NULL)"]
        },
        // Issue 25: single sign-on. A pending sign-in (10 minutes, used once)
        // under the SHA-256 of its `state`, bound to the browser by the digest
        // of a cookie; the PKCE verifier and the nonce are what the callback
        // needs and are deleted with the row. A session of a person names them
        // (`person`, the groups of their ID token, how they signed in); its
        // grants are read from `members` at every request. `secretfill login`:
        // the one-time code the CLI's loopback receives (its digest, with the
        // CLI's PKCE challenge), and each CLI token's person and groups (the
        // token itself is a row of api_keys named `user:EMAIL/ID`).
        Step(version: 7, summary: "single sign-on: pending sign-ins, people's sessions, CLI sign-ins") { _ in
            [
                """
                CREATE TABLE oidc_pending (state_digest TEXT PRIMARY KEY, browser_digest TEXT NOT NULL, verifier TEXT NOT NULL,
                  nonce TEXT NOT NULL, created_at BIGINT NOT NULL, cli_redirect TEXT, cli_challenge TEXT)
                """,
                "ALTER TABLE sessions ADD COLUMN person TEXT",
                "ALTER TABLE sessions ADD COLUMN person_groups TEXT",
                "ALTER TABLE sessions ADD COLUMN via TEXT",
                """
                CREATE TABLE cli_sign_ins (code_digest TEXT PRIMARY KEY, person TEXT NOT NULL, person_groups TEXT NOT NULL,
                  challenge TEXT NOT NULL, via TEXT NOT NULL, created_at BIGINT NOT NULL)
                """,
                "CREATE TABLE person_tokens (name TEXT PRIMARY KEY, person TEXT NOT NULL, person_groups TEXT NOT NULL, via TEXT NOT NULL)",
            ]
        },
    ]

    static var latest: Int { steps.last?.version ?? 0 }

    struct TooNew: Error, CustomStringConvertible {
        let found: Int
        var description: String {
            "the database schema is version \(found), newer than this secretfill knows (\(Migrations.latest)); upgrade secretfill"
        }
    }

    struct KeyMismatch: Error, CustomStringConvertible {
        let expected: String
        let supplied: String
        var description: String {
            "the database was sealed with key \(expected), but the key given is \(supplied); use the team's store key"
        }
    }

    /// Brings the schema up to date (every step not yet recorded, in order) inside one transaction, serialised
    /// between servers starting together (an advisory lock on PostgreSQL,
    /// BEGIN IMMEDIATE on SQLite). Returns the versions applied.
    @discardableResult
    static func migrate(_ database: any ServerDatabase, upTo target: Int = latest) async throws -> [Int] {
        let postgres = database.isPostgres
        return try await database.transaction { sql in
            if postgres { try await sql.raw("SELECT pg_advisory_xact_lock(8470)").run() }
            try await sql.raw("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL, summary TEXT NOT NULL)").run()
            // Every step not recorded yet, not only those above the highest: a
            // database that got a later step first (two branches of secretfill)
            // still gets the earlier one.
            let done = Set(try await sql.raw("SELECT version FROM schema_migrations").all().map { try $0.decode(column: "version", as: Int.self) })
            let current = done.max() ?? 0
            guard current <= latest else { throw TooNew(found: current) }
            var applied: [Int] = []
            for step in steps where !done.contains(step.version) && step.version <= target {
                for statement in step.statements(postgres) {
                    try await sql.raw("\(unsafeRaw: statement)").run()
                }
                try await sql.raw("INSERT INTO schema_migrations (version, applied_at, summary) VALUES (\(bind: step.version), \(bind: Clock.nowMillis()), \(bind: step.summary))").run()
                applied.append(step.version)
            }
            return applied
        }
    }

    /// Records the store key's fingerprint on first use and refuses another key later.
    static func checkKey(_ database: any ServerDatabase, fingerprint: String) async throws {
        try await database.transaction { sql in
            let rows = try await sql.raw("SELECT value FROM server_meta WHERE name = 'key_fingerprint'").all()
            if let row = rows.first {
                let stored = try row.decode(column: "value", as: String.self)
                guard stored == fingerprint else { throw KeyMismatch(expected: stored, supplied: fingerprint) }
            } else {
                try await sql.raw("INSERT INTO server_meta (name, value) VALUES ('key_fingerprint', \(bind: fingerprint))").run()
            }
        }
    }
}
