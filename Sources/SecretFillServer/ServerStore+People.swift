import Crypto
import SecretFill
import SecretFillAPI
import SQLKit

/// Issue 25: a person's CLI token (`secretfill login`). The sign-in goes
/// through the identity provider as on the web page; the server then sends
/// the browser to the CLI's loopback address with a one-time code
/// (`cli_sign_ins`: its digest, the person, their groups and the CLI's PKCE
/// challenge; 5 minutes, used once), which the CLI exchanges with its
/// verifier for a token. The token is a row of `api_keys` named
/// `user:EMAIL/ID` (digest, expiry, revocation and the one-second key cache,
/// as every key), and `person_tokens` names its person and groups: its
/// grants are the member list's, read when the cache fetches the key, so a
/// removed member's token stops within a second on every server.
extension ServerStore {
    /// A CLI sign-in's code lasts this long.
    static let cliCodeSeconds = 300
    /// `secretfill login --ttl`'s default.
    public static let defaultCLITTL = 12 * 3600
    /// `serve --max-cli-ttl`'s default.
    public static let defaultMaxCLITTL = 24 * 3600

    /// The person a CLI token's key name (`user:EMAIL/ID`) belongs to, as `user:EMAIL`; nil for any other key.
    static func personOfToken(_ keyName: String) -> String? {
        guard keyName.hasPrefix(ActingKey.personPrefix), let slash = keyName.lastIndex(of: "/") else { return nil }
        return String(keyName[..<slash])
    }

    /// At the callback of a CLI sign-in: the code the CLI's loopback receives.
    static func storeCLICode(_ sql: any SQLDatabase, person: String, groups: [String], challenge: String, via: String) async throws -> String {
        let code = BearerText.random(bytes: 32)
        let now = Clock.nowMillis()
        try await sql.raw("DELETE FROM cli_sign_ins WHERE created_at < \(bind: now - cliCodeSeconds * 1000)").run()
        try await sql.raw("""
            INSERT INTO cli_sign_ins (code_digest, person, person_groups, challenge, via, created_at)
            VALUES (\(bind: BearerText.digest(code)), \(bind: person), \(bind: groups.joined(separator: " ")), \(bind: challenge), \(bind: via), \(bind: now))
            """).run()
        return code
    }

    /// `POST /v1/login/token`: the code and the CLI's verifier for a CLI token.
    public func exchangeLoginCode(_ request: LoginTokenRequest, maxTTL: Int, client: String) async throws -> LoginTokenResponse {
        let ttl: Int
        if let text = request.ttl {
            guard let seconds = DurationText.seconds(text) else { throw ServerRefusal.invalid("ttl: \(DurationText.ruleDescription)") }
            guard seconds <= maxTTL else {
                throw ServerRefusal.invalid("ttl \(text) is longer than this server allows for a CLI token (\(DurationText.text(seconds: maxTTL)); serve --max-cli-ttl)")
            }
            ttl = seconds
        } else {
            ttl = min(Self.defaultCLITTL, maxTTL)
        }
        let refused = ServerRefusal.unauthenticated("the sign-in code was not accepted (unknown, used already, more than 5 minutes old, or not this login's); run secretfill login again")
        guard !request.code.isEmpty, request.code.utf8.count <= 128, (43...128).contains(request.verifier.utf8.count) else { throw refused }
        let challenge = BearerText.s256(request.verifier)
        let now = Clock.nowMillis()
        let token = APIToken.generate()
        let expires = now + ttl * 1000
        struct Outcome: Sendable { let person: String?; let grants: GrantSet?; let check: String }
        let outcome = try await run(audited: true) { sql -> Outcome in
            let rows = try await sql.raw("""
                DELETE FROM cli_sign_ins WHERE code_digest = \(bind: BearerText.digest(request.code))
                RETURNING person, person_groups, challenge, via, created_at
                """).all()
            guard let row = rows.first else { return Outcome(person: nil, grants: nil, check: "code") }
            let person = try row.decode(column: "person", as: String.self)
            let actor = ActingKey.personPrefix + person
            func deny(_ check: String) async throws -> Outcome {
                var record = AuditRecord(time: now, key: actor, action: "session.start", scope: "-", names: [], client: client, outcome: "denied")
                record.detail = "cli: \(check)"
                try await record.insert(into: sql)
                return Outcome(person: person, grants: nil, check: check)
            }
            guard now - (try row.decode(column: "created_at", as: Int.self)) <= Self.cliCodeSeconds * 1000 else { return try await deny("code-expired") }
            guard BearerText.constantTimeEqual(challenge, try row.decode(column: "challenge", as: String.self)) else { return try await deny("pkce") }
            let groups = (try row.decode(column: "person_groups", as: String.self)).split(separator: " ").map(String.init)
            guard let grants = try await ServerSingleSignOn.memberGrants(sql, person: person, groups: groups) else { return try await deny("not-a-member") }
            let name = actor + "/" + HexText.lowercase((0..<8).map { _ in UInt8.random(in: 0...255) })
            try await sql.raw("""
                INSERT INTO api_keys (name, token_digest, grants, created_at, created_by, expires_at, last_used_at, revoked_at)
                VALUES (\(bind: name), \(bind: APIToken.digest(token)), '', \(bind: now), \(bind: actor), \(bind: expires), NULL, NULL)
                """).run()
            try await sql.raw("""
                INSERT INTO person_tokens (name, person, person_groups, via)
                VALUES (\(bind: name), \(bind: person), \(bind: groups.joined(separator: " ")), \(bind: try row.decode(column: "via", as: String.self)))
                """).run()
            var record = AuditRecord(time: now, key: actor, action: "session.start", scope: "-", names: [], client: client, outcome: "ok")
            record.detail = "cli: until \(Clock.text(millis: expires))"
            try await record.insert(into: sql)
            return Outcome(person: person, grants: grants, check: "ok")
        }
        guard let person = outcome.person, let grants = outcome.grants else {
            if outcome.check == "not-a-member", let person = outcome.person {
                throw ServerRefusal.unauthenticated("user '\(Self.shown(person))' is not a member of this team; ask an admin (secretfill members add)")
            }
            throw refused
        }
        return LoginTokenResponse(token: token, expiresAt: Clock.text(millis: expires), user: person, grants: grants.grants.map(\.description))
    }

    /// On a key-cache miss for a CLI token: the person's grants now, or a refusal when they are no member any more.
    func personTokenGrants(keyName: String) async throws -> GrantSet {
        let found = try await runSession { sql -> (String, GrantSet?)? in
            let rows = try await sql.raw("SELECT person, person_groups FROM person_tokens WHERE name = \(bind: keyName)").all()
            guard let row = rows.first else { return nil }
            let person = try row.decode(column: "person", as: String.self)
            let groups = (try row.decode(column: "person_groups", as: String.self)).split(separator: " ").map(String.init)
            return (person, try await ServerSingleSignOn.memberGrants(sql, person: person, groups: groups))
        }
        guard let (person, grants) = found else {
            throw ServerRefusal.unauthenticated("this CLI token is no longer known to the server; run secretfill login again")
        }
        guard let grants else {
            throw ServerRefusal.unauthenticated("user '\(Self.shown(person))' is no longer a member of this team; ask an admin, then run secretfill login again")
        }
        return grants
    }

    /// `POST /v1/logout`: ends the presented CLI token (revoked, as a key is).
    public func logout(token: String?, by actor: ActingKey, client: String) async throws {
        guard let token, actor.isPerson else {
            throw ServerRefusal.invalid("logout ends a token from secretfill login; an API key is revoked with secretfill keys revoke NAME")
        }
        let digest = APIToken.digest(token)
        let now = Clock.nowMillis()
        try await run(audited: true) { sql in
            try await sql.raw("UPDATE api_keys SET revoked_at = \(bind: now) WHERE token_digest = \(bind: digest) AND revoked_at IS NULL").run()
            var record = AuditRecord(time: now, key: actor.name, action: "session.end", scope: "-", names: [], client: client, outcome: "ok")
            record.detail = "cli"
            try await record.insert(into: sql)
        }
        keyCache.forget(digest: digest)
    }

    /// `POST /v1/whoami`.
    public func whoami(token: String?, _ actor: ActingKey) async throws -> WhoamiResponse {
        var via: String?
        var expires: Int?
        if let token {
            let digest = APIToken.digest(token)
            let row = try await runSession { sql in
                try await sql.raw("""
                    SELECT k.expires_at, p.via FROM api_keys k LEFT JOIN person_tokens p ON p.name = k.name WHERE k.token_digest = \(bind: digest)
                    """).all().first
            }
            expires = try row?.decode(column: "expires_at", as: Int?.self)
            via = try row?.decode(column: "via", as: String?.self)
        }
        let label = actor.isPerson || actor.name.hasPrefix("role:") ? (Self.actor(ofKeyName: actor.name) ?? actor.name) : "key:" + actor.name
        return WhoamiResponse(actor: label, via: via, grants: actor.grants.grants.map(\.description), expiresAt: expires.map { Clock.text(millis: $0) })
    }
}
