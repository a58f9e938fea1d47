import Foundation
import Testing

/// Issue 25, members: `secretfill members add/list/remove` through the built
/// binary, straight to the database and through a real `serve`, on SQLite
/// and PostgreSQL.
@Suite("members end to end")
struct MembersCLITests {
    @Test("members add (Added, then Updated), list as text, table and json, remove; --database and --server alike; a names key exits 77; a malformed member 64",
          arguments: Backend.allCases)
    func addListRemove(_ backend: Backend) throws {
        let cli = try CLI()
        let database = try backend.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let first = cli.run(["members", "add", "Ana@Acme.dev", "--grant", "team:read", "--database", database])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdoutText == "Added member 'ana@acme.dev' with team:read\n", "\(first.stdoutText)")

        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let remote = cli.remote(server, token: admin)
        let group = remote.run(["members", "add", "group:platform", "--grant", "team:read"])
        #expect(group.status == 0 && group.stdoutText.hasPrefix("Added member 'group:platform'"), "\(group.allOutput)")
        let again = remote.run(["members", "add", "group:platform", "--grant", "team:write", "--grant", "project:*:read"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdoutText == "Updated member 'group:platform' with team:write, project:*:read\n", "\(again.stdoutText)")

        let json = remote.run(["members", "list", "--format", "json"])
        #expect(json.status == 0, "\(json.stderr)")
        let items = try #require(try JSONSerialization.jsonObject(with: Data(json.stdoutText.utf8)) as? [[String: Any]], "\(json.stdoutText)")
        #expect(items.compactMap { $0["name"] as? String } == ["ana@acme.dev", "group:platform"])
        #expect(items.last?["grants"] as? [String] == ["team:write", "project:*:read"])
        #expect(Set(items.first?.keys.map { $0 } ?? []) == ["name", "grants", "created", "updated"])
        let text = remote.run(["members", "list", "--format", "text"])
        #expect(text.status == 0 && text.stdoutText.split(separator: "\n").count == 2, "\(text.allOutput)")
        #expect(text.stdoutText.hasPrefix("ana@acme.dev  grants team:read  added "), "\(text.stdoutText)")
        let table = remote.run(["members", "list", "--format", "table"])
        #expect(table.stdoutText.contains("MEMBER") && table.stdoutText.contains("group:platform"), "\(table.allOutput)")
        // The same list straight from the database.
        let local = cli.run(["members", "list", "--format", "json", "--database", database])
        #expect(local.status == 0 && local.stdoutText == json.stdoutText, "\(local.allOutput)")

        let reader = try cli.createKeyDirect("reader", grants: ["team:names"], database: database)
        let refused = cli.remote(server, token: reader).run(["members", "add", "eve@acme.dev", "--grant", "admin"])
        #expect(refused.status == 77, "\(refused.allOutput)")
        #expect(refused.stderr.contains("key 'reader' may not manage members"), "\(refused.stderr)")
        #expect(cli.remote(server, token: reader).run(["members", "list"]).status == 77)

        for bad in [["members", "add", "nobody", "--grant", "team:read"], ["members", "add", "a@b.dev"], ["members", "add", "a@b.dev", "--grant", "team:all"],
                    ["members", "remove", "group:"]] {
            let outcome = remote.run(bad)
            #expect(outcome.status == 64, "\(bad): \(outcome.allOutput)")
        }

        let removed = remote.run(["members", "remove", "ANA@acme.dev"])
        #expect(removed.status == 0 && removed.stdoutText == "Removed member 'ana@acme.dev'\n", "\(removed.allOutput)")
        let gone = remote.run(["members", "remove", "ana@acme.dev"])
        #expect(gone.status == 2 && gone.stderr.contains("there is no member 'ana@acme.dev'"), "\(gone.allOutput)")
        let localRemove = cli.run(["members", "remove", "group:platform", "--database", database])
        #expect(localRemove.status == 0, "\(localRemove.allOutput)")
        #expect(remote.run(["members", "list", "--format", "json"]).stdoutText == "[]\n")

        let audit = remote.run(["audit", "--format", "json", "--limit", "100"])
        for action in ["member.add", "member.list", "member.remove"] {
            #expect(audit.stdoutText.contains("\"action\": \"\(action)\""), "no \(action) in \(audit.stdoutText)")
        }
        #expect(!audit.stdoutText.contains(admin) && !audit.stdoutText.contains(reader))
    }

    @Test("the last admin counts members: the only admin key can be revoked while an admin member remains; that member then cannot be removed nor lose admin (exit 2), through the server or the database",
          arguments: Backend.allCases)
    func lastAdmin(_ backend: Backend) throws {
        let cli = try CLI()
        let database = try backend.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        // Expires within 24 h: it does not count as another admin.
        let short = try cli.createKeyDirect("short", grants: ["admin"], database: database, expires: "1h")
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let remote = cli.remote(server, token: admin)
        let lastKey = remote.run(["keys", "revoke", "admin"])
        #expect(lastKey.status == 2 && lastKey.stderr.contains("key 'admin' is the last admin key"), "\(lastKey.allOutput)")
        #expect(remote.run(["members", "add", "boss@acme.dev", "--grant", "admin"]).status == 0)
        let revoked = remote.run(["keys", "revoke", "admin"])
        #expect(revoked.status == 0, "an admin member is another admin: \(revoked.allOutput)")

        let viaShort = cli.remote(server, token: short)
        let remove = viaShort.run(["members", "remove", "boss@acme.dev"])
        #expect(remove.status == 2, "\(remove.allOutput)")
        #expect(remove.stderr.contains("member 'boss@acme.dev' is the last admin: add another admin (key or member) before removing it"), "\(remove.stderr)")
        let demote = viaShort.run(["members", "add", "boss@acme.dev", "--grant", "team:read"])
        #expect(demote.status == 2 && demote.stderr.contains("is the last admin"), "\(demote.allOutput)")
        let local = cli.run(["members", "remove", "boss@acme.dev", "--database", database])
        #expect(local.status == 2 && local.stderr.contains("is the last admin"), "\(local.allOutput)")
        let list = viaShort.run(["members", "list", "--format", "json"])
        #expect(list.stdoutText.contains("\"boss@acme.dev\"") && list.stdoutText.contains("\"admin\""), "\(list.allOutput)")

        // With a second admin member the first can go.
        #expect(viaShort.run(["members", "add", "group:admins", "--grant", "admin"]).status == 0)
        let now = viaShort.run(["members", "remove", "boss@acme.dev"])
        #expect(now.status == 0, "\(now.allOutput)")
    }
    @Test("on PostgreSQL, revoking the last admin key and removing the last admin member at once: exactly one goes through, the other is refused as the last admin")
    func concurrentLastAdmins() throws {
        let cli = try CLI()
        let database = try TestPostgres.freshDatabase()
        _ = try cli.createKeyDirect("lasting", grants: ["admin"], database: database)
        // Expires within 24 h: it acts, but does not count as another admin.
        let short = try cli.createKeyDirect("short", grants: ["admin"], database: database, expires: "1h")
        #expect(cli.run(["members", "add", "boss@acme.dev", "--grant", "admin", "--database", database]).status == 0)
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        #expect(cli.remote(server, token: short).run(["members", "list"]).status == 0, "the key used once: no write of its own later")
        let environment = ProcessInfo.processInfo.environment
        // A third session holds members so both changes are in flight together when it lets go.
        let holder = try SecurityReviewTests.Background("/usr/bin/psql", [database, "-v", "ON_ERROR_STOP=1", "-q", "-c",
                                                      "BEGIN; LOCK TABLE members IN EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT;"],
                                    environment: environment)
        let locks = "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname IN ('api_keys', 'members') AND "
        let held = holder.wait(seconds: 5) {
            TestPostgres.psql(database, locks + "l.mode = 'ExclusiveLock' AND l.granted").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "1"
        }
        try #require(held, "the psql holding the lock did not start: \(holder.stderr)")
        let asShort = cli.environment.merging(["SECRETFILL_SERVER": server.url, "SECRETFILL_TOKEN": short]) { $1 }
        func waiting() -> Int { Int(TestPostgres.psql(database, locks + "NOT l.granted").stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 }
        // The revoke first (it then holds api_keys and waits for members), then the removal: the order
        // in which a removal that read the admins without waiting for the revoke would let both through.
        let revoke = try SecurityReviewTests.Background(CLI.binary.path, ["keys", "revoke", "lasting"], environment: asShort)
        #expect(holder.wait(seconds: 4) { waiting() >= 1 }, "the revoke should be waiting on members")
        let remove = try SecurityReviewTests.Background(CLI.binary.path, ["members", "remove", "boss@acme.dev"], environment: asShort)
        let bothWaiting = holder.wait(seconds: 4) { waiting() >= 2 }
        #expect(bothWaiting, "both changes should be waiting on the admins' tables together")
        _ = TestPostgres.psql(database, "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(8)%' AND pid <> pg_backend_pid()")
        holder.finish(seconds: 5)
        let outcomes = [(revoke.finish(seconds: 15), revoke.stderr), (remove.finish(seconds: 15), remove.stderr)]
        #expect(outcomes.filter { $0.0 == 0 }.count == 1, "exactly one goes through: \(outcomes)")
        #expect(outcomes.filter { $0.0 == 2 && $0.1.contains("last admin") }.count == 1, "the other is the last admin: \(outcomes)")
        let keys = TestPostgres.psql(database, "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND name = 'lasting'").stdoutText
        let members = TestPostgres.psql(database, "SELECT count(*) FROM members WHERE name = 'boss@acme.dev'").stdoutText
        #expect([keys, members].map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.sorted() == ["0", "1"], "one lasting admin is left: \(keys) \(members)")
    }
}
