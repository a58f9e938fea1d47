import Foundation
import Testing

/// The web UI of a real `secretfill serve`, in headless Chromium (JavaScript
/// off, selenium; Tests/Browser/webui_flows.py), on PostgreSQL and on SQLite.
@Suite("Web UI in a real browser", .serialized)
struct WebUIBrowserTests {
    static let canary = "CANARY-webui-5e2b-Qx81-do-not-leak"
    static let script = CLI.packageRoot.appendingPathComponent("Tests/Browser/webui_flows.py").path

    @Test("sign in, add in team/project/cluster, delete, sign out, old cookie refused; names key; forged POST; headers; no value anywhere",
          arguments: Backend.allCases)
    func browserFlows(_ backend: Backend) throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"), "chromium is missing: run scripts/browser.sh")
        let cli = try CLI()
        let database = try backend.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let write = try cli.createKeyDirect("dev", grants: ["team:write", "project:*:write", "cluster:*:write"], database: database)
        let names = try cli.createKeyDirect("viewer", grants: ["team:names", "project:*:names"], database: database)
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        // More than a page (100) of audit entries, for the browser to page through: a name set and
        // deleted in a project of its own (so no page lists it), and its history asked for 110 times.
        let seed = try cli.createKeyDirect("seed", grants: ["project:seed:write"], database: database)
        let seeded = server.post("/v1/secrets/set", "{\"scope\": \"project\", \"id\": \"seed\", \"secrets\": [{\"name\": \"seed_name\", \"value\": \"seed-value\"}]}", token: seed)
        #expect(seeded.status == 200, "\(seeded.body)")
        #expect(server.post("/v1/secrets/delete", "{\"scope\": \"project\", \"id\": \"seed\", \"name\": \"seed_name\"}", token: seed).status == 200)
        for _ in 0..<110 {
            _ = server.post("/v1/secrets/history", "{\"scope\": \"project\", \"id\": \"seed\", \"name\": \"seed_name\"}", token: seed)
        }
        var shots = cli.path("shots")
        if backend == .sqlite, let folder = ProcessInfo.processInfo.environment["SECRETFILL_SCREENSHOTS"], !folder.isEmpty { shots = folder }
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let outcome = CLI.execute("/usr/bin/env", ["python3", Self.script, server.url, write, names, admin, Self.canary, shots],
                                  environment: ProcessInfo.processInfo.environment)
        #expect(outcome.status == 0, "\(outcome.stdoutText)\(outcome.stderr)")
        #expect(outcome.stdoutText.contains("audit pages: 100 then "), "the audit page is paged by 100: \(outcome.stdoutText)")
        for file in ["webui-team.png", "webui-keys.png", "webui-roles.png", "webui-members.png", "webui-secrets.png", "webui-history.png", "webui-audit.png", "webui-narrow.png"] {
            let data = FileManager.default.contents(atPath: shots + "/" + file) ?? Data()
            #expect(data.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "\(file) is a PNG")
        }

        // What the pages did is in the store and the audit log, and the canary is in no log line and no audit entry.
        let reader = try cli.createKeyDirect("reader", grants: ["team:read", "project:*:read", "cluster:*:read"], database: database)
        let listed = server.post("/v1/names", "{\"scopes\": [{\"scope\": \"cluster\", \"id\": \"c-1\"}, {\"scope\": \"team\", \"id\": null}]}", token: reader)
        #expect(listed.status == 200, "\(listed.body)")
        #expect(listed.body.contains("\"kube_token\"") && listed.body.contains("\"shared_name\"") && !listed.body.contains("\"db_password\""))
        let resolved = server.post("/v1/resolve", "{\"project\": \"pr-1\", \"cluster\": null, \"names\": [\"api_token\"]}", token: reader)
        #expect(resolved.body.contains("\(Self.canary)-project"), "the value set from the page is the one stored")
        let audit = cli.remote(server, token: admin).run(["audit", "--format", "json"])
        #expect(audit.status == 0, "\(audit.stderr)")
        let entries = audit.stdoutText.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        func has(_ key: String, _ action: String, _ scope: String, outcome: String = "ok") -> Bool {
            entries.contains { $0["key"] as? String == key && $0["action"] as? String == action && $0["scope"] as? String == scope && $0["outcome"] as? String == outcome }
        }
        #expect(has("dev", "set", "team") && has("dev", "set", "project pr-1") && has("dev", "set", "cluster c-1"))
        #expect(has("dev", "delete", "team"))
        #expect(has("dev", "session.start", "-") && has("dev", "session.end", "-"))
        #expect(has("-", "session.start", "-", outcome: "denied"))
        #expect(has("viewer", "set", "team", outcome: "denied") || has("viewer", "session.start", "-"))
        #expect(has("admin", "key.create", "keys") && has("admin", "key.revoke", "keys"))
        // The Roles section: its create and delete are audited as `roles create`/`delete` are; its views are no role.list row.
        #expect(has("admin", "role.create", "roles") && has("admin", "role.delete", "roles"))
        #expect(!entries.contains { $0["action"] as? String == "role.list" }, "a view of the keys page wrote a role.list audit row")
        // The Members page: add, change and remove are audited as `members add`/`remove` are; its views are no member.list row.
        #expect(entries.filter { $0["key"] as? String == "admin" && $0["action"] as? String == "member.add" && $0["names"] as? [String] == ["ana@acme.dev"] }.count == 2)
        #expect(has("admin", "member.remove", "members"))
        #expect(!entries.contains { $0["action"] as? String == "member.list" }, "a view of the members page wrote a member.list audit row")
        // History and rollback from the pages are audited as the CLI's are; the replace was a set.
        #expect(has("dev", "history", "team") && has("dev", "rollback", "team"))
        #expect(entries.filter { $0["key"] as? String == "dev" && $0["action"] as? String == "set" && $0["scope"] as? String == "team" }.count >= 3)
        // The admin's views of API Keys in the browser are no key.list row (the names key's refused one is); listing through the API is.
        #expect(!entries.contains { $0["action"] as? String == "key.list" && $0["outcome"] as? String == "ok" }, "a view of the keys page wrote a key.list audit row")
        #expect(has("viewer", "key.list", "keys", outcome: "denied"))
        let listedKeys = cli.remote(server, token: admin).run(["keys", "list"])
        #expect(listedKeys.status == 0, "\(listedKeys.stderr)")
        let after = cli.remote(server, token: admin).run(["audit", "--format", "json"])
        #expect(after.stdoutText.split(separator: "\n").contains { $0.contains("\"key\": \"admin\"") && $0.contains("\"key.list\"") && $0.contains("\"ok\"") },
                "the API's key listing is audited")
        // The audit entries of the pages carry the client's address.
        #expect(entries.contains { $0["action"] as? String == "rollback" && ($0["client"] as? String ?? "").contains("127.0.0.1") })
        for text in [audit.allOutput, server.log] {
            #expect(!text.contains(Self.canary))
            for token in [admin, write, names] { #expect(!text.contains(token)) }
        }
        if backend == .postgres {
            let dump = CLI.execute("/usr/bin/pg_dump", [database], environment: ProcessInfo.processInfo.environment)
            #expect(dump.status == 0, "\(dump.stderr)")
            #expect(!dump.stdoutText.contains(Self.canary))
            #expect(dump.stdoutText.contains("sessions"))
        }
    }
}
