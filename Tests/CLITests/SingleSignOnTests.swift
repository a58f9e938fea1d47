import Foundation
import OIDCTestSupport
import SecretFillJWT
import Testing

/// Issue 25: people sign in to the pages through the company's identity
/// provider, against a real `secretfill serve` and the tests' strict
/// provider (Tests/Providers/strict_oidc.py). Every hostile or broken ID
/// token and callback is refused with words, audited as a denied sign-in,
/// and sets no session cookie; no code, token or secret reaches the log.
@Suite("Single sign-on: the web sign-in against a strict provider", .serialized)
struct SingleSignOnTests {
    static let clientID = "secretfill-test"
    static let secret = "client-secret-CANARY-7f3a-do-not-leak"

    struct Fixture {
        let cli: CLI
        let database: String
        let provider: StrictProvider
        let server: TestServer
        let key: TestKey
        let admin: String

        func stop() {
            server.stop()
            provider.stop()
        }
    }

    static func secretFile(_ cli: CLI, _ text: String = secret + "\n") throws -> String {
        let path = cli.path("oidc-secret-\(UUID().uuidString.prefix(6))")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        _ = chmod(path, 0o600)
        return path
    }

    static func fixture(_ backend: Backend, extra: [String] = [], secretText: String = secret + "\n") throws -> Fixture {
        let cli = try CLI()
        let database = try backend.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let key = try TestKey.rsa("k1")
        let provider = try StrictProvider.start(clientID: clientID, secret: secret, keys: [key])
        for (member, grants) in [("ana@acme.dev", ["team:write"]), ("group:eng", ["team:names"])] {
            let added = cli.run(["members", "add", member, "--database", database] + grants.flatMap { ["--grant", $0] })
            try #require(added.status == 0, "\(added.stderr)")
        }
        let server = try TestServer(cli: cli, database: database, arguments: [
            "--oidc-issuer", provider.issuer, "--oidc-client-id", clientID, "--oidc-client-secret-file", try secretFile(cli, secretText),
            "--oidc-name", "Strict SSO", "--oidc-groups-claim", "groups",
        ] + extra)
        return Fixture(cli: cli, database: database, provider: provider, server: server, key: key, admin: admin)
    }

    static func claims(_ fixture: Fixture, nonce: String, email: String = "ana@acme.dev", groups: [String] = [],
                       change: (inout [String: ClaimValue]) -> Void = { _ in }) -> [String: ClaimValue] {
        let now = Date().timeIntervalSince1970
        var claims: [String: ClaimValue] = [
            "iss": .string(fixture.provider.issuer), "aud": .string(clientID), "sub": .string("sub-" + email),
            "email": .string(email), "email_verified": .bool(true), "nonce": .string(nonce),
            "iat": .number(now.rounded(.down)), "exp": .number(now.rounded(.down) + 300),
            "groups": .array(groups.map { .string($0) }),
        ]
        change(&claims)
        return claims
    }

    /// One sign-in: start, the provider grants `token(nonce)` for a fresh code, the callback.
    static func signIn(_ fixture: Fixture, _ browser: inout SignInBrowser,
                       token: (String) async throws -> String) async throws -> (SignInBrowser.Started, SignInBrowser.Page) {
        let started = try browser.start()
        let code = "code-" + UUID().uuidString
        try fixture.provider.grant(code: code, idToken: try await token(started.nonce), challenge: started.challenge, redirectURI: started.redirectURI)
        return (started, browser.callback([("code", code), ("state", started.state)]))
    }

    @Test("a member signs in: PKCE S256, state, nonce, the redirect URI; the header names them; removing the member ends the session",
          arguments: Backend.allCases)
    func memberSignsIn(_ backend: Backend) async throws {
        let fixture = try Self.fixture(backend)
        defer { fixture.stop() }
        var browser = SignInBrowser(server: fixture.server)
        let (started, page) = try await Self.signIn(fixture, &browser) { nonce in try await fixture.key.sign(Self.claims(fixture, nonce: nonce)) }
        // What the server asked of the provider.
        #expect(started.location.hasPrefix(fixture.provider.issuer + "/authorize?"))
        #expect(started.query["response_type"] == "code" && started.query["client_id"] == Self.clientID)
        #expect(started.query["code_challenge_method"] == "S256" && started.challenge.count == 43)
        #expect(started.query["scope"] == "openid email profile")
        #expect(started.redirectURI == fixture.server.url + "/ui/oidc/callback")
        #expect(started.state.count == 43 && started.nonce.count == 43 && started.state != started.nonce)
        #expect(fixture.provider.tokenLog.contains("ok (basic)"), "the token endpoint checked the secret, the verifier and the redirect URI: \(fixture.provider.tokenLog)")
        // Signed in: a page of this server moves on to /ui/team (same-site, so the Strict cookie goes with it).
        #expect(page.status == 200, "\(page.body)")
        #expect(page.setsSession)
        #expect(page.body.contains(#"<meta http-equiv="refresh" content="0; url=/ui/team">"#))
        #expect(page.setCookies.contains { $0.hasPrefix("sf_session=") && $0.contains("SameSite=Strict") && $0.contains("HttpOnly") })
        let team = browser.send("GET", "/ui/team")
        #expect(team.status == 200)
        #expect(team.body.contains("ana@acme.dev (Strict SSO)"), "the header names the person and the way they signed in")
        #expect(team.body.contains(#"id="add-secret""#), "a write member may add")
        // The state was used: the same callback again is refused.
        let replay = browser.callback([("code", "code-again"), ("state", started.state)])
        #expect(replay.status == 400 && !replay.setsSession && replay.body.contains("state is unknown or was used before"))

        // Changing the member's grants takes effect at the next request; removing them ends the session.
        #expect(fixture.cli.run(["members", "add", "ana@acme.dev", "--grant", "team:names", "--database", fixture.database]).status == 0)
        #expect(!browser.send("GET", "/ui/team").body.contains(#"id="add-secret""#), "names only now")
        #expect(fixture.cli.run(["members", "remove", "ana@acme.dev", "--database", fixture.database]).status == 0)
        let after = browser.send("GET", "/ui/team")
        #expect(after.status == 303 && after.header("Location") == "/", "a removed member's session ends at their next request")

        let audit = fixture.cli.remote(fixture.server, token: fixture.admin).run(["audit", "--format", "json"])
        #expect(audit.status == 0, "\(audit.stderr)")
        #expect(audit.stdoutText.contains(#""actor": "user:ana@acme.dev""#), "\(audit.stdoutText)")
        for text in [fixture.server.log, audit.allOutput, page.body, team.body] {
            #expect(!text.contains(Self.secret))
            #expect(!text.contains(started.state) && !text.contains(started.nonce))
        }
    }

    @Test("a group member gets the group's grants; a person in no member group is refused with a page and audited")
    func groupsAndNonMembers() async throws {
        let fixture = try Self.fixture(.sqlite)
        defer { fixture.stop() }
        var carol = SignInBrowser(server: fixture.server)
        let (_, signedIn) = try await Self.signIn(fixture, &carol) { nonce in
            try await fixture.key.sign(Self.claims(fixture, nonce: nonce, email: "Carol@Acme.dev", groups: ["eng", "has space"]))
        }
        #expect(signedIn.status == 200 && signedIn.setsSession, "\(signedIn.body)")
        let team = carol.send("GET", "/ui/team")
        #expect(team.body.contains("carol@acme.dev (Strict SSO)") && !team.body.contains(#"id="add-secret""#))

        var bob = SignInBrowser(server: fixture.server)
        let (_, refused) = try await Self.signIn(fixture, &bob) { nonce in
            try await fixture.key.sign(Self.claims(fixture, nonce: nonce, email: "bob@acme.dev", groups: ["sales"]))
        }
        #expect(refused.status == 403 && !refused.setsSession)
        #expect(refused.body.contains("you (bob@acme.dev) are not a member of this team; ask an admin"), "\(refused.body)")
        #expect(bob.send("GET", "/ui/team").status == 303)
        let audit = fixture.cli.remote(fixture.server, token: fixture.admin).run(["audit", "--format", "json"])
        let denied = audit.stdoutText.split(separator: "\n").filter { $0.contains("user:bob@acme.dev") }
        #expect(denied.contains { $0.contains(#""outcome": "denied""#) && $0.contains("sso: not-a-member") }, "\(audit.stdoutText)")
    }

    @Test("every hostile or broken ID token and callback is refused in words, audited as denied, and sets no session")
    func hostileSignIns() async throws {
        let fixture = try Self.fixture(.sqlite)
        defer { fixture.stop() }
        let stranger = try TestKey.rsa("k1")  // the issuer's kid, another key
        let unpublished = try TestKey.rsa("k9")
        typealias Case = (name: String, words: String, token: (String) async throws -> String)
        let cases: [Case] = [
            ("wrong iss", "is not the issuer", { n in try await fixture.key.sign(Self.claims(fixture, nonce: n) { $0["iss"] = .string("https://evil.example") }) }),
            ("wrong aud", "is not for this server", { n in try await fixture.key.sign(Self.claims(fixture, nonce: n) { $0["aud"] = .string("other-client") }) }),
            ("several aud, no azp", "several audiences and no azp", { n in
                try await fixture.key.sign(Self.claims(fixture, nonce: n) { $0["aud"] = .array([.string(Self.clientID), .string("other")]) }) }),
            ("expired", "has expired", { n in try await fixture.key.sign(Self.claims(fixture, nonce: n) {
                $0["exp"] = .number(Date().timeIntervalSince1970 - 120); $0["iat"] = .number(Date().timeIntervalSince1970 - 600) }) }),
            ("iat ahead", "iat is in the future", { n in try await fixture.key.sign(Self.claims(fixture, nonce: n) { $0["iat"] = .number(Date().timeIntervalSince1970 + 3600) }) }),
            ("nbf ahead", "nbf is in the future", { n in try await fixture.key.sign(Self.claims(fixture, nonce: n) { $0["nbf"] = .number(Date().timeIntervalSince1970 + 3600) }) }),
            ("another sign-in's nonce", "nonce is not the one sent", { _ in try await fixture.key.sign(Self.claims(fixture, nonce: "nonce-of-another-sign-in-0123456789abcdefgh")) }),
            ("no nonce", "carries no nonce", { n in try await fixture.key.sign(Self.claims(fixture, nonce: n) { $0["nonce"] = nil }) }),
            ("alg none", "algorithm &#39;none&#39; is not accepted", { n in try TestKey.unsigned(Self.claims(fixture, nonce: n), kid: "k1") }),
            ("HS256 with the public key", "algorithm &#39;HS256&#39; is not accepted", { n in
                try await TestKey.signHMAC(Self.claims(fixture, nonce: n), secret: fixture.key.publicPEM, kid: "k1") }),
            ("unknown kid", "names a key the issuer does not publish", { n in try await unpublished.sign(Self.claims(fixture, nonce: n)) }),
            ("signed by another key", "signature does not verify", { n in try await stranger.sign(Self.claims(fixture, nonce: n)) }),
            ("no kid, another key", "signature does not verify", { n in try await stranger.sign(Self.claims(fixture, nonce: n), withKid: false) }),
            ("not a JWT", "holds no ID token secretfill can read", { _ in "not-a-jwt" }),
        ]
        var refusedChecks = 0
        for testCase in cases {
            var browser = SignInBrowser(server: fixture.server)
            let (_, page) = try await Self.signIn(fixture, &browser, token: testCase.token)
            #expect(page.status == 400 && !page.setsSession, "\(testCase.name): \(page.status)")
            #expect(page.body.contains(testCase.words), "\(testCase.name): \(page.body)")
            #expect(browser.send("GET", "/ui/team").status == 303, "\(testCase.name): no session")
            refusedChecks += 1
        }
        #expect(refusedChecks == cases.count)
        // A token without kid, signed by the issuer's key, is checked against the set's keys: accepted.
        var noKid = SignInBrowser(server: fixture.server)
        var acceptedToken = ""
        let (_, accepted) = try await Self.signIn(fixture, &noKid) { n in
            acceptedToken = try await fixture.key.sign(Self.claims(fixture, nonce: n), withKid: false)
            return acceptedToken
        }
        #expect(accepted.status == 200 && accepted.setsSession, "\(accepted.body)")
        // That ID token replayed into a later sign-in: its nonce was this one's, used once.
        var replayer = SignInBrowser(server: fixture.server)
        let (_, replayed) = try await Self.signIn(fixture, &replayer) { _ in acceptedToken }
        #expect(replayed.status == 400 && !replayed.setsSession && replayed.body.contains("nonce is not the one sent"), "\(replayed.body)")

        // The callback's own failures.
        var browser = SignInBrowser(server: fixture.server)
        var started = try browser.start()
        var page = browser.callback([("error", "access_denied"), ("state", started.state)])
        #expect(page.status == 400 && !page.setsSession && page.body.contains("access_denied"))
        started = try browser.start()
        page = browser.callback([("code", "never-granted"), ("state", started.state)])
        #expect(page.status == 400 && page.body.contains("invalid_grant"), "\(page.body)")
        page = browser.callback([("code", "x")])
        #expect(page.status == 400 && page.body.contains("carries no state"))
        started = try browser.start()
        // PKCE: a code the provider issued for another challenge does not redeem with this sign-in's verifier.
        try fixture.provider.grant(code: "pkce", idToken: try await fixture.key.sign(Self.claims(fixture, nonce: started.nonce)),
                                   challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", redirectURI: started.redirectURI)
        page = browser.callback([("code", "pkce"), ("state", started.state)])
        #expect(page.status == 400 && page.body.contains("invalid_grant") && fixture.provider.tokenLog.contains("PKCE verifier does not match"))
        // A code issued for another redirect URI does not redeem with this server's.
        started = try browser.start()
        try fixture.provider.grant(code: "redirect", idToken: try await fixture.key.sign(Self.claims(fixture, nonce: started.nonce)),
                                   challenge: started.challenge, redirectURI: "http://127.0.0.1:9/elsewhere/ui/oidc/callback")
        page = browser.callback([("code", "redirect"), ("state", started.state)])
        #expect(page.status == 400 && page.body.contains("invalid_grant") && fixture.provider.tokenLog.contains("redirect_uri differs"))
        // The state bound to another browser (its cookie is not sent).
        started = try browser.start()
        try fixture.provider.grant(code: "other-browser", idToken: try await fixture.key.sign(Self.claims(fixture, nonce: started.nonce)),
                                   challenge: started.challenge, redirectURI: started.redirectURI)
        var thief = SignInBrowser(server: fixture.server)
        page = thief.callback([("code", "other-browser"), ("state", started.state)])
        #expect(page.status == 400 && !page.setsSession && page.body.contains("started in another browser"), "\(page.body)")

        let audit = fixture.cli.remote(fixture.server, token: fixture.admin).run(["audit", "--format", "json"])
        let denied = audit.stdoutText.split(separator: "\n").filter { $0.contains("\"session.start\"") && $0.contains(#""outcome": "denied""#) && $0.contains("sso: ") }
        #expect(denied.count >= cases.count + 7, "each refusal is audited: \(denied.count)")
        for check in ["issuer", "audience", "azp", "expiry", "not-yet-valid", "nonce", "algorithm", "kid", "signature", "malformed", "provider-error", "invalid_grant", "state", "browser"] {
            #expect(denied.contains { $0.contains("sso: \(check)") }, "an audited refusal names \(check)")
        }
        for text in [fixture.server.log, audit.allOutput] {
            #expect(!text.contains(Self.secret))
            #expect(!text.contains("eyJ"), "no JWT in the log or the audit")
        }
    }

    @Test("the client secret is checked by the provider: a wrong one is refused as invalid_client; client_secret_post when discovery lists only that")
    func clientAuthentication() async throws {
        let wrong = try Self.fixture(.sqlite, secretText: "a-wrong-secret\n")
        defer { wrong.stop() }
        var browser = SignInBrowser(server: wrong.server)
        let (_, page) = try await Self.signIn(wrong, &browser) { n in try await wrong.key.sign(Self.claims(wrong, nonce: n)) }
        #expect(page.status == 400 && !page.setsSession && page.body.contains("invalid_client"), "\(page.body)")
        #expect(!wrong.server.log.contains("a-wrong-secret"))

        // client_secret_post: a provider that takes only that.
        let cli = try CLI()
        let database = try Backend.sqlite.freshURL(in: cli)
        _ = cli.run(["members", "add", "ana@acme.dev", "--grant", "team:names", "--database", database])
        let key = try TestKey.rsa("k1")
        let provider = try StrictProvider.start(clientID: Self.clientID, secret: Self.secret, authMethods: ["client_secret_post"], keys: [key])
        defer { provider.stop() }
        let server = try TestServer(cli: cli, database: database, arguments: [
            "--oidc-issuer", provider.issuer, "--oidc-client-id", Self.clientID, "--oidc-client-secret-file", try Self.secretFile(cli), "--no-key-sign-in",
        ])
        defer { server.stop() }
        let fixture = Fixture(cli: cli, database: database, provider: provider, server: server, key: key, admin: "")
        var post = SignInBrowser(server: server)
        let home = post.send("GET", "/")
        #expect(home.body.contains("Sign in with single sign-on") && !home.body.contains(#"name="token""#), "--no-key-sign-in: no key form")
        let (_, signedIn) = try await Self.signIn(fixture, &post) { n in try await key.sign(Self.claims(fixture, nonce: n)) }
        #expect(signedIn.status == 200 && signedIn.setsSession, "\(signedIn.body)")
        #expect(provider.tokenLog.contains("ok (post)"))
        // A key posted to the sign-in route by hand is refused.
        var keyBrowser = SignInBrowser(server: server)
        let form = keyBrowser.send("GET", "/")
        let csrf = form.body.components(separatedBy: #"name="csrf" value=""#).dropFirst().first?.prefix { $0 != "\"" } ?? ""
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let posted = keyBrowser.send("POST", "/sign-in", form: [("csrf", String(csrf)), ("token", admin)])
        #expect(posted.status == 403 && !posted.setsSession && posted.body.contains("--no-key-sign-in"))
    }

    @Test("serve refuses an unusable provider configuration with words, before listening")
    func serveRefusals() throws {
        let cli = try CLI()
        let database = "sqlite:" + cli.path("refusals.db")
        let key = try TestKey.rsa("k1")
        let provider = try StrictProvider.start(clientID: Self.clientID, secret: Self.secret, keys: [key])
        defer { provider.stop() }
        let good = try Self.secretFile(cli)
        let open = cli.path("open-secret")
        try Data("s\n".utf8).write(to: URL(fileURLWithPath: open))
        _ = chmod(open, 0o644)
        func serve(_ arguments: [String]) -> CLI.Outcome {
            cli.run(["serve", "--database", database, "--listen", "127.0.0.1:0"] + arguments)
        }
        var outcome = serve(["--oidc-issuer", "http://idp.example", "--oidc-client-id", "c", "--oidc-client-secret-file", good])
        #expect(outcome.status == 64 && outcome.stderr.contains("must be an https URL"), "\(outcome.stderr)")
        outcome = serve(["--oidc-issuer", provider.issuer, "--oidc-client-secret-file", good])
        #expect(outcome.status == 64 && outcome.stderr.contains("needs --oidc-client-id"))
        outcome = serve(["--oidc-issuer", provider.issuer, "--oidc-client-id", "c"])
        #expect(outcome.status == 64 && outcome.stderr.contains("needs --oidc-client-secret-file"))
        outcome = serve(["--oidc-issuer", provider.issuer, "--oidc-client-id", "c", "--oidc-client-secret-file", open])
        #expect(outcome.status == 64 && outcome.stderr.contains("can be read by group or others"), "\(outcome.stderr)")
        outcome = serve(["--no-key-sign-in"])
        #expect(outcome.status == 64 && outcome.stderr.contains("--no-key-sign-in needs --oidc-issuer"))
        outcome = serve(["--oidc-client-id", "c"])
        #expect(outcome.status == 64 && outcome.stderr.contains("need --oidc-issuer"))
        // The issuer is compared exactly: a trailing slash is another issuer.
        outcome = serve(["--oidc-issuer", provider.issuer + "/", "--oidc-client-id", "c", "--oidc-client-secret-file", good])
        #expect(outcome.status == 2 && outcome.stderr.contains("names the issuer") && outcome.stderr.contains("a trailing slash counts"), "\(outcome.stderr)")
        try provider.setIssuer("https://elsewhere.example")
        outcome = serve(["--oidc-issuer", provider.issuer, "--oidc-client-id", "c", "--oidc-client-secret-file", good])
        #expect(outcome.status == 2 && outcome.stderr.contains("names the issuer 'https://elsewhere.example'"), "\(outcome.stderr)")
        #expect(!outcome.allOutput.contains(Self.secret))
    }
}
