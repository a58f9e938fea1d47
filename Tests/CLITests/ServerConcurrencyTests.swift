import Foundation
import Testing

/// Several writers and servers on one PostgreSQL database, a server killed
/// with SIGKILL in the middle of writes, and what `import` says it did.
@Suite("Team server concurrency", .serialized)
struct ServerConcurrencyTests {
    /// A fresh PostgreSQL database with a writer and a reader key, made
    /// straight in the database (no server needed).
    struct Fixture {
        let cli: CLI
        let database: String
        let writer: String
        let reader: String

        init(_ backend: Backend = .postgres) throws {
            cli = try CLI()
            database = try backend.freshURL(in: cli)
            writer = try cli.createKeyDirect("writer", grants: ["team:write", "project:*:write"], database: database)
            reader = try cli.createKeyDirect("reader", grants: ["team:read", "project:*:read"], database: database)
        }

        /// A bash script run as its own process, with the binary as `$BIN`
        /// and the writer's token in `SECRETFILL_TOKEN`; stdout and stderr
        /// go to files in the test's folder.
        func startScript(_ name: String, _ script: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/bash")
            process.arguments = ["-c", script]
            var environment = cli.environment
            environment["BIN"] = CLI.binary.path
            environment["SECRETFILL_TOKEN"] = writer
            process.environment = environment
            process.currentDirectoryURL = cli.directory
            process.standardInput = FileHandle.nullDevice
            _ = FileManager.default.createFile(atPath: cli.path("\(name).out"), contents: nil)
            _ = FileManager.default.createFile(atPath: cli.path("\(name).err"), contents: nil)
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: cli.path("\(name).out")))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: cli.path("\(name).err")))
            try process.run()
            return process
        }

        /// The test's folder, once its servers and writers are gone (the last `defer`).
        func removeFolder() { try? FileManager.default.removeItem(at: cli.directory) }

        func text(_ file: String) -> String {
            (try? String(contentsOfFile: cli.path(file), encoding: .utf8)) ?? ""
        }

        /// `psql -At` of one query, its lines.
        func query(_ sql: String) throws -> [String] {
            let outcome = TestPostgres.psql(database, sql)
            try #require(outcome.status == 0, "psql: \(outcome.stderr)")
            return outcome.stdoutText.split(separator: "\n").map(String.init)
        }

        /// The current team values of `names`, decrypted by `server` for the reader key.
        func resolve(_ names: [String], on server: TestServer) throws -> [String: String] {
            let list = names.map { "\"\($0)\"" }.joined(separator: ",")
            let answer = server.post("/v1/resolve", "{\"project\": null, \"cluster\": null, \"names\": [\(list)]}", token: reader)
            try #require(answer.status == 200, "resolve: \(answer.status) \(answer.body.prefix(300))")
            let secrets = try #require(answer.json?["secrets"] as? [String: [String: Any]])
            return secrets.compactMapValues { $0["value"] as? String }
        }

        /// Rows that would mean a half-written secret: a current row whose
        /// version row is missing, a version row without its current row, a
        /// version above the current one, or a write with no audit row.
        func halfWritten() throws -> [String] {
            try query("""
                SELECT 'no version row: ' || s.name FROM secrets s WHERE NOT EXISTS (SELECT 1 FROM secret_versions v
                  WHERE v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version = s.current_version)
                UNION ALL
                SELECT 'no current row: ' || v.name FROM secret_versions v WHERE NOT EXISTS (SELECT 1 FROM secrets s
                  WHERE v.scope_kind = s.scope_kind AND v.scope_id = s.scope_id AND v.name = s.name AND v.version <= s.current_version)
                UNION ALL
                SELECT 'no audit row: ' || s.name FROM secrets s WHERE NOT EXISTS (SELECT 1 FROM audit_log a
                  WHERE a.action = 'set' AND a.outcome = 'ok' AND position(',' || s.name || ',' in ',' || a.names || ',') > 0)
                """)
        }
    }

    static func seconds(since start: Date) -> String { String(format: "%.1f s", Date().timeIntervalSince(start)) }

    @Test("two servers on one PostgreSQL: 8 concurrent writers × 40 names over both, 320 names, each with exactly 1 version")
    func twoServersEightWriters() throws {
        let start = Date()
        let fixture = try Fixture()
        defer { fixture.removeFolder() }
        let servers = [try TestServer(cli: fixture.cli, database: fixture.database),
                       try TestServer(cli: fixture.cli, database: fixture.database)]
        defer { for server in servers { server.stop() } }

        // Writer w sends its 40 names to server w % 2, one request and one
        // transaction per name, one after another (curl: a debug `secretfill`
        // process per set would make 320 sets take 25 s on two cores); the 8
        // writers run at once. Halfway, each also runs `secretfill secrets
        // set` of the same project name, so that one name is written 8 times
        // at about the same moment through both servers, by the CLI itself.
        var writers: [Process] = []
        for w in 0..<8 {
            let script = """
                url='\(servers[w % 2].url)'
                for i in $(seq 0 39); do
                  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 -H "Authorization: Bearer $SECRETFILL_TOKEN" \\
                    -H 'Content-Type: application/json' --data-binary "{\\"scope\\": \\"team\\", \\"id\\": null, \\"secrets\\": [{\\"name\\": \\"w\(w)_n$i\\", \\"value\\": \\"value-\(w)-$i\\"}]}" \\
                    "$url/v1/secrets/set")
                  [ "$code" = 200 ] || echo "set w\(w)_n$i: HTTP $code"
                  if [ "$i" = 20 ]; then
                    printf 'shared-\(w)' | SECRETFILL_SERVER="$url" "$BIN" secrets set project --id shared --name counter --value-stdin >/dev/null || echo "set counter failed: $?"
                  fi
                done
                """
            writers.append(try fixture.startScript("writer\(w)", script))
        }
        defer { for writer in writers where writer.isRunning { kill(writer.processIdentifier, SIGKILL) } }
        for writer in writers { writer.waitUntilExit() }
        let writeTime = Self.seconds(since: start)
        for w in 0..<8 {
            #expect(writers[w].terminationStatus == 0)
            #expect(fixture.text("writer\(w).out").isEmpty, "writer \(w): \(fixture.text("writer\(w).out")) \(fixture.text("writer\(w).err"))")
        }

        let expected = Set((0..<8).flatMap { w in (0..<40).map { "w\(w)_n\($0)" } })
        for server in servers {
            let listed = fixture.cli.remote(server, token: fixture.writer).run(["secrets", "list", "team"])
            #expect(listed.status == 0, "\(listed.stderr)")
            let names = listed.stdoutText.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
            #expect(names.count == 320)
            #expect(Set(names) == expected)
        }
        #expect(try fixture.query("SELECT count(*), count(DISTINCT name), min(version), max(version) FROM secret_versions WHERE scope_kind = 'team'")
                == ["320|320|1|1"])
        #expect(try fixture.query("SELECT count(*) FROM secrets WHERE scope_kind = 'team' AND current_version = 1 AND deleted = 0") == ["320"])
        #expect(try fixture.query("SELECT count(*) FROM audit_log WHERE action = 'set' AND outcome = 'ok'") == ["328"])
        for name in ["w0_n0", "w3_n20", "w7_n39"] {
            let history = fixture.cli.remote(servers[1], token: fixture.writer).run(["secrets", "history", "team", "--name", name])
            #expect(history.status == 0, "\(history.stderr)")
            #expect(history.stdoutText.split(separator: "\n").count == 1 && history.stdoutText.hasPrefix("1  "), "\(name): \(history.stdoutText)")
        }
        // The name all 8 wrote: versions 1 to 8, each once, the current one a writer's value.
        #expect(try fixture.query("SELECT string_agg(version::text, ',' ORDER BY version) FROM secret_versions WHERE scope_id = 'shared'")
                == ["1,2,3,4,5,6,7,8"])
        let counter = fixture.cli.remote(servers[0], token: fixture.writer).run(["secrets", "history", "project", "--id", "shared", "--name", "counter"])
        #expect(counter.stdoutText.split(separator: "\n").count == 8, "\(counter.allOutput)")

        let values = try fixture.resolve(expected.sorted(), on: servers[0])
        #expect(values.count == 320)
        for w in 0..<8 {
            for i in 0..<40 where values["w\(w)_n\(i)"] != "value-\(w)-\(i)" {
                Issue.record("w\(w)_n\(i) does not hold the value it was set to")
            }
        }
        #expect(try fixture.halfWritten() == [])
        for server in servers {
            // Both servers took writes: 4 writers × 41 sets each.
            #expect(server.log.components(separatedBy: "POST /v1/secrets/set 200").count - 1 == 164)
        }
        print("twoServersEightWriters: 328 sets by 8 concurrent writers in \(writeTime); whole test \(Self.seconds(since: start))")
    }

    @Test("a key revoked through one server: refused by it at once, and by a second server on the database within about a second (its key cache)")
    func revokeAcrossServers() throws {
        let fixture = try Fixture()
        defer { fixture.removeFolder() }
        let admin = try fixture.cli.createKeyDirect("admin", grants: ["admin"], database: fixture.database)
        let servers = [try TestServer(cli: fixture.cli, database: fixture.database),
                       try TestServer(cli: fixture.cli, database: fixture.database)]
        defer { for server in servers { server.stop() } }
        let body = "{\"project\": null, \"cluster\": null, \"names\": [\"a\"]}"
        // Both servers have just accepted the reader's key (and keep it).
        for server in servers { #expect(server.post("/v1/resolve", body, token: fixture.reader).status == 200) }
        let revoke = servers[0].post("/v1/keys/revoke", "{\"name\": \"reader\"}", token: admin)
        try #require(revoke.status == 200, "revoke: \(revoke.status) \(revoke.body)")
        let revokedAt = Date()
        let here = servers[0].post("/v1/resolve", body, token: fixture.reader)
        #expect(here.status == 401 && here.body.contains("key 'reader' was revoked"), "the revoking server: \(here.status)")
        var refusedAfter: TimeInterval?
        while Date().timeIntervalSince(revokedAt) < 10 {
            let there = servers[1].post("/v1/resolve", body, token: fixture.reader)
            if there.status == 401 { refusedAfter = Date().timeIntervalSince(revokedAt); break }
            #expect(there.status == 200)
            Thread.sleep(forTimeInterval: 0.05)
        }
        let after = try #require(refusedAfter, "the other server still accepts the revoked key 10 s later")
        // One second of cache, plus a debug server's request time on a busy machine.
        #expect(after < 3, "refused \(after) s after the revoke")
    }

    @Test("kill -9 of the server in the middle of a write loop, 20 times: every set that exited 0 is there, whole; nothing half-written")
    func killNineDuringWrites() throws {
        let start = Date()
        let fixture = try Fixture()
        defer { fixture.removeFolder() }
        var server = try TestServer(cli: fixture.cli, database: fixture.database)
        defer { server.stop() }
        // Each restart listens on the same address, as a restarted service does.
        let url = server.url
        let port = try #require(url.split(separator: ":").last.map(String.init))

        // 4 writers, each a loop of sets with a new name every time, recording
        // "NAME STATUS" per set (0: success), until the file `stop` appears.
        // Writers 0 to 2 run `secretfill secrets set`; writer 3 sends the same
        // request with curl, which starts in a few milliseconds, so that the
        // server more often has a transaction open when it is killed. While
        // the server is down, a `secretfill` set keeps trying to connect (up
        // to its 5 s connect timeout) and goes through once it is back; curl
        // fails at once and waits a moment.
        var writers: [Process] = []
        defer {
            _ = FileManager.default.createFile(atPath: fixture.cli.path("stop"), contents: nil)
            for writer in writers where writer.isRunning { kill(writer.processIdentifier, SIGKILL) }
        }
        for w in 0..<4 {
            let script = """
                i=0
                url='\(url)'
                while [ ! -e stop ]; do
                  name="k\(w)_$i"
                  if [ \(w) -lt 3 ]; then
                    printf 'kill-value-\(w)-%s' "$i" | SECRETFILL_SERVER="$url" "$BIN" secrets set team --name "$name" --value-stdin >/dev/null 2>>writer\(w).log
                    echo "$name $?"
                  else
                    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $SECRETFILL_TOKEN" \\
                      -H 'Content-Type: application/json' --data-binary "{\\"scope\\": \\"team\\", \\"id\\": null, \\"secrets\\": [{\\"name\\": \\"$name\\", \\"value\\": \\"kill-value-\(w)-$i\\"}]}" \\
                      "$url/v1/secrets/set")
                    if [ "$code" = 200 ]; then echo "$name 0"; sleep 0.02; else echo "$name http-$code"; echo "curl: HTTP $code" >> writer\(w).log; sleep 0.1; fi
                  fi
                  i=$((i+1))
                done
                """
            writers.append(try fixture.startScript("killwriter\(w)", script))
        }
        func outcomes() -> [(name: String, status: Int)] {
            (0..<4).flatMap { w in
                fixture.text("killwriter\(w).out").split(separator: "\n").compactMap { line -> (String, Int)? in
                    let parts = line.split(separator: " ")
                    guard parts.count == 2 else { return nil }
                    return (String(parts[0]), Int(parts[1]) ?? -1)
                }
            }
        }
        /// Successful sets by the `secretfill` writers, by curl.
        func successes() -> (cli: Int, curl: Int) {
            let done = outcomes().filter { $0.status == 0 }
            let cli = done.filter { !$0.name.hasPrefix("k3_") }.count
            return (cli, done.count - cli)
        }

        var restarting = 0.0
        for _ in 1...20 {
            // Let a few sets of each kind through this server, then kill it at
            // a random moment of the loop, with the 4 writers sending.
            let before = successes()
            func enough() -> Bool { let now = successes(); return now.cli >= before.cli + 1 && now.curl >= before.curl + 2 }
            let deadline = Date().addingTimeInterval(20)
            while !enough() && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            try #require(enough(), "too few sets succeeded after a restart: \(server.log.suffix(2000))")
            Thread.sleep(forTimeInterval: Double.random(in: 0...0.2))
            kill(server.process.processIdentifier, SIGKILL)
            server.process.waitUntilExit()
            #expect(server.process.terminationReason == .uncaughtSignal && server.process.terminationStatus == SIGKILL)
            let restart = Date()
            server = try TestServer(cli: fixture.cli, database: fixture.database, arguments: ["--listen", "127.0.0.1:\(port)"])
            try #require(server.url == url)
            restarting += Date().timeIntervalSince(restart)
        }
        let after = successes()
        let deadline = Date().addingTimeInterval(20)
        while successes().cli < after.cli + 4 && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        _ = FileManager.default.createFile(atPath: fixture.cli.path("stop"), contents: nil)
        for writer in writers { writer.waitUntilExit() }
        let loopTime = Self.seconds(since: start)

        let all = outcomes()
        let succeeded = all.filter { $0.status == 0 }.map(\.name)
        let failed = all.filter { $0.status != 0 }
        let cliFailures = failed.filter { !$0.name.hasPrefix("k3_") }
        #expect(Set(cliFailures.map(\.status)).isSubset(of: [2]), "a failed set exits 2 (server unreachable): \(Set(cliFailures.map(\.status)))")
        let values = try fixture.resolve(all.map(\.name), on: server)
        func expectedValue(_ name: String) -> String {
            let parts = name.dropFirst().split(separator: "_")
            return "kill-value-\(parts[0])-\(parts[1])"
        }
        for name in succeeded where values[name] != expectedValue(name) {
            Issue.record("\(name): the set exited 0, but the name is \(values[name] == nil ? "missing" : "holding another value")")
        }
        var failedPresent = 0
        for (name, _) in failed {
            guard let value = values[name] else { continue }
            failedPresent += 1
            #expect(value == expectedValue(name), "\(name): a failed set left a different value")
        }
        let attempted = Set(all.map(\.name))
        #expect(Set(values.keys).isSubset(of: attempted))
        #expect(values.count == succeeded.count + failedPresent)
        // Each name was set once: one current row, one version row, version 1.
        #expect(try fixture.query("SELECT count(*) FROM secrets WHERE current_version <> 1 OR deleted <> 0") == ["0"])
        #expect(try fixture.query("SELECT count(*) FROM secret_versions") == ["\(values.count)"])
        #expect(try fixture.query("SELECT count(*) FROM secrets") == ["\(values.count)"])
        #expect(try fixture.query("SELECT count(*) FROM audit_log WHERE action = 'set' AND outcome = 'ok'") == ["\(values.count)"])
        #expect(try fixture.halfWritten() == [])
        let listed = fixture.cli.remote(server, token: fixture.writer).run(["secrets", "list", "team"])
        #expect(listed.stdoutText.split(separator: "\n").count == values.count)

        let reasons = Dictionary(grouping: (0..<4).flatMap { fixture.text("writer\($0).log").split(separator: "\n") }) { line in
            line.replacing(/http:\/\/127\.0\.0\.1:[0-9]+/, with: "SERVER")
        }.mapValues(\.count)
        let byCLI = all.filter { !$0.name.hasPrefix("k3_") }
        print("""
            killNineDuringWrites: 20 kills; \(all.count) sets (\(byCLI.count) by secretfill, \(all.count - byCLI.count) by curl): \
            \(succeeded.count) succeeded (\(byCLI.filter { $0.status == 0 }.count) by secretfill; all present and whole), \
            \(failed.count) failed (\(cliFailures.count) by secretfill; \(failedPresent) of them committed before the kill and present, whole); \
            failure messages: \(reasons); \
            restarts (start to healthy) \(String(format: "%.1f s", restarting)) in all; loop \(loopTime), whole test \(Self.seconds(since: start))
            """)
    }

    @Test("remote import and set say what happened: a deleted or purged name is added, a current one replaced; as on the local file", arguments: Backend.allCases)
    func importCounts(_ backend: Backend) throws {
        let fixture = try Fixture(backend)
        defer { fixture.removeFolder() }
        let server = try TestServer(cli: fixture.cli, database: fixture.database)
        defer { server.stop() }
        let remote = fixture.cli.remote(server, token: fixture.writer)
        let local = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: local.directory) }
        let file = fixture.cli.path("import.env")
        try Data("kept=1\nsoft=2\npurged=3\nfresh=4\n".utf8).write(to: URL(fileURLWithPath: file))

        for cli in [remote, local] {
            for name in ["kept", "soft", "purged"] {
                let set = cli.run(["secrets", "set", "team", "--name", name, "--value-stdin"], stdin: Array("old\n".utf8))
                try #require(set.status == 0, "set \(name): \(set.stderr)")
                #expect(set.stdoutText == "Set team secret '\(name)'\n")
            }
        }
        #expect(remote.run(["secrets", "delete", "team", "--name", "soft"]).status == 0)
        #expect(remote.run(["secrets", "delete", "team", "--name", "purged", "--purge"]).status == 0)
        #expect(local.run(["secrets", "delete", "team", "--name", "soft"]).status == 0)
        #expect(local.run(["secrets", "delete", "team", "--name", "purged"]).status == 0)

        let imported = remote.run(["secrets", "import", "team", file])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdoutText == "Imported 4 team secret(s) (3 added, 1 replaced): kept, soft, purged, fresh\n")
        let localImported = local.run(["secrets", "import", "team", file])
        #expect(localImported.stdoutText == imported.stdoutText)
        // soft kept its history: it is at version 2, and still counted as added.
        #expect(remote.run(["secrets", "history", "team", "--name", "soft"]).stdoutText.split(separator: "\n").count == 2)

        let again = remote.run(["secrets", "import", "team", file])
        #expect(again.stdoutText == "Imported 4 team secret(s) (0 added, 4 replaced): kept, soft, purged, fresh\n")

        // `set` says the same: Updated for a current name, Set for a deleted one.
        #expect(remote.run(["secrets", "delete", "team", "--name", "fresh"]).status == 0)
        let reset = remote.run(["secrets", "set", "team", "--name", "fresh", "--value-stdin"], stdin: Array("5\n".utf8))
        #expect(reset.stdoutText == "Set team secret 'fresh'\n", "\(reset.allOutput)")
        let updated = remote.run(["secrets", "set", "team", "--name", "fresh", "--value-stdin"], stdin: Array("6\n".utf8))
        #expect(updated.stdoutText == "Updated team secret 'fresh'\n", "\(updated.allOutput)")

        // On the wire: `replaced` per name.
        let answer = server.post("/v1/secrets/set", "{\"scope\": \"team\", \"id\": null, \"secrets\": [{\"name\": \"fresh\", \"value\": \"7\"}, {\"name\": \"brand_new\", \"value\": \"8\"}]}", token: fixture.writer)
        let versions = answer.json?["versions"] as? [[String: Any]]
        #expect(versions?.map { $0["name"] as? String } == ["fresh", "brand_new"])
        #expect(versions?.map { $0["replaced"] as? Bool } == [true, false])
        #expect(versions?.map { $0["version"] as? Int } == [5, 1])
    }
}
