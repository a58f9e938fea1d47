import Foundation
import Testing

/// `secretfill backup` and `restore` through the built program: a PostgreSQL
/// database with versions, keys, a deletion and audit entries, restored into
/// SQLite and into a second PostgreSQL database, answers every verb the same
/// on all three; a changed or cut file, another key, and a database that is
/// not empty are refused before anything is written.
@Suite("backup and restore", .serialized)
struct BackupRestoreTests {
    static let canary = "CANARY-backup-\(UUID().uuidString)"

    /// What every verb says about a team, with the times of "last used" left out.
    static func views(_ cli: CLI, _ server: TestServer, token: String) -> [String] {
        let remote = cli.remote(server, token: token)
        let spec = cli.path("spec.yaml")
        var out: [String] = []
        for arguments in [["secrets", "list", "team", "--format", "json"], ["secrets", "list", "project", "--id", "pr-1"],
                          ["secrets", "which", "db_password", "--project", "pr-1"],
                          ["secrets", "history", "team", "--name", "db_password", "--format", "json"],
                          ["secrets", "history", "project", "--id", "pr-1", "--name", "gone", "--format", "json"],
                          ["render", spec, "--project", "pr-1"], ["env", spec, "--project", "pr-1"]] {
            let outcome = remote.run(arguments)
            out.append("\(arguments.joined(separator: " ")) → \(outcome.status)\n\(outcome.stdoutText)")
        }
        let keys = remote.run(["keys", "list", "--format", "json"])
        let withoutLastUsed = keys.stdoutText.split(separator: "\n").map { line in
            line.replacingOccurrences(of: #""last_used": ("[^"]*"|null)"#, with: "\"last_used\": _", options: .regularExpression)
        }
        out.append("keys list → \(keys.status)\n\(withoutLastUsed.joined(separator: "\n"))")
        let roles = remote.run(["roles", "list", "--format", "json"])
        out.append("roles list → \(roles.status)\n\(roles.stdoutText)")
        let members = remote.run(["members", "list", "--format", "json"])
        out.append("members list → \(members.status)\n\(members.stdoutText)")
        return out
    }

    @Test("PostgreSQL → SQLite and → PostgreSQL: every verb answers the same; the file is 0600 and holds no value in clear")
    func roundTrip() throws {
        let cli = try CLI()
        let source = try TestPostgres.freshDatabase()
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: source)
        _ = try cli.createKeyDirect("ci", grants: ["project:pr-1:read"], database: source)
        _ = try cli.createKeyDirect("old", grants: ["team:names"], database: source)
        #expect(cli.run(["keys", "revoke", "old", "--database", source]).status == 0)
        let role = cli.run(["roles", "create", "ci-main", "--issuer", "https://issuer.example", "--audience", "secretfill",
                            "--bound-claim", "ref=refs/heads/main", "--grant", "team:read", "--database", source])
        #expect(role.status == 0, "\(role.stderr)")
        for (member, grant) in [("ana@acme.dev", "admin"), ("group:platform", "team:read")] {
            let added = cli.run(["members", "add", member, "--grant", grant, "--database", source])
            #expect(added.status == 0, "\(added.stderr)")
        }
        try "env:\n- name: DB\n  value: secret:db_password\n- name: API\n  value: secret:api_key\n".write(toFile: cli.path("spec.yaml"), atomically: true, encoding: .utf8)

        let server = try TestServer(cli: cli, database: source)
        let remote = cli.remote(server, token: admin)
        for value in ["first", "second", Self.canary] {
            #expect(remote.run(["secrets", "set", "team", "--name", "db_password", "--value-stdin"], stdin: Array(value.utf8)).status == 0)
        }
        #expect(remote.run(["secrets", "set", "project", "--id", "pr-1", "--name", "api_key", "--value-stdin"], stdin: Array("k-1".utf8)).status == 0)
        #expect(remote.run(["secrets", "set", "project", "--id", "pr-1", "--name", "gone", "--value-stdin"], stdin: Array("g".utf8)).status == 0)
        #expect(remote.run(["secrets", "delete", "project", "--id", "pr-1", "--name", "gone"]).status == 0)
        let before = Self.views(cli, server, token: admin)
        #expect(before.contains { $0.hasPrefix("members list → 0") && $0.contains("\"group:platform\"") && $0.contains("\"ana@acme.dev\"") }, "\(before)")
        _ = server.stop()

        let file = cli.path("team.backup")
        let backup = cli.run(["backup", "--database", source, "--out", file])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdoutText.contains("2 secret(s)") || backup.stdoutText.contains("3 secret(s)"), "\(backup.stdoutText)")
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        #expect(!String(decoding: bytes, as: UTF8.self).contains(Self.canary), "a value in clear in the backup")
        #expect(!String(decoding: bytes, as: UTF8.self).contains(admin), "a token in the backup")

        for target in [Backend.sqlite, .postgres] {
            let url = try target.freshURL(in: cli)
            let restore = cli.run(["restore", "--database", url, file])
            #expect(restore.status == 0, "\(target): \(restore.stderr)")
            let restored = try TestServer(cli: cli, database: url)
            #expect(Self.views(cli, restored, token: admin) == before, "\(target): the restored server answers differently")
            // The audit log came along, with the restore's own entry last.
            let audit = cli.remote(restored, token: admin).run(["audit", "--format", "json", "--limit", "1000"])
            #expect(audit.stdoutText.contains("\"action\": \"restore\"") || audit.stdoutText.contains("\"action\":\"restore\""), "\(audit.stdoutText)")
            #expect(audit.stdoutText.contains("\"action\": \"set\"") || audit.stdoutText.contains("\"action\":\"set\""))
            _ = restored.stop()
            // Restoring again into it is refused, naming what is there.
            let again = cli.run(["restore", "--database", url, file])
            #expect(again.status == 2)
            #expect(again.stderr.contains("not empty") && again.stderr.contains("secrets ("), "\(again.stderr)")
        }
    }

    @Test("backup --server: an admin key gets the server's backup (0600, no store key here), which restores to the same answers; a names key exits 77 and writes nothing")
    func throughTheServer() throws {
        let cli = try CLI()
        let source = "sqlite:" + cli.path("source.db")
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: source)
        let viewer = try cli.createKeyDirect("viewer", grants: ["team:names"], database: source)
        try "env:\n- name: DB\n  value: secret:db_password\n- name: API\n  value: secret:api_key\n".write(toFile: cli.path("spec.yaml"), atomically: true, encoding: .utf8)
        let server = try TestServer(cli: cli, database: source)
        defer { server.stop() }
        let remote = cli.remote(server, token: admin)
        for value in ["first", Self.canary] {
            #expect(remote.run(["secrets", "set", "team", "--name", "db_password", "--value-stdin"], stdin: Array(value.utf8)).status == 0)
        }
        #expect(remote.run(["secrets", "set", "project", "--id", "pr-1", "--name", "api_key", "--value-stdin"], stdin: Array("k-1".utf8)).status == 0)
        let before = Self.views(cli, server, token: admin)

        // The caller holds no store key: the server seals the file, and only restore needs the key.
        var keyless = remote
        keyless.environment["SECRETFILL_KEY"] = nil
        let file = cli.path("remote.backup")
        let refused = keyless.run(["backup", "--out", file], environment: ["SECRETFILL_TOKEN": viewer])
        #expect(refused.status == 77, "\(refused.stderr)")
        #expect(refused.stderr.contains("admin"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: file))
        let backup = keyless.run(["backup", "--out", file])
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdoutText.contains("Backed up the server at \(server.url) to \(file) ("), "\(backup.stdoutText)")
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self)
        #expect(!text.contains(Self.canary) && !text.contains(admin), "a value or a token in clear in the backup")
        #expect(!(try FileManager.default.contentsOfDirectory(atPath: cli.directory.path)).contains { $0.contains(".tmp-") }, "a temporary file was left behind")
        for output in [backup.allOutput, refused.allOutput, server.log] { #expect(!output.contains(admin) && !output.contains(viewer)) }

        let target = "sqlite:" + cli.path("restored.db")
        let restore = cli.run(["restore", "--database", target, file])
        #expect(restore.status == 0, "\(restore.stderr)")
        let restored = try TestServer(cli: cli, database: target)
        defer { restored.stop() }
        #expect(Self.views(cli, restored, token: admin) == before, "the restored server answers differently")
        // The server audited the download, as the admin's.
        let audit = remote.run(["audit", "--format", "json", "--key", "admin"])
        #expect(audit.stdoutText.contains("\"action\": \"backup\""), "\(audit.stdoutText)")
    }

    @Test("a flipped byte, a cut file or another key is refused before the database is touched")
    func damagedFilesAreRefused() throws {
        let cli = try CLI()
        let source = "sqlite:" + cli.path("source.db")
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: source)
        let server = try TestServer(cli: cli, database: source)
        #expect(cli.remote(server, token: admin).run(["secrets", "set", "team", "--name", "db_password", "--value-stdin"], stdin: Array("v".utf8)).status == 0)
        _ = server.stop()
        let file = cli.path("one.backup")
        #expect(cli.run(["backup", "--database", source, "--out", file]).status == 0)
        let original = try Data(contentsOf: URL(fileURLWithPath: file))

        var flipped = original
        let middle = flipped.count / 2
        flipped[middle] = flipped[middle] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
        let cases: [(String, Data, [String: String])] = [
            ("flipped", flipped, [:]),
            ("cut", original.prefix(original.count - 40), [:]),
            ("cut at a line", original.prefix(through: original.lastIndex(of: UInt8(ascii: "\n"), before: original.count - 1)), [:]),
            ("another key", original, ["SECRETFILL_KEY": Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()]),
        ]
        for (label, content, environment) in cases {
            let path = cli.path("\(label.replacingOccurrences(of: " ", with: "-")).backup")
            try content.write(to: URL(fileURLWithPath: path))
            let target = cli.path("\(label.replacingOccurrences(of: " ", with: "-")).db")
            let outcome = cli.run(["restore", "--database", "sqlite:" + target, path], environment: environment)
            #expect(outcome.status == 2, "\(label): \(outcome.stderr)")
            #expect(outcome.stderr.contains(label == "another key" ? "store key" : "does not verify"), "\(label): \(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: target), "\(label): the database was created")
        }
    }
}

private extension Data {
    func lastIndex(of byte: UInt8, before end: Int) -> Int {
        var index = end - 1
        while index > 0 && self[index] != byte { index -= 1 }
        return index
    }
}
