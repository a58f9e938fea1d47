import SecretFill
import SQLKit

/// One browser session as read back, with its key's grants (a key's
/// session) or the person and groups it signed in as (single sign-on).
struct SessionRecord: Sendable {
    let key, csrf: String
    let grants: String?
    let lastSeen: Int
    let revoked, expires: Int?
    let person: String?
    let groups: [String]
    let via: String?
}

/// The web UI's browser sessions (`sessions`, migration 2), shared by every
/// server on the database. A row holds the SHA-256 digest of the cookie's
/// id, never the id.
protocol SessionRows: Sendable {
    /// A key's session.
    func insertSession(idDigest: String, keyName: String, csrfToken: String, at now: Int) async throws
    /// A person's session (single sign-on): no key, the person's groups and the provider it came through.
    func insertSession(idDigest: String, keyName: String, csrfToken: String, at now: Int, person: String, groups: String, via: String) async throws
    func session(idDigest: String) async throws -> SessionRecord?
    /// The key name of a session; nil when there is none.
    func sessionKey(idDigest: String) async throws -> String?
    func touchSession(idDigest: String, at now: Int) async throws
    func deleteSession(idDigest: String) async throws
    /// Drops every session last seen before `stale`.
    func deleteSessions(seenBefore stale: Int) async throws
    /// Drops every session of the key.
    func deleteSessions(ofKey keyName: String) async throws
}

extension SQLRepository {
    func insertSession(idDigest: String, keyName: String, csrfToken: String, at now: Int) async throws {
        try await sql.raw("""
            INSERT INTO sessions (id_digest, key_name, csrf_token, created_at, last_seen_at)
            VALUES (\(bind: idDigest), \(bind: keyName), \(bind: csrfToken), \(bind: now), \(bind: now))
            """).run()
    }

    func insertSession(idDigest: String, keyName: String, csrfToken: String, at now: Int, person: String, groups: String, via: String) async throws {
        try await sql.raw("""
            INSERT INTO sessions (id_digest, key_name, csrf_token, created_at, last_seen_at, person, person_groups, via)
            VALUES (\(bind: idDigest), \(bind: keyName), \(bind: csrfToken), \(bind: now), \(bind: now),
                    \(bind: person), \(bind: groups), \(bind: via))
            """).run()
    }

    func session(idDigest: String) async throws -> SessionRecord? {
        let rows = try await sql.raw("""
            SELECT s.key_name, s.csrf_token, s.last_seen_at, s.person, s.person_groups, s.via, k.grants, k.revoked_at, k.expires_at
            FROM sessions s LEFT JOIN api_keys k ON k.name = s.key_name WHERE s.id_digest = \(bind: idDigest)
            """).all()
        guard let row = rows.first else { return nil }
        return SessionRecord(key: try row.decode(column: "key_name", as: String.self), csrf: try row.decode(column: "csrf_token", as: String.self),
                             grants: try row.decode(column: "grants", as: String?.self), lastSeen: try row.decode(column: "last_seen_at", as: Int.self),
                             revoked: try row.decode(column: "revoked_at", as: Int?.self), expires: try row.decode(column: "expires_at", as: Int?.self),
                             person: try row.decode(column: "person", as: String?.self),
                             groups: (try row.decode(column: "person_groups", as: String?.self) ?? "").split(separator: " ").map(String.init),
                             via: try row.decode(column: "via", as: String?.self))
    }

    func sessionKey(idDigest: String) async throws -> String? {
        let rows = try await sql.raw("SELECT key_name FROM sessions WHERE id_digest = \(bind: idDigest)").all()
        return try rows.first?.decode(column: "key_name", as: String.self)
    }

    func touchSession(idDigest: String, at now: Int) async throws {
        try await sql.raw("UPDATE sessions SET last_seen_at = \(bind: now) WHERE id_digest = \(bind: idDigest)").run()
    }

    func deleteSession(idDigest: String) async throws {
        try await sql.raw("DELETE FROM sessions WHERE id_digest = \(bind: idDigest)").run()
    }

    func deleteSessions(seenBefore stale: Int) async throws {
        try await sql.raw("DELETE FROM sessions WHERE last_seen_at < \(bind: stale)").run()
    }

    func deleteSessions(ofKey keyName: String) async throws {
        try await sql.raw("DELETE FROM sessions WHERE key_name = \(bind: keyName)").run()
    }
}
