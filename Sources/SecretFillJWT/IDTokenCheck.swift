#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Issue 25: a person's ID token from the company's identity provider (OpenID
/// Connect), checked fully before anyone is signed in: the signature against
/// the issuer's keys (`JWTVerifier`: RS, PS, ES, EdDSA; never `none` or HMAC;
/// an unknown `kid` fetches the keys again at most once per 10 s), `iss`
/// exactly the issuer, `aud` containing the client id (and `azp` equal to it
/// when `aud` names several, or when `azp` is there at all), `exp`, `iat` and
/// `nbf` within 60 s, and `nonce` the one sent for this sign-in. The person is
/// named by `email` (in lower case) unless `email_verified` is false, else by `sub`.
///
/// This is the check alone: the web sign-in that calls it is not built yet.
public struct IDTokenCheck: Sendable {
    public let verifier: JWTVerifier
    public let issuer: String
    public let clientID: String
    /// The claim that lists the person's groups (`--oidc-groups-claim`), if any.
    public let groupsClaim: String?

    public init(verifier: JWTVerifier, issuer: String, clientID: String, groupsClaim: String? = nil) {
        self.verifier = verifier
        self.issuer = issuer
        self.clientID = clientID
        self.groupsClaim = groupsClaim
    }

    /// Who signed in.
    public struct Person: Sendable, Equatable {
        /// The email in lower case, or `sub` when there is no verified email.
        public let name: String
        /// True when `name` is the email.
        public let byEmail: Bool
        public let subject: String
        /// The groups claim's strings (empty without `groupsClaim`).
        public let groups: [String]
    }

    /// A refused ID token: the check that failed, in words for the sign-in page and the audit log
    /// (never the token, nor any claim's value but the issuer's and the client id).
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let check: String
        public let description: String
    }

    public func verify(_ idToken: String, nonce expected: String, now: Double = Date().timeIntervalSince1970) async throws(Refusal) -> Person {
        let verified: VerifiedToken
        do {
            verified = try await verifier.verify(idToken, source: .discovery(issuer: issuer), rules: JWTRules(issuer: issuer, audiences: [clientID]), now: now)
        } catch {
            throw Refusal(check: error.check, description: Self.words(error, issuer: issuer, clientID: clientID))
        }
        let claims = verified.claims
        let audiences: [String] = switch claims["aud"] {
        case .array(let many)?: many.compactMap(\.stringValue)
        default: [clientID]
        }
        switch claims["azp"] {
        case nil, .null?:
            guard audiences.count <= 1 else {
                throw Refusal(check: "azp", description: "the ID token names several audiences and no azp; it must name this server's client id as azp")
            }
        case .string(let party)?:
            guard party == clientID else { throw Refusal(check: "azp", description: "the ID token's azp is not this server's client id") }
        default:
            throw Refusal(check: "azp", description: "the ID token's azp is not a string")
        }
        guard let nonce = claims["nonce"]?.stringValue else {
            throw Refusal(check: "nonce", description: "the ID token carries no nonce; the one sent for this sign-in is needed")
        }
        guard Self.constantTimeEqual(nonce, expected) else {
            throw Refusal(check: "nonce", description: "the ID token's nonce is not the one sent for this sign-in (a token from another sign-in, or replayed)")
        }
        let emailVerified: Bool = switch claims["email_verified"] {
        case .bool(let value)?: value
        case .string(let text)?: text.lowercased() != "false"
        default: true
        }
        var groups: [String] = []
        if let groupsClaim {
            switch claims[groupsClaim] {
            case .string(let one)?: groups = [one]
            case .array(let many)?: groups = many.compactMap(\.stringValue)
            default: groups = []
            }
        }
        if emailVerified, let email = claims["email"]?.stringValue, !email.isEmpty {
            return Person(name: email.lowercased(), byEmail: true, subject: verified.subject, groups: groups)
        }
        return Person(name: verified.subject, byEmail: false, subject: verified.subject, groups: groups)
    }

    /// Equal without an early exit on the first differing byte (a length difference may show).
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }

    /// The verifier's refusal in a sign-in's words.
    static func words(_ refusal: JWTRefusal, issuer: String, clientID: String) -> String {
        switch refusal {
        case .malformed: "the identity provider's answer holds no ID token secretfill can read"
        case .algorithm(let alg): "the ID token's algorithm \(JWTRefusal.shown(alg)) is not accepted (only RS, PS and ES families and EdDSA; never none or HMAC)"
        case .unknownKey: "the ID token names a key the issuer does not publish"
        case .signature: "the ID token's signature does not verify with any of the issuer's keys"
        case .issuer: "the ID token's iss is not the issuer \(JWTRefusal.shown(issuer))"
        case .audience: "the ID token is not for this server (its aud does not name the client id \(JWTRefusal.shown(clientID)))"
        case .missingClaim(let claim): "the ID token has no \(JWTRefusal.shown(claim)) claim"
        case .expired: "the ID token has expired (exp is past, beyond 60 s of leeway)"
        case .notYetValid(let claim): "the ID token's \(claim) is in the future (beyond 60 s of leeway)"
        case .boundSubject, .boundClaim: "the ID token was refused"
        case .keysUnavailable: "the issuer's keys could not be fetched; try again"
        }
    }
}
