import Foundation
import OIDCTestSupport
import SecretFillJWT
import Testing

/// CI jobs with their platform's OIDC token (issue 26), end to end: real
/// `secretfill serve` processes, a GitHub- and a GitLab-shaped issuer on
/// loopback (discovery and JWKS served by the test), the real CLI.
@Suite("OIDC roles end to end", .serialized)
struct OIDCRolesCLITests {
    static func claims(_ issuer: String, github ref: String = "refs/heads/main", repository: String = "acme/api", lifetime: Int = 300) -> [String: ClaimValue] {
        let now = Double(Int(Date().timeIntervalSince1970))
        return [
            "iss": .string(issuer), "aud": .string("https://github.com/acme"), "jti": .string(UUID().uuidString),
            "sub": .string("repo:\(repository):ref:\(ref)"), "ref": .string(ref), "sha": .string("0123456789abcdef0123456789abcdef01234567"),
            "repository": .string(repository), "repository_owner": .string("acme"), "repository_visibility": .string("private"),
            "run_id": .string("4711"), "run_attempt": .string("1"), "actor": .string("octocat"), "workflow": .string("deploy"),
            "event_name": .string("push"), "ref_type": .string("branch"), "job_workflow_ref": .string("\(repository)/.github/workflows/deploy.yml@\(ref)"),
            "runner_environment": .string("github-hosted"), "iat": .number(now), "nbf": .number(now), "exp": .number(now + Double(lifetime)),
        ]
    }

    static func gitlab(_ issuer: String, ref: String = "main", project: String = "acme/web") -> [String: ClaimValue] {
        let now = Double(Int(Date().timeIntervalSince1970))
        return [
            "iss": .string(issuer), "aud": .string("secretfill"), "jti": .string(UUID().uuidString),
            "sub": .string("project_path:\(project):ref_type:branch:ref:\(ref)"), "namespace_id": .string("42"), "namespace_path": .string("acme"),
            "project_id": .string("7"), "project_path": .string(project), "user_login": .string("dev"), "pipeline_id": .string("99"),
            "pipeline_source": .string("push"), "job_id": .string("1234"), "ref": .string(ref), "ref_type": .string("branch"),
            "ref_protected": .string("true"), "runner_environment": .string("gitlab-hosted"),
            "iat": .number(now), "nbf": .number(now), "exp": .number(now + 300),
        ]
    }

    static func write(_ cli: CLI, _ name: String, _ text: String) throws -> String {
        let path = cli.path(name)
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    /// A render through `server` as a CI job with `role` and `jwt`, and no API key at all.
    static func render(_ cli: CLI, _ server: TestServer, spec: String, project: String, role: String, jwt: String) -> CLI.Outcome {
        var job = cli
        job.environment["SECRETFILL_SERVER"] = server.url
        job.environment["SECRETFILL_ROLE"] = role
        job.environment["SECRETFILL_OIDC_TOKEN"] = jwt
        return job.run(["render", spec, "--project", project])
    }

    static func renderWithToken(_ cli: CLI, _ server: TestServer, spec: String, project: String, token: String) -> CLI.Outcome {
        cli.remote(server, token: token).run(["render", spec, "--project", project])
    }

    /// The sum of every sample named `name` in a scrape (over all labels).
    static func total(_ scrape: String, _ name: String) -> Double {
        MetricsTests.samples(scrape).filter { $0.name == name }.reduce(0) { $0 + $1.value }
    }

    @Test("an exchange costs one database read and one write (its token and audit row) and, with the keys cached, no JWKS fetch; a render as a role makes one request more than with a key",
          arguments: Backend.allCases)
    func exchangeCost(_ backend: Backend) async throws {
        let issuer = try await TestIssuer.start()
        defer { issuer.stop() }
        let key = try TestKey.rsa("cost")
        issuer.publish([key])
        let cli = try CLI()
        let database = try backend.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let reader = try cli.createKeyDirect("ci", grants: ["project:pr-1:read", "team:read"], database: database)
        let server = try TestServer(cli: cli, database: database, arguments: ["--metrics-listen", "127.0.0.1:0"])
        defer { server.stop() }
        let range = try #require(server.log.range(of: "metrics on http://"), "no metrics line: \(server.log)")
        let metricsURL = "http://" + server.log[range.upperBound...].prefix { !$0.isWhitespace && $0 != "\"" }
        func scrape() -> String {
            CLI.execute("/usr/bin/curl", ["-s", "--max-time", "10", metricsURL], environment: ProcessInfo.processInfo.environment).stdoutText
        }
        let adminCLI = cli.remote(server, token: admin)
        let set = adminCLI.run(["secrets", "set", "project", "--id", "pr-1", "--name", "db", "--value-stdin"], stdin: Array("pr1-db-value\n".utf8))
        try #require(set.status == 0, "set: \(set.stderr)")
        let created = adminCLI.run(["roles", "create", "gh-main", "--issuer", issuer.issuer, "--audience", "https://github.com/acme",
                                    "--bound-claim", "repository=acme/api", "--grant", "project:pr-1:read", "--grant", "team:read"])
        try #require(created.status == 0, "roles create: \(created.stderr)")
        let spec = try Self.write(cli, "spec.yaml", "env:\n- {name: DB, value: secret:db}\n")
        func exchange() async throws -> Int {
            let jwt = try await key.sign(Self.claims(issuer.issuer))
            return server.post("/v1/auth/oidc", "{\"role\": \"gh-main\", \"jwt\": \"\(jwt)\"}", token: nil).status
        }

        // The first exchange fetches the issuer's keys; the next ones do not.
        #expect(try await exchange() == 200)
        let warm = scrape()
        #expect(Self.total(warm, "secretfill_oidc_jwks_fetches_total") == 1, "\(warm)")
        let rounds = 5
        for _ in 0..<rounds { #expect(try await exchange() == 200) }
        let after = scrape()
        func delta(_ name: String) -> Double { Self.total(after, name) - Self.total(warm, name) }
        #expect(delta("secretfill_oidc_jwks_fetches_total") == 0)
        #expect(delta("secretfill_db_calls_total") == Double(2 * rounds), "database calls for \(rounds) exchanges: \(delta("secretfill_db_calls_total"))")
        #expect(delta("secretfill_audit_writes_total") == Double(rounds))
        print("OIDC exchange cost (\(backend)): \(delta("secretfill_db_calls_total") / Double(rounds)) database calls, "
              + "\(delta("secretfill_audit_writes_total") / Double(rounds)) audited write, \(delta("secretfill_oidc_jwks_fetches_total")) JWKS fetches an exchange")

        // A CI job's render --server: with a key, then as the role (the exchange is the one request more).
        func requests() -> Double { Self.total(scrape(), "secretfill_http_requests_total") }
        let before = requests()
        let withKey = Self.renderWithToken(cli, server, spec: spec, project: "pr-1", token: reader)
        #expect(withKey.status == 0, "\(withKey.stderr)")
        let keyRequests = requests() - before
        let asRole = Self.render(cli, server, spec: spec, project: "pr-1", role: "gh-main", jwt: try await key.sign(Self.claims(issuer.issuer)))
        #expect(asRole.status == 0, "\(asRole.stderr)")
        let roleRequests = requests() - before - keyRequests
        #expect(keyRequests >= 1)
        #expect(roleRequests == keyRequests + 1, "a render with a key made \(keyRequests) requests, as a role \(roleRequests)")
        print("OIDC render requests (\(backend)): \(Int(keyRequests)) with a key, \(Int(roleRequests)) as a role")
    }

    @Test("GitHub- and GitLab-shaped tokens read exactly their role's scopes; another branch exits 77; rotation, roles delete, expiry, login, audit",
          arguments: Backend.allCases)
    func endToEnd(_ backend: Backend) async throws {
        let issuer = try await TestIssuer.start()
        defer { issuer.stop() }
        let first = try TestKey.rsa("gh-1"), gitlabKey = TestKey.p256("gl-1")
        issuer.publish([first, gitlabKey])

        let cli = try CLI()
        let database = try backend.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let server = try TestServer(cli: cli, database: database)
        let other = try TestServer(cli: cli, database: database)
        defer { server.stop(); other.stop() }
        let adminCLI = cli.remote(server, token: admin)
        for (project, value) in [("pr-1", "pr1-db-value"), ("pr-2", "pr2-db-value")] {
            let set = adminCLI.run(["secrets", "set", "project", "--id", project, "--name", "db", "--value-stdin"], stdin: Array((value + "\n").utf8))
            try #require(set.status == 0, "set: \(set.stderr)")
        }
        let spec = try Self.write(cli, "spec.yaml", "env:\n- {name: DB, value: secret:db}\n")

        let created = adminCLI.run(["roles", "create", "gh-main", "--issuer", issuer.issuer, "--audience", "https://github.com/acme",
                                    "--bound-claim", "repository=acme/api", "--bound-claim", "ref=refs/heads/main", "--grant", "project:pr-1:read", "--grant", "team:read"])
        try #require(created.status == 0, "roles create: \(created.stderr)")
        let gitlabCreated = cli.run(["roles", "create", "gl-main", "--issuer", issuer.issuer, "--audience", "secretfill", "--database", database,
                                     "--bound-claim", "project_path=acme/*", "--bound-claim", "ref=main", "--bound-claim", "ref_protected=true",
                                     "--grant", "project:pr-2:read", "--grant", "team:read", "--ttl", "10m"])
        try #require(gitlabCreated.status == 0, "roles create --database: \(gitlabCreated.stderr)")
        let listed = adminCLI.run(["roles", "list", "--format", "json"])
        #expect(listed.status == 0)
        let roles = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout)) as? [[String: Any]])
        #expect(roles.compactMap { $0["name"] as? String } == ["gh-main", "gl-main"])
        #expect((roles.first?["bound_claims"] as? [String: String]) == ["ref": "refs/heads/main", "repository": "acme/api"])

        var secretsSeen: [String] = [admin]
        // GitHub: pr-1 only.
        let github = try await first.sign(Self.claims(issuer.issuer))
        secretsSeen.append(github)
        let rendered = Self.render(cli, server, spec: spec, project: "pr-1", role: "gh-main", jwt: github)
        #expect(rendered.status == 0, "\(rendered.stderr)")
        #expect(rendered.stdoutText.contains("pr1-db-value"))
        let elsewhere = Self.render(cli, server, spec: spec, project: "pr-2", role: "gh-main", jwt: github)
        #expect(elsewhere.status == 77)
        #expect(!elsewhere.stdoutText.contains("pr2-db-value"))
        // Another branch, another repository: 77, naming the claim.
        let branch = try await first.sign(Self.claims(issuer.issuer, github: "refs/heads/dev"))
        secretsSeen.append(branch)
        let refused = Self.render(cli, server, spec: spec, project: "pr-1", role: "gh-main", jwt: branch)
        #expect(refused.status == 77)
        #expect(refused.stderr.contains("claim 'ref' did not match 'refs/heads/main'"), "\(refused.stderr)")
        #expect(!refused.allOutput.contains(branch))
        let repository = try await first.sign(Self.claims(issuer.issuer, repository: "acme/other"))
        secretsSeen.append(repository)
        let otherRepository = Self.render(cli, server, spec: spec, project: "pr-1", role: "gh-main", jwt: repository)
        #expect(otherRepository.status == 77)
        #expect(otherRepository.stderr.contains("claim 'repository'"), "\(otherRepository.stderr)")
        // GitLab: pr-2 only; with `login`, the stored token serves later verbs.
        let gitlab = try await gitlabKey.sign(Self.gitlab(issuer.issuer))
        secretsSeen.append(gitlab)
        let gitlabRendered = Self.render(cli, server, spec: spec, project: "pr-2", role: "gl-main", jwt: gitlab)
        #expect(gitlabRendered.status == 0, "\(gitlabRendered.stderr)")
        #expect(gitlabRendered.stdoutText.contains("pr2-db-value"))
        #expect(Self.render(cli, server, spec: spec, project: "pr-1", role: "gl-main", jwt: gitlab).status == 77)
        let tokenFile = try Self.write(cli, "gitlab-oidc", gitlab)
        let login = cli.run(["login", "--role", "gl-main", "--oidc-token-file", tokenFile, "--server", server.url])
        #expect(login.status == 0, "\(login.stderr)")
        let credentials = cli.environment["XDG_CONFIG_HOME"]! + "/secretfill/credentials"
        #expect(CLI.mode(credentials) == 0o600)
        #expect(CLI.mode(cli.environment["XDG_CONFIG_HOME"]! + "/secretfill") == 0o700)
        #expect(!login.allOutput.contains(gitlab))
        var loggedIn = cli
        loggedIn.environment["SECRETFILL_SERVER"] = server.url
        let afterLogin = loggedIn.run(["render", spec, "--project", "pr-2"])
        #expect(afterLogin.status == 0, "\(afterLogin.stderr)")
        #expect(afterLogin.stdoutText.contains("pr2-db-value"))
        if let stored = try? String(contentsOfFile: credentials, encoding: .utf8),
           let object = try? JSONSerialization.jsonObject(with: Data(stored.utf8)) as? [String: Any],
           let servers = object["servers"] as? [String: [String: Any]], let token = servers[server.url]?["token"] as? String {
            secretsSeen.append(token)
        } else {
            Issue.record("the credentials file holds no token for \(server.url)")
        }

        // The issuer rotates its key (new kid, old key gone): new tokens work without a restart.
        let rotated = TestKey.p384("gh-2")
        issuer.publish([rotated, gitlabKey])
        // The server fetches an unknown kid's keys at most once per 10 s: wait that out.
        try await Task.sleep(for: .seconds(10))
        let afterRotation = try await rotated.sign(Self.claims(issuer.issuer))
        secretsSeen.append(afterRotation)
        let rotatedRender = Self.render(cli, server, spec: spec, project: "pr-1", role: "gh-main", jwt: afterRotation)
        #expect(rotatedRender.status == 0, "\(rotatedRender.stderr)")
        let oldKey = try await first.sign(Self.claims(issuer.issuer))
        secretsSeen.append(oldKey)
        #expect(Self.render(cli, server, spec: spec, project: "pr-1", role: "gh-main", jwt: oldKey).status == 77)

        // roles delete: the issued token exits 77 on this server at once and on the other within a second.
        let exchange = server.post("/v1/auth/oidc", "{\"role\": \"gh-main\", \"jwt\": \"\(afterRotation)\"}", token: nil)
        try #require(exchange.status == 200, "\(exchange.body)")
        let shortLived = try #require(exchange.json?["token"] as? String)
        secretsSeen.append(shortLived)
        #expect(Self.renderWithToken(cli, server, spec: spec, project: "pr-1", token: shortLived).status == 0)
        #expect(Self.renderWithToken(cli, other, spec: spec, project: "pr-1", token: shortLived).status == 0)
        let deleted = adminCLI.run(["roles", "delete", "gh-main"])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        let deletedAt = Date()
        #expect(Self.renderWithToken(cli, server, spec: spec, project: "pr-1", token: shortLived).status == 77)
        // The other server, polled with curl (a render's own process start would blur the figure), then through the CLI.
        // Each poll is timed from when it was sent, not answered: on a loaded machine an answer can
        // take seconds, and what counts is that no request sent 1.3 s after the delete is accepted.
        // Answers other than 200 and 401 (a curl timeout, a 503 while the database is busy) prove
        // nothing either way: they are counted and shown, and the polling goes on for up to 60 s.
        var otherRefused = false
        var lastAcceptedSent = 0.0
        var took = 0.0
        var seen: [Int: Int] = [:]
        let resolve = "{\"project\": \"pr-1\", \"cluster\": null, \"names\": [\"db\"]}"
        while Date().timeIntervalSince(deletedAt) < 60 {
            let sent = Date().timeIntervalSince(deletedAt)
            let answer = other.post("/v1/resolve", resolve, token: shortLived)
            seen[answer.status, default: 0] += 1
            if answer.status == 401 { otherRefused = true; took = sent; break }
            if answer.status == 200 { lastAcceptedSent = sent }
            if answer.status != 200 && seen[answer.status] == 1 {
                print("OIDC roles end to end (\(backend)): the other server answered \(answer.status) \(String(answer.body.prefix(200)))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(otherRefused, "answers from the other server after the delete, by status: \(seen.sorted { $0.key < $1.key })")
        #expect(lastAcceptedSent < 1.3, "the other server accepted the deleted role's token in a request sent \(lastAcceptedSent) s after the delete")
        print("OIDC roles end to end (\(backend)): the other server refused the deleted role's token after \(Int(took * 1000)) ms")
        #expect(Self.renderWithToken(cli, other, spec: spec, project: "pr-1", token: shortLived).status == 77)

        // A short-lived token past its expiry exits 77.
        let quick = adminCLI.run(["roles", "create", "quick", "--issuer", issuer.issuer, "--audience", "https://github.com/acme",
                                  "--bound-claim", "repository=acme/api", "--grant", "project:pr-1:read", "--grant", "team:read", "--ttl", "2s"])
        #expect(quick.status == 0, "\(quick.stderr)")
        let quickExchange = server.post("/v1/auth/oidc", "{\"role\": \"quick\", \"jwt\": \"\(afterRotation)\"}", token: nil)
        let quickToken = try #require(quickExchange.json?["token"] as? String, "\(quickExchange.body)")
        secretsSeen.append(quickToken)
        #expect(Self.renderWithToken(cli, server, spec: spec, project: "pr-1", token: quickToken).status == 0)
        try await Task.sleep(for: .milliseconds(2_600))
        let expired = Self.renderWithToken(cli, server, spec: spec, project: "pr-1", token: quickToken)
        #expect(expired.status == 77)
        #expect(expired.stderr.contains("expired"), "\(expired.stderr)")

        // Audit: actor and subject on the exchanges and on the reads; the refusals name the check; never a token.
        let audit = adminCLI.run(["audit", "--format", "json", "--limit", "1000"])
        #expect(audit.status == 0, "\(audit.stderr)")
        let entries = audit.stdoutText.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let githubReads = entries.filter { ($0["actor"] as? String) == "role:gh-main" && ($0["action"] as? String) == "read" }
        #expect(!githubReads.isEmpty)
        #expect(githubReads.allSatisfy { ($0["subject"] as? String) == "repo:acme/api:ref:refs/heads/main" })
        let denied = entries.filter { ($0["action"] as? String) == "oidc.exchange" && ($0["outcome"] as? String) == "denied" }
        #expect(denied.contains { (($0["detail"] as? String) ?? "").contains("check=bound-claim") && (($0["detail"] as? String) ?? "").contains(issuer.issuer) })
        let byRole = adminCLI.run(["audit", "--format", "json", "--role", "gl-main", "--limit", "1000"])
        let gitlabEntries = byRole.stdoutText.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(!gitlabEntries.isEmpty)
        #expect(gitlabEntries.allSatisfy { ($0["actor"] as? String) == "role:gl-main" })
        #expect(gitlabEntries.contains { ($0["subject"] as? String) == "project_path:acme/web:ref_type:branch:ref:main" })

        // Canary: no JWT and no short-lived token in the servers' trace logs, the audit log or any output above.
        for secret in secretsSeen.dropFirst() {
            #expect(!server.log.contains(secret), "a token in the server's log")
            #expect(!other.log.contains(secret), "a token in the other server's log")
            #expect(!audit.allOutput.contains(secret), "a token in the audit log")
            #expect(!byRole.allOutput.contains(secret))
            for outcome in [rendered, elsewhere, refused, otherRepository, gitlabRendered, login, afterLogin, rotatedRender, expired, deleted] {
                #expect(!outcome.allOutput.contains(secret))
            }
            // Nor a JWT's signature or payload alone.
            for part in secret.split(separator: ".") where part.count > 20 {
                #expect(!server.log.contains(part))
                #expect(!audit.allOutput.contains(part))
            }
        }
    }
}
