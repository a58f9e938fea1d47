import Logging
import SecretFill
import SecretFillAPI
import SecretFillJWT
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A refused OIDC exchange: 401 with the failed check (503 when the issuer's keys could not be fetched).
public struct OIDCExchangeRefusal: Error, Sendable, CustomStringConvertible {
    public let message: String
    public let check: String
    public let unavailable: Bool
    public var description: String { message }
}

/// Issue 26: OIDC roles, and the exchange of a CI job's OIDC token for a
/// short-lived token with a role's grants. The token is a row of
/// `api_keys` named `role:NAME/ID` (digest only), so authentication,
/// expiry, the key cache and revocation are the keys' own.
extension ServerStore {
    static let roleDefaultTTL = 15 * 60
    static let roleDefaultMaxTTL = 3600
    static let roleLongestTTL = 24 * 3600

    /// `role:NAME/` begins the name of every token the role issued.
    static func roleTokenPrefix(_ role: String) -> String { "role:\(role)/" }

    /// What `audit` shows as the actor of a row's key name.
    static func actor(ofKeyName name: String) -> String? {
        if name.hasPrefix("role:") { return String(name.prefix { $0 != "/" }) }
        if name.hasPrefix(ActingKey.personPrefix) { return name }
        if name == "-" { return nil }
        return "key:" + name
    }

    static func validate(_ role: RoleEntry) throws(ServerRefusal) {
        guard KeyName.isValid(role.name) else { throw .invalid(RoleDraft.nameRule) }
        func printable(_ text: String, longest: Int = 512) -> Bool {
            !text.isEmpty && text.utf8.count <= longest && text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
        }
        guard printable(role.issuer) else { throw .invalid("--issuer must be a URL of printable ASCII, at most 512 characters") }
        if role.jwks == nil {
            do { try JWKSCache.requireSecure(role.issuer, what: "the issuer") } catch {
                throw .invalid("the issuer's discovery needs https (plain http only on loopback), or give the keys with --jwks-file")
            }
        }
        guard !role.audiences.isEmpty, role.audiences.count <= 16, role.audiences.allSatisfy({ printable($0) }) else {
            throw .invalid("give 1 to 16 --audience values (printable ASCII)")
        }
        guard role.boundClaims.count <= 32 else { throw .invalid("at most 32 --bound-claim") }
        for (claim, pattern) in role.boundClaims {
            guard printable(claim, longest: 128), !claim.contains("/"), !claim.contains("="), printable(pattern) else {
                throw .invalid("a bound claim is CLAIM=PATTERN: a top-level claim name (no / or =) and a pattern of printable ASCII")
            }
        }
        if let subject = role.boundSubject, !printable(subject) { throw .invalid("--bound-subject must be printable ASCII, at most 512 characters") }
        guard !role.grants.isEmpty else { throw .invalid("a role needs at least one --grant; \(Grant.ruleDescription)") }
        do { _ = try GrantSet(parsing: role.grants) } catch { throw .invalid(error.description) }
        guard (1...roleLongestTTL).contains(role.maxTTL) else { throw .invalid("--max-ttl must be 1 s to 24 h") }
        guard (1...role.maxTTL).contains(role.ttl) else { throw .invalid("--ttl must be at least 1 s and may not exceed --max-ttl") }
        if let jwks = role.jwks {
            guard jwks.utf8.count <= 64 * 1024 else { throw .invalid("the --jwks-file is over 64 KiB") }
            let count: Int
            do { count = try JWKSCache.parse(Data(jwks.utf8)).count } catch { throw .invalid("the --jwks-file is not a JWKS document (an object with a keys array)") }
            guard count > 0 else { throw .invalid("the --jwks-file holds no signing key secretfill can read") }
        }
    }

    public func createRole(_ role: RoleEntry, by actor: ActingKey, client: String) async throws {
        try await requireAdmin(actor, "create roles", action: "role.create", names: [role.name], client: client)
        try Self.validate(role)
        let grants = try GrantSet(parsing: role.grants).grants.map(\.description).joined(separator: " ")
        let audiences = String(decoding: try JSONEncoder().encode(role.audiences), as: UTF8.self)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let claims = String(decoding: try encoder.encode(role.boundClaims), as: UTF8.self)
        let now = Clock.nowMillis()
        try await run(audited: true) { rows in
            guard try await !rows.roleExists(role.name) else { throw ServerRefusal.conflict("a role named '\(role.name)' exists already (delete it first)") }
            try await rows.insertRole(role, grants: grants, audiences: audiences, claims: claims, at: now, by: actor.name)
            try await Self.audit(rows, key: actor.name, action: "role.create", scope: "roles", names: [role.name], client: client, outcome: "ok")
        }
    }

    /// The roles, sorted by name. `audited` writes the `role.list` row the
    /// API's listing writes; the web page's view passes false (a refusal is
    /// audited either way), as it does for keys.
    public func listRoles(by actor: ActingKey, client: String, audited: Bool = true) async throws -> [RoleEntry] {
        try await requireAdmin(actor, "list roles", action: "role.list", names: [], client: client)
        return try await run(audited: audited) { rows in
            let names = try await rows.roleNames()
            if audited {
                try await Self.audit(rows, key: actor.name, action: "role.list", scope: "roles", names: [], client: client, outcome: "ok")
            }
            var roles: [RoleEntry] = []
            for name in names {
                if let role = try await rows.role(named: name) { roles.append(role) }
            }
            return roles.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
    }

    /// Deletes the role and revokes every token it issued: refused here at
    /// once, and on the other servers within the key cache's second.
    public func deleteRole(name: String, by actor: ActingKey, client: String) async throws {
        try await requireAdmin(actor, "delete roles", action: "role.delete", names: [name], client: client)
        guard KeyName.isValid(name) else { throw ServerRefusal.invalid(RoleDraft.nameRule) }
        let now = Clock.nowMillis()
        try await run(audited: true) { rows in
            guard try await rows.roleExists(name) else { throw ServerRefusal.notFound("there is no role named '\(name)'") }
            try await rows.deleteRole(name)
            try await rows.revokeTokens(ofRole: name, at: now)
            try await Self.audit(rows, key: actor.name, action: "role.delete", scope: "roles", names: [name], client: client, outcome: "ok")
        }
        keyCache.forget(prefix: Self.roleTokenPrefix(name))
    }

    /// `POST /v1/auth/oidc`: the JWT checked against the role (`JWTVerifier`),
    /// then a token with the role's grants for the role's TTL. Allowed and
    /// refused exchanges are audited (role, issuer, check; never the JWT).
    public func exchange(role name: String, jwt: String, client: String) async throws -> OIDCExchangeResponse {
        let shownName = KeyName.isValid(name) ? name : "-"
        let audit = "role:\(shownName)"
        let database = self.database
        let deadline = self.deadline
        var found: RoleEntry?
        if KeyName.isValid(name) {
            found = try await metrics.databaseCall { try await withDeadline(seconds: deadline) { try await database.repositorySession { rows in try await rows.role(named: name) } } }
        }
        guard let role = found else {
            await refuseExchange(key: audit, role: shownName, client: client, detail: "check=role: there is no such role")
            throw OIDCExchangeRefusal(message: "role: there is no role named '\(ServerStore.shown(name))' on this server", check: "role", unavailable: false)
        }
        let source: JWKSSource = role.jwks.map { .document($0) } ?? .discovery(issuer: role.issuer)
        let rules = JWTRules(issuer: role.issuer, audiences: role.audiences, boundClaims: role.boundClaims, boundSubject: role.boundSubject)
        let verified: VerifiedToken
        do {
            verified = try await oidc.verify(jwt, source: source, rules: rules)
        } catch {
            await refuseExchange(key: audit, role: role.name, client: client, detail: "issuer=\(role.issuer) check=\(error.check): \(error.description)")
            if case .keysUnavailable = error {
                logger.warning("an OIDC exchange could not fetch the issuer's keys", metadata: ["role": "\(role.name)", "reason": "\(error.description)"])
            }
            throw OIDCExchangeRefusal(message: error.description, check: error.check, unavailable: { if case .keysUnavailable = error { return true } else { return false } }())
        }
        let token = APIToken.generate()
        let digest = APIToken.digest(token)
        let now = Clock.nowMillis()
        let expires = now + role.ttl * 1000
        let tokenName = Self.roleTokenPrefix(role.name) + BearerText.random(bytes: 6)
        let subject = String(verified.subject.utf8.prefix(512)) ?? "-"
        let grants = role.grants.joined(separator: " ")
        let record = AuditRecord(time: now, key: tokenName, action: "oidc.exchange", scope: "role:\(role.name)", names: [], client: client, outcome: "ok",
                                 detail: "issuer=\(role.issuer)")
        try await run(audited: true) { rows in
            try await rows.insertRoleToken(tokenName, digest: digest, grants: grants, at: now, role: role.name, expires: expires, subject: subject)
            try await rows.insertAudit(record)
        }
        return OIDCExchangeResponse(token: token, expiresAt: Clock.text(millis: expires), grants: role.grants)
    }

    /// A refused exchange's audit row (role, issuer, failed check; never the
    /// JWT), counted per address, role and check for a second as other
    /// refusals before authentication are (`RefusalAudit`), so a flood of bad
    /// tokens cannot fill the audit log.
    func refuseExchange(key: String, role: String, client: String, detail: String) async {
        let record = AuditRecord(time: 0, key: key, action: "oidc.exchange", scope: "role:\(role)", names: [], client: client, outcome: "denied",
                                 detail: detail)
        await refusals.note(record, window: "\(client)\u{1F}\(key)\u{1F}\(record.detailColumn ?? "")")
    }
}
