import Foundation
import JWTKit
@testable import SecretFillJWT
import OIDCTestSupport
import Testing

@Suite("OIDC verifier: globs, key cache, refusals")
struct OIDCVerifierTests {
    @Test("globs: * is any run, the empty one included; lists match on any string")
    func globs() {
        #expect(ClaimGlob.matches("*", ""))
        #expect(ClaimGlob.matches("repo:acme/*:ref:refs/heads/main", "repo:acme/api:ref:refs/heads/main"))
        #expect(ClaimGlob.matches("repo:acme/*:ref:refs/heads/main", "repo:acme/:ref:refs/heads/main"))
        #expect(!ClaimGlob.matches("repo:acme/*:ref:refs/heads/main", "repo:acme/api:ref:refs/heads/mainx"))
        #expect(ClaimGlob.matches("a*b*c", "abc"))
        #expect(!ClaimGlob.matches("a*b*c", "acb"))
        #expect(!ClaimGlob.matches("ab*b", "ab"))
        #expect(ClaimGlob.matches("exact", "exact"))
        #expect(!ClaimGlob.matches("exact", "exact2"))
        #expect(ClaimGlob.claim(.array([.number(1), .string("team-a")]), matches: "team-*"))
        #expect(!ClaimGlob.claim(.array([]), matches: "*"))
        #expect(!ClaimGlob.claim(nil, matches: "*"))
        #expect(!ClaimGlob.claim(.number(3), matches: "*"))
        #expect(!ClaimGlob.claim(.bool(true), matches: "*"))
    }

    @Test("discovery needs https except on loopback")
    func httpsOnly() throws {
        #expect(throws: JWTRefusal.self) { try JWKSCache.requireSecure("http://issuer.example/.well-known/openid-configuration", what: "the issuer") }
        #expect(throws: JWTRefusal.self) { try JWKSCache.requireSecure("http://127.0.0.1.example/x", what: "the issuer") }
        try JWKSCache.requireSecure("https://token.actions.githubusercontent.com/.well-known/openid-configuration", what: "the issuer")
        try JWKSCache.requireSecure("http://127.0.0.1:8080/.well-known/openid-configuration", what: "the issuer")
        try JWKSCache.requireSecure("http://[::1]:8080/jwks", what: "jwks_uri")
    }

    @Test("an unknown kid refetches the keys at most once per 10 s; a rotated key then works without restart")
    func refetchLimit() async throws {
        let issuer = try await TestIssuer.start()
        defer { issuer.stop() }
        let old = try TestKey.rsa("old"), new = TestKey.p256("new")
        issuer.publish([old])
        let cache = JWKSCache()
        let verifier = JWTVerifier(keys: cache)
        let source = JWKSSource.discovery(issuer: issuer.issuer)
        let rules = JWTRules(issuer: issuer.issuer, audiences: ["sf"])
        let now = Date().timeIntervalSince1970
        let claims: [String: ClaimValue] = ["iss": .string(issuer.issuer), "aud": .string("sf"), "sub": .string("job"),
                                            "iat": .number(now), "nbf": .number(now), "exp": .number(now + 300)]
        _ = try await verifier.verify(try await old.sign(claims), source: source, rules: rules)
        #expect(cache.fetches == 1)
        _ = try await verifier.verify(try await old.sign(claims), source: source, rules: rules)
        #expect(cache.fetches == 1, "a cached key set is not fetched again")
        // Unknown kids within 10 s of the last fetch: no fetch, refused.
        for _ in 0..<5 {
            await #expect(throws: JWTRefusal.unknownKey("made-up")) {
                try await verifier.verify(try await old.sign(claims, kidOverride: "made-up"), source: source, rules: rules)
            }
        }
        #expect(cache.fetches == 1)
        // The issuer rotates: within 10 s of the last fetch the new kid is not fetched yet.
        issuer.publish([new])
        await #expect(throws: JWTRefusal.unknownKey("new")) {
            try await verifier.verify(try await new.sign(claims), source: source, rules: rules)
        }
        #expect(cache.fetches == 1)
        // Once the interval has passed (a cache with a short one), the new key is fetched and works, with no restart.
        let quick = JWKSCache(refetchInterval: .milliseconds(200))
        let later = JWTVerifier(keys: quick)
        issuer.publish([old])
        _ = try await later.verify(try await old.sign(claims), source: source, rules: rules)
        issuer.publish([new])
        try await Task.sleep(for: .milliseconds(300))
        let verified = try await later.verify(try await new.sign(claims), source: source, rules: rules)
        #expect(verified.subject == "job")
        #expect(quick.fetches == 2)
        await #expect(throws: JWTRefusal.unknownKey("old")) {
            try await later.verify(try await old.sign(claims), source: source, rules: rules)
        }
    }

    @Test("a key set behind a redirect is refused (keysUnavailable, naming the status), though a client that follows redirects would have read it")
    func redirectsAreNotFollowed() async throws {
        let issuer = try await TestIssuer.start()
        defer { issuer.stop() }
        let key = try TestKey.rsa("moved")
        try issuer.publishBehindRedirect([key])
        let source = JWKSSource.discovery(issuer: issuer.issuer)
        let rules = JWTRules(issuer: issuer.issuer, audiences: ["sf"])
        let now = Date().timeIntervalSince1970
        let claims: [String: ClaimValue] = ["iss": .string(issuer.issuer), "aud": .string("sf"), "sub": .string("job"),
                                            "iat": .number(now), "nbf": .number(now), "exp": .number(now + 300)]
        let token = try await key.sign(claims)
        // The control: the same issuer and token through a client that follows redirects.
        let following = try await JWTVerifier(keys: JWKSCache(client: .shared)).verify(token, source: source, rules: rules)
        #expect(following.subject == "job")
        do {
            _ = try await JWTVerifier(keys: JWKSCache()).verify(token, source: source, rules: rules)
            Issue.record("the server's key fetch followed a redirect")
        } catch {
            guard case .keysUnavailable(let reason) = error else { Issue.record("refused for another reason: \(error)"); return }
            #expect(reason.contains("answered 301"), "\(reason)")
        }
    }

    @Test("each refusal names its check and claim, never the token")
    func refusalWords() async throws {
        let key = try TestKey.rsa("k")
        let document = "{\"keys\":[\(key.publicJWK)]}"
        let verifier = JWTVerifier(keys: JWKSCache())
        let rules = JWTRules(issuer: "https://issuer.example", audiences: ["sf"], boundClaims: ["ref": "refs/heads/main"])
        let now = Date().timeIntervalSince1970
        let claims: [String: ClaimValue] = ["iss": .string("https://issuer.example"), "aud": .string("sf"), "sub": .string("job"),
                                            "iat": .number(now), "exp": .number(now + 300), "ref": .string("refs/heads/dev")]
        let token = try await key.sign(claims)
        do {
            _ = try await verifier.verify(token, source: .document(document), rules: rules)
            Issue.record("a token with the wrong ref was accepted")
        } catch {
            #expect(error == .boundClaim(name: "ref", pattern: "refs/heads/main"))
            #expect(error.description == "claim 'ref' did not match 'refs/heads/main'")
            #expect(!error.description.contains(token))
        }
        let hmac = try await TestKey.signHMAC(claims, secret: key.publicPEM, kid: "k")
        await #expect(throws: JWTRefusal.algorithm("HS256")) { try await verifier.verify(hmac, source: .document(document), rules: rules) }
    }
}
