/// A role's settings as a person types them, on `secretfill roles create`'s
/// line or in the web page's Roles form: durations as `15m`, bound claims
/// as `CLAIM=PATTERN`. `entry()` checks what can be checked without the
/// server and gives the wire's `RoleEntry`; the server checks it all again
/// (`ServerStore.validate`), so both forms fail with the same words.
public struct RoleDraft: Sendable {
    public var name: String
    public var issuer: String
    public var audiences: [String]
    /// Each `CLAIM=PATTERN`.
    public var boundClaims: [String]
    public var boundSubject: String?
    public var grants: [String]
    public var ttl: String
    public var maxTTL: String
    /// The issuer's JWKS document, when the keys are given rather than discovered.
    public var jwks: String?

    public static let defaultTTL = "15m"
    public static let defaultMaxTTL = "1h"
    public static let nameRule = "a role name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters"

    public init(name: String, issuer: String, audiences: [String], boundClaims: [String], boundSubject: String?, grants: [String],
                ttl: String = RoleDraft.defaultTTL, maxTTL: String = RoleDraft.defaultMaxTTL, jwks: String? = nil) {
        self.name = name
        self.issuer = issuer
        self.audiences = audiences
        self.boundClaims = boundClaims
        self.boundSubject = boundSubject
        self.grants = grants
        self.ttl = ttl
        self.maxTTL = maxTTL
        self.jwks = jwks
    }

    /// Why a draft is not a role: one sentence, in the option names the CLI
    /// uses (the web form's labels say the same words).
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    public func entry() throws(Problem) -> RoleEntry {
        guard KeyName.isValid(name) else { throw Problem(Self.nameRule) }
        guard !issuer.isEmpty else { throw Problem("give the issuer (--issuer), exactly as the tokens' iss claim says it") }
        guard !audiences.isEmpty else { throw Problem("give at least one --audience") }
        guard !grants.isEmpty else { throw Problem("give at least one --grant; \(Grant.ruleDescription)") }
        do { _ = try GrantSet(parsing: grants) } catch { throw Problem(error.description) }
        var claims: [String: String] = [:]
        for pair in boundClaims {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw Problem("--bound-claim takes CLAIM=PATTERN, for example ref=refs/heads/main")
            }
            let claim = String(pair[..<equals])
            guard claims[claim] == nil else { throw Problem("--bound-claim \(claim) is given twice; give one pattern per claim") }
            claims[claim] = String(pair[pair.index(after: equals)...])
        }
        guard let ttlSeconds = DurationText.seconds(ttl), let maxSeconds = DurationText.seconds(maxTTL) else {
            throw Problem("--ttl and --max-ttl: \(DurationText.ruleDescription)")
        }
        guard maxSeconds <= 24 * 3600 else { throw Problem("--max-ttl may be at most 24h") }
        guard ttlSeconds <= maxSeconds else { throw Problem("--ttl (\(ttl)) may not exceed --max-ttl (\(maxTTL))") }
        return RoleEntry(name: name, issuer: issuer, audiences: audiences, boundClaims: claims, boundSubject: boundSubject,
                         grants: grants, ttl: ttlSeconds, maxTTL: maxSeconds, jwks: jwks)
    }
}
