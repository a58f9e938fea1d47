import Crypto
import SecretFill
import SecretFillAPI

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
    static func storeCLICode(_ rows: any PeopleRows, person: String, groups: [String], challenge: String, via: String) async throws -> String {
        let code = BearerText.random(bytes: 32)
        let now = Clock.nowMillis()
        try await rows.dropCLICodes(before: now - cliCodeSeconds * 1000)
        try await rows.insertCLICode(digest: BearerText.digest(code), person: person, groups: groups.joined(separator: " "), challenge: challenge, via: via, at: now)
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
        let outcome = try await run(audited: true) { rows -> Outcome in
            guard let code = try await rows.takeCLICode(digest: BearerText.digest(request.code)) else { return Outcome(person: nil, grants: nil, check: "code") }
            let person = code.person
            let actor = ActingKey.personPrefix + person
            func deny(_ check: String) async throws -> Outcome {
                var record = AuditRecord(time: now, key: actor, action: "session.start", scope: "-", names: [], client: client, outcome: "denied")
                record.detail = "cli: \(check)"
                try await rows.insertAudit(record)
                return Outcome(person: person, grants: nil, check: check)
            }
            guard now - code.created <= Self.cliCodeSeconds * 1000 else { return try await deny("code-expired") }
            guard BearerText.constantTimeEqual(challenge, code.challenge) else { return try await deny("pkce") }
            let groups = code.groups.split(separator: " ").map(String.init)
            guard let grants = try await ServerSingleSignOn.memberGrants(rows, person: person, groups: groups) else { return try await deny("not-a-member") }
            let name = actor + "/" + HexText.lowercase((0..<8).map { _ in UInt8.random(in: 0...255) })
            try await rows.insertPersonToken(name, digest: APIToken.digest(token), at: now, person: person, groups: groups.joined(separator: " "), via: code.via,
                                             expires: expires)
            var record = AuditRecord(time: now, key: actor, action: "session.start", scope: "-", names: [], client: client, outcome: "ok")
            record.detail = "cli: until \(Clock.text(millis: expires))"
            try await rows.insertAudit(record)
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
        let found = try await runSession { rows -> (String, GrantSet?)? in
            guard let (person, groupText) = try await rows.personToken(keyName) else { return nil }
            let groups = groupText.split(separator: " ").map(String.init)
            return (person, try await ServerSingleSignOn.memberGrants(rows, person: person, groups: groups))
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
        try await run(audited: true) { rows in
            try await rows.revokeToken(digest: digest, at: now)
            var record = AuditRecord(time: now, key: actor.name, action: "session.end", scope: "-", names: [], client: client, outcome: "ok")
            record.detail = "cli"
            try await rows.insertAudit(record)
        }
        keyCache.forget(digest: digest)
    }

    /// `POST /v1/whoami`.
    public func whoami(token: String?, _ actor: ActingKey) async throws -> WhoamiResponse {
        var via: String?
        var expires: Int?
        if let token {
            let digest = APIToken.digest(token)
            let row = try await runSession { rows in try await rows.tokenExpiry(digest: digest) }
            expires = row?.expires
            via = row?.via
        }
        let label = actor.isPerson || actor.name.hasPrefix("role:") ? (Self.actor(ofKeyName: actor.name) ?? actor.name) : "key:" + actor.name
        return WhoamiResponse(actor: label, via: via, grants: actor.grants.grants.map(\.description), expiresAt: expires.map { Clock.text(millis: $0) })
    }
}
