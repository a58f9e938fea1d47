import Foundation
import Testing

/// The real Paperspace `gradient` CLI, version 2.0.6 (scripts/gradient.sh
/// installs it; scripts/test.sh sets SECRETFILL_GRADIENT), against
/// `secretfill serve`: every `gradient secrets …` line of the Paperspace
/// documents, as written there, with PAPERSPACE_CONFIG_HOST pointing at the
/// server. gradient 2.0.6 exits 0 even when the server refuses (it prints
/// `Failed to fetch data: MESSAGE`), so these tests read its output and the
/// store, never its exit status.
@Suite("The real gradient CLI", .serialized)
struct GradientCLITests {
    /// The program; missing is a failure, never a skip.
    static func gradient() throws -> String {
        let candidates = [ProcessInfo.processInfo.environment["SECRETFILL_GRADIENT"] ?? "",
                          CLI.packageRoot.appendingPathComponent(".build/tools/gradient/bin/gradient").path]
        let found = candidates.first { !$0.isEmpty && FileManager.default.isExecutableFile(atPath: $0) }
        return try #require(found, "gradient 2.0.6 is needed for these tests: run `bash scripts/gradient.sh` (scripts/test.sh does)")
    }

    /// `gradient ARGUMENTS` with the key in PAPERSPACE_API_KEY and the
    /// server as PAPERSPACE_CONFIG_HOST; its HOME is the test's own folder.
    static func run(_ arguments: [String], server: TestServer, key: String?, in cli: CLI) throws -> CLI.Outcome {
        let home = cli.path("gradient-home")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        var environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": home,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "NO_COLOR": "1", "TERM": "dumb",
            "PAPERSPACE_CONFIG_HOST": server.url,
        ]
        if let key { environment["PAPERSPACE_API_KEY"] = key }
        return CLI.execute(try gradient(), arguments, environment: environment, currentDirectory: cli.directory)
    }

    /// The document's lines, with `<…>` filled in.
    static func line(_ text: String) -> [String] {
        text.split(separator: " ").map(String.init)
    }

    /// Values that must come back byte for byte: quotes, a backslash, line breaks, non-ASCII.
    static let values = [
        "team": "he said \"hi\" \\ and 'bye'",
        "project": "line one\nline two\n  indented: yes",
        "cluster": "café ✓ 日本 🚀 «»",
    ]

    static let spec = """
        name: api
        env:
        - name: API_TOKEN
          value: secret:api_token
        - name: DB_PASSWORD
          value: secret:db_password
        - name: CLUSTER_KEY
          value: "secret:cluster_key"

        """

    static func auditEntries(_ team: ServerTests.Team) throws -> [[String: Any]] {
        let json = team.cli.remote(team.server, token: team.admin).run(["audit", "--format", "json"])
        try #require(json.status == 0, "audit: \(json.stderr)")
        return try json.stdoutText.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test("the nine documented lines with a write key: set, list (gradient's table), delete; render --server resolves them byte for byte; the audit names the key",
          arguments: Backend.allCases)
    func documentedLines(_ backend: Backend) throws {
        let team = try ServerTests.Team(backend)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write", "project:pr-1:write", "cluster:cl-1:write"])
        // write sees names, never values: render reads with a read key.
        let reader = try team.key("reader", ["team:read", "project:pr-1:read", "cluster:cl-1:read"])
        func gradient(_ text: String, value: String? = nil) throws -> CLI.Outcome {
            var arguments = Self.line(text)
            if let value { arguments.append("--value=\(value)") }
            return try Self.run(arguments, server: team.server, key: writer, in: team.cli)
        }

        // Set: team, project, cluster.
        let setTeam = try gradient("secrets set team --name=api_token", value: Self.values["team"]!)
        #expect(setTeam.stdoutText.contains("Set team secret 'api_token'"), "\(setTeam.allOutput)")
        let setProject = try gradient("secrets set project --id=pr-1 --name=db_password", value: Self.values["project"]!)
        #expect(setProject.stdoutText.contains("Set project secret 'db_password'"), "\(setProject.allOutput)")
        let setCluster = try gradient("secrets set cluster --id=cl-1 --name=cluster_key", value: Self.values["cluster"]!)
        #expect(setCluster.stdoutText.contains("Set cluster secret 'cluster_key'"), "\(setCluster.allOutput)")
        // A second team name, to see the list sorted; and a second version.
        #expect(try gradient("secrets set team --name=Zed", value: "z").stdoutText.contains("Set team secret 'Zed'"))
        #expect(try gradient("secrets set team --name=Zed", value: "z2").stdoutText.contains("Set team secret 'Zed'"))

        // List: gradient's own table, names only, sorted.
        let listTeam = try gradient("secrets list team")
        #expect(listTeam.stdoutText.contains("+-----------+\n| Name      |\n+-----------+\n| Zed       |\n| api_token |\n+-----------+"),
                "\(listTeam.allOutput)")
        let listProject = try gradient("secrets list project --id=pr-1")
        #expect(listProject.stdoutText.contains("| Name        |\n+-------------+\n| db_password |\n+-------------+"), "\(listProject.allOutput)")
        let listCluster = try gradient("secrets list cluster --id=cl-1")
        #expect(listCluster.stdoutText.contains("| Name        |\n+-------------+\n| cluster_key |\n+-------------+"), "\(listCluster.allOutput)")

        // render --server resolves what gradient set, byte for byte: the same
        // bytes as a local store holding the same values, and env's JSON gives the values back.
        let specPath = team.cli.path("spec.yaml")
        try Self.spec.write(toFile: specPath, atomically: true, encoding: .utf8)
        let local = try CLI().initialise()
        try local.set(.team, "api_token", Self.values["team"]!)
        try local.set(.project("pr-1"), "db_password", Self.values["project"]!)
        try local.set(.cluster("cl-1"), "cluster_key", Self.values["cluster"]!)
        let chain = ["--project", "pr-1", "--cluster", "cl-1"]
        let remote = team.cli.remote(team.server, token: reader)
        let rendered = remote.run(["render", specPath] + chain)
        let localRendered = local.run(["render", specPath] + chain)
        #expect(rendered.status == 0, "\(rendered.stderr)")
        #expect(localRendered.status == 0, "\(localRendered.stderr)")
        #expect(rendered.stdout == localRendered.stdout)
        let env = remote.run(["env", specPath, "--format", "json"] + chain)
        #expect(env.status == 0, "\(env.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(env.stdout)) as? [String: String])
        #expect(object["API_TOKEN"] == Self.values["team"])
        #expect(object["DB_PASSWORD"] == Self.values["project"])
        #expect(object["CLUSTER_KEY"] == Self.values["cluster"])
        let history = team.cli.remote(team.server, token: writer).run(["secrets", "history", "team", "--name", "Zed"])
        #expect(history.status == 0 && history.stdoutText.contains("2"), "two versions of Zed: \(history.allOutput)")

        // Delete: team, project, cluster; the lists are empty then.
        #expect(try gradient("secrets delete team --name=api_token").stdoutText.contains("Deleted team secret 'api_token'"))
        #expect(try gradient("secrets delete project --id=pr-1 --name=db_password").stdoutText.contains("Deleted project secret 'db_password'"))
        #expect(try gradient("secrets delete cluster --id=cl-1 --name=cluster_key").stdoutText.contains("Deleted cluster secret 'cluster_key'"))
        let afterTeam = try gradient("secrets list team")
        #expect(afterTeam.stdoutText.contains("| Zed  |") && !afterTeam.stdoutText.contains("api_token"), "\(afterTeam.allOutput)")
        #expect(try gradient("secrets list project --id=pr-1").allOutput.contains("No data found"))
        #expect(try gradient("secrets list cluster --id=cl-1").allOutput.contains("No data found"))
        let gone = try gradient("secrets delete team --name=api_token")
        #expect(gone.allOutput.contains("Failed to fetch data: there is no secret 'api_token' in the team scope"), "\(gone.allOutput)")

        // The audit log names the key for each write.
        let writes = try Self.auditEntries(team).filter { ($0["key"] as? String) == "writer" }
        let summary = writes.map { "\($0["action"]!) \($0["scope"]!) \(($0["names"] as? [String]) ?? []) \($0["outcome"]!)" }
        #expect(summary.contains("set team [\"api_token\"] ok"), "\(summary)")
        #expect(summary.contains("set project pr-1 [\"db_password\"] ok"), "\(summary)")
        #expect(summary.contains("set cluster cl-1 [\"cluster_key\"] ok"), "\(summary)")
        #expect(summary.contains("delete team [\"api_token\"] ok"), "\(summary)")
        #expect(summary.contains("delete project pr-1 [\"db_password\"] ok"), "\(summary)")
        #expect(summary.contains("delete cluster cl-1 [\"cluster_key\"] ok"), "\(summary)")
        let log = team.server.log
        for value in Self.values.values { #expect(!log.contains(value), "a value reached the server's log") }
        #expect(!log.contains(writer) && !log.contains(reader) && !log.contains(team.admin), "a token reached the server's log")
    }

    @Test("a names key: set stores nothing and gradient prints the server's message; bad names, a bad key and no key are refused in words",
          arguments: Backend.allCases)
    func refusals(_ backend: Backend) throws {
        let team = try ServerTests.Team(backend)
        defer { team.server.stop() }
        let viewer = try team.key("viewer", ["team:names", "project:pr-1:names"])
        let writer = try team.key("writer", ["team:write"])
        let canary = "CANARY-gradient-\(UUID().uuidString)"

        let denied = try Self.run(Self.line("secrets set team --name=blocked") + ["--value=\(canary)"], server: team.server, key: viewer, in: team.cli)
        #expect(denied.allOutput.contains("Failed to fetch data: key 'viewer' may not write to team (its grants: team:names, project:pr-1:names)"),
                "\(denied.allOutput)")
        let deniedProject = try Self.run(Self.line("secrets set project --id=pr-1 --name=blocked") + ["--value=\(canary)"],
                                         server: team.server, key: viewer, in: team.cli)
        #expect(deniedProject.allOutput.contains("Failed to fetch data: key 'viewer' may not write to project pr-1"), "\(deniedProject.allOutput)")
        let listed = team.cli.remote(team.server, token: team.admin).run(["secrets", "list", "team"])
        #expect(listed.status == 0 && !listed.stdoutText.contains("blocked"), "nothing was stored: \(listed.allOutput)")
        #expect(try Self.run(Self.line("secrets list team"), server: team.server, key: viewer, in: team.cli).allOutput.contains("No data found"))
        let audit = try Self.auditEntries(team)
        #expect(audit.contains { $0["key"] as? String == "viewer" && $0["action"] as? String == "set" && $0["outcome"] as? String == "denied" })

        let badName = try Self.run(Self.line("secrets set team --name=9lives --value=x"), server: team.server, key: writer, in: team.cli)
        #expect(badName.allOutput.contains("Failed to fetch data: '9lives' is not a valid secret name: a secret name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters"),
                "\(badName.allOutput)")
        let unknown = try Self.run(Self.line("secrets list team"), server: team.server, key: "sf_unknown", in: team.cli)
        #expect(unknown.allOutput.contains("Failed to fetch data: the API key was not accepted (unknown to this server)"), "\(unknown.allOutput)")
        let none = try Self.run(Self.line("secrets list team"), server: team.server, key: nil, in: team.cli)
        #expect(none.allOutput.contains("Failed to fetch data: no API key was given"), "\(none.allOutput)")
        for outcome in [denied, deniedProject, badName, unknown, none] {
            #expect(!outcome.allOutput.contains(canary) && !outcome.allOutput.contains(viewer) && !outcome.allOutput.contains(writer))
        }
        #expect(!team.server.log.contains(canary) && !team.server.log.contains(viewer))
    }

    /// One request with curl and any headers: the status and the body.
    static func curl(_ server: TestServer, _ method: String, _ path: String, headers: [String], body: String? = nil) -> TestServer.Answer {
        var arguments = ["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, "--max-time", "15", server.url + path]
        for header in headers { arguments += ["-H", header] }
        if body != nil { arguments += ["-H", "Content-Type: application/json", "--data-binary", "@-"] }
        let outcome = CLI.execute("/usr/bin/curl", arguments, stdin: body.map { Array($0.utf8) }, environment: ProcessInfo.processInfo.environment)
        let text = outcome.stdoutText
        guard let newline = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: newline)...]) else {
            return TestServer.Answer(status: -1, body: outcome.stderr)
        }
        return TestServer.Answer(status: status, body: String(text[..<newline]))
    }

    @Test("X-API-Key is the same key as Bearer on every route; no or an unknown key is 401; errors are {\"message\"} alone; teamId must be this team's")
    func headersAndTeamID() throws {
        let team = try ServerTests.Team(.sqlite, serverArguments: ["--team-id", "tm-1"])
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write"])
        let reader = try team.key("reader", ["team:read"])
        #expect(team.set("team", nil, "greeting", "hello", token: writer).status == 200)
        let server = team.server

        // /v1/resolve with X-API-Key, as with Bearer; both headers must agree.
        let resolved = Self.curl(server, "POST", "/v1/resolve", headers: ["X-API-Key: \(reader)"], body: "{\"names\": [\"greeting\"]}")
        #expect(resolved.status == 200 && resolved.body.contains("\"hello\""), "\(resolved.body)")
        let same = Self.curl(server, "POST", "/v1/resolve", headers: ["X-API-Key: \(reader)", "Authorization: Bearer \(reader)"],
                             body: "{\"names\": [\"greeting\"]}")
        #expect(same.status == 200)
        let differ = Self.curl(server, "POST", "/v1/resolve", headers: ["X-API-Key: \(reader)", "Authorization: Bearer \(team.admin)"],
                               body: "{\"names\": [\"greeting\"]}")
        #expect(differ.status == 401 && differ.body.contains("different API keys"), "\(differ.body)")
        #expect(Self.curl(server, "POST", "/v1/resolve", headers: ["X-API-Key: sf_unknown"], body: "{\"names\": []}").status == 401)

        // The Paperspace routes: Bearer works there too; no or an unknown key is 401, as {"message"} alone.
        let bearer = Self.curl(server, "GET", "/teams/secrets", headers: ["Authorization: Bearer \(writer)"])
        #expect(bearer.status == 200 && bearer.body == "[{\"name\":\"greeting\"}]", "\(bearer.body)")
        for headers in [[], ["X-API-Key: sf_unknown"], ["X-API-Key: "]] {
            let answer = Self.curl(server, "GET", "/teams/secrets", headers: headers)
            #expect(answer.status == 401, "\(headers): \(answer.body)")
            let object = try #require(answer.json, "\(answer.body)")
            #expect(Array(object.keys) == ["message"], "\(answer.body)")
        }
        let put = Self.curl(server, "PUT", "/teams/secrets/a_name", headers: ["X-API-Key: \(writer)"], body: "{\"value\": \"v\"}")
        #expect(put.status == 204, "\(put.body)")

        // teamId: this team's is accepted, another's is 404, on every route and method.
        #expect(Self.curl(server, "GET", "/teams/secrets?teamId=tm-1", headers: ["X-API-Key: \(writer)"]).status == 200)
        #expect(Self.curl(server, "PUT", "/teams/secrets/b_name?teamId=tm-1", headers: ["X-API-Key: \(writer)"], body: "{\"value\": \"v\"}").status == 204)
        for (method, path) in [("GET", "/teams/secrets?teamId=tm-2"), ("PUT", "/teams/secrets/c_name?teamId=tm-2"),
                               ("DELETE", "/teams/secrets/a_name?teamId=tm-2"), ("GET", "/projects/secrets?projectId=pr-1&teamId=tm-2")] {
            let answer = Self.curl(server, method, path, headers: ["X-API-Key: \(writer)"], body: method == "PUT" ? "{\"value\": \"v\"}" : nil)
            #expect(answer.status == 404, "\(method) \(path): \(answer.body)")
            #expect(answer.json.map { Array($0.keys) } == ["message"] && answer.body.contains("no team 'tm-2'"), "\(answer.body)")
        }
        let names = Self.curl(server, "GET", "/teams/secrets", headers: ["X-API-Key: \(writer)"])
        #expect(names.body == "[{\"name\":\"a_name\"},{\"name\":\"b_name\"},{\"name\":\"greeting\"}]", "c_name was not set: \(names.body)")

        // Another method is 405 with Allow, and a missing projectId is said in words.
        let wrong = Self.curl(server, "POST", "/teams/secrets", headers: ["X-API-Key: \(writer)"])
        #expect(wrong.status == 405 && wrong.json.map { Array($0.keys) } == ["message"], "\(wrong.body)")
        let noID = Self.curl(server, "GET", "/projects/secrets", headers: ["X-API-Key: \(team.admin)"])
        #expect(noID.status == 400 && noID.body.contains("project secrets need --id"), "\(noID.body)")
        #expect(!server.log.contains(writer) && !server.log.contains(reader) && !server.log.contains(team.admin))
    }
}
