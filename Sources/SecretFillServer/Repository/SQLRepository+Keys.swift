import SecretFill
import SecretFillAPI
import SQLKit

/// API keys (`api_keys`): the keys an admin made, a role's short-lived
/// tokens (`role` set) and people's CLI tokens (`user:EMAIL/ID`). The
/// lookup by digest that authentication makes is the hot read's
/// (`ServerDatabase.key(digest:)`, `HotQueries.swift`).
protocol KeyRows: Sendable {
    /// Notes when the key was last used.
    func touchKey(_ name: String, at now: Int) async throws
    /// Whether a key (revoked or not) has the name.
    func keyExists(_ name: String) async throws -> Bool
    func insertKey(_ name: String, digest: String, grants: String, at now: Int, by creator: String, expires: Int?) async throws
    /// The keys an admin made (neither a role's tokens nor people's CLI tokens), unsorted.
    func keyEntries() async throws -> [KeyEntry]
    /// The key's revocation time: nil when there is no key, `.some(nil)` when it is not revoked.
    func revokedAt(_ name: String) async throws -> Int??
    /// Every key neither revoked nor a role's token, with its grants and expiry.
    func unrevokedKeys() async throws -> [(name: String, grants: String, expires: Int?)]
    func revokeKey(_ name: String, at now: Int) async throws
    /// Revokes the unrevoked key whose token has `digest` (`logout`).
    func revokeToken(digest: String, at now: Int) async throws
    /// The expiry of the key whose token has `digest` and, for a CLI token, the sign-in it came from; nil when there is none.
    func tokenExpiry(digest: String) async throws -> (expires: Int?, via: String?)?
    /// Before a change that could take the last admin away: on PostgreSQL
    /// every such change locks `api_keys` then `members`, always in that
    /// order, so two at once cannot both see the other admin alive (SQLite's
    /// BEGIN IMMEDIATE already has one writer; nothing to do there).
    func lockAdmins() async throws
}

extension SQLRepository {
    func touchKey(_ name: String, at now: Int) async throws {
        try await sql.raw("UPDATE api_keys SET last_used_at = \(bind: now) WHERE name = \(bind: name)").run()
    }

    func keyExists(_ name: String) async throws -> Bool {
        try await !sql.raw("SELECT name FROM api_keys WHERE name = \(bind: name)").all().isEmpty
    }

    func insertKey(_ name: String, digest: String, grants: String, at now: Int, by creator: String, expires: Int?) async throws {
        try await sql.raw("""
            INSERT INTO api_keys (name, token_digest, grants, created_at, created_by, expires_at, last_used_at, revoked_at)
            VALUES (\(bind: name), \(bind: digest), \(bind: grants), \(bind: now), \(bind: creator), \(bind: expires), NULL, NULL)
            """).run()
    }

    func keyEntries() async throws -> [KeyEntry] {
        // Neither a role's tokens nor people's CLI tokens (`user:EMAIL/ID`, issue 25) are keys an admin made.
        let rows = try await sql.raw("SELECT name, grants, created_at, expires_at, last_used_at, revoked_at FROM api_keys WHERE role IS NULL AND name NOT LIKE 'user:%'").all()
        return try rows.map { row in
            KeyEntry(name: try row.decode(column: "name", as: String.self),
                     grants: try row.decode(column: "grants", as: String.self).split(separator: " ").map(String.init),
                     created: Clock.text(millis: try row.decode(column: "created_at", as: Int.self)),
                     lastUsed: try row.decode(column: "last_used_at", as: Int?.self).map(Clock.text(millis:)),
                     expires: try row.decode(column: "expires_at", as: Int?.self).map(Clock.text(millis:)),
                     revoked: try row.decode(column: "revoked_at", as: Int?.self).map(Clock.text(millis:)))
        }
    }

    func revokedAt(_ name: String) async throws -> Int?? {
        let rows = try await sql.raw("SELECT revoked_at FROM api_keys WHERE name = \(bind: name)").all()
        guard let row = rows.first else { return nil }
        return .some(try row.decode(column: "revoked_at", as: Int?.self))
    }

    func unrevokedKeys() async throws -> [(name: String, grants: String, expires: Int?)] {
        try await sql.raw("SELECT name, grants, expires_at FROM api_keys WHERE revoked_at IS NULL AND role IS NULL").all().map { row in
            (try row.decode(column: "name", as: String.self), try row.decode(column: "grants", as: String.self), try row.decode(column: "expires_at", as: Int?.self))
        }
    }

    func revokeKey(_ name: String, at now: Int) async throws {
        try await sql.raw("UPDATE api_keys SET revoked_at = \(bind: now) WHERE name = \(bind: name)").run()
    }

    func revokeToken(digest: String, at now: Int) async throws {
        try await sql.raw("UPDATE api_keys SET revoked_at = \(bind: now) WHERE token_digest = \(bind: digest) AND revoked_at IS NULL").run()
    }

    func tokenExpiry(digest: String) async throws -> (expires: Int?, via: String?)? {
        let row = try await sql.raw("""
            SELECT k.expires_at, p.via FROM api_keys k LEFT JOIN person_tokens p ON p.name = k.name WHERE k.token_digest = \(bind: digest)
            """).all().first
        guard let row else { return nil }
        return (try row.decode(column: "expires_at", as: Int?.self), try row.decode(column: "via", as: String?.self))
    }

    func lockAdmins() async throws {
        guard postgres else { return }
        try await sql.raw("LOCK TABLE api_keys IN SHARE ROW EXCLUSIVE MODE").run()
        try await sql.raw("LOCK TABLE members IN SHARE ROW EXCLUSIVE MODE").run()
    }
}
