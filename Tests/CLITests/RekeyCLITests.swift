import Foundation
import Synchronization
import Testing

/// `secretfill rekey` through the built program (issue 27): a server
/// database's data key rotated while two servers serve reads and writes,
/// `kill -9` at random moments followed by a rerun, a new store key, and
/// the local store file's key replaced crash-safely.
@Suite("rekey", .serialized)
struct RekeyCLITests {
    static let spec = "env:\n- name: A\n  value: secret:s0001\n- name: B\n  value: secret:s0777\n"

    /// A database with `names` team secrets, each with two versions (so kept versions are re-encrypted too).
    static func populated(_ cli: CLI, _ backend: Backend, names: Int) throws -> (database: String, admin: String) {
        let database = try backend.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let remote = cli.remote(server, token: admin)
        for round in 1...2 {
            let lines = (1...names).map { String(format: "s%04d=value-%d-%d", $0, $0, round) }.joined(separator: "\n") + "\nw=first\n"
            try lines.write(toFile: cli.path("import.env"), atomically: true, encoding: .utf8)
            let outcome = remote.run(["secrets", "import", "team", cli.path("import.env"), "--batch"])
            try #require(outcome.status == 0, "\(outcome.stderr)")
        }
        try spec.write(toFile: cli.path("spec.yaml"), atomically: true, encoding: .utf8)
        return (database, admin)
    }

    /// Every sealed text in a backup of the database (`dk-…:…`).
    static func sealedTexts(_ cli: CLI, _ database: String) throws -> Set<String> {
        let file = cli.path("snapshot-\(UUID().uuidString.prefix(8)).backup")
        let backup = cli.run(["backup", "--database", database, "--out", file])
        try #require(backup.status == 0, "\(backup.stderr)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let pattern = try NSRegularExpression(pattern: "\"(dk-[0-9a-f]{16}:[A-Za-z0-9+/=]+)\"")
        return Set(pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range(at: 1), in: text)!]) })
    }

    /// The sealed texts in `pg_dump`'s copy of the table (its random `\restrict` line aside).
    static func dumpedSealed(_ database: String) throws -> Set<String> {
        let dump = CLI.execute("/usr/bin/pg_dump", ["--data-only", "--table=secret_versions", database], environment: ProcessInfo.processInfo.environment)
        try #require(dump.status == 0, "pg_dump: \(dump.stderr)")
        let pattern = try NSRegularExpression(pattern: "(dk-[0-9a-f]{16}:[A-Za-z0-9+/=]+)")
        let text = dump.stdoutText.split(separator: "\n").filter { !$0.hasPrefix("\\restrict") && !$0.hasPrefix("\\unrestrict") }.joined(separator: "\n")
        return Set(pattern.matches(in: text, range: NSRange(text.startIndex..., in: text)).map { String(text[Range($0.range(at: 1), in: text)!]) })
    }

    /// Names per test database: `SECRETFILL_REKEY_NAMES` scales the load test up (the issue's 10,000).
    static let names = Int(ProcessInfo.processInfo.environment["SECRETFILL_REKEY_NAMES"] ?? "") ?? 3000

    static func keyIDs(_ texts: Set<String>) -> Set<String> { Set(texts.map { String($0.prefix { $0 != ":" }) }) }

    @Test("rekey --data while two servers serve render and a writer sets values: no failed request; every value and version reads the same; no ciphertext survives", arguments: Backend.allCases)
    func rotationUnderLoad(_ backend: Backend) throws {
        let cli = try CLI()
        let (database, admin) = try Self.populated(cli, backend, names: Self.names)
        let before = try Self.sealedTexts(cli, database)
        let dumpedBefore = backend == .postgres ? try Self.dumpedSealed(database) : []
        #expect(before.count == 2 * (Self.names + 1) && Self.keyIDs(before).count == 1, "\(before.count) sealed values, keys \(Self.keyIDs(before))")
        let first = try TestServer(cli: cli, database: database), second = try TestServer(cli: cli, database: database)
        defer { first.stop(); second.stop() }
        let reader = cli.remote(first, token: admin), writer = cli.remote(second, token: admin)
        let expected = reader.run(["render", cli.path("spec.yaml")])
        try #require(expected.status == 0, "\(expected.stderr)")
        let history = reader.run(["secrets", "history", "team", "--name", "s0777", "--format", "json"]).stdoutText

        let stop = Atomic(false)
        let failures = Mutex<[String]>([])
        let counts = Mutex((reads: 0, writes: 0))
        let group = DispatchGroup()
        for (index, client) in [reader, cli.remote(second, token: admin)].enumerated() {
            DispatchQueue.global().async(group: group) {
                while !stop.load(ordering: .relaxed) {
                    let outcome = client.run(["render", cli.path("spec.yaml")])
                    if outcome.status != 0 || outcome.stdout != expected.stdout { failures.withLock { $0.append("reader \(index): \(outcome.status) \(outcome.stderr)") } }
                    counts.withLock { $0.reads += 1 }
                }
            }
        }
        DispatchQueue.global().async(group: group) {
            var n = 0
            while !stop.load(ordering: .relaxed) {
                n += 1
                let outcome = writer.run(["secrets", "set", "team", "--name", "w", "--value-stdin"], stdin: Array("w-\(n)".utf8))
                if outcome.status != 0 { failures.withLock { $0.append("writer: \(outcome.status) \(outcome.stderr)") } }
                counts.withLock { $0.writes += 1 }
            }
        }
        Thread.sleep(forTimeInterval: 0.5)
        let started = Date()
        let rekey = cli.run(["rekey", "--database", database, "--data"])
        let took = Date().timeIntervalSince(started)
        Thread.sleep(forTimeInterval: 0.5)
        stop.store(true, ordering: .relaxed)
        group.wait()
        #expect(rekey.status == 0, "\(rekey.stderr)")
        #expect(rekey.stdoutText.contains("rotated the data key") && rekey.stdoutText.contains("the old data key is destroyed"), "\(rekey.stdoutText)")
        let seen = counts.withLock { $0 }
        print("rekey --data on \(backend) beside load: \(String(format: "%.1f", took)) s; \(seen.reads) renders and \(seen.writes) writes, failures: \(failures.withLock { $0.count })")
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(5) })")
        #expect(seen.reads > 0 && seen.writes > 0)

        #expect(cli.run(["rekey", "--database", database, "--status"]).stdoutText == "done\n")
        let after = try Self.sealedTexts(cli, database)
        #expect(Self.keyIDs(after).count == 1 && Self.keyIDs(after).isDisjoint(with: Self.keyIDs(before)), "keys after: \(Self.keyIDs(after))")
        #expect(after.isDisjoint(with: before), "a ciphertext from before rekey --data is still in the database")
        if backend == .postgres {
            let dumpedAfter = try Self.dumpedSealed(database)
            #expect(dumpedBefore == before && dumpedAfter.count == after.count, "pg_dump and the backup disagree on the sealed values")
            #expect(dumpedAfter.isDisjoint(with: dumpedBefore), "pg_dump before and after rekey --data share a ciphertext")
        }
        let reread = reader.run(["render", cli.path("spec.yaml")])
        #expect(reread.stdout == expected.stdout)
        #expect(reader.run(["secrets", "history", "team", "--name", "s0777", "--format", "json"]).stdoutText == history)
        let fresh = try TestServer(cli: cli, database: database)
        defer { fresh.stop() }
        for version in 1...2 {
            let old = cli.remote(fresh, token: admin).run(["secrets", "rollback", "team", "--name", "s0777", "--version", "\(version)"])
            #expect(old.status == 0, "a kept version does not open after the rotation: \(old.stderr)")
        }
        for output in [rekey.allOutput, first.log, second.log] { #expect(!output.contains("value-777") && !output.contains(admin)) }
    }

    @Test("kill -9 of rekey --data at 20 random moments, each followed by a read and the status: every value reads throughout, and a rerun finishes", arguments: Backend.allCases)
    func killedAndResumed(_ backend: Backend) throws {
        let cli = try CLI()
        let (database, admin) = try Self.populated(cli, backend, names: 1500)
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        let remote = cli.remote(server, token: admin)
        let expected = remote.run(["render", cli.path("spec.yaml")])
        try #require(expected.status == 0)
        var interrupted = 0
        for round in 1...20 {
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["rekey", "--database", database, "--data"]
            process.environment = cli.environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.6))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let status = cli.run(["rekey", "--database", database, "--status"])
            #expect(status.status == 0)
            let state = status.stdoutText
            #expect(state == "done\n" || state == "no rotation started\n" || state.hasPrefix("in progress: "), "round \(round): \(state)")
            if state.hasPrefix("in progress: ") { interrupted += 1 }
            let read = remote.run(["render", cli.path("spec.yaml")])
            #expect(read.status == 0 && read.stdout == expected.stdout, "round \(round), after kill -9 (\(state)): \(read.stderr)")
        }
        print("rekey --data on \(backend): \(interrupted) of 20 kills landed mid-rotation")
        #expect(interrupted > 0, "no kill landed during a rotation: the test showed nothing")
        let finish = cli.run(["rekey", "--database", database, "--data"])
        #expect(finish.status == 0, "\(finish.stderr)")
        #expect(cli.run(["rekey", "--database", database, "--status"]).stdoutText == "done\n")
        #expect(Self.keyIDs(try Self.sealedTexts(cli, database)).count == 1)
        #expect(remote.run(["render", cli.path("spec.yaml")]).stdout == expected.stdout)
    }

    @Test("rekey --new-key-file --generate: a running server keeps serving; one started with the old key refuses, naming the fingerprint it expects; the new key serves the same values")
    func newStoreKey() throws {
        let cli = try CLI()
        let (database, admin) = try Self.populated(cli, .sqlite, names: 800)
        let running = try TestServer(cli: cli, database: database)
        defer { running.stop() }
        let expected = cli.remote(running, token: admin).run(["render", cli.path("spec.yaml")])
        let file = cli.path("keys/new.key")
        let rekey = cli.run(["rekey", "--database", database, "--new-key-file", file, "--generate"])
        #expect(rekey.status == 0, "\(rekey.stderr)")
        #expect(CLI.mode(file) == 0o600)
        let newKey = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let fingerprint = try #require(rekey.stdoutText.range(of: #"new store key (sha256:[0-9a-f]{32})"#, options: .regularExpression)).lowerBound
        _ = fingerprint
        #expect(cli.remote(running, token: admin).run(["render", cli.path("spec.yaml")]).stdout == expected.stdout)
        #expect(cli.remote(running, token: admin).run(["secrets", "set", "team", "--name", "w", "--value-stdin"], stdin: Array("second".utf8)).status == 0)

        // The old key: refused at start, naming the key expected.
        let refused = cli.run(["serve", "--database", database, "--listen", "127.0.0.1:0"])
        #expect(refused.status == 2)
        let expectedPrint = rekey.stdoutText.components(separatedBy: "new store key ").last?.prefix(39) ?? ""
        #expect(refused.stderr.contains("sealed with key \(expectedPrint)"), "\(refused.stderr)")
        // --generate never overwrites.
        let again = cli.run(["rekey", "--database", database, "--new-key-file", file, "--generate"])
        #expect(again.status == 2 && again.stderr.contains("already exists"), "\(again.stderr)")

        let restarted = try TestServer(cli: cli, database: database, environment: ["SECRETFILL_KEY": newKey])
        defer { restarted.stop() }
        let read = cli.remote(restarted, token: admin).run(["render", cli.path("spec.yaml")])
        #expect(read.status == 0 && read.stdout == expected.stdout, "\(read.stderr)")
        #expect(cli.remote(restarted, token: admin).run(["secrets", "history", "team", "--name", "w"]).stdoutText.contains("3"), "the write after the re-wrap is missing")
        #expect(!rekey.allOutput.contains(newKey) && !refused.allOutput.contains(cli.key) && !restarted.log.contains(newKey))
    }

    @Test("rekey --server with an admin key: --data runs on the server and is polled to done, --status, --new-key-file; no store key on the caller's side; a names key exits 77", arguments: Backend.allCases)
    func throughTheServer(_ backend: Backend) throws {
        let cli = try CLI()
        let (database, admin) = try Self.populated(cli, backend, names: 800)
        let viewer = try cli.createKeyDirect("viewer", grants: ["team:names"], database: database)
        let server = try TestServer(cli: cli, database: database)
        defer { server.stop() }
        var remote = cli.remote(server, token: admin)
        remote.environment["SECRETFILL_KEY"] = nil
        let expected = remote.run(["render", cli.path("spec.yaml")])
        try #require(expected.status == 0, "\(expected.stderr)")
        let before = try Self.sealedTexts(cli, database)

        let refused = remote.run(["rekey", "--data"], environment: ["SECRETFILL_TOKEN": viewer])
        #expect(refused.status == 77 && refused.stderr.contains("admin"), "\(refused.allOutput)")
        #expect(remote.run(["rekey", "--status"]).stdoutText == "no rotation started\n")
        let data = remote.run(["rekey", "--data"])
        #expect(data.status == 0 && data.stdoutText.contains("Rotated the data key"), "\(data.allOutput)")
        #expect(remote.run(["rekey", "--status"]).stdoutText == "done\n")
        let after = try Self.sealedTexts(cli, database)
        #expect(after.isDisjoint(with: before) && Self.keyIDs(after).count == 1)
        #expect(remote.run(["render", cli.path("spec.yaml")]).stdout == expected.stdout)

        let file = cli.path("server.key")
        let rewrap = remote.run(["rekey", "--new-key-file", file, "--generate"])
        #expect(rewrap.status == 0 && rewrap.stdoutText.contains("re-wrapped 1 data key(s)"), "\(rewrap.allOutput)")
        let newKey = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(remote.run(["render", cli.path("spec.yaml")]).stdout == expected.stdout, "the running server stopped serving after the re-wrap")
        // The server that re-wrapped goes on with the new key: a write, then a second rotation, through it.
        #expect(remote.run(["secrets", "set", "team", "--name", "after", "--value-stdin"], stdin: Array("x".utf8)).status == 0)
        let second = remote.run(["rekey", "--data"])
        #expect(second.status == 0, "\(second.allOutput)")
        #expect(remote.run(["render", cli.path("spec.yaml")]).stdout == expected.stdout)
        server.stop()
        let restarted = try TestServer(cli: cli, database: database, environment: ["SECRETFILL_KEY": newKey])
        defer { restarted.stop() }
        #expect(cli.remote(restarted, token: admin).run(["render", cli.path("spec.yaml")]).stdout == expected.stdout)
        let audit = cli.remote(restarted, token: admin).run(["audit", "--format", "json", "--limit", "50"]).stdoutText
        #expect(audit.contains("\"rekey\""), "\(audit)")
        for output in [rewrap.allOutput, data.allOutput, server.log, restarted.log, audit] { #expect(!output.contains(newKey) && !output.contains(admin)) }
    }

    @Test("local store: rekey --new-key-file puts the new key in the key file; a crash between the store and the key file still opens, and a rerun finishes; SECRETFILL_KEY is refused")
    func localStore() throws {
        var cli = try CLI()
        let keyFile = cli.path("config/secretfill/key")
        cli.environment["SECRETFILL_KEY"] = nil
        cli.environment["SECRETFILL_KEY_FILE"] = keyFile
        #expect(cli.run(["init"]).status == 0)
        try cli.set(.team, "s0001", "one")
        try cli.set(.project("pr-1"), "s0777", "seven")
        try cli.set(.team, "s0002", "two")
        try Self.spec.write(toFile: cli.path("spec.yaml"), atomically: true, encoding: .utf8)
        let expected = cli.run(["render", cli.path("spec.yaml"), "--project", "pr-1"])
        try #require(expected.status == 0, "\(expected.stderr)")
        let oldKey = CLI.bytes(keyFile)
        let (firstID, sealedBefore) = try Self.localSealed(cli.storePath)
        #expect(sealedBefore.count == 3 && sealedBefore.allSatisfy { $0.hasPrefix(firstID + ":") }, "\(sealedBefore)")
        #expect(cli.run(["rekey", "--status"]).stdoutText == "done\n")

        let inEnvironment = cli.run(["rekey", "--new-key-file", cli.path("k2"), "--generate"], environment: ["SECRETFILL_KEY": String(decoding: oldKey, as: UTF8.self)])
        #expect(inEnvironment.status == 64 && inEnvironment.stderr.contains("SECRETFILL_KEY"), "\(inEnvironment.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("k2")), "a refused rekey wrote a key")

        let rekey = cli.run(["rekey", "--new-key-file", cli.path("k2"), "--generate"])
        #expect(rekey.status == 0 && rekey.stdoutText.contains("no value was re-encrypted"), "\(rekey.allOutput)")
        // Only the data key's wrap changed: every sealed value is as it was.
        let (idAfterRewrap, sealedAfterRewrap) = try Self.localSealed(cli.storePath)
        #expect(idAfterRewrap == firstID && sealedAfterRewrap == sealedBefore)
        #expect(CLI.mode(cli.storePath) == 0o600)
        #expect(CLI.bytes(keyFile) == CLI.bytes(cli.path("k2")) && CLI.bytes(keyFile) != oldKey, "the key file does not hold the new key")
        #expect(CLI.mode(keyFile) == 0o600)
        #expect(!FileManager.default.fileExists(atPath: keyFile + ".next"))
        #expect(cli.run(["render", cli.path("spec.yaml"), "--project", "pr-1"]).stdout == expected.stdout)
        // The old key opens nothing.
        let withOld = cli.run(["render", cli.path("spec.yaml")], environment: ["SECRETFILL_KEY": String(decoding: oldKey, as: UTF8.self)])
        #expect(withOld.status != 0)

        // A crash after the store was sealed under a third key, before the key file was replaced:
        // the key file still holds the second key and KEYFILE.next the third.
        let second = CLI.bytes(keyFile)
        let third = cli.run(["rekey", "--new-key-file", cli.path("k3"), "--generate"])
        #expect(third.status == 0, "\(third.stderr)")
        try Data(second).write(to: URL(fileURLWithPath: keyFile))
        try Data(CLI.bytes(cli.path("k3"))).write(to: URL(fileURLWithPath: keyFile + ".next"))
        chmod(keyFile + ".next", 0o600)
        let midway = cli.run(["render", cli.path("spec.yaml"), "--project", "pr-1"])
        #expect(midway.status == 0 && midway.stdout == expected.stdout, "the store does not open between its replace and the key file's: \(midway.stderr)")
        let rerun = cli.run(["rekey", "--new-key-file", cli.path("k3")])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(CLI.bytes(keyFile) == CLI.bytes(cli.path("k3")) && !FileManager.default.fileExists(atPath: keyFile + ".next"))

        // A crash before the store was replaced: KEYFILE.next holds a fourth key, the store the third.
        let fourth = cli.path("k4")
        #expect(cli.run(["init", "--key-only"], environment: ["SECRETFILL_KEY_FILE": fourth]).status == 0)
        try Data(CLI.bytes(fourth)).write(to: URL(fileURLWithPath: keyFile + ".next"))
        chmod(keyFile + ".next", 0o600)
        #expect(cli.run(["render", cli.path("spec.yaml"), "--project", "pr-1"]).stdout == expected.stdout, "the old key no longer opens the store before it was replaced")
        let finish = cli.run(["rekey", "--new-key-file", fourth])
        #expect(finish.status == 0, "\(finish.stderr)")
        #expect(CLI.bytes(keyFile) == CLI.bytes(fourth))
        #expect(cli.run(["render", cli.path("spec.yaml"), "--project", "pr-1"]).stdout == expected.stdout)

        let data = cli.run(["rekey", "--data"])
        #expect(data.status == 0 && data.stdoutText.contains("Re-encrypted 3 value(s)") && data.stdoutText.contains("the old data key is destroyed"), "\(data.allOutput)")
        #expect(cli.run(["render", cli.path("spec.yaml"), "--project", "pr-1"]).stdout == expected.stdout)
        // A fresh data key: no sealed value survives, and the old data key's id is gone from the file.
        let (rotatedID, sealedAfterData) = try Self.localSealed(cli.storePath)
        #expect(rotatedID != firstID && sealedAfterData.isDisjoint(with: sealedBefore) && sealedAfterData.allSatisfy { $0.hasPrefix(rotatedID + ":") })
        #expect(!String(decoding: CLI.bytes(cli.storePath), as: UTF8.self).contains(firstID))
        #expect(CLI.mode(cli.storePath) == 0o600)
        #expect(cli.run(["rekey", "--status"]).stdoutText == "done\n")
        // The MAC still covers the whole file: one flipped byte of the data key's wrap is refused.
        let text = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
        let wrapped = try #require(text.range(of: #""wrapped": "[^"]+""#, options: .regularExpression))
        var edited = Array(text.utf8)
        let at = text.utf8.distance(from: text.utf8.startIndex, to: wrapped.lowerBound.samePosition(in: text.utf8)!) + 15
        edited[at] = edited[at] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        let good = CLI.bytes(cli.storePath)
        try Data(edited).write(to: URL(fileURLWithPath: cli.storePath))
        let flipped = cli.run(["render", cli.path("spec.yaml"), "--project", "pr-1"])
        #expect(flipped.status == 2 && flipped.stderr.contains("was changed outside secretfill"), "\(flipped.stderr)")
        try Data(good).write(to: URL(fileURLWithPath: cli.storePath))
        for output in [data.allOutput, rekey.allOutput] { #expect(!output.contains(firstID + ":")) }
        let usage = cli.run(["rekey"])
        #expect(usage.status == 64 && usage.stderr.contains("--new-key-file FILE, --data or --status"), "\(usage.stderr)")
        for output in [rekey.allOutput, rerun.allOutput, finish.allOutput] {
            #expect(!output.contains("seven") && !output.contains(String(decoding: CLI.bytes(fourth), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        }
    }

    /// The local store file's data key id and every sealed text in it.
    static func localSealed(_ path: String) throws -> (id: String, sealed: Set<String>) {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(CLI.bytes(path))) as? [String: Any])
        let dataKey = try #require(json["dataKey"] as? [String: Any], "no dataKey in \(path)")
        let id = try #require(dataKey["id"] as? String)
        var sealed: Set<String> = []
        func collect(_ node: Any) {
            guard let object = node as? [String: Any] else { return }
            if let text = object["sealed"] as? String { sealed.insert(text); return }
            for value in object.values { collect(value) }
        }
        collect(json["scopes"] as Any)
        return (id, sealed)
    }

    @Test("local store from before data keys (the demo store): reads leave it as it is; its next write or rekey gives it a data key, every value reading the same")
    func localStoreUpgrade() throws {
        var cli = try CLI()
        let keyText = "EkaHn/ZMFyf1vcLRyALir2+7xebjorgn/IfiD3uTe0s="
        let original = CLI.bytes(CLI.fixture("demo/store.json"))
        try Data(original).write(to: URL(fileURLWithPath: cli.storePath))
        chmod(cli.storePath, 0o600)
        cli.environment["SECRETFILL_KEY"] = keyText
        let render = ["render", CLI.fixture("kubernetes-multi.yaml"), "--project", "pr-demo", "--cluster", "demo-cluster"]
        let expected = cli.run(render)
        try #require(expected.status == 0, "\(expected.stderr)")
        let listed = cli.run(["secrets", "list", "team"])
        let checked = cli.run(["check", CLI.fixture("paperspace-deployment.yaml"), "--project", "pr-demo"])
        #expect(CLI.bytes(cli.storePath) == original, "a read changed a version 2 store")
        #expect(cli.run(["rekey", "--status"]).stdoutText == "no rotation started\n")

        // The next write: a data key, every value under it, the same reads.
        let set = cli.run(["secrets", "set", "team", "--name", "added", "--value-stdin"], stdin: Array("new".utf8))
        #expect(set.status == 0, "\(set.stderr)")
        let text = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
        #expect(text.contains("\"version\": 2,") && text.contains("\"dataKey\": {\"id\": \"dk-"), "\(text.prefix(300))")
        let (id, sealed) = try Self.localSealed(cli.storePath)
        #expect(sealed.allSatisfy { $0.hasPrefix(id + ":") })
        #expect(cli.run(render).stdout == expected.stdout)
        let listedAfter = cli.run(["secrets", "list", "team"])
        #expect(listedAfter.stdoutText.contains("added"))
        #expect(listedAfter.stdoutText.replacingOccurrences(of: #"(?m)^added.*\n"#, with: "", options: .regularExpression) == listed.stdoutText, "\(listedAfter.stdoutText)")
        #expect(cli.run(["rekey", "--status"]).stdoutText == "done\n")
        #expect(CLI.mode(cli.storePath) == 0o600)
        let checkedAfter = cli.run(["check", CLI.fixture("paperspace-deployment.yaml"), "--project", "pr-demo"])
        #expect(checkedAfter.status == checked.status && checkedAfter.stdout == checked.stdout)

        // A store from before data keys rekeyed (with its key in a file): upgraded on the way, then re-wrapped.
        var second = try CLI()
        let keyFile = second.path("keys/key")
        try FileManager.default.createDirectory(atPath: second.path("keys"), withIntermediateDirectories: true)
        chmod(second.path("keys"), 0o700)
        try Data((keyText + "\n").utf8).write(to: URL(fileURLWithPath: keyFile))
        chmod(keyFile, 0o600)
        second.environment["SECRETFILL_KEY"] = nil
        second.environment["SECRETFILL_KEY_FILE"] = keyFile
        try Data(original).write(to: URL(fileURLWithPath: second.storePath))
        chmod(second.storePath, 0o600)
        let rekey = second.run(["rekey", "--new-key-file", second.path("new.key"), "--generate"])
        #expect(rekey.status == 0 && rekey.stdoutText.contains("under a data key"), "\(rekey.allOutput)")
        #expect(second.run(render).stdout == expected.stdout)
        #expect(second.run(render, environment: ["SECRETFILL_KEY": keyText]).status == 2, "the old key still opens the store")
        _ = try Self.localSealed(second.storePath)
    }
}
