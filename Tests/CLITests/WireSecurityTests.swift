import Foundation
import Testing

/// Issue 23, items 6 to 8: what crosses the wire. TLS as the CLI checks it
/// (a DNS name in the URL needs a DNS name in the certificate), TLS as the
/// server offers it (1.2 at least, no CBC with SHA-1, HSTS), PostgreSQL's
/// sslmode against a real server with `ssl=on`, and writes that answer
/// "failed" having changed nothing.
@Suite("Wire security (issue 23)", .serialized)
struct WireSecurityTests {
    /// A CA and two server certificates made with openssl in `folder`:
    /// `ip.crt` names only IP 127.0.0.1; `dns.crt` names DNS localhost (and IP 127.0.0.1).
    static func certificates(in folder: String) throws {
        func openssl(_ arguments: [String]) throws {
            let outcome = CLI.execute("/usr/bin/openssl", arguments, environment: ProcessInfo.processInfo.environment)
            try #require(outcome.status == 0, "openssl \(arguments.first ?? ""): \(outcome.stderr)")
        }
        try openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=secretfill wire test CA",
                     "-keyout", folder + "/ca.key", "-out", folder + "/ca.crt"])
        for (name, san) in [("ip", "IP:127.0.0.1"), ("dns", "DNS:localhost,IP:127.0.0.1")] {
            try openssl(["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=\(name)", "-keyout", "\(folder)/\(name).key", "-out", "\(folder)/\(name).csr"])
            try "subjectAltName=\(san)\n".write(toFile: "\(folder)/\(name).ext", atomically: true, encoding: .utf8)
            try openssl(["x509", "-req", "-in", "\(folder)/\(name).csr", "-CA", folder + "/ca.crt", "-CAkey", folder + "/ca.key",
                         "-CAcreateserial", "-days", "2", "-extfile", "\(folder)/\(name).ext", "-out", "\(folder)/\(name).crt"])
        }
    }

    /// `serve` with TLS on a free loopback port; the port it printed.
    final class TLSServer: @unchecked Sendable {
        let process = Process()
        let errors = Pipe()
        var port = 0

        init(cli: CLI, database: String, certificate: String, key: String) throws {
            process.executableURL = CLI.binary
            process.arguments = ["serve", "--database", database, "--listen", "127.0.0.1:0", "--tls-cert", certificate, "--tls-key", key]
            process.environment = cli.environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            var seen = Data()
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, process.isRunning {
                seen.append(errors.fileHandleForReading.availableData)
                let text = String(decoding: seen, as: UTF8.self)
                if let range = text.range(of: "serving on https://127.0.0.1:") {
                    port = Int(text[range.upperBound...].prefix { $0.isNumber }) ?? 0
                    break
                }
            }
            try #require(port > 0, "serve did not start: \(String(decoding: seen, as: UTF8.self))")
            Thread.sleep(forTimeInterval: 0.5)
        }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
    }

    @Test("TLS: a URL that names a host needs that DNS name in the certificate (an IP entry is not enough); TLS 1.2+, no CBC-SHA1, HSTS")
    func certificateNamesAndPolicy() throws {
        let cli = try CLI()
        let folder = cli.path("tls")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Self.certificates(in: folder)
        let database = "sqlite:" + cli.path("server.db")
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        var remote = cli
        remote.environment["SECRETFILL_TOKEN"] = admin

        let ipOnly = try TLSServer(cli: cli, database: database, certificate: folder + "/ip.crt", key: folder + "/ip.key")
        // https://localhost with a certificate naming only IP 127.0.0.1: swift-nio-ssl alone accepts it (the
        // connected address matches the IP entry); the CLI refuses before sending the token.
        let refused = remote.run(["keys", "list", "--server", "https://localhost:\(ipOnly.port)", "--ca-file", folder + "/ca.crt"])
        #expect(refused.status == 2, "\(refused.allOutput)")
        #expect(refused.stderr.contains("does not name localhost among its DNS names"), "\(refused.stderr)")
        // The same certificate by its IP address is what it names.
        let byAddress = remote.run(["keys", "list", "--server", "https://127.0.0.1:\(ipOnly.port)", "--ca-file", folder + "/ca.crt"])
        #expect(byAddress.status == 0, "\(byAddress.allOutput)")
        ipOnly.stop()

        let named = try TLSServer(cli: cli, database: database, certificate: folder + "/dns.crt", key: folder + "/dns.key")
        defer { named.stop() }
        let byName = remote.run(["keys", "list", "--server", "https://localhost:\(named.port)", "--ca-file", folder + "/ca.crt"])
        #expect(byName.status == 0, "\(byName.allOutput)")
        // Without the CA the chain is refused as before.
        #expect(remote.run(["keys", "list", "--server", "https://localhost:\(named.port)"]).status == 2)

        let environment = ProcessInfo.processInfo.environment
        func handshake(_ extra: [String]) -> Int32 {
            CLI.execute("/usr/bin/openssl", ["s_client", "-connect", "127.0.0.1:\(named.port)", "-CAfile", folder + "/ca.crt"] + extra,
                        stdin: Array("Q\n".utf8), environment: environment).status
        }
        #expect(handshake(["-tls1_2"]) == 0, "TLS 1.2 with an AEAD suite is offered")
        #expect(handshake(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"]) != 0, "TLS 1.1 is refused")
        #expect(handshake(["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"]) != 0, "TLS 1.0 is refused")
        for cipher in ["ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA", "AES128-SHA", "AES128-GCM-SHA256"] {
            #expect(handshake(["-tls1_2", "-cipher", cipher]) != 0, "\(cipher) is refused")
        }
        let headers = CLI.execute("/usr/bin/curl", ["-s", "-D", "-", "-o", "-", "--max-time", "10", "--cacert", folder + "/ca.crt",
                                                    "https://localhost:\(named.port)/healthz"], environment: environment).stdoutText.lowercased()
        #expect(headers.contains("strict-transport-security: max-age=31536000"), "\(headers)")
    }

    @Test("PostgreSQL sslmode: require and verify-full use TLS with a server that has ssl=on; require against one without TLS is refused at once, naming why")
    func postgresSSLMode() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-pg-ssl-\(UUID().uuidString.prefix(8))").path
        var environment = ProcessInfo.processInfo.environment
        environment["SECRETFILL_PG_SSL"] = "1"
        let script = CLI.packageRoot.appendingPathComponent("scripts/postgres.sh").path
        let started = CLI.execute("/bin/bash", [script, "start", folder], environment: environment)
        try #require(started.status == 0, "\(started.stderr)")
        defer { _ = CLI.execute("/bin/bash", [script, "stop", folder], environment: ProcessInfo.processInfo.environment) }
        let url = started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        let cli = try CLI()
        let log = { (try? String(contentsOfFile: folder + "/server.log", encoding: .utf8)) ?? "" }
        let before = log().components(separatedBy: "SSL enabled").count

        let required = cli.run(["keys", "create", "a", "--grant", "admin", "--database", url + "?sslmode=require"])
        #expect(required.status == 0, "\(required.allOutput)")
        let verified = cli.run(["keys", "create", "b", "--grant", "admin", "--database", url + "?sslmode=verify-full&sslrootcert=\(folder)/root.crt"])
        #expect(verified.status == 0, "\(verified.allOutput)")
        #expect(log().components(separatedBy: "SSL enabled").count > before + 1, "the connections used TLS")
        // A CA that did not sign the server's certificate: refused, not used in clear.
        let wrongCA = cli.run(["keys", "create", "c", "--grant", "admin", "--database", url + "?sslmode=verify-ca&sslrootcert=\(CLI.fixture("demo/DEMO-KEY-not-a-secret.txt"))"])
        #expect(wrongCA.status != 0)
        let unknown = cli.run(["keys", "create", "c", "--grant", "admin", "--database", url + "?sslmode=sometimes"])
        #expect(unknown.status == 64 && unknown.stderr.contains("sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"), "\(unknown.allOutput)")

        // The suite's own PostgreSQL has no TLS: sslmode=require must never fall back to plain text.
        let plain = try TestPostgres.freshDatabase()
        let start = Date()
        let refused = cli.run(["keys", "create", "d", "--grant", "admin", "--database", plain + "?sslmode=require"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("does not offer TLS, and sslmode=require requires it"), "\(refused.stderr)")
        #expect(Date().timeIntervalSince(start) < 5, "said at once, not after a 10 s wait")
        #expect(TestPostgres.psql(plain, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'api_keys'").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
    }

    @Test("a write blocked by a lock answers 503 before the CLI's 10 s and is rolled back, not committed later")
    func blockedWriteIsRolledBack() throws {
        let team = try ServerTests.Team(.postgres)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write"])
        #expect(team.set("team", nil, "held", "first", token: writer).status == 200)
        // Another session holds the secrets table for 9 s (a long migration, a stuck transaction).
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        holder.arguments = [team.server.databaseURL, "-q", "-c", "BEGIN; LOCK TABLE secrets IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(9); COMMIT;"]
        holder.standardOutput = FileHandle.nullDevice
        holder.standardError = FileHandle.nullDevice
        try holder.run()
        defer { if holder.isRunning { holder.terminate() } }
        Thread.sleep(forTimeInterval: 0.7)
        let start = Date()
        let blocked = team.cli.remote(team.server, token: writer).run(["secrets", "set", "team", "--name", "held", "--value", "second"])
        let elapsed = Date().timeIntervalSince(start)
        #expect(blocked.status == 2, "\(blocked.allOutput)")
        #expect(blocked.stderr.contains("rolled back: nothing was written"), "\(blocked.stderr)")
        #expect(elapsed < 9.5, "answered within the CLI's deadline (\(elapsed) s)")
        holder.waitUntilExit()
        Thread.sleep(forTimeInterval: 0.5)
        // After the lock is gone, the refused write has not happened.
        let reader = try team.key("reader", ["team:read"])
        let resolved = team.resolve(project: nil, names: ["held"], token: reader)
        #expect(resolved.body.contains("\"first\""), "\(resolved.body)")
        let history = team.cli.remote(team.server, token: writer).run(["secrets", "history", "team", "--name", "held"])
        #expect(!history.stdoutText.contains("2  "), "\(history.stdoutText)")
    }

    @Test("secrets import of more than 250 names: refused before sending without --batch; --batch sends batches of 250", arguments: Backend.allCases)
    func importBatches(_ backend: Backend) throws {
        let team = try ServerTests.Team(backend)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write"])
        let file = team.cli.path("big.env")
        try (1...1001).map { "name_\($0)=value-\($0)" }.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let remote = team.cli.remote(team.server, token: writer)
        let refused = remote.run(["secrets", "import", "team", file])
        #expect(refused.status == 64, "\(refused.allOutput)")
        #expect(refused.stderr.contains("has 1001 secrets; a team server takes at most 250"), "\(refused.stderr)")
        #expect(team.server.log.components(separatedBy: "POST /v1/secrets/set").count == 1, "nothing was sent")
        let batched = remote.run(["secrets", "import", "team", file, "--batch"])
        #expect(batched.status == 0, "\(batched.allOutput)")
        #expect(batched.stdoutText.contains("Imported 1001 team secret(s) (1001 added, 0 replaced)"), "\(batched.stdoutText)")
        let listed = remote.run(["secrets", "list", "team"])
        #expect(listed.stdoutText.split(separator: "\n").count >= 1001)
    }
}
