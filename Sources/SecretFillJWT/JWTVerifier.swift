import AsyncHTTPClient
import JWTKit
import NIOConcurrencyHelpers
import NIOCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Why a JWT was refused: the check that failed and the claim it read,
/// written for a person. Never the token: only claim names, the role's own
/// settings, and short printable claim values that are not secrets (`iss`).
public enum JWTRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not three base64url parts with JSON objects in the first two.
    case malformed(String)
    /// `alg` is not one of the asymmetric algorithms accepted (`none` and HMAC never are).
    case algorithm(String)
    /// `kid` is not in the issuer's key set, even after fetching it again.
    case unknownKey(String)
    /// No key of the issuer's set verifies the signature.
    case signature
    /// `iss` is not the role's issuer.
    case issuer(found: String?, expected: String)
    /// `aud` names none of the role's audiences.
    case audience(expected: [String])
    /// A claim that must be there is not (or is not of its type).
    case missingClaim(String)
    /// `exp` is past, beyond the leeway.
    case expired
    /// `nbf` or `iat` is in the future, beyond the leeway.
    case notYetValid(claim: String)
    /// `sub` is not the role's bound subject.
    case boundSubject(expected: String)
    /// A bound claim did not match its pattern.
    case boundClaim(name: String, pattern: String)
    /// The issuer's keys could not be fetched.
    case keysUnavailable(String)

    /// The check's short name (`audit`'s reason, the API's `reason`).
    public var check: String {
        switch self {
        case .malformed: "malformed"
        case .algorithm: "algorithm"
        case .unknownKey: "kid"
        case .signature: "signature"
        case .issuer: "issuer"
        case .audience: "audience"
        case .missingClaim: "claim-missing"
        case .expired: "expiry"
        case .notYetValid: "not-yet-valid"
        case .boundSubject: "subject"
        case .boundClaim: "bound-claim"
        case .keysUnavailable: "keys-unavailable"
        }
    }

    public var description: String {
        switch self {
        case .malformed(let detail): "the OIDC token is not a JWT (\(detail))"
        case .algorithm(let alg): "the OIDC token's algorithm \(Self.shown(alg)) is not accepted (only RS, PS and ES families and EdDSA; never none or HMAC)"
        case .unknownKey(let kid): "the OIDC token's key id \(Self.shown(kid)) is not in the issuer's key set"
        case .signature: "the OIDC token's signature does not verify with any of the issuer's keys"
        case .issuer(let found, let expected): "issuer: the OIDC token's iss \(found.map(Self.shown) ?? "(absent)") is not the role's issuer \(Self.shown(expected))"
        case .audience(let expected): "audience: the OIDC token's aud names none of the role's audiences (\(expected.map(Self.shown).joined(separator: ", ")))"
        case .missingClaim(let claim): "the OIDC token has no \(Self.shown(claim)) claim (or not of its type)"
        case .expired: "expiry: the OIDC token has expired (exp is past, beyond 60 s of leeway)"
        case .notYetValid(let claim): "the OIDC token's \(claim) is in the future (beyond 60 s of leeway)"
        case .boundSubject(let expected): "subject: the OIDC token's sub is not \(Self.shown(expected))"
        case .boundClaim(let name, let pattern): "claim \(Self.shown(name)) did not match \(Self.shown(pattern))"
        case .keysUnavailable(let detail): "the issuer's keys could not be fetched (\(detail))"
        }
    }

    /// A value as a message may show it: short printable ASCII in quotes, else its length.
    public static func shown(_ text: String) -> String {
        text.utf8.count <= 200 && text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "'") }) ? "'\(text)'" : "<\(text.utf8.count) bytes>"
    }
}

/// What a token must show to be accepted, beyond a good signature.
public struct JWTRules: Sendable, Equatable {
    public var issuer: String
    /// `aud` (a string or a list) must contain one of these.
    public var audiences: [String]
    /// Claim name → glob (`ClaimGlob`); every one must match.
    public var boundClaims: [String: String]
    /// When set, `sub` must equal it exactly.
    public var boundSubject: String?
    /// Seconds of leeway on `exp`, `nbf` and `iat`.
    public var leewaySeconds: Double

    public init(issuer: String, audiences: [String], boundClaims: [String: String] = [:], boundSubject: String? = nil, leewaySeconds: Double = 60) {
        self.issuer = issuer
        self.audiences = audiences
        self.boundClaims = boundClaims
        self.boundSubject = boundSubject
        self.leewaySeconds = leewaySeconds
    }
}

/// A token that passed every check.
public struct VerifiedToken: Sendable {
    public let issuer: String
    public let subject: String
    public let expires: Double
    public let claims: [String: ClaimValue]
}

/// Verifies JWTs from an issuer: the signature with jwt-kit against the
/// issuer's keys (`JWKSCache`), then the claims against `JWTRules`. Issue 25
/// (people's SSO) uses the same verifier and checks `nonce` and `azp` in
/// `VerifiedToken.claims` itself.
public struct JWTVerifier: Sendable {
    /// The algorithms OpenBao's JWT auth accepts by default: asymmetric only.
    public static let acceptedAlgorithms: Set<String> = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]

    public let keys: JWKSCache

    public init(keys: JWKSCache) { self.keys = keys }

    public func verify(_ token: String, source: JWKSSource, rules: JWTRules, now: Double = Date().timeIntervalSince1970) async throws(JWTRefusal) -> VerifiedToken {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 64 * 1024 else { throw .malformed("a JWT has three parts separated by dots") }
        guard let headerData = Base64URL.decode(parts[0]), let header = try? JSONDecoder().decode([String: ClaimValue].self, from: headerData) else {
            throw .malformed("its header is not base64url JSON")
        }
        guard let payloadData = Base64URL.decode(parts[1]), let claims = try? JSONDecoder().decode([String: ClaimValue].self, from: payloadData) else {
            throw .malformed("its payload is not base64url JSON")
        }
        guard let alg = header["alg"]?.stringValue else { throw .malformed("its header has no alg") }
        guard Self.acceptedAlgorithms.contains(alg), let jwkAlgorithm = JWK.Algorithm(rawValue: alg) else { throw .algorithm(alg) }
        let kid: String?
        switch header["kid"] {
        case nil, .null?: kid = nil
        case .string(let text)?: kid = text
        default: throw .malformed("its header's kid is not a string")
        }

        var set = try await keys.keys(for: source)
        if let kid, !set.contains(where: { $0.keyIdentifier?.string == kid }) {
            set = try await keys.refetch(source) ?? set
            guard set.contains(where: { $0.keyIdentifier?.string == kid }) else { throw .unknownKey(kid) }
        }
        let candidates = kid.map { kid in set.filter { $0.keyIdentifier?.string == kid } } ?? set
        var verified = false
        for candidate in candidates {
            if await Self.signatureVerifies(token, key: candidate, algorithm: jwkAlgorithm) {
                verified = true
                break
            }
        }
        guard verified else { throw .signature }
        return try Self.check(claims, rules: rules, now: now)
    }

    /// jwt-kit's check of the signature with one key, as `alg` says
    /// (the key's own `alg`, if any, is not what decides: OpenBao's does not).
    static func signatureVerifies(_ token: String, key: JWK, algorithm: JWK.Algorithm) async -> Bool {
        var key = key
        key.algorithm = algorithm
        key.keyIdentifier = JWKIdentifier(string: "key")
        let collection = JWTKeyCollection()
        do {
            try await collection.add(jwk: key)
            _ = try await collection.verify(token, as: UncheckedClaims.self)
            return true
        } catch {
            return false
        }
    }

    /// Every check after the signature, in a fixed order.
    public static func check(_ claims: [String: ClaimValue], rules: JWTRules, now: Double) throws(JWTRefusal) -> VerifiedToken {
        let issuer = claims["iss"]?.stringValue
        guard issuer == rules.issuer else { throw .issuer(found: issuer, expected: rules.issuer) }
        let audiences: [String]
        switch claims["aud"] {
        case .string(let one)?: audiences = [one]
        case .array(let many)?: audiences = many.compactMap(\.stringValue)
        default: audiences = []
        }
        guard audiences.contains(where: rules.audiences.contains) else { throw .audience(expected: rules.audiences) }
        guard let subject = claims["sub"]?.stringValue, !subject.isEmpty else { throw .missingClaim("sub") }
        guard let expires = claims["exp"]?.numberValue else { throw .missingClaim("exp") }
        guard let issued = claims["iat"]?.numberValue else { throw .missingClaim("iat") }
        if now > expires + rules.leewaySeconds { throw .expired }
        switch claims["nbf"] {
        case nil, .null?: break
        case .number(let notBefore)?: if notBefore > now + rules.leewaySeconds { throw .notYetValid(claim: "nbf") }
        default: throw .missingClaim("nbf")
        }
        if issued > now + rules.leewaySeconds { throw .notYetValid(claim: "iat") }
        if let bound = rules.boundSubject, subject != bound { throw .boundSubject(expected: bound) }
        for (name, pattern) in rules.boundClaims.sorted(by: { $0.key < $1.key }) where !ClaimGlob.claim(claims[name], matches: pattern) {
            throw .boundClaim(name: name, pattern: pattern)
        }
        return VerifiedToken(issuer: rules.issuer, subject: subject, expires: expires, claims: claims)
    }
}

/// The payload as jwt-kit decodes it after the signature: every check is `JWTVerifier.check`'s.
struct UncheckedClaims: JWTPayload {
    let claims: [String: ClaimValue]
    init(from decoder: any Decoder) throws { claims = try decoder.singleValueContainer().decode([String: ClaimValue].self) }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(claims)
    }
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

enum Base64URL {
    static func decode(_ text: Substring) -> Data? {
        guard text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F }) else { return nil }
        var standard = String(text).replacing("-", with: "+").replacing("_", with: "/")
        while standard.utf8.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard)
    }
}
