import Foundation
import OIDCTestSupport
import Testing

/// Issue 25: people sign in through a real identity provider nobody here
/// wrote (oidc-provider-mock 0.3.4 from PyPI, scripts/oidc-provider-mock.sh)
/// in headless Chromium (Tests/Browser/sso_flows.py), to two servers on one
/// PostgreSQL database.
@Suite("Single sign-on in a real browser through oidc-provider-mock", .serialized)
struct SingleSignOnBrowserTests {
    static let canary = "CANARY-sso-4d1c-Wq27-do-not-leak"
    static let script = CLI.packageRoot.appendingPathComponent("Tests/Browser/sso_flows.py").path

    /// oidc-provider-mock on a free loopback port, with the tests' people.
    final class MockProvider: @unchecked Sendable {
        let process: Process
        let port: Int
        var issuer: String { "http://127.0.0.1:\(port)" }

        init(program: String, users: [String]) throws {
            var lastFailure = "no attempt"
            for _ in 0..<5 {
                let port = try OpenBaoDev.freePort()
                let process = Process()
                process.executableURL = URL(fileURLWithPath: program)
                process.arguments = ["--port", String(port), "--host", "127.0.0.1"] + users.flatMap { ["--user-claims", $0] }
                process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("SECRETFILL_") }
                process.standardInput = FileHandle.nullDevice
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                for _ in 0..<300 {
                    if !process.isRunning { break }
                    let probe = CLI.execute("/usr/bin/curl", ["-s", "-o", "-", "-w", "%{http_code}", "--max-time", "2",
                                                             "http://127.0.0.1:\(port)/.well-known/openid-configuration"],
                                            environment: ProcessInfo.processInfo.environment)
                    if probe.stdoutText.hasSuffix("200") {
                        self.process = process
                        self.port = port
                        return
                    }
                    Thread.sleep(forTimeInterval: 0.1)
                }
                lastFailure = "oidc-provider-mock on port \(port) did not answer"
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
            }
            throw TestFailure("oidc-provider-mock did not start: \(lastFailure)")
        }

        /// SIGKILL: a SIGTERM the test runner ignores is ignored by its children too.
        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }

    @Test("sign in through the provider: a write member adds and deletes, a names member sees names, a non-member is refused, removal ends the session on both servers, sign-out ends it")
    func browserSignIn() throws {
        let program = ProcessInfo.processInfo.environment["SECRETFILL_OIDC_PROVIDER_MOCK"] ?? ""
        try #require(FileManager.default.isExecutableFile(atPath: program),
                     "oidc-provider-mock is missing: run scripts/oidc-provider-mock.sh and set SECRETFILL_OIDC_PROVIDER_MOCK to the path it prints (scripts/test.sh does)")
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "chromium is missing: run scripts/browser.sh")
        let users = [
            #"{"sub": "ana", "email": "ana@acme.dev", "email_verified": true}"#,
            #"{"sub": "vic", "email": "vic@acme.dev", "email_verified": true, "groups": ["readers"]}"#,
            #"{"sub": "eve", "email": "eve@acme.dev", "email_verified": true, "groups": ["sales"]}"#,
            #"{"sub": "root", "email": "root@acme.dev", "email_verified": true}"#,
        ]
        let provider = try MockProvider(program: program, users: users)
        defer { provider.stop() }
        let cli = try CLI()
        let database = try Backend.postgres.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        for (member, grant) in [("ana@acme.dev", "team:write"), ("group:readers", "team:names"), ("root@acme.dev", "admin")] {
            let added = cli.run(["members", "add", member, "--grant", grant, "--database", database])
            try #require(added.status == 0, "\(added.stderr)")
        }
        let secretFile = cli.path("oidc-client-secret")
        try Data("mock-client-secret\n".utf8).write(to: URL(fileURLWithPath: secretFile))
        _ = chmod(secretFile, 0o600)
        let arguments = ["--oidc-issuer", provider.issuer, "--oidc-client-id", "secretfill", "--oidc-client-secret-file", secretFile,
                         "--oidc-name", "Acme SSO", "--oidc-groups-claim", "groups"]
        let serverA = try TestServer(cli: cli, database: database, arguments: arguments)
        defer { serverA.stop() }
        let serverB = try TestServer(cli: cli, database: database, arguments: arguments)
        defer { serverB.stop() }
        let seeded = serverA.post("/v1/secrets/set", #"{"scope": "team", "id": null, "secrets": [{"name": "seeded_name", "value": "seeded-value"}]}"#, token: admin)
        #expect(seeded.status == 200, "\(seeded.body)")

        var shots = cli.path("shots")
        if let folder = ProcessInfo.processInfo.environment["SECRETFILL_SCREENSHOTS"], !folder.isEmpty { shots = folder }
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let outcome = CLI.execute("/usr/bin/env", ["python3", Self.script, serverA.url, serverB.url, Self.canary, shots],
                                  environment: ProcessInfo.processInfo.environment)
        #expect(outcome.status == 0, "\(outcome.stdoutText)\(outcome.stderr)")
        for file in ["webui-sso-sign-in.png", "webui-sso-refused.png", "webui-sso-members.png"] {
            let data = FileManager.default.contents(atPath: shots + "/" + file) ?? Data()
            #expect(data.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "\(file) is a PNG")
        }
        // The removal was seen on both servers at once: sessions are checked against the member list at every request.
        let millis = outcome.stdoutText.components(separatedBy: "removal seen after ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
        #expect(millis.map { $0 < 1000 } ?? false, "ana's session ended on both servers within a second of her removal: \(outcome.stdoutText)")

        // The audit log names the people.
        let audit = cli.remote(serverA, token: admin).run(["audit", "--format", "json"])
        #expect(audit.status == 0, "\(audit.stderr)")
        let entries = audit.stdoutText.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        func has(_ actor: String, _ action: String, outcome: String = "ok") -> Bool {
            entries.contains { $0["actor"] as? String == actor && $0["action"] as? String == action && $0["outcome"] as? String == outcome }
        }
        #expect(has("user:ana@acme.dev", "session.start") && has("user:ana@acme.dev", "set") && has("user:ana@acme.dev", "delete"))
        #expect(has("user:eve@acme.dev", "session.start", outcome: "denied"))
        #expect(has("user:root@acme.dev", "member.remove") && has("user:vic@acme.dev", "session.end"))
        let byUser = cli.remote(serverA, token: admin).run(["audit", "--user", "ana@acme.dev", "--format", "json"])
        #expect(byUser.status == 0 && byUser.stdoutText.contains("\"set\"") && !byUser.stdoutText.contains("vic@acme.dev"), "\(byUser.allOutput)")
        for text in [serverA.log, serverB.log, audit.allOutput, outcome.stdoutText] {
            #expect(!text.contains(Self.canary))
            #expect(!text.contains("mock-client-secret"))
            #expect(!text.contains("eyJ"), "no JWT anywhere")
            #expect(!text.contains("code="), "no sign-in code in a log line")
        }
    }
}
