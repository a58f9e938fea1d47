import SecretFill
import SecretFillAPI
import SecretFillWebUI
import SQLKit
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Who may act besides keys: members (`members`, issue 25), OIDC roles
/// (`oidc_roles` and the tokens they issue, issue 26), people's CLI tokens
/// (`person_tokens`) and the sign-ins on their way (`cli_sign_ins`,
/// `oidc_pending`).
protocol PeopleRows: Sendable {
    /// The member's grants as stored; nil when there is no such member.
    func memberGrants(_ name: String) async throws -> String?
    /// The grants of every member among `names`, one text per member found.
    func memberGrants(among names: [String]) async throws -> [String]
    /// Every member's grants, as stored.
    func allMemberGrants() async throws -> [String]
    /// Every member with its grants, as stored.
    func membersWithGrants() async throws -> [(name: String, grants: String)]
    func updateMember(_ name: String, grants: String, at now: Int) async throws
    func insertMember(_ name: String, grants: String, at now: Int, by creator: String) async throws
    /// The members, unsorted.
    func memberEntries() async throws -> [MemberEntry]
    func deleteMember(_ name: String) async throws

    func roleExists(_ name: String) async throws -> Bool
    /// Stores a validated role; `audiences` and `claims` as JSON text.
    func insertRole(_ role: RoleEntry, grants: String, audiences: String, claims: String, at now: Int, by creator: String) async throws
    func roleNames() async throws -> [String]
    func role(named name: String) async throws -> RoleEntry?
    func deleteRole(_ name: String) async throws
    /// Revokes every unrevoked token the role issued.
    func revokeTokens(ofRole role: String, at now: Int) async throws
    /// A role's short-lived token, as a row of `api_keys`.
    func insertRoleToken(_ name: String, digest: String, grants: String, at now: Int, role: String, expires: Int, subject: String) async throws

    /// Drops CLI sign-in codes made before `stale`.
    func dropCLICodes(before stale: Int) async throws
    func insertCLICode(digest: String, person: String, groups: String, challenge: String, via: String, at now: Int) async throws
    /// Deletes the CLI sign-in code with `digest` and returns what it held (used once).
    func takeCLICode(digest: String) async throws -> (person: String, groups: String, challenge: String, via: String, created: Int)?
    /// A person's CLI token: a key with no grants of its own and its `person_tokens` row.
    func insertPersonToken(_ name: String, digest: String, at now: Int, person: String, groups: String, via: String, expires: Int) async throws
    /// The person and groups (as stored) of a CLI token's key name.
    func personToken(_ keyName: String) async throws -> (person: String, groups: String)?

    /// Drops pending single sign-ins started before `stale`.
    func dropPendingSignIns(before stale: Int) async throws
    func insertPendingSignIn(stateDigest: String, binding: String, verifier: String, nonce: String, at now: Int, cli: CLISignIn?) async throws
    /// Deletes the pending sign-in with `stateDigest` and returns it (a state is used once).
    func takePendingSignIn(stateDigest: String) async throws -> ServerSingleSignOn.Pending?
}

extension SQLRepository {
    // MARK: members

    func memberGrants(_ name: String) async throws -> String? {
        try await sql.raw("SELECT grants FROM members WHERE name = \(bind: name)").all().first?.decode(column: "grants", as: String.self)
    }

    func memberGrants(among names: [String]) async throws -> [String] {
        var condition = SQLQueryString("name IN (")
        for (index, name) in names.enumerated() {
            if index > 0 { condition = condition + ", " }
            condition = condition + "\(bind: name)"
        }
        condition = condition + ")"
        return try await sql.raw("SELECT grants FROM members WHERE " + condition).all().map { try $0.decode(column: "grants", as: String.self) }
    }

    func allMemberGrants() async throws -> [String] {
        try await sql.raw("SELECT grants FROM members").all().map { try $0.decode(column: "grants", as: String.self) }
    }

    func membersWithGrants() async throws -> [(name: String, grants: String)] {
        try await sql.raw("SELECT name, grants FROM members").all().map { row in
            (try row.decode(column: "name", as: String.self), try row.decode(column: "grants", as: String.self))
        }
    }

    func updateMember(_ name: String, grants: String, at now: Int) async throws {
        try await sql.raw("UPDATE members SET grants = \(bind: grants), updated_at = \(bind: now) WHERE name = \(bind: name)").run()
    }

    func insertMember(_ name: String, grants: String, at now: Int, by creator: String) async throws {
        try await sql.raw("""
            INSERT INTO members (name, grants, created_at, created_by, updated_at)
            VALUES (\(bind: name), \(bind: grants), \(bind: now), \(bind: creator), \(bind: now))
            """).run()
    }

    func memberEntries() async throws -> [MemberEntry] {
        try await sql.raw("SELECT name, grants, created_at, updated_at FROM members").all().map { row in
            MemberEntry(name: try row.decode(column: "name", as: String.self),
                        grants: try row.decode(column: "grants", as: String.self).split(separator: " ").map(String.init),
                        created: Clock.text(millis: try row.decode(column: "created_at", as: Int.self)),
                        updated: Clock.text(millis: try row.decode(column: "updated_at", as: Int.self)))
        }
    }

    func deleteMember(_ name: String) async throws {
        try await sql.raw("DELETE FROM members WHERE name = \(bind: name)").run()
    }

    // MARK: roles

    func roleExists(_ name: String) async throws -> Bool {
        try await !sql.raw("SELECT name FROM oidc_roles WHERE name = \(bind: name)").all().isEmpty
    }

    func insertRole(_ role: RoleEntry, grants: String, audiences: String, claims: String, at now: Int, by creator: String) async throws {
        try await sql.raw("""
            INSERT INTO oidc_roles (name, issuer, audiences, bound_claims, bound_subject, grants, ttl_seconds, max_ttl_seconds, jwks, created_at, created_by)
            VALUES (\(bind: role.name), \(bind: role.issuer), \(bind: audiences), \(bind: claims), \(bind: role.boundSubject), \(bind: grants),
              \(bind: role.ttl), \(bind: role.maxTTL), \(bind: role.jwks), \(bind: now), \(bind: creator))
            """).run()
    }

    func roleNames() async throws -> [String] {
        try await sql.raw("SELECT name FROM oidc_roles").all().map { try $0.decode(column: "name", as: String.self) }
    }

    func role(named name: String) async throws -> RoleEntry? {
        let rows = try await sql.raw("""
            SELECT name, issuer, audiences, bound_claims, bound_subject, grants, ttl_seconds, max_ttl_seconds, jwks, created_at
            FROM oidc_roles WHERE name = \(bind: name)
            """).all()
        guard let row = rows.first else { return nil }
        let audiences = (try? JSONDecoder().decode([String].self, from: Data(try row.decode(column: "audiences", as: String.self).utf8))) ?? []
        let claims = (try? JSONDecoder().decode([String: String].self, from: Data(try row.decode(column: "bound_claims", as: String.self).utf8))) ?? [:]
        return RoleEntry(name: try row.decode(column: "name", as: String.self), issuer: try row.decode(column: "issuer", as: String.self),
                         audiences: audiences, boundClaims: claims, boundSubject: try row.decode(column: "bound_subject", as: String?.self),
                         grants: try row.decode(column: "grants", as: String.self).split(separator: " ").map(String.init),
                         ttl: try row.decode(column: "ttl_seconds", as: Int.self), maxTTL: try row.decode(column: "max_ttl_seconds", as: Int.self),
                         jwks: try row.decode(column: "jwks", as: String?.self),
                         created: Clock.text(millis: try row.decode(column: "created_at", as: Int.self)))
    }

    func deleteRole(_ name: String) async throws {
        try await sql.raw("DELETE FROM oidc_roles WHERE name = \(bind: name)").run()
    }

    func revokeTokens(ofRole role: String, at now: Int) async throws {
        try await sql.raw("UPDATE api_keys SET revoked_at = \(bind: now) WHERE role = \(bind: role) AND revoked_at IS NULL").run()
    }

    func insertRoleToken(_ name: String, digest: String, grants: String, at now: Int, role: String, expires: Int, subject: String) async throws {
        try await sql.raw("""
            INSERT INTO api_keys (name, token_digest, grants, created_at, created_by, expires_at, last_used_at, revoked_at, role, subject)
            VALUES (\(bind: name), \(bind: digest), \(bind: grants), \(bind: now), \(bind: "role:\(role)"), \(bind: expires), NULL, NULL,
              \(bind: role), \(bind: subject))
            """).run()
    }

    // MARK: people's CLI sign-ins and tokens

    func dropCLICodes(before stale: Int) async throws {
        try await sql.raw("DELETE FROM cli_sign_ins WHERE created_at < \(bind: stale)").run()
    }

    func insertCLICode(digest: String, person: String, groups: String, challenge: String, via: String, at now: Int) async throws {
        try await sql.raw("""
            INSERT INTO cli_sign_ins (code_digest, person, person_groups, challenge, via, created_at)
            VALUES (\(bind: digest), \(bind: person), \(bind: groups), \(bind: challenge), \(bind: via), \(bind: now))
            """).run()
    }

    func takeCLICode(digest: String) async throws -> (person: String, groups: String, challenge: String, via: String, created: Int)? {
        let rows = try await sql.raw("""
            DELETE FROM cli_sign_ins WHERE code_digest = \(bind: digest)
            RETURNING person, person_groups, challenge, via, created_at
            """).all()
        guard let row = rows.first else { return nil }
        return (try row.decode(column: "person", as: String.self), try row.decode(column: "person_groups", as: String.self),
                try row.decode(column: "challenge", as: String.self), try row.decode(column: "via", as: String.self),
                try row.decode(column: "created_at", as: Int.self))
    }

    func insertPersonToken(_ name: String, digest: String, at now: Int, person: String, groups: String, via: String, expires: Int) async throws {
        let actor = ActingKey.personPrefix + person
        try await sql.raw("""
            INSERT INTO api_keys (name, token_digest, grants, created_at, created_by, expires_at, last_used_at, revoked_at)
            VALUES (\(bind: name), \(bind: digest), '', \(bind: now), \(bind: actor), \(bind: expires), NULL, NULL)
            """).run()
        try await sql.raw("""
            INSERT INTO person_tokens (name, person, person_groups, via)
            VALUES (\(bind: name), \(bind: person), \(bind: groups), \(bind: via))
            """).run()
    }

    func personToken(_ keyName: String) async throws -> (person: String, groups: String)? {
        let rows = try await sql.raw("SELECT person, person_groups FROM person_tokens WHERE name = \(bind: keyName)").all()
        guard let row = rows.first else { return nil }
        return (try row.decode(column: "person", as: String.self), try row.decode(column: "person_groups", as: String.self))
    }

    // MARK: single sign-on

    func dropPendingSignIns(before stale: Int) async throws {
        try await sql.raw("DELETE FROM oidc_pending WHERE created_at < \(bind: stale)").run()
    }

    func insertPendingSignIn(stateDigest: String, binding: String, verifier: String, nonce: String, at now: Int, cli: CLISignIn?) async throws {
        try await sql.raw("""
            INSERT INTO oidc_pending (state_digest, browser_digest, verifier, nonce, created_at, cli_redirect, cli_challenge)
            VALUES (\(bind: stateDigest), \(bind: binding), \(bind: verifier), \(bind: nonce), \(bind: now),
                    \(bind: cli?.redirect), \(bind: cli?.challenge))
            """).run()
    }

    func takePendingSignIn(stateDigest: String) async throws -> ServerSingleSignOn.Pending? {
        let rows = try await sql.raw("""
            DELETE FROM oidc_pending WHERE state_digest = \(bind: stateDigest)
            RETURNING browser_digest, verifier, nonce, created_at, cli_redirect, cli_challenge
            """).all()
        guard let row = rows.first else { return nil }
        var cli: CLISignIn?
        if let redirect = try row.decode(column: "cli_redirect", as: String?.self), let challenge = try row.decode(column: "cli_challenge", as: String?.self) {
            cli = CLISignIn(redirect: redirect, challenge: challenge)
        }
        return ServerSingleSignOn.Pending(binding: try row.decode(column: "browser_digest", as: String.self), verifier: try row.decode(column: "verifier", as: String.self),
                                          nonce: try row.decode(column: "nonce", as: String.self), created: try row.decode(column: "created_at", as: Int.self), cli: cli)
    }
}
