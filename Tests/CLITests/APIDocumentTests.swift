import Foundation
import Testing

/// The server against its OpenAPI document (Sources/SecretFillAPI/openapi.yaml),
/// with schemathesis: every answer must match the document's schemas and status
/// codes, a request the document allows must not be refused as invalid, one it
/// forbids must not be accepted, a method it does not list gets 405, and
/// nothing answers 5xx or crashes. This is what keeps the hand-written wire
/// types, the routes and the document in step.
@Suite("API document", .serialized)
struct APIDocumentTests {
    static let document = CLI.packageRoot.appendingPathComponent("Sources/SecretFillAPI/openapi.yaml").path

    /// scripts/schemathesis.sh's `st` (scripts/test.sh sets SECRETFILL_SCHEMATHESIS).
    static func schemathesis() throws -> String {
        let candidates = [ProcessInfo.processInfo.environment["SECRETFILL_SCHEMATHESIS"] ?? "",
                          CLI.packageRoot.appendingPathComponent(".build/tools/schemathesis/bin/st").path]
        let found = candidates.first { !$0.isEmpty && FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(found, "schemathesis is needed for these tests: run `bash scripts/schemathesis.sh` (scripts/test.sh does)")
    }

    static func run(_ program: String, _ arguments: [String], in cli: CLI) -> CLI.Outcome {
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = cli.directory.path
        environment["NO_COLOR"] = "1"
        return CLI.execute(program, arguments, environment: environment, currentDirectory: cli.directory)
    }

    static func tail(_ outcome: CLI.Outcome) -> String {
        outcome.stdoutText.split(separator: "\n", omittingEmptySubsequences: false).suffix(80).joined(separator: "\n") + outcome.stderr
    }

    /// `secretfill login`'s exchange and `logout`: left out of the runs (see `adminConformance`).
    static let loginPaths = ["--exclude-path", "/v1/login/token", "--exclude-path", "/v1/logout"]

    @Test("the document is valid OpenAPI 3.1")
    func documentIsValid() throws {
        let validator = URL(fileURLWithPath: try Self.schemathesis()).deletingLastPathComponent().appendingPathComponent("openapi-spec-validator").path
        let outcome = Self.run(validator, [Self.document], in: try CLI())
        #expect(outcome.status == 0, "\(outcome.stdoutText)\(outcome.stderr)")
    }

    @Test("schemathesis with an admin key: answers match the document, no 5xx, no crash; the log shows no value and no token",
          arguments: Backend.allCases)
    func adminConformance(_ backend: Backend) throws {
        let st = try Self.schemathesis()
        // No rate limit, as in `refusalsConform`: schemathesis' coverage phase
        // sends requests with invalid credentials in a burst from one address,
        // over 200 a second at times: a CI run at 6418d95 got 429 for one of
        // them on PostgreSQL where its check ST401 expects 401. The limit has
        // its own test (SecurityReviewTests.rateLimit).
        let team = try ServerTests.Team(backend, serverArguments: ["--rate-limit", "0"])
        defer { team.server.stop() }
        let canary = "CANARY-api-doc-\(UUID().uuidString)"
        #expect(team.set("team", nil, "canary_value", canary, token: team.admin).status == 200)
        #expect(team.set("project", "pr-1", "canary_value", canary, token: team.admin).status == 200)
        // Revoke is left out here: schemathesis reuses names from answers and
        // would revoke this run's own key (the last-admin rule then keeps one).
        // So is role creation: a role's settings hold rules no JSON schema can
        // say (ttl within maxTTL, https discovery unless jwks is given, a jwks
        // that holds a signing key), which the server refuses with 400; the
        // OIDC tests cover that route (OIDCExchangeRouterTests, OIDCRolesCLITests).
        // secretfill login's routes too: a ttl above the server's --max-cli-ttl is
        // refused (400), and logout refuses an API key (400: it ends a person's CLI
        // token); no schema can say either (APIRouteTableTests and
        // SingleSignOnBrowserTests.cliLogin cover them).
        let outcome = Self.run(st, ["run", Self.document, "--url", team.server.url, "-H", "Authorization: Bearer \(team.admin)",
                                    "--max-examples", "10", "--seed", "20261201", "--exclude-path", "/v1/keys/revoke",
                                    "--exclude-path", "/v1/roles"] + Self.loginPaths, in: team.cli)
        #expect(outcome.status == 0, "schemathesis found problems:\n\(Self.tail(outcome))")
        #expect(team.server.health().status == 200, "the server is still up")
        let log = team.server.log
        #expect(!log.contains(canary), "a value reached the server's log")
        #expect(!log.contains(team.admin), "the token reached the server's log")
        #expect(!log.contains("fatal signal"))
    }

    @Test("schemathesis with a read key and with no key: refusals (401, 403) match the document too")
    func refusalsConform() throws {
        let st = try Self.schemathesis()
        // No rate limit: this is about the refusals' shapes, and schemathesis' burst of requests
        // with an unknown token (more of them since members and rekey joined the document) went
        // over 200 a second from one address and got 429 instead of 401 (a CI run at b37eda5).
        // The limit has its own test (SecurityReviewTests.rateLimit).
        let team = try ServerTests.Team(.sqlite, serverArguments: ["--rate-limit", "0"])
        defer { team.server.stop() }
        let reader = try team.key("reader", ["team:read", "project:pr-1:names"])
        for (header, examples) in [("Authorization: Bearer \(reader)", "4"), ("Authorization: Bearer sf_unknown", "2")] {
            let outcome = Self.run(st, ["run", Self.document, "--url", team.server.url, "-H", header,
                                        "--max-examples", examples, "--seed", "20261201", "--phases", "coverage,fuzzing"] + Self.loginPaths, in: team.cli)
            #expect(outcome.status == 0, "schemathesis found problems:\n\(Self.tail(outcome))")
        }
        #expect(team.server.health().status == 200)
        #expect(!team.server.log.contains(reader))
    }
}
