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
}
