import Foundation
import Testing

/// Every verb with `--server` against the same verbs on the local file with
/// the same secrets: the same bytes, the same exit status.
@Suite("Remote verbs", .serialized)
struct RemoteVerbTests {
    static let specs = ["gradient-workflow.yaml", "kubernetes-multi.yaml", "paperspace-deployment.yaml",
                        "k8s/app.yaml", "k8s/crlf.yaml", "k8s/paperspace-mixed.yaml", "k8s/plain.yaml"]
    static let names = ["admin_token", "api_key", "api_token", "database_url", "db_password", "db_url", "hf_token",
                        "my_secret_env", "redis_url", "s3_secret", "smtp_password", "wandb_api_key"]

    /// Awkward values from the hostile fixture, one per name, and the JSON object to import.
    static func values() throws -> [String: String] {
        let data = try Data(contentsOf: URL(fileURLWithPath: CLI.fixture("hostile-values.json")))
        let hostile = try #require(try JSONSerialization.jsonObject(with: data) as? [String]).filter { $0.utf8.count >= 2 }
        var result: [String: String] = [:]
        for (index, name) in names.enumerated() { result[name] = hostile[(index * 7) % hostile.count] + "-\(index)" }
        return result
    }

    struct Pair {
        let local: CLI
        let team: ServerTests.Team
        let reader: String
        let lister: String
        let writer: String
        func remote(_ token: String) -> CLI { team.cli.remote(team.server, token: token) }
    }

    static func pair(_ backend: Backend) throws -> Pair {
        let values = try values()
        let local = try CLI().initialise()
        let team = try ServerTests.Team(backend)
        let writer = try team.key("writer", ["team:write", "project:*:write", "cluster:*:write"])
        let reader = try team.key("reader", ["team:read", "project:pr-1:read", "cluster:c-1:read"])
        let lister = try team.key("lister", ["team:names", "project:pr-1:names", "cluster:c-1:names"])
        let file = local.path("secrets.json")
        try JSONSerialization.data(withJSONObject: values).write(to: URL(fileURLWithPath: file))
        let remoteWriter = team.cli.remote(team.server, token: writer)
        for cli in [local, remoteWriter] {
            let imported = cli.run(["secrets", "import", "team", file])
            try #require(imported.status == 0, "import: \(imported.stderr)")
            for (scope, id, name, value) in [("project", "pr-1", "db_password", "project's \"pw\"\n"), ("cluster", "c-1", "api_key", "cluster key #1")] {
                let set = cli.run(["secrets", "set", scope, "--id", id, "--name", name, "--value-stdin"], stdin: Array((value + "\n").utf8))
                try #require(set.status == 0, "set: \(set.stderr)")
            }
        }
        return Pair(local: local, team: team, reader: reader, lister: lister, writer: writer)
    }

    @Test("render, env (every format), check --format json, which, list and redact: byte for byte the local verb", arguments: Backend.allCases)
    func sameBytes(_ backend: Backend) throws {
        let pair = try Self.pair(backend)
        defer { pair.team.server.stop() }
        let reader = pair.remote(pair.reader)
        let chain = ["--project", "pr-1", "--cluster", "c-1"]
        var rendered = 0
        for spec in Self.specs {
            let path = CLI.fixture(spec)
            let local = pair.local.run(["render", path] + chain)
            let remote = reader.run(["render", path] + chain)
            #expect(remote.status == local.status, "render \(spec): \(remote.stderr)")
            #expect(remote.stdout == local.stdout, "render \(spec)")
            #expect(remote.stderr == local.stderr, "render \(spec)")
            if local.status == 0 { rendered += 1 }
            for format in ["dotenv", "docker", "shell", "json"] {
                let localEnv = pair.local.run(["env", path, "--format", format] + chain)
                let remoteEnv = reader.run(["env", path, "--format", format] + chain)
                #expect(remoteEnv.status == localEnv.status, "env \(format) \(spec): \(remoteEnv.stderr)")
                #expect(remoteEnv.stdout == localEnv.stdout, "env \(format) \(spec)")
            }
            let localCheck = pair.local.run(["check", path, "--format", "json"] + chain)
            let remoteCheck = pair.remote(pair.lister).run(["check", path, "--format", "json"] + chain)
            #expect(remoteCheck.status == localCheck.status, "check \(spec): \(remoteCheck.stderr)")
            #expect(remoteCheck.stdout == localCheck.stdout, "check \(spec)")
        }
        #expect(rendered >= 3, "most fixtures render")
        for name in ["db_password", "api_key", "hf_token", "absent_name"] {
            let local = pair.local.run(["secrets", "which", name] + chain)
            let remote = pair.remote(pair.lister).run(["secrets", "which", name] + chain)
            #expect(remote.status == local.status && remote.stdout == local.stdout, "which \(name): \(remote.stderr)")
        }
        let localList = pair.local.run(["secrets", "list", "team"])
        let remoteList = pair.remote(pair.lister).run(["secrets", "list", "team"])
        #expect(remoteList.status == 0 && remoteList.stdout == localList.stdout)

        let values = try Self.values()
        let log = Array(("start\n" + values.values.sorted().joined(separator: " | ") + "\nproject's \"pw\" end\n").utf8)
        let localRedact = pair.local.run(["redact"] + chain, stdin: log)
        let remoteRedact = reader.run(["redact"] + chain, stdin: log)
        #expect(remoteRedact.status == localRedact.status, "\(remoteRedact.stderr)")
        #expect(remoteRedact.stdout == localRedact.stdout)
    }

    @Test("grants through the CLI: names key checks but cannot render (77, no value); write key sets but cannot read; no token, revoked: 77; a loose token file is refused", arguments: Backend.allCases)
    func refusals(_ backend: Backend) throws {
        let pair = try Self.pair(backend)
        defer { pair.team.server.stop() }
        let values = try Self.values()
        let spec = CLI.fixture("paperspace-deployment.yaml")
        let lister = pair.remote(pair.lister)
        #expect(lister.run(["check", spec]).status != 77)
        #expect(lister.run(["secrets", "list", "team"]).status == 0)
        let render = lister.run(["render", spec])
        #expect(render.status == 77)
        #expect(render.stderr.contains("key 'lister' may not read team"))
        let writer = pair.remote(pair.writer)
        let writerRender = writer.run(["render", spec])
        #expect(writerRender.status == 77)
        #expect(writer.run(["secrets", "set", "team", "--name", "fresh", "--value-stdin"], stdin: Array("v1\n".utf8)).status == 0)
        let reader = pair.remote(pair.reader)
        let other = reader.run(["render", spec, "--project", "pr-2"])
        #expect(other.status == 77)
        #expect(other.stderr == "secretfill: error: key 'reader' may not read project pr-2 (its grants: team:read, project:pr-1:read, cluster:c-1:read)\n")
        #expect(reader.run(["secrets", "set", "team", "--name", "x", "--value-stdin"], stdin: Array("v\n".utf8)).status == 77)
        var anonymous = pair.team.cli
        anonymous.environment["SECRETFILL_SERVER"] = pair.team.server.url
        #expect(anonymous.run(["render", spec]).status == 77)
        #expect(pair.remote(pair.team.admin).run(["keys", "revoke", "reader"]).status == 0)
        #expect(reader.run(["render", spec]).status == 77)
        for outcome in [render, writerRender, other] {
            for value in values.values { #expect(!outcome.allOutput.contains(value)) }
        }
        #expect(pair.team.cli.remote(pair.team.server, token: pair.writer).run(["init"]).status == 64, "init does not apply")

        let tokenFile = pair.team.cli.path("token")
        _ = FileManager.default.createFile(atPath: tokenFile, contents: Data((pair.lister + "\n").utf8), attributes: [.posixPermissions: 0o644])
        var viaFile = pair.team.cli
        viaFile.environment["SECRETFILL_SERVER"] = pair.team.server.url
        let loose = viaFile.run(["secrets", "list", "team", "--token-file", tokenFile])
        #expect(loose.status == 2 && loose.stderr.contains("chmod 600"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: tokenFile)
        #expect(viaFile.run(["secrets", "list", "team", "--token-file", tokenFile]).status == 0)
    }

    @Test("an unreachable server: exit 2 within 10 s; delete is soft, --purge is not")
    func unreachable() throws {
        let cli = try CLI()
        var remote = cli
        remote.environment["SECRETFILL_SERVER"] = "http://127.0.0.1:9"
        remote.environment["SECRETFILL_TOKEN"] = "sf_" + String(repeating: "A", count: 43)
        let start = Date()
        let outcome = remote.run(["secrets", "list", "team"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("cannot reach the secretfill server at http://127.0.0.1:9"))
        #expect(Date().timeIntervalSince(start) < 10)

        let team = try ServerTests.Team(.postgres)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write"])
        let w = team.cli.remote(team.server, token: writer)
        #expect(w.run(["secrets", "set", "team", "--name", "gone", "--value-stdin"], stdin: Array("v\n".utf8)).status == 0)
        #expect(w.run(["secrets", "delete", "team", "--name", "gone"]).stdoutText == "Deleted team secret 'gone'\n")
        #expect(w.run(["secrets", "history", "team", "--name", "gone"]).stdoutText.contains("1  "))
        #expect(w.run(["secrets", "delete", "team", "--name", "gone"]).status == 1, "deleting a missing name exits 1, as locally")
        #expect(w.run(["secrets", "delete", "team", "--name", "gone", "--purge"]).status == 0)
        #expect(w.run(["secrets", "history", "team", "--name", "gone"]).status == 1, "purged: no history, a problem in the input as for delete")
    }

    @Test("PostgreSQL stopped under a running server: exit 2 within 10 s, no hang; after it restarts the server serves again by itself")
    func databaseRestart() throws {
        let script = CLI.packageRoot.appendingPathComponent("scripts/postgres.sh").path
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-restart-pg-\(UUID().uuidString.prefix(8))").path
        let started = CLI.execute("/bin/bash", [script, "start", directory], environment: ProcessInfo.processInfo.environment)
        try #require(started.status == 0, "\(started.stderr)")
        defer { _ = CLI.execute("/bin/bash", [script, "stop", directory], environment: ProcessInfo.processInfo.environment) }
        let url = started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let cli = try CLI()
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: url)
        let server = try TestServer(cli: cli, database: url)
        defer { server.stop() }
        let remote = cli.remote(server, token: admin)
        #expect(remote.run(["secrets", "set", "team", "--name", "a", "--value-stdin"], stdin: Array("v\n".utf8)).status == 0)
        let env = ProcessInfo.processInfo.environment
        #expect(CLI.execute("/bin/bash", [script, "halt", directory], environment: env).status == 0)
        let start = Date()
        let down = remote.run(["secrets", "list", "team"])
        #expect(down.status == 2)
        #expect(down.stderr.contains("database is unavailable"))
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(server.health().status == 503)
        let restarted = CLI.execute("/bin/bash", [script, "resume", directory], environment: env)
        #expect(restarted.status == 0, "\(restarted.stderr)")
        var up = remote.run(["secrets", "list", "team"])
        for _ in 0..<20 where up.status != 0 {
            Thread.sleep(forTimeInterval: 0.5)
            up = remote.run(["secrets", "list", "team"])
        }
        #expect(up.status == 0 && up.stdoutText == "a\n", "\(up.stderr)")
        #expect(server.process.isRunning)
    }
}
