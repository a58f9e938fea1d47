import Foundation
import Testing

/// Rules found by running schemathesis against the server (APIDocumentTests).
@Suite("Server rules")
struct ServerRulesTests {
    @Test("the last admin key cannot be revoked (409, exit 2); with a second admin it can")
    func lastAdminKeyStays() throws {
        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        let admin = team.cli.remote(team.server, token: team.admin)
        let refused = admin.run(["keys", "revoke", "admin"])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("key 'admin' is the last admin key: create another admin key before revoking it"), "\(refused.stderr)")
        // An expired admin key does not count as another admin.
        _ = try team.key("old-admin", ["admin"], expires: "1s")
        Thread.sleep(forTimeInterval: 1.2)
        #expect(admin.run(["keys", "revoke", "admin"]).status == 2)
        let second = try team.key("second-admin", ["admin"])
        let revoked = admin.run(["keys", "revoke", "admin"])
        #expect(revoked.status == 0, "\(revoked.stderr)")
        #expect(team.cli.remote(team.server, token: second).run(["keys", "list"]).status == 0)
        #expect(team.cli.remote(team.server, token: team.admin).run(["keys", "list"]).status == 77)
    }

    @Test("audit since beyond 100 years is refused with 400, not a crash")
    func auditSinceIsBounded() throws {
        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        for since in ["9223372036854775807", "-1", "3153600001"] {
            let answer = team.server.post("/v1/audit", "{\"since\": \(since)}", token: team.admin)
            #expect(answer.status == 400, "since \(since): \(answer.body)")
        }
        #expect(team.server.post("/v1/audit", "{\"since\": 3153600000}", token: team.admin).status == 200)
        #expect(team.server.health().status == 200)
        #expect(!team.server.log.contains("fatal signal"))
    }

    @Test("a known path asked with another method gets 405 and Allow; an unknown path 404; a list body must be an object")
    func methodNotAllowed() throws {
        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        let headers = CLI.execute("/usr/bin/curl", ["-s", "-i", "-X", "GET", "--max-time", "10", team.server.url + "/v1/resolve"],
                                  environment: ProcessInfo.processInfo.environment).stdoutText.lowercased()
        #expect(headers.hasPrefix("http/1.1 405"), "\(headers)")
        #expect(headers.contains("\r\nallow: post\r\n"), "\(headers)")
        #expect(team.server.request("DELETE", "/healthz", body: nil, token: nil).status == 405)
        #expect(team.server.request("GET", "/v1/nothing-here", body: nil, token: team.admin).status == 404)
        #expect(team.server.post("/v1/keys/list", "[null, null]", token: team.admin).status == 400)
        #expect(team.server.post("/v1/keys/list", "{}", token: team.admin).status == 200)
    }

    @Test("serve says at start whether its concurrency executor hook is installed, and on this toolchain it is")
    func executorHookIsReported() throws {
        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        // EventLoopExecutor installs with a compiler-version gate and a compare-and-swap;
        // a toolchain that changes the hook makes this line say why it was not installed.
        #expect(team.server.log.contains("concurrency executor hook installed: tasks run on NIO's event loops"), "\(team.server.log)")
    }

    @Test("keys create with neither --server nor --database writes the first key to serve's default database, which serve then uses")
    func firstKeyOnTheDefaultDatabase() throws {
        let cli = try CLI().initialise()
        var environment = cli.environment
        environment.removeValue(forKey: "SECRETFILL_DATABASE_URL")
        environment.removeValue(forKey: "SECRETFILL_SERVER")
        var local = cli
        local.environment = environment
        let created = local.run(["keys", "create", "admin", "--grant", "admin"])
        #expect(created.status == 0, "\(created.allOutput)")
        let token = created.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let defaultFile = (environment["XDG_CONFIG_HOME"].map { $0 + "/secretfill" } ?? "") + "/server.db"
        #expect(FileManager.default.fileExists(atPath: defaultFile), "\(defaultFile)")
        #expect(CLI.mode(defaultFile) == 0o600)
        let server = try TestServer(cli: local, database: "sqlite:" + defaultFile)
        defer { server.stop() }
        #expect(server.post("/v1/keys/list", "{}", token: token).status == 200)
    }

    @Test("serve on a port already in use says so, naming the address, and exits 2")
    func busyPortIsNamed() throws {
        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        let port = String(team.server.url.split(separator: ":").last ?? "")
        let second = team.cli.run(["serve", "--database", "sqlite:" + team.cli.path("other.db"), "--listen", "127.0.0.1:\(port)"])
        #expect(second.status == 2)
        #expect(second.stderr.contains("127.0.0.1:\(port) is already in use"), "\(second.stderr)")
        #expect(!second.stderr.contains("IOError") && !second.stderr.contains("fatal signal"), "\(second.stderr)")
    }
}
