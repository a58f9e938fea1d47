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
    func browserSignIn() async throws {
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
        let outcome = await CLI.executeOffPool("/usr/bin/env", ["python3", Self.script, serverA.url, serverB.url, Self.canary, shots],
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

    /// `secretfill login --no-browser` as a process: the address it prints on stderr, then its outcome.
    final class LoginProcess: @unchecked Sendable {
        let process = Process()
        private let lock = NSLock()
        private var errors = Data()
        private var output = Data()

        init(cli: CLI, arguments: [String], environment: [String: String]) throws {
            process.executableURL = CLI.binary
            process.arguments = arguments
            process.environment = environment
            process.currentDirectoryURL = cli.directory
            process.standardInput = FileHandle.nullDevice
            let errorPipe = Pipe(), outputPipe = Pipe()
            process.standardError = errorPipe
            process.standardOutput = outputPipe
            errorPipe.fileHandleForReading.collect { [weak self] chunk in
                guard let self else { return }
                self.lock.lock(); self.errors.append(chunk); self.lock.unlock()
            }
            outputPipe.fileHandleForReading.collect { [weak self] chunk in
                guard let self else { return }
                self.lock.lock(); self.output.append(chunk); self.lock.unlock()
            }
            try process.run()
        }

        var stderr: String { lock.lock(); defer { lock.unlock() }; return String(decoding: errors, as: UTF8.self) }
        var stdout: String { lock.lock(); defer { lock.unlock() }; return String(decoding: output, as: UTF8.self) }

        /// The sign-in address, once printed.
        func address(within seconds: Double) -> String? {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if let line = stderr.split(separator: "\n").first(where: { $0.contains("/ui/oidc/cli?") }) {
                    return line.trimmingCharacters(in: .whitespaces)
                }
                if !process.isRunning { return nil }
                Thread.sleep(forTimeInterval: 0.05)
            }
            return nil
        }

        func wait(seconds: Double) -> Int32? {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return nil }
            Thread.sleep(forTimeInterval: 0.2)
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.stopCollectingOutput()
        }
    }

    /// The token the credentials file holds for `url`.
    static func storedToken(_ path: String, _ url: String) -> String {
        let document = (try? JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: path) ?? Data())) as? [String: Any]
        let servers = document?["servers"] as? [String: Any]
        return (servers?[url] as? [String: Any])?["token"] as? String ?? ""
    }

    static let loginScript = CLI.packageRoot.appendingPathComponent("Tests/Browser/sso_login.py").path

    /// `secretfill login --no-browser`, its address opened in headless Chromium and signed in as `sub`.
    static func login(_ cli: CLI, _ server: TestServer, sub: String, extra: [String] = [], environment: [String: String]) async throws -> (LoginProcess, Int32?, CLI.Outcome) {
        let login = try LoginProcess(cli: cli, arguments: ["login", "--server", server.url, "--no-browser"] + extra, environment: environment)
        let address = try #require(login.address(within: 30), "login printed no address: \(login.stderr)")
        let browser = await CLI.executeOffPool("/usr/bin/env", ["python3", loginScript, address, sub], environment: ProcessInfo.processInfo.environment)
        return (login, login.wait(seconds: 90), browser)
    }

    @Test("secretfill login in headless Chromium: a CLI token bound to the person; render --server as them matches the local render; whoami; logout ends it (77); an expired token exits 77")
    func cliLogin() async throws {
        let program = ProcessInfo.processInfo.environment["SECRETFILL_OIDC_PROVIDER_MOCK"] ?? ""
        try #require(FileManager.default.isExecutableFile(atPath: program),
                     "oidc-provider-mock is missing: run scripts/oidc-provider-mock.sh and set SECRETFILL_OIDC_PROVIDER_MOCK to the path it prints (scripts/test.sh does)")
        let provider = try MockProvider(program: program, users: [#"{"sub": "ana", "email": "ana@acme.dev", "email_verified": true}"#,
                                                                   #"{"sub": "eve", "email": "eve@acme.dev", "email_verified": true}"#])
        defer { provider.stop() }
        let cli = try CLI()
        let database = try Backend.sqlite.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        #expect(cli.run(["members", "add", "ana@acme.dev", "--grant", "team:read", "--database", database]).status == 0)
        let secretFile = cli.path("oidc-client-secret")
        try Data("mock-client-secret\n".utf8).write(to: URL(fileURLWithPath: secretFile))
        _ = chmod(secretFile, 0o600)
        let server = try TestServer(cli: cli, database: database, arguments: [
            "--oidc-issuer", provider.issuer, "--oidc-client-id", "secretfill", "--oidc-client-secret-file", secretFile,
            "--oidc-name", "Acme SSO", "--max-cli-ttl", "1h",
        ])
        defer { server.stop() }
        let value = "CANARY-cli-login-8e1f"
        #expect(server.post("/v1/secrets/set", #"{"scope": "team", "id": null, "secrets": [{"name": "db_password", "value": "\#(value)"}]}"#, token: admin).status == 200)
        #expect(cli.run(["init"]).status == 0)
        let setLocally = cli.run(["secrets", "set", "team", "--name", "db_password", "--value-stdin"], stdin: Array(value.utf8))
        #expect(setLocally.status == 0, "\(setLocally.stderr)")
        let spec = cli.path("spec.yaml")
        try Data("image: nginx\nenv:\n  - name: DB_PASSWORD\n    value: secret:db_password\n".utf8).write(to: URL(fileURLWithPath: spec))

        var environment = cli.environment
        for name in ["SECRETFILL_TOKEN", "SECRETFILL_TOKEN_FILE", "SECRETFILL_SERVER"] { environment[name] = nil }
        environment["XDG_CONFIG_HOME"] = cli.path("config")
        environment["DISPLAY"] = nil
        // A --ttl above the server's --max-cli-ttl is refused before any browser opens.
        let tooLong = cli.run(["login", "--server", server.url, "--ttl", "2h", "--no-browser"], environment: environment, removing: ["SECRETFILL_TOKEN"])
        #expect(tooLong.status == 64 && tooLong.stderr.contains("--max-cli-ttl") && !tooLong.stderr.contains("/ui/oidc/cli"), "\(tooLong.stderr)")

        let (login, status, browser) = try await Self.login(cli, server, sub: "ana", environment: environment)
        #expect(browser.status == 0, "\(browser.stdoutText)\(browser.stderr)")
        #expect(status == 0, "login: \(login.stderr)")
        #expect(login.stdout.contains("Signed in to \(server.url) as ana@acme.dev until "), "\(login.stdout)")
        let credentials = cli.path("config/secretfill/credentials")
        let attributes = try FileManager.default.attributesOfItem(atPath: credentials)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((try FileManager.default.attributesOfItem(atPath: cli.path("config/secretfill"))[.posixPermissions] as? Int) == 0o700)

        var asPerson = cli
        asPerson.environment = environment
        let whoami = asPerson.run(["whoami", "--server", server.url])
        #expect(whoami.status == 0 && whoami.stdoutText.contains("user:ana@acme.dev (signed in with Acme SSO)") && whoami.stdoutText.contains("grants: team:read"),
                "\(whoami.allOutput)")
        let local = cli.run(["render", spec])
        let remote = asPerson.run(["render", spec, "--server", server.url])
        #expect(local.status == 0 && remote.status == 0 && remote.stdout == local.stdout, "\(remote.stderr)")
        #expect(remote.stdoutText.contains(value))
        // Writing needs write: the person's grants are their membership's.
        let write = asPerson.run(["secrets", "set", "team", "--name", "other", "--value-stdin", "--server", server.url], stdin: Array("x".utf8))
        #expect(write.status == 77 && write.stderr.contains("user 'ana@acme.dev' may not write to team (their grants: team:read)"), "\(write.stderr)")

        // keys list is unchanged: a person's CLI token is not a key an admin made.
        let keys = cli.remote(server, token: admin).run(["keys", "list", "--format", "json"])
        #expect(keys.status == 0 && keys.stdoutText.contains("\"admin\"") && !keys.stdoutText.contains("user:"), "\(keys.allOutput)")
        let token = Self.storedToken(credentials, server.url)
        #expect(token.hasPrefix("sf_"), "the credentials file holds the CLI token")
        let logout = asPerson.run(["logout", "--server", server.url])
        #expect(logout.status == 0 && logout.stdoutText.contains("ended on the server"), "\(logout.allOutput)")
        let after = asPerson.run(["whoami", "--server", server.url])
        #expect(after.status == 77 && after.stderr.contains("run `secretfill login --server \(server.url)`"), "\(after.stderr)")
        let replayed = asPerson.run(["whoami", "--server", server.url], environment: ["SECRETFILL_TOKEN": token])
        #expect(replayed.status == 77 && replayed.stderr.contains("was ended at"), "the logged-out token is refused by the server: \(replayed.stderr)")

        // A CLI token older than its TTL.
        let (short, shortStatus, _) = try await Self.login(cli, server, sub: "ana", extra: ["--ttl", "3s"], environment: environment)
        #expect(shortStatus == 0, "\(short.stderr)")
        let shortToken = Self.storedToken(credentials, server.url)
        try await Task.sleep(for: .seconds(4))
        let expired = asPerson.run(["whoami", "--server", server.url])
        #expect(expired.status == 77 && expired.stderr.contains("run `secretfill login --server \(server.url)`"), "\(expired.stderr)")
        let expiredOnServer = asPerson.run(["whoami", "--server", server.url], environment: ["SECRETFILL_TOKEN": shortToken])
        #expect(expiredOnServer.status == 77 && expiredOnServer.stderr.contains("expired at"), "\(expiredOnServer.stderr)")

        // A person who is not a member: the CLI hears why and exits 77.
        let (refused, refusedStatus, _) = try await Self.login(cli, server, sub: "eve", environment: environment)
        #expect(refusedStatus == 77 && refused.stderr.contains("not a member of this team"), "\(refused.stderr)")

        for text in [server.log, login.stderr, login.stdout, whoami.allOutput, logout.allOutput] {
            #expect(!text.contains(token), "the CLI token appears nowhere")
            #expect(!text.contains("code="), "no sign-in code in a log line")
            #expect(!text.contains("mock-client-secret"))
        }
        #expect(!server.log.contains(value))
    }
}
