import Foundation
@testable import SecretFillJWT
import OIDCTestSupport
import Testing

/// Issue 25's ID token check (`IDTokenCheck`) against a loopback issuer of the
/// tests' own (discovery and JWKS served by `TestIssuer`): a good token names
/// the person; every hostile or malformed one is refused with the check that
/// failed, and no refusal's words hold the token or the nonce.
@Suite("ID token check for people's sign-in")
struct IDTokenCheckTests {
    static let clientID = "secretfill-web"
    static let nonce = "n-0S6_WzA2Mj"

    static func claims(_ issuer: String, _ extra: [String: ClaimValue] = [:], lifetime: Double = 300) -> [String: ClaimValue] {
        let now = Double(Int(Date().timeIntervalSince1970))
        var claims: [String: ClaimValue] = ["iss": .string(issuer), "aud": .string(clientID), "sub": .string("248289761001"),
                                            "email": .string("Ana@Acme.dev"), "email_verified": .bool(true), "nonce": .string(nonce),
                                            "iat": .number(now), "exp": .number(now + lifetime)]
        for (name, value) in extra { claims[name] = value }
        return claims
    }

    static func setup() async throws -> (TestIssuer, TestKey, IDTokenCheck) {
        let issuer = try await TestIssuer.start()
        let key = try TestKey.rsa("k1")
        issuer.publish([key, TestKey.p256("k2")])
        let check = IDTokenCheck(verifier: JWTVerifier(keys: JWKSCache()), issuer: issuer.issuer, clientID: clientID, groupsClaim: "groups")
        return (issuer, key, check)
    }

    static func refusal(_ check: IDTokenCheck, _ token: String, nonce: String = nonce) async -> IDTokenCheck.Refusal? {
        do {
            _ = try await check.verify(token, nonce: nonce)
            return nil
        } catch {
            #expect(!error.description.contains(token) && !error.description.contains(Self.nonce), "a refusal's words hold the token or the nonce")
            return error
        }
    }

    @Test("a good token (RS256 with kid, ES256, no kid at all) names the person by email in lower case, with the groups claim's strings")
    func goodTokens() async throws {
        let (issuer, key, check) = try await Self.setup()
        defer { issuer.stop() }
        let ec = TestKey.p256("k3")
        issuer.publish([key, ec])
        let groups: [String: ClaimValue] = ["groups": .array([.string("platform"), .number(3), .string("sre")])]
        let person = try await check.verify(try await key.sign(Self.claims(issuer.issuer, groups)), nonce: Self.nonce)
        #expect(person == IDTokenCheck.Person(name: "ana@acme.dev", byEmail: true, subject: "248289761001", groups: ["platform", "sre"]))
        #expect(try await check.verify(try await ec.sign(Self.claims(issuer.issuer)), nonce: Self.nonce).name == "ana@acme.dev")
        // No kid (some providers send none): checked against the set's keys for its algorithm.
        #expect(try await check.verify(try await key.sign(Self.claims(issuer.issuer), withKid: false), nonce: Self.nonce).byEmail)
        // Several audiences with azp the client id; azp alone equal to it.
        let several = Self.claims(issuer.issuer, ["aud": .array([.string(Self.clientID), .string("other")]), "azp": .string(Self.clientID)])
        #expect(try await check.verify(try await key.sign(several), nonce: Self.nonce).name == "ana@acme.dev")
    }

    @Test("email_verified false, or no email: the person is named by sub")
    func subjectWhenNoVerifiedEmail() async throws {
        let (issuer, key, check) = try await Self.setup()
        defer { issuer.stop() }
        let unverified = try await check.verify(try await key.sign(Self.claims(issuer.issuer, ["email_verified": .bool(false)])), nonce: Self.nonce)
        #expect(unverified.name == "248289761001" && !unverified.byEmail)
        var noEmail = Self.claims(issuer.issuer)
        noEmail["email"] = nil
        #expect(try await check.verify(try await key.sign(noEmail), nonce: Self.nonce).name == "248289761001")
    }

    @Test("refused, each with its check: wrong iss, another audience, several audiences without azp, another azp, expired, iat in the future, alg none, HS256 signed with the public key, unknown kid, a foreign key, no nonce, another nonce, not a JWT")
    func hostileTokens() async throws {
        let (issuer, key, check) = try await Self.setup()
        defer { issuer.stop() }
        let now = Double(Int(Date().timeIntervalSince1970))
        let foreign = try TestKey.rsa("k1")
        var noNonce = Self.claims(issuer.issuer)
        noNonce["nonce"] = nil
        let cases: [(String, String, String)] = [
            ("issuer", try await key.sign(Self.claims(issuer.issuer, ["iss": .string(issuer.issuer + "/")])), "wrong iss (a trailing slash)"),
            ("audience", try await key.sign(Self.claims(issuer.issuer, ["aud": .string("another-client")])), "another audience"),
            ("azp", try await key.sign(Self.claims(issuer.issuer, ["aud": .array([.string(Self.clientID), .string("other")])])), "several audiences, no azp"),
            ("azp", try await key.sign(Self.claims(issuer.issuer, ["azp": .string("other")])), "another azp"),
            ("expiry", try await key.sign(Self.claims(issuer.issuer, ["exp": .number(now - 61), "iat": .number(now - 400)])), "expired"),
            // An hour ahead, not 2 minutes: under the whole suite's load the check can come more than 60 s after `now`.
            ("not-yet-valid", try await key.sign(Self.claims(issuer.issuer, ["iat": .number(now + 3600), "exp": .number(now + 7200)])), "iat in the future"),
            ("algorithm", try TestKey.unsigned(Self.claims(issuer.issuer), kid: "k1"), "alg none"),
            ("algorithm", try await TestKey.signHMAC(Self.claims(issuer.issuer), secret: key.publicPEM, kid: "k1"), "HS256 with the public key"),
            ("kid", try await key.sign(Self.claims(issuer.issuer), kidOverride: "made-up"), "an unknown kid"),
            ("signature", try await foreign.sign(Self.claims(issuer.issuer)), "signed by another key with the same kid"),
            ("nonce", try await key.sign(noNonce), "no nonce"),
            ("nonce", try await key.sign(Self.claims(issuer.issuer, ["nonce": .string("another-sign-in")])), "another sign-in's nonce"),
            ("malformed", "not.a-jwt", "not a JWT"),
        ]
        for (expected, token, what) in cases {
            let refused = await Self.refusal(check, token)
            #expect(refused?.check == expected, "\(what): \(String(describing: refused))")
        }
        // The good token with the wrong expected nonce (a replay into another sign-in) is refused too.
        let good = try await key.sign(Self.claims(issuer.issuer))
        #expect(await Self.refusal(check, good, nonce: "the-next-sign-in")?.check == "nonce")
        #expect(await Self.refusal(check, good) == nil)
    }
}
