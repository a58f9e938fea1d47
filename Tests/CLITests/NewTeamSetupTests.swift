import Foundation
import Testing

/// What a new team meets when it sets up a server (issue 24): the store key
/// from `init --key-only`, PostgreSQL passwords from PGPASSWORD and
/// ~/.pgpass against a real server that asks for one, each login mistake
/// named at once, a wrong store key refused before the server listens, and
/// the environment variables beside the flags.
@Suite("Setting up a team server", .serialized)
struct NewTeamSetupTests {
    static let password = "pw:with\\colon-and-CANARY-7f3a"
    static let script = CLI.packageRoot.appendingPathComponent("scripts/postgres.sh").path

    /// A throwaway PostgreSQL whose TCP logins need a password (scram-sha-256),
    /// with the role `sf` owning the database `secretfill`.
    static func passwordCluster() throws -> (url: String, folder: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-pg-pw-\(UUID().uuidString.prefix(8))").path
        var environment = ProcessInfo.processInfo.environment
        environment["SECRETFILL_PG_PASSWORD"] = password
        let started = CLI.execute("/bin/bash", [script, "start", folder], environment: environment)
        try #require(started.status == 0, "\(started.stderr)")
        return (started.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines), folder)
    }

    @Test("PostgreSQL passwords: PGPASSWORD, ~/.pgpass (0600 used, 0644 passed over with a warning); a wrong password, a missing database, a missing password each named at once; the password and the pool's lines never shown")
    func postgresPasswords() throws {
        let (url, folder) = try Self.passwordCluster()
        defer { _ = CLI.execute("/bin/bash", [Self.script, "stop", folder], environment: ProcessInfo.processInfo.environment) }
        var cli = try CLI()
        cli.environment["PGPASSFILE"] = nil
        func create(_ name: String, _ database: String = url, _ extra: [String: String] = [:]) -> (CLI.Outcome, TimeInterval) {
            let start = Date()
            let outcome = cli.run(["keys", "create", name, "--grant", "admin", "--database", database], environment: extra)
            return (outcome, Date().timeIntervalSince(start))
        }
        func clean(_ outcome: CLI.Outcome) {
            #expect(!outcome.allOutput.contains("CANARY-7f3a"), "the password is never shown: \(outcome.allOutput)")
            #expect(!outcome.stderr.contains("[PostgresNIO]") && !outcome.stderr.contains("psql_connection"), "no pool lines: \(outcome.stderr)")
        }

        let (none, noneTime) = create("a")
        #expect(none.status == 2 && none.stderr.contains("asks for a password for user \"sf\" and none was given"), "\(none.allOutput)")
        #expect(noneTime < 3)
        clean(none)

        let (wrong, wrongTime) = create("a", url, ["PGPASSWORD": "not-it"])
        #expect(wrong.status == 2 && wrong.stderr.contains("password authentication failed for user \"sf\""), "\(wrong.allOutput)")
        #expect(wrongTime < 3, "named at once, not after a 10 s wait")
        clean(wrong)

        let (right, _) = create("a", url, ["PGPASSWORD": Self.password])
        #expect(right.status == 0 && right.stdoutText.hasPrefix("sf_"), "\(right.allOutput)")
        clean(right)

        let (missing, missingTime) = create("b", url.replacingOccurrences(of: "/secretfill", with: "/nosuchdb"), ["PGPASSWORD": Self.password])
        #expect(missing.status == 2 && missing.stderr.contains("has no database \"nosuchdb\""), "\(missing.allOutput)")
        #expect(missingTime < 3)
        clean(missing)

        let (role, _) = create("b", url.replacingOccurrences(of: "//sf@", with: "//nobody@"), ["PGPASSWORD": Self.password])
        #expect(role.status == 2 && role.stderr.contains("password authentication failed for user \"nobody\""), "a missing role is refused as libpq words it: \(role.allOutput)")
        clean(role)

        // ~/.pgpass, with an escaped colon in the password, as libpq reads it.
        let escaped = Self.password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ":", with: "\\:")
        let pgpass = cli.path(".pgpass")
        try "# host:port:database:user:password\n127.0.0.1:*:other:sf:wrong\n127.0.0.1:*:secretfill:sf:\(escaped)\n".write(toFile: pgpass, atomically: false, encoding: .utf8)
        chmod(pgpass, 0o644)
        let (open, _) = create("c")
        #expect(open.status == 2 && open.stderr.contains("can be read by group or others; not used"), "\(open.allOutput)")
        clean(open)
        chmod(pgpass, 0o600)
        let (fromFile, _) = create("c")
        #expect(fromFile.status == 0, "\(fromFile.allOutput)")
        clean(fromFile)

        // serve with the password from ~/.pgpass: no pool warning on a good start.
        let server = try TestServer(cli: cli, database: url, arguments: ["--log-level", "info"])
        #expect(!server.log.contains("[PostgresNIO]") && !server.log.contains("CANARY-7f3a"), "\(server.log)")
        server.stop()
    }

    @Test("serve with a store key other than the database's stops before it listens: no \"serving on\" line, and the fingerprint it expected named", arguments: Backend.allCases)
    func keyMismatchBeforeListening(_ backend: Backend) throws {
        let cli = try CLI()
        let database = try backend.freshURL(in: cli)
        let first = try TestServer(cli: cli, database: database)
        first.stop()
        var other = cli
        other.environment["SECRETFILL_KEY"] = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let start = Date()
        let refused = other.run(["serve", "--database", database, "--listen", "127.0.0.1:0"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("the database was sealed with key sha256:"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("serving on"), "refused before the server listens: \(refused.stderr)")
        #expect(!refused.stderr.contains("CancellationError") && !refused.stderr.contains("Server started"), "\(refused.stderr)")
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test("serve on a SQLite path whose folder is missing names the folder and stops before it listens")
    func sqliteFolderMissing() throws {
        let cli = try CLI()
        let path = cli.path("no-such-folder/server.db")
        let refused = cli.run(["serve", "--database", "sqlite:" + path, "--listen", "127.0.0.1:0"])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("its folder \(cli.path("no-such-folder")) does not exist"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("serving on") && !refused.stderr.contains("SQLiteError"), "\(refused.stderr)")
    }

    @Test("init --key-only writes a key file (0600) and no store, refuses to overwrite, refuses with SECRETFILL_KEY set; serve without a key names it; init --help offers no server options")
    func keyOnly() throws {
        var cli = try CLI()
        cli.environment["SECRETFILL_KEY"] = nil
        let keyFile = cli.path("config/secretfill/key")
        let made = cli.run(["init", "--key-only"])
        #expect(made.status == 0 && made.stdoutText.contains("Created key \(keyFile) (sha256:"), "\(made.allOutput)")
        #expect(CLI.mode(keyFile) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: cli.storePath), "no store is written")
        let before = CLI.bytes(keyFile)
        let again = cli.run(["init", "--key-only"])
        #expect(again.status == 2 && again.stderr.contains("already exists") && CLI.bytes(keyFile) == before, "\(again.allOutput)")
        #expect(cli.run(["init", "--key-only", "--use-existing-key"]).status == 64)
        let withEnvironment = cli.run(["init", "--key-only"], environment: ["SECRETFILL_KEY": try CLI().key])
        #expect(withEnvironment.status == 64 && withEnvironment.stderr.contains("SECRETFILL_KEY is set"), "\(withEnvironment.allOutput)")

        var bare = try CLI()
        bare.environment["SECRETFILL_KEY"] = nil
        let noKey = bare.run(["serve", "--database", "sqlite:" + bare.path("s.db"), "--listen", "127.0.0.1:0"])
        #expect(noKey.status == 2 && noKey.stderr.contains("secretfill init --key-only"), "\(noKey.allOutput)")

        let help = cli.run(["init", "--help"]).stdoutText
        #expect(help.contains("--key-only") && !help.contains("--server") && !help.contains("--token-file") && !help.contains("--ca-file"), "\(help)")
    }

    @Test("SECRETFILL_TOKEN_FILE gives the key when neither --token-file nor SECRETFILL_TOKEN does, under the same file rules; SECRETFILL_TOKEN wins over it")
    func tokenFileVariable() throws {
        let cli = try CLI()
        let database = "sqlite:" + cli.path("t.db")
        let token = try cli.createKeyDirect("dev", grants: ["team:write"], database: database)
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let file = cli.path("token")
        try (token + "\n").write(toFile: file, atomically: false, encoding: .utf8)
        chmod(file, 0o600)
        var remote = cli
        remote.environment["SECRETFILL_SERVER"] = server.url
        let set = remote.run(["secrets", "set", "team", "--name", "api_key", "--value", "v1"], environment: ["SECRETFILL_TOKEN_FILE": file])
        #expect(set.status == 0, "\(set.allOutput)")
        let listed = remote.run(["secrets", "list", "team"], environment: ["SECRETFILL_TOKEN_FILE": file])
        #expect(listed.status == 0 && listed.stdoutText.contains("api_key"), "\(listed.allOutput)")
        chmod(file, 0o644)
        let open = remote.run(["secrets", "list", "team"], environment: ["SECRETFILL_TOKEN_FILE": file])
        #expect(open.status == 2 && open.stderr.contains(file), "the file rules hold for the variable too: \(open.allOutput)")
        #expect(!open.allOutput.contains(token))
        // SECRETFILL_TOKEN wins over the file's variable.
        let inline = remote.run(["secrets", "list", "team"], environment: ["SECRETFILL_TOKEN_FILE": file, "SECRETFILL_TOKEN": token])
        #expect(inline.status == 0, "\(inline.allOutput)")

    }
}

extension NewTeamSetupTests {
    @Test("with no server, keys create, keys list, keys revoke and audit all use serve's database: --database, else SECRETFILL_DATABASE_URL, else server.db beside the default store", arguments: Backend.allCases)
    func directDatabaseDefault(_ backend: Backend) throws {
        var cli = try CLI()
        cli.environment["SECRETFILL_STORE"] = nil
        let database = try backend.freshURL(in: cli)
        // The default: nothing given, so server.db in the config folder, as serve uses.
        #expect(cli.run(["keys", "create", "admin", "--grant", "admin"]).status == 0)
        #expect(cli.run(["keys", "create", "second", "--grant", "admin"]).status == 0)
        let defaultList = cli.run(["keys", "list", "--format", "json"])
        #expect(defaultList.status == 0 && defaultList.stdoutText.contains("\"admin\"") && defaultList.stdoutText.contains("\"second\""), "\(defaultList.allOutput)")
        #expect(FileManager.default.fileExists(atPath: cli.path("config/secretfill/server.db")))
        let revoked = cli.run(["keys", "revoke", "second"])
        #expect(revoked.status == 0 && revoked.stdoutText.contains("Revoked key 'second'"), "\(revoked.allOutput)")
        let audit = cli.run(["audit", "--format", "json"])
        #expect(audit.status == 0 && audit.stdoutText.contains("\"action\": \"key.revoke\"") && audit.stdoutText.contains("\"key\": \"(database)\""), "\(audit.allOutput)")

        // SECRETFILL_DATABASE_URL, then --database over it.
        var viaEnvironment = cli
        viaEnvironment.environment["SECRETFILL_DATABASE_URL"] = database
        #expect(viaEnvironment.run(["keys", "create", "env-admin", "--grant", "admin"]).status == 0)
        let listed = viaEnvironment.run(["keys", "list"])
        #expect(listed.stdoutText.contains("env-admin") && !listed.stdoutText.contains("second"), "\(listed.allOutput)")
        let named = cli.run(["keys", "list", "--database", database])
        #expect(named.stdoutText.contains("env-admin"), "\(named.allOutput)")
        let last = viaEnvironment.run(["keys", "revoke", "env-admin"])
        #expect(last.status == 2 && last.stderr.contains("admin"), "the last admin key stays, straight to the database too: \(last.allOutput)")
        let entries = viaEnvironment.run(["audit", "--since", "1h", "--format", "table"])
        #expect(entries.status == 0 && entries.stdoutText.hasPrefix("TIME") && entries.stdoutText.contains("key.create"), "\(entries.allOutput)")
    }
}

/// `keys list`, `audit` and `secrets history` as tables on a terminal, and
/// `audit --since` with weeks, dates and RFC 3339 times.
@Suite("CLI tables and audit --since", .serialized)
struct CLITableTests {
    /// The header's words start the columns: every row's cell for a column starts where its header word does.
    static func aligned(_ output: String, headers: [String]) -> Bool {
        let lines = output.split(separator: "\n").map(String.init)
        guard let header = lines.first, lines.count > 1 else { return false }
        let starts = headers.compactMap { word in header.range(of: word).map { header.distance(from: header.startIndex, to: $0.lowerBound) } }
        guard starts.count == headers.count else { return false }
        return lines.dropFirst().allSatisfy { line in
            starts.dropFirst().allSatisfy { start in
                let characters = Array(line)
                return start < characters.count && characters[start] != " " && characters[start - 1] == " " && characters[start - 2] == " "
            }
        }
    }

    @Test("--format table: a header and aligned columns for keys list, audit and history; piped without --format, the one-line text is unchanged; on a terminal (a pty) table is the default")
    func tables() throws {
        let cli = try CLI()
        let database = "sqlite:" + cli.path("t.db")
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        _ = try cli.createKeyDirect("a-much-longer-key-name", grants: ["team:write"], database: database)
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let remote = cli.remote(server, token: admin)
        for value in ["v1", "v2", "v3"] {
            #expect(remote.run(["secrets", "set", "team", "--name", "api_key", "--value", value]).status == 0)
        }

        let keys = remote.run(["keys", "list", "--format", "table"])
        #expect(keys.status == 0 && keys.stdoutText.hasPrefix("NAME"), "\(keys.allOutput)")
        #expect(Self.aligned(keys.stdoutText, headers: ["NAME", "GRANTS", "CREATED", "LAST USED", "EXPIRES", "REVOKED"]), "\(keys.stdoutText)")
        let keysText = remote.run(["keys", "list"])
        #expect(keysText.stdoutText.hasPrefix("a-much-longer-key-name  team:write  created "), "piped: the text lines as before: \(keysText.stdoutText)")

        let history = remote.run(["secrets", "history", "team", "--name", "api_key", "--format", "table"])
        #expect(history.status == 0 && Self.aligned(history.stdoutText, headers: ["VERSION", "TIME", "KEY"]), "\(history.stdoutText)")
        #expect(history.stdoutText.contains("(current)"))
        let historyJSON = remote.run(["secrets", "history", "team", "--name", "api_key", "--format", "json"])
        let object = try JSONSerialization.jsonObject(with: Data(historyJSON.stdout)) as? [String: Any]
        #expect((object?["versions"] as? [[String: Any]])?.count == 3 && object?["deleted"] as? Bool == false, "\(historyJSON.stdoutText)")

        let audit = remote.run(["audit", "--format", "table"])
        #expect(audit.status == 0 && Self.aligned(audit.stdoutText, headers: ["TIME", "KEY", "ACTION", "OUTCOME", "SCOPE", "NAMES", "CLIENT"]), "\(audit.stdoutText)")

        // On a terminal, table is the default: run it under a pty (script(1)), its typescript kept in the test's folder.
        let typescript = cli.path("typescript")
        let binary = CLI.binary.path
        let onTerminal = CLI.execute("/usr/bin/script", ["-qec", "\(binary) keys list", typescript], environment: remote.environment)
        #expect(onTerminal.status == 0, "\(onTerminal.allOutput)")
        let shown = (try? String(contentsOfFile: typescript, encoding: .utf8)) ?? ""
        #expect(shown.contains("NAME") && shown.contains("LAST USED"), "\(shown)")
    }

    @Test("audit --since: 2w, a date, an RFC 3339 time with Z or an offset; a future time, a bad date and garbage refused with 64")
    func since() throws {
        let cli = try CLI()
        let database = "sqlite:" + cli.path("t.db")
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let remote = cli.remote(server, token: admin)
        #expect(remote.run(["secrets", "set", "team", "--name", "api_key", "--value", "v1"]).status == 0)
        let formatter = ISO8601DateFormatter()
        let yesterday = formatter.string(from: Date().addingTimeInterval(-86_400))
        let day = String(yesterday.prefix(10))
        for since in ["2w", day, yesterday, String(yesterday.dropLast()) + "+02:00", "10m"] {
            let outcome = remote.run(["audit", "--since", since, "--format", "json"])
            #expect(outcome.status == 0 && outcome.stdoutText.contains("\"action\": \"set\""), "\(since): \(outcome.allOutput)")
        }
        Thread.sleep(forTimeInterval: 2.5)
        let later = formatter.string(from: Date().addingTimeInterval(-1))
        let recent = remote.run(["audit", "--since", later, "--format", "json"])
        #expect(recent.status == 0 && !recent.stdoutText.contains("\"action\": \"set\""), "only entries newer than the time: \(recent.allOutput)")
        let future = formatter.string(from: Date().addingTimeInterval(86_400))
        for bad in [future, "2026-02-30", "2026-12-01T25:00:00Z", "yesterday", "3y"] {
            let outcome = remote.run(["audit", "--since", bad])
            #expect(outcome.status == 64 && outcome.stderr.contains("--since takes a duration"), "\(bad): \(outcome.allOutput)")
        }
    }
}
