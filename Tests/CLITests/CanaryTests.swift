import Foundation
import OIDCTestSupport
import SecretFillJWT
import Testing

/// Every command and failure path, driven with secret values that all carry
/// a unique canary: the canary may appear only in output the user asked for.
@Suite("Secret values never leak", .serialized)
struct CanaryTests {
    static let canary = "CANARY-\(UUID().uuidString)"

    /// A store whose every value carries the canary, and a spec using them.
    static func setup() throws -> CLI {
        let cli = try CLI().initialise(team: [
            "db": "db-\(canary)",
            "multi": "line one \(canary)\nline two \(canary)",
            "quoted": "\"\(canary)\" $HOME ${X} \\",
        ])
        try cli.set(.project("p1"), "db", "project-\(canary)")
        try cli.set(.cluster("c1"), "only_cluster", "cluster-\(canary)")
        return cli
    }

    static func write(_ cli: CLI, _ name: String, _ text: String) throws -> String {
        try text.write(toFile: cli.path(name), atomically: true, encoding: .utf8)
        return cli.path(name)
    }

    func expectClean(_ outcome: CLI.Outcome, _ label: String, stdoutAllowed: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!outcome.stderr.contains(Self.canary), "\(label): canary in stderr", sourceLocation: sourceLocation)
        if !stdoutAllowed {
            #expect(!outcome.stdoutText.contains(Self.canary), "\(label): canary in stdout", sourceLocation: sourceLocation)
        }
        #expect(!outcome.stderr.contains("Fatal error"), "\(label): crashed", sourceLocation: sourceLocation)
    }

    @Test("render, env, check, redact and the secrets verbs keep the canary out of every message and file")
    func everyPath() throws {
        let cli = try Self.setup()
        let good = try Self.write(cli, "good.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: Q, value: secret:quoted}\n- {name: M, value: secret:multi}\n")
        let mixed = try Self.write(cli, "mixed.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: X, value: secret:unknown}\n- {name: Y, value: 'secret:bad name'}\n- {name: M, value: secret:multi}\n")
        let broken = try Self.write(cli, "broken.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: B, value: \"unclosed\n")

        // Successful runs: stdout is the requested output; stderr stays clean.
        expectClean(cli.run(["render", good]), "render", stdoutAllowed: true)
        expectClean(cli.run(["env", good, "--format", "json"]), "env json", stdoutAllowed: true)
        expectClean(cli.run(["render", good, "-o", cli.path("out.yaml")]), "render -o")
        expectClean(cli.run(["env", good, "-o", cli.path("out.env")]), "env -o")

        // Failures.
        for (label, arguments) in [
            ("unknown and malformed next to resolved", ["render", mixed]),
            ("env unknown and malformed", ["env", mixed]),
            ("invalid YAML after a resolved reference", ["render", broken]),
            ("docker refusing a multi-line value", ["env", good, "--format", "docker"]),
            ("shell with a fine value", ["env", good, "--format", "shell"]),
            ("unwritable -o (no such folder)", ["render", good, "-o", cli.path("missing/dir/out.yaml")]),
            ("-o is a folder", ["render", good, "-o", cli.directory.path]),
            ("check --explain", ["check", good, mixed, "--explain", "--project", "p1", "--cluster", "c1"]),
            ("check json", ["check", mixed, "--format", "json", "--explain"]),
            ("check github", ["check", mixed, "--format", "github", "--explain"]),
            ("list", ["secrets", "list", "team"]),
            ("list json", ["secrets", "list", "project", "--id", "p1", "--format", "json"]),
            ("which", ["secrets", "which", "db", "--project", "p1", "--cluster", "c1"]),
            ("which nothing", ["secrets", "which", "nope"]),
        ] {
            let outcome = cli.run(arguments)
            expectClean(outcome, label, stdoutAllowed: label.hasPrefix("shell"))
        }

        // A wrong key and a tampered store.
        let otherKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        expectClean(cli.run(["render", good], environment: ["SECRETFILL_KEY": otherKey]), "wrong key")
        let store = try String(contentsOfFile: cli.storePath, encoding: .utf8)
        #expect(!store.contains(Self.canary), "the store holds plaintext")
        let tampered = store.replacingOccurrences(of: "\"sealed\": \"", with: "\"sealed\": \"AAAA")
        try tampered.write(toFile: cli.path("tampered.json"), atomically: true, encoding: .utf8)
        expectClean(cli.run(["render", good], environment: ["SECRETFILL_STORE": cli.path("tampered.json")]), "tampered store")
        expectClean(cli.run(["secrets", "set", "team", "--name", "x", "--value", "v-\(Self.canary)"],
                            environment: ["SECRETFILL_KEY": otherKey]), "set with a wrong key")

        // redact: the canary in a log is replaced; warnings name names only.
        let log = Array("connecting with db-\(Self.canary) ok\nline two \(Self.canary)\n".utf8)
        let redacted = cli.run(["redact", "--project", "p1"], stdin: log)
        #expect(redacted.status == 0)
        expectClean(redacted, "redact")
        #expect(redacted.stdoutText.contains("[secret:db]"))

        // No file other than the requested outputs (and the sealed store) holds the canary.
        let allowed: Set<String> = ["out.yaml", "out.env"]
        for name in try FileManager.default.contentsOfDirectory(atPath: cli.directory.path) where !allowed.contains(name) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: cli.path(name), isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let text = String(decoding: CLI.bytes(cli.path(name)), as: UTF8.self)
            #expect(!text.contains(Self.canary), "\(name) holds the canary")
        }
    }

    @Test("exec (every failure path, and --redact-output) and render --k8s-secret keep the canary out of messages and the manifest")
    func execAndKubernetes() throws {
        let cli = try Self.setup()
        try cli.set(.team, "huge", String(repeating: "h", count: 200 * 1024) + Self.canary)
        let good = try Self.write(cli, "good.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: Q, value: secret:quoted}\n- {name: M, value: secret:multi}\n")
        let mixed = try Self.write(cli, "mixed.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: X, value: secret:unknown}\n")
        let malformed = try Self.write(cli, "malformed.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: Y, value: 'secret:bad name'}\n")
        let broken = try Self.write(cli, "broken.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: B, value: \"unclosed\n")
        let unpassable = try Self.write(cli, "unpassable.yaml", "env:\n- {name: H, value: secret:huge}\n- {name: \"A=B\", value: secret:db}\n- {name: X, value: secret:unknown}\n")
        let plain = try Self.write(cli, "plain.sh", "#!/bin/sh\necho never\n")
        chmod(plain, 0o644)
        let marker = cli.path("marker")
        let otherKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()

        for mode in [[String](), ["--redact-output"]] {
            for (label, arguments, environment) in [
                ("unknown reference", ["exec", mixed], [String: String]()),
                ("malformed reference", ["exec", malformed], [:]),
                ("invalid YAML after a resolved reference", ["exec", broken], [:]),
                ("over 128 KiB, a name with '=', unknown", ["exec", unpassable], [:]),
                ("no such block", ["exec", good, "--select", "nope"], [:]),
                ("wrong key", ["exec", good], ["SECRETFILL_KEY": otherKey]),
            ] {
                let outcome = cli.run(arguments + mode + ["--", "/usr/bin/touch", marker], environment: environment)
                #expect(outcome.status != 0, "exec \(label) \(mode)")
                expectClean(outcome, "exec \(label) \(mode)")
                #expect(!FileManager.default.fileExists(atPath: marker), "exec \(label) \(mode) ran the command")
            }
            for (label, command) in [("not found", ["no-such-command-zz9"]), ("not executable", [plain]), ("missing", [])] {
                let outcome = cli.run(["exec", good] + mode + (command.isEmpty ? [] : ["--"] + command))
                #expect([126, 127, 64].contains(outcome.status), "exec \(label) \(mode): \(outcome.status)")
                expectClean(outcome, "exec \(label) \(mode)")
            }
        }
        // The child prints every value: under --redact-output neither stream shows one.
        let redacted = cli.run(["exec", good, "--redact-output", "--", "/bin/sh", "-c", "echo \"$DB\"; echo \"$Q\" >&2; printf '%s\\n' \"$M\"; env"])
        #expect(redacted.status == 0, "\(redacted.stderr)")
        expectClean(redacted, "exec --redact-output")
        #expect(redacted.stdoutText.contains("[secret:db]"))
        // Without it the values are the output the user asked for, but the key never reaches the child.
        let direct = cli.run(["exec", good, "--", "/usr/bin/env"])
        #expect(direct.status == 0)
        expectClean(direct, "exec", stdoutAllowed: true)
        #expect(direct.stdoutText.contains(Self.canary))
        #expect(!direct.allOutput.contains(cli.key), "the store key reached the child")
        #expect(!redacted.allOutput.contains(cli.key), "the store key reached the child")

        // render --k8s-secret: with --secret-out the manifest carries no value.
        let k8s = try Self.write(cli, "k8s.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: prod}\nspec:\n  containers:\n  - name: c\n    env:\n    - {name: DB, value: secret:db}\n    - name: M\n      value: secret:multi\n")
        let split = cli.run(["render", k8s, "--k8s-secret", "app", "--secret-out", cli.path("secrets.yaml")])
        #expect(split.status == 0, "\(split.stderr)")
        expectClean(split, "render --k8s-secret --secret-out")
        #expect(String(decoding: CLI.bytes(cli.path("secrets.yaml")), as: UTF8.self).contains(Self.canary))
        expectClean(cli.run(["render", k8s, "--k8s-secret", "app"]), "render --k8s-secret", stdoutAllowed: true)
        let outside = try Self.write(cli, "outside.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    env:\n    - {name: DB, value: secret:db}\n---\nenv:\n- {name: M, value: secret:multi}\n")
        for (label, arguments) in [
            ("outside a container env", ["render", outside, "--k8s-secret", "app", "--secret-out", cli.path("never.yaml")]),
            ("unknown", ["render", mixed, "--k8s-secret", "app"]),
            ("wrong key", ["render", k8s, "--k8s-secret", "app", "--secret-out", cli.path("never.yaml"), "--store", cli.storePath]),
        ] {
            let outcome = cli.run(arguments, environment: label == "wrong key" ? ["SECRETFILL_KEY": otherKey] : [:])
            #expect(outcome.status != 0, "\(label)")
            expectClean(outcome, "render --k8s-secret \(label)")
        }
        #expect(!FileManager.default.fileExists(atPath: cli.path("never.yaml")))

        let allowed: Set<String> = ["secrets.yaml"]
        for name in try FileManager.default.contentsOfDirectory(atPath: cli.directory.path) where !allowed.contains(name) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: cli.path(name), isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            #expect(!String(decoding: CLI.bytes(cli.path(name)), as: UTF8.self).contains(Self.canary), "\(name) holds the canary")
        }
    }

    @Test("serve at --log-level trace, in text and in JSON lines: no canary and no token in the log or the metrics", arguments: ["text", "json"])
    func serverLogs(_ format: String) throws {
        let team = try ServerTests.Team(.sqlite, serverArguments: ["--log-format", format, "--metrics-listen", "127.0.0.1:0"])
        let writer = try team.key("writer", ["team:write", "project:*:write"])
        let reader = try team.key("reader", ["team:read", "project:*:read"])
        #expect(team.set("team", nil, "canary", Self.canary, token: writer).status == 200)
        #expect(team.set("project", "pr-1", "canary", Self.canary + "-pr1", token: writer).status == 200)
        let read = team.server.exchange("POST", "/v1/resolve", body: "{\"project\": \"pr-1\", \"names\": [\"canary\"]}", token: reader,
                                        headers: ["X-Request-Id": "canary-check-\(format)"])
        #expect(read.body.contains(Self.canary + "-pr1"), "the read itself returns the value")
        #expect(read.headers["x-request-id"] == "canary-check-\(format)")
        let remote = team.cli.remote(team.server, token: writer)
        let history = remote.run(["secrets", "history", "project", "--id", "pr-1", "--name", "canary"])
        #expect(history.status == 0)
        #expect(remote.run(["secrets", "rollback", "project", "--id", "pr-1", "--name", "canary", "--version", "1"]).status == 0)
        // Refused and failed requests: a wrong token, a value that is not valid, a body too large.
        #expect(team.resolve(project: nil, names: ["canary"], token: "sf_" + String(repeating: "A", count: 43)).status == 401)
        #expect(team.set("team", nil, "bad name", Self.canary, token: writer).status == 400)
        let log = team.server.log
        let range = try #require(log.range(of: "metrics on http://"), "\(log)")
        let metricsURL = "http://" + log[range.upperBound...].prefix { !$0.isWhitespace && $0 != "\"" }
        let scrape = CLI.execute("/usr/bin/curl", ["-s", "--max-time", "10", metricsURL], environment: ProcessInfo.processInfo.environment)
        #expect(scrape.stdoutText.contains("secretfill_resolves_total 1"), "\(scrape.stdoutText)")
        #expect(team.server.stop() == 0)
        let finalLog = team.server.log
        if format == "json" {
            for line in finalLog.split(separator: "\n") {
                #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not a JSON object: \(line)")
            }
            #expect(finalLog.contains("\"request_id\":\"canary-check-json\""))
        } else {
            #expect(finalLog.contains("POST /v1/resolve 200 key=reader") && finalLog.contains("request_id=canary-check-text"))
        }
        for text in [finalLog, scrape.stdoutText, history.allOutput] {
            #expect(!text.contains(Self.canary), "canary leaked (\(format))")
            for token in [team.admin, writer, reader] { #expect(!text.contains(token), "token leaked (\(format))") }
        }
    }

    @Test("OIDC roles at --log-level trace, text and JSON: no JWT (nor a part of one), no short-lived token, no claim carrying the canary in the log, the audit log or an error", arguments: ["text", "json"])
    func oidcTokens(_ format: String) async throws {
        let team = try ServerTests.Team(.sqlite, serverArguments: ["--log-format", format])
        let key = try TestKey.rsa("canary-key")
        let jwks = team.cli.path("jwks.json")
        try "{\"keys\":[\(key.publicJWK)]}".write(toFile: jwks, atomically: true, encoding: .utf8)
        let admin = team.cli.remote(team.server, token: team.admin)
        let created = admin.run(["roles", "create", "canary-role", "--issuer", "https://ci.example", "--audience", "sf", "--jwks-file", jwks,
                                 "--bound-claim", "ref=refs/heads/main", "--grant", "team:read"])
        try #require(created.status == 0, "\(created.stderr)")
        #expect(team.set("team", nil, "canary", Self.canary, token: team.admin).status == 200)
        let now = Double(Int(Date().timeIntervalSince1970))
        func claims(_ changes: [String: ClaimValue?]) -> [String: ClaimValue] {
            var base: [String: ClaimValue] = ["iss": .string("https://ci.example"), "aud": .string("sf"), "sub": .string("job-1"),
                                             "ref": .string("refs/heads/main"), "jti": .string(Self.canary), "note": .string(Self.canary),
                                             "iat": .number(now), "nbf": .number(now), "exp": .number(now + 300)]
            for (name, value) in changes { base[name] = value }
            return base
        }
        var jwts: [String] = []
        for changes in [[:], ["ref": .string("refs/heads/\(Self.canary)")], ["aud": .string(Self.canary)], ["exp": .number(now - 600)],
                        ["iss": .string("https://other.example")]] as [[String: ClaimValue?]] {
            jwts.append(try await key.sign(claims(changes)))
        }
        jwts.append(try await TestKey.signHMAC(claims([:]), secret: key.publicPEM, kid: "canary-key"))
        jwts.append(try TestKey.unsigned(claims([:]), kid: "canary-key"))
        jwts.append("eyJ\(Self.canary).not.a-jwt")
        var outputs: [String] = []
        var issued: [String] = []
        let spec = team.cli.path("spec.yaml")
        try "env:\n- {name: C, value: secret:canary}\n".write(toFile: spec, atomically: true, encoding: .utf8)
        for jwt in jwts {
            let answer = team.server.post("/v1/auth/oidc", "{\"role\": \"canary-role\", \"jwt\": \"\(jwt)\"}", token: nil)
            if let token = answer.json?["token"] as? String { issued.append(token) } else { outputs.append(answer.body) }
            var job = team.cli
            job.environment["SECRETFILL_SERVER"] = team.server.url
            job.environment["SECRETFILL_ROLE"] = "canary-role"
            job.environment["SECRETFILL_OIDC_TOKEN"] = jwt
            let render = job.run(["render", spec])
            outputs.append(render.stderr)
            if jwt == jwts[0] { #expect(render.status == 0 && render.stdoutText.contains(Self.canary), "\(render.stderr)") } else { #expect(render.status == 77, "\(render.stderr)") }
        }
        #expect(issued.count == 1)
        let audit = admin.run(["audit", "--format", "json", "--role", "canary-role", "--limit", "1000"])
        #expect(audit.status == 0)
        #expect(audit.stdoutText.contains("oidc.exchange"))
        #expect(team.server.stop() == 0)
        let log = team.server.log
        for text in [log, audit.allOutput] + outputs {
            #expect(!text.contains(Self.canary), "canary leaked (\(format)): \(text.prefix(400))")
            for token in issued + [team.admin] { #expect(!text.contains(token), "a token leaked (\(format))") }
            for jwt in jwts {
                #expect(!text.contains(jwt), "a JWT leaked (\(format))")
                for part in jwt.split(separator: ".") where part.count > 16 { #expect(!text.contains(part), "a JWT's part leaked (\(format))") }
            }
        }
    }

    @Test("single sign-on at --log-level trace, text and JSON: no ID token (nor a part of one), code, state, nonce, client secret, session id or claim carrying the canary in the log, the audit log or a page", arguments: ["text", "json"])
    func singleSignOn(_ format: String) async throws {
        let fixture = try SingleSignOnTests.fixture(.sqlite, extra: ["--log-format", format])
        defer { fixture.provider.stop() }
        let canary = Self.canary
        var pages: [String] = []
        var secrets: [String] = [SingleSignOnTests.secret]
        var jwts: [String] = []
        typealias Token = (String) async throws -> String
        let tokens: [Token] = [
            { n in try await fixture.key.sign(SingleSignOnTests.claims(fixture, nonce: n) { $0["jti"] = .string(canary); $0["note"] = .string(canary) }) },
            { n in try await fixture.key.sign(SingleSignOnTests.claims(fixture, nonce: n) { $0["aud"] = .string(canary) }) },
            { n in try await fixture.key.sign(SingleSignOnTests.claims(fixture, nonce: n) { $0["iss"] = .string("https://\(canary).example") }) },
            { _ in try await fixture.key.sign(SingleSignOnTests.claims(fixture, nonce: canary)) },
            { n in try await TestKey.signHMAC(SingleSignOnTests.claims(fixture, nonce: n) { $0["note"] = .string(canary) }, secret: fixture.key.publicPEM, kid: "k1") },
            { n in try TestKey.unsigned(SingleSignOnTests.claims(fixture, nonce: n) { $0["note"] = .string(canary) }, kid: "k1") },
        ]
        for token in tokens {
            var browser = SignInBrowser(server: fixture.server)
            let started = try browser.start()
            let jwt = try await token(started.nonce)
            jwts.append(jwt)
            let code = "code-\(canary)-\(jwts.count)"
            try fixture.provider.grant(code: code, idToken: jwt, challenge: started.challenge, redirectURI: started.redirectURI)
            let page = browser.callback([("code", code), ("state", started.state)])
            pages.append(page.body)
            secrets += [code, started.state, started.nonce]
            if let session = browser.cookies["sf_session"] {
                secrets.append(session)
                pages.append(browser.send("GET", "/ui/team").body)
            }
        }
        // The callback's own fields carrying the canary.
        var browser = SignInBrowser(server: fixture.server)
        let started = try browser.start()
        secrets += [started.state, started.nonce]
        for query in [[("error", canary), ("state", started.state)], [("code", canary), ("state", canary)], [("code", canary)]] {
            pages.append(browser.callback(query).body)
        }
        let audit = fixture.cli.remote(fixture.server, token: fixture.admin).run(["audit", "--format", "json", "--limit", "1000"])
        #expect(audit.status == 0)
        #expect(audit.stdoutText.contains("session.start"))
        #expect(fixture.server.stop() == 0)
        for text in [fixture.server.log, audit.allOutput] + pages {
            #expect(!text.contains(canary), "canary leaked (\(format)): \(text.prefix(400))")
            for secret in secrets { #expect(!text.contains(secret), "a code, state, nonce, session id or the client secret leaked (\(format))") }
            for jwt in jwts {
                for part in jwt.split(separator: ".") where part.count > 16 { #expect(!text.contains(part), "an ID token's part leaked (\(format))") }
            }
        }
    }

    @Test("a consumer that closes the pipe early ends the render quietly")
    func closedPipe() throws {
        let cli = try Self.setup()
        var big = "env:\n"
        for i in 0..<40_000 { big += "- {name: N\(i), value: secret:db}\n" }
        let spec = try Self.write(cli, "big.yaml", big)
        let outcome = CLI.execute("/bin/bash", ["-c", "'\(CLI.binary.path)' render '\(spec)' | head -c 100 > /dev/null; echo \"${PIPESTATUS[0]}\" >&2"],
                                  environment: cli.environment, currentDirectory: cli.directory)
        #expect(outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines) == "141")
    }

    @Test("an error mid-write leaves the old -o file whole and no temporary file behind")
    func failedWriteKeepsOldFile() throws {
        let cli = try Self.setup()
        var big = "env:\n"
        for i in 0..<20_000 { big += "- {name: N\(i), value: secret:db}\n" }
        let spec = try Self.write(cli, "big.yaml", big)
        try "old content\n".write(toFile: cli.path("out.yaml"), atomically: true, encoding: .utf8)
        // A 64 KiB file-size limit makes write() fail with EFBIG part-way through.
        let outcome = CLI.execute("/bin/bash", ["-c", "trap '' XFSZ; ulimit -f 64; exec '\(CLI.binary.path)' render '\(spec)' -o '\(cli.path("out.yaml"))'"],
                                  environment: cli.environment, currentDirectory: cli.directory)
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("File too large"))
        expectClean(outcome, "EFBIG")
        #expect(String(decoding: CLI.bytes(cli.path("out.yaml")), as: UTF8.self) == "old content\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }
}
