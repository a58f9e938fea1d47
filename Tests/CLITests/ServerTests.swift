import Foundation
import Testing

/// `secretfill serve` through the built binary, on PostgreSQL and on SQLite.
@Suite("Team server", .serialized)
struct ServerTests {
    static let canary = "CANARY-7f3a9c-Sv3rT0p-do-not-leak"

    /// The fixture every grant test starts from: an admin key straight to the
    /// database, a running server, and keys with the grants of the issue.
    struct Team {
        let cli: CLI
        let server: TestServer
        let admin: String

        init(_ backend: Backend, serverArguments: [String] = []) throws {
            let cli = try CLI()
            let database = try backend.freshURL(in: cli)
            admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
            server = try TestServer(cli: cli, database: database, arguments: serverArguments)
            self.cli = cli
        }

        func key(_ name: String, _ grants: [String], expires: String? = nil) throws -> String {
            var arguments = ["keys", "create", name]
            for grant in grants { arguments += ["--grant", grant] }
            if let expires { arguments += ["--expires", expires] }
            let outcome = cli.remote(server, token: admin).run(arguments)
            try #require(outcome.status == 0, "keys create \(name): \(outcome.stderr)")
            #expect(outcome.stderr.contains("will not be shown again"))
            return outcome.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func set(_ scope: String, _ id: String?, _ name: String, _ value: String, token: String) -> TestServer.Answer {
            let idJSON = id.map { "\"\($0)\"" } ?? "null"
            return server.post("/v1/secrets/set", "{\"scope\": \"\(scope)\", \"id\": \(idJSON), \"secrets\": [{\"name\": \"\(name)\", \"value\": \"\(value)\"}]}", token: token)
        }

        func resolve(project: String?, names: [String], token: String?) -> TestServer.Answer {
            let projectJSON = project.map { "\"\($0)\"" } ?? "null"
            let list = names.map { "\"\($0)\"" }.joined(separator: ",")
            return server.post("/v1/resolve", "{\"project\": \(projectJSON), \"cluster\": null, \"names\": [\(list)]}", token: token)
        }
    }

    @Test("keys: token format, sf_ + 43 base64url characters, shown once; list shows no token", arguments: Backend.allCases)
    func keysCreateListRevoke(_ backend: Backend) throws {
        let team = try Team(backend)
        defer { team.server.stop() }
        #expect(team.admin.hasPrefix("sf_") && team.admin.utf8.count == 46)
        #expect(team.admin.dropFirst(3).allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        let ci = try team.key("ci", ["team:read", "project:pr-1:read"], expires: "90d")
        let admin = team.cli.remote(team.server, token: team.admin)
        let listed = admin.run(["keys", "list", "--format", "json"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let keys = try #require(try JSONSerialization.jsonObject(with: Data(listed.stdout)) as? [[String: Any]])
        #expect(keys.map { $0["name"] as? String } == ["admin", "ci"])
        #expect(keys[1]["grants"] as? [String] == ["team:read", "project:pr-1:read"])
        #expect(keys[1]["expires"] is String)
        #expect(!listed.allOutput.contains(ci) && !listed.allOutput.contains(team.admin))
        let text = admin.run(["keys", "list"])
        #expect(text.stdoutText.contains("ci  team:read,project:pr-1:read"))
        #expect(admin.run(["keys", "create", "ci", "--grant", "team:read"]).status == 2, "a second key of the same name")
        #expect(admin.run(["keys", "create", "x", "--grant", "team:everything"]).status == 64)
        #expect(admin.run(["keys", "revoke", "ci"]).status == 0)
        let revoked = team.resolve(project: nil, names: ["a"], token: ci)
        #expect(revoked.status == 401)
        #expect(revoked.body.contains("key 'ci' was revoked"))
        let again = team.cli.remote(team.server, token: ci).run(["keys", "list"])
        #expect(again.status == 77)
    }

    @Test("grants: 401 without a token; names, read and write keys get what they may, 403 otherwise", arguments: Backend.allCases)
    func grants(_ backend: Backend) throws {
        let team = try Team(backend)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write", "project:*:write"])
        let namesOnly = try team.key("lister", ["team:names"])
        let ci = try team.key("ci", ["team:read", "project:pr-1:read"])
        let shortLived = try team.key("brief", ["team:read"], expires: "1s")

        #expect(team.set("team", nil, "db_password", "team-pw", token: writer).status == 200)
        #expect(team.set("project", "pr-1", "db_password", "pr1-pw", token: writer).status == 200)
        #expect(team.set("project", "pr-2", "db_password", "pr2-pw", token: writer).status == 200)

        let anonymous = team.resolve(project: nil, names: ["db_password"], token: nil)
        #expect(anonymous.status == 401)
        #expect(team.resolve(project: nil, names: ["db_password"], token: "sf_" + String(repeating: "A", count: 43)).status == 401)

        let read = team.resolve(project: "pr-1", names: ["db_password", "absent"], token: ci)
        #expect(read.status == 200)
        let secrets = read.json?["secrets"] as? [String: [String: Any]]
        #expect(secrets?["db_password"]?["value"] as? String == "pr1-pw")
        #expect(secrets?["db_password"]?["scope"] as? String == "project")
        #expect(read.json?["missing"] as? [String] == ["absent"])

        let other = team.resolve(project: "pr-2", names: ["db_password"], token: ci)
        #expect(other.status == 403)
        #expect(other.json?["error"] as? String == "key 'ci' may not read project pr-2 (its grants: team:read, project:pr-1:read)")
        #expect(!other.body.contains("pr2-pw"))

        let listerRead = team.resolve(project: nil, names: ["db_password"], token: namesOnly)
        #expect(listerRead.status == 403)
        #expect(!listerRead.body.contains("team-pw"))
        let listed = team.server.post("/v1/names", "{\"scopes\": [{\"scope\": \"team\", \"id\": null}]}", token: namesOnly)
        #expect(listed.status == 200)
        #expect(listed.body.contains("db_password") && !listed.body.contains("team-pw"))

        let writerRead = team.resolve(project: nil, names: ["db_password"], token: writer)
        #expect(writerRead.status == 403)
        #expect(team.set("team", nil, "x", "y", token: ci).status == 403)
        #expect(team.set("team", nil, "x", "y", token: namesOnly).status == 403)

        Thread.sleep(forTimeInterval: 1.2)
        let expired = team.resolve(project: nil, names: ["db_password"], token: shortLived)
        #expect(expired.status == 401)
        #expect(expired.body.contains("key 'brief' expired"))

        let nonAdmin = team.cli.remote(team.server, token: writer).run(["audit"])
        #expect(nonAdmin.status == 77)
        #expect(nonAdmin.stderr.contains("key 'writer' may not read the audit log"))
    }

    @Test("versions: each set is a version, history lists them, rollback makes an old one current, delete is soft", arguments: Backend.allCases)
    func versions(_ backend: Backend) throws {
        let team = try Team(backend)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write"])
        let reader = try team.key("reader", ["team:read"])
        for n in 1...12 { #expect(team.set("team", nil, "api_key", "value-\(n)", token: writer).status == 200) }
        let remote = team.cli.remote(team.server, token: writer)
        let history = remote.run(["secrets", "history", "team", "--name", "api_key"])
        #expect(history.status == 0, "\(history.stderr)")
        let lines = history.stdoutText.split(separator: "\n")
        #expect(lines.count == 10, "the last 10 versions are kept")
        #expect(lines.first?.hasPrefix("3  ") == true)
        #expect(lines.last?.hasPrefix("12  ") == true && lines.last?.hasSuffix("writer  (current)") == true)
        #expect(!history.allOutput.contains("value-"))

        let rollback = remote.run(["secrets", "rollback", "team", "--name", "api_key", "--version", "5"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        #expect(rollback.stdoutText == "Rolled back team secret 'api_key' to version 5 (now version 13)\n")
        let current = team.resolve(project: nil, names: ["api_key"], token: reader)
        #expect((current.json?["secrets"] as? [String: [String: Any]])?["api_key"]?["value"] as? String == "value-5")
        #expect(remote.run(["secrets", "rollback", "team", "--name", "api_key", "--version", "1"]).status == 1, "version 1 is gone: exit 1, as delete of a missing name")

        let deleted = team.server.post("/v1/secrets/delete", "{\"scope\": \"team\", \"id\": null, \"name\": \"api_key\"}", token: writer)
        #expect(deleted.status == 200)
        let gone = team.resolve(project: nil, names: ["api_key"], token: reader)
        #expect(gone.json?["missing"] as? [String] == ["api_key"])
        let after = remote.run(["secrets", "history", "team", "--name", "api_key"])
        #expect(after.status == 0 && after.stdoutText.contains("13  ") && after.stdoutText.contains("(deleted;"))

        let local = try CLI().initialise()
        let noHistory = local.run(["secrets", "history", "team", "--name", "api_key"])
        #expect(noHistory.status == 64, "the local store keeps no history: it needs --server")
        #expect(noHistory.stderr.contains("keeps no history"))
    }

    @Test("audit: every action and refusal in order, JSON Lines, no value and no token", arguments: Backend.allCases)
    func audit(_ backend: Backend) throws {
        let team = try Team(backend)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write"])
        let reader = try team.key("reader", ["team:read"])
        #expect(team.set("team", nil, "audited", Self.canary, token: writer).status == 200)
        #expect(team.resolve(project: nil, names: ["audited"], token: reader).status == 200)
        #expect(team.resolve(project: "pr-9", names: ["audited"], token: reader).status == 403)
        #expect(team.resolve(project: nil, names: ["audited"], token: nil).status == 401)
        let admin = team.cli.remote(team.server, token: team.admin)
        #expect(admin.run(["keys", "revoke", "writer"]).status == 0)

        let json = admin.run(["audit", "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let entries = try json.stdoutText.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
        let summary = entries.map { "\($0["key"]!) \($0["action"]!) \($0["outcome"]!)" }
        #expect(summary == [
            "(database) key.create ok", "admin key.create ok", "admin key.create ok",
            "writer set ok", "reader read ok", "reader read denied", "- read denied", "admin key.revoke ok",
        ])
        for entry in entries {
            for field in ["time", "key", "action", "scope", "names", "outcome"] { #expect(entry[field] != nil, "\(field) in \(entry)") }
        }
        #expect(entries[3]["names"] as? [String] == ["audited"] && entries[3]["scope"] as? String == "team")
        #expect(entries[5]["scope"] as? String == "project pr-9, team")
        let filtered = admin.run(["audit", "--secret", "audited", "--key", "reader"])
        #expect(filtered.stdoutText.split(separator: "\n").count == 2)
        #expect(admin.run(["audit", "--since", "1h", "--format", "json"]).stdoutText == json.stdoutText)
        for output in [json.allOutput, filtered.allOutput] {
            #expect(!output.contains(Self.canary))
            #expect(!output.contains(team.admin) && !output.contains(writer) && !output.contains(reader))
        }
    }

    @Test("the canary and the tokens are absent from pg_dump, the trace log and every stderr")
    func canaryAbsent() throws {
        let team = try Team(.postgres)
        let writer = try team.key("writer", ["team:write", "project:*:write"])
        let reader = try team.key("reader", ["team:read", "project:*:read"])
        #expect(team.set("team", nil, "canary", Self.canary, token: writer).status == 200)
        #expect(team.set("project", "pr-1", "canary", Self.canary + "-pr1", token: writer).status == 200)
        let read = team.resolve(project: "pr-1", names: ["canary"], token: reader)
        #expect(read.body.contains(Self.canary + "-pr1"), "the read itself returns the value")
        let history = team.cli.remote(team.server, token: writer).run(["secrets", "history", "project", "--id", "pr-1", "--name", "canary"])
        #expect(history.status == 0)
        #expect(team.cli.remote(team.server, token: writer).run(["secrets", "rollback", "project", "--id", "pr-1", "--name", "canary", "--version", "1"]).status == 0)
        #expect(team.server.stop() == 0)
        let dump = CLI.execute("/usr/bin/pg_dump", [team.server.databaseURL], environment: ProcessInfo.processInfo.environment)
        #expect(dump.status == 0, "\(dump.stderr)")
        #expect(dump.stdoutText.contains("secret_versions"), "the dump has the tables")
        let log = team.server.log
        #expect(log.contains("POST /v1/resolve 200 key=reader"), "one line per request with the key name")
        for text in [dump.stdoutText, log, history.allOutput] {
            #expect(!text.contains(Self.canary), "canary leaked")
            for token in [team.admin, writer, reader] { #expect(!text.contains(token), "token leaked") }
        }
    }

    @Test("listen rules: a non-loopback address needs TLS or --insecure-http")
    func listenRules() throws {
        let cli = try CLI()
        let database = "sqlite:" + cli.path("l.db")
        let refused = cli.run(["serve", "--database", database, "--listen", "0.0.0.0:0"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("refusing to listen on 0.0.0.0 without TLS"))
        #expect(cli.run(["serve", "--database", database, "--listen", "nonsense"]).status == 64)
        #expect(cli.run(["serve", "--database", "mysql://x@y/z"]).status == 64)
        let insecure = try TestServer(cli: cli, database: database, arguments: [], environment: [:], waitHealthy: true)
        #expect(insecure.stop() == 0)
        let open = Process()
        open.executableURL = CLI.binary
        open.arguments = ["serve", "--database", database, "--listen", "0.0.0.0:0", "--insecure-http"]
        open.environment = cli.environment
        let errors = Pipe()
        open.standardError = errors
        open.standardOutput = FileHandle.nullDevice
        try open.run()
        Thread.sleep(forTimeInterval: 1.5)
        kill(open.processIdentifier, SIGTERM)
        open.waitUntilExit()
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("--insecure-http"), "warns: \(text)")
        #expect(open.terminationStatus == 0)
    }

    @Test("a schema newer than the binary is refused; SIGTERM exits 0; healthz says ok")
    func schemaAndSignals() throws {
        let cli = try CLI()
        let database = try TestPostgres.freshDatabase()
        let server = try TestServer(cli: cli, database: database)
        let health = server.health()
        #expect(health.status == 200 && health.body == "ok")
        #expect(server.stop() == 0)
        #expect(TestPostgres.psql(database, "INSERT INTO schema_migrations VALUES (99, 0, 'future')").status == 0)
        let refused = cli.run(["serve", "--database", database, "--listen", "127.0.0.1:0"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("the database schema is version 99, newer than this secretfill knows"))
    }

    @Test("hostile requests: 413 over 2 MiB, 400 for bad JSON, types, names and ids; nothing crashes", arguments: Backend.allCases)
    func hostile(_ backend: Backend) throws {
        let team = try Team(backend)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write", "project:*:write"])
        let big = Array("{\"scope\": \"team\", \"secrets\": [{\"name\": \"a\", \"value\": \"".utf8) + Array(repeating: UInt8(ascii: "x"), count: 2 << 20) + Array("\"}]}".utf8)
        #expect(team.server.request("POST", "/v1/secrets/set", body: big, token: writer).status == 413)
        let cases: [(String, String)] = [
            ("{not json", "not valid JSON"),
            ("{\"scope\": 5, \"secrets\": []}", "scope must be a string"),
            ("{\"scope\": \"team\"}", "secrets is missing"),
            ("{\"scope\": \"team\", \"secrets\": [{\"name\": \"1bad\", \"value\": \"v\"}]}", "a secret name must match"),
            ("{\"scope\": \"team\", \"secrets\": [{\"name\": \"x'; DROP TABLE secrets; --\", \"value\": \"v\"}]}", "a secret name must match"),
            ("{\"scope\": \"project\", \"id\": \"pr-1' OR '1'='1\", \"secrets\": [{\"name\": \"a\", \"value\": \"v\"}]}", "a scope id must match"),
            ("{\"scope\": \"galaxy\", \"secrets\": [{\"name\": \"a\", \"value\": \"v\"}]}", "scope must be team, project or cluster"),
            ("{\"scope\": \"team\", \"secrets\": [{\"name\": \"a\", \"value\": \"\"}]}", "the value is empty"),
        ]
        for (body, message) in cases {
            let answer = team.server.post("/v1/secrets/set", body, token: writer)
            #expect(answer.status == 400, "\(body) → \(answer.status) \(answer.body)")
            #expect((answer.json?["error"] as? String)?.contains(message) == true, "\(body) → \(answer.body)")
        }
        let sqlName = team.resolve(project: nil, names: ["a' OR 1=1 --"], token: writer)
        #expect(sqlName.status == 400)
        #expect(team.server.health().status == 200, "still serving")
        #expect(team.server.process.isRunning)
    }
}
