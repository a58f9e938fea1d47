import Foundation
import Testing

/// A SoftHSM2 token of the test's own (issue 27, the store key in an HSM):
/// SOFTHSM2_CONF points at a config in the test's folder with its own token
/// folder (never the system's), the token is made with softhsm2-util and
/// its AES keys with OpenSC's pkcs11-tool. scripts/softhsm.sh installs both
/// and prints the module's path (scripts/test.sh sets SECRETFILL_SOFTHSM).
struct SoftHSM {
    let module: String
    let config: String
    let token = "secretfill-test"
    let pin: String
    let soPIN: String

    /// The module; missing is a failure, never a skip.
    static func modulePath() throws -> String {
        let candidates = [ProcessInfo.processInfo.environment["SECRETFILL_SOFTHSM"] ?? "", "/usr/lib/softhsm/libsofthsm2.so"]
        let found = candidates.first { !$0.isEmpty && FileManager.default.fileExists(atPath: $0) }
        let module = try #require(found, "SoftHSM2 and OpenSC are needed for these tests: run `bash scripts/softhsm.sh` (scripts/test.sh does)")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/pkcs11-tool") && FileManager.default.isExecutableFile(atPath: "/usr/bin/softhsm2-util"),
                     "pkcs11-tool and softhsm2-util are needed for these tests: run `bash scripts/softhsm.sh` (scripts/test.sh does)")
        return module
    }

    /// A token initialised in the test's folder, with a random user PIN.
    init(in cli: CLI) throws {
        module = try Self.modulePath()
        let folder = cli.path("softhsm")
        try FileManager.default.createDirectory(atPath: folder + "/tokens", withIntermediateDirectories: true)
        config = folder + "/softhsm2.conf"
        try "directories.tokendir = \(folder)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n".write(toFile: config, atomically: true, encoding: .utf8)
        pin = "pin\(UInt32.random(in: 10_000_000...99_999_999))"
        soPIN = "so\(UInt32.random(in: 10_000_000...99_999_999))"
        let made = tool("/usr/bin/softhsm2-util", ["--init-token", "--free", "--label", token, "--pin", pin, "--so-pin", soPIN])
        try #require(made.status == 0, "softhsm2-util --init-token: \(made.allOutput)")
    }

    /// `pkcs11-tool` or `softhsm2-util` with this token's config.
    func tool(_ program: String, _ arguments: [String]) -> CLI.Outcome {
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = config
        return CLI.execute(program, arguments, environment: environment)
    }

    /// An AES-256 key made in the token; `flags`: `--sensitive` for a store key, `--extractable`, or none.
    func makeKey(_ label: String, _ flags: [String] = ["--sensitive"]) throws {
        let made = tool("/usr/bin/pkcs11-tool", ["--module", module, "--token-label", token, "--login", "--pin", pin,
                                                  "--keygen", "--key-type", "AES:32", "--label", label] + flags)
        try #require(made.status == 0, "pkcs11-tool --keygen: \(made.allOutput)")
    }

    func spec(key: String, token: String? = nil) -> String { "module=\(module);token=\(token ?? self.token);key=\(key)" }

    /// The environment of a command that uses the token (the PIN unless `pin` says otherwise).
    func environment(pin: String?? = .none) -> [String: String] {
        var environment = ["SOFTHSM2_CONF": config]
        switch pin {
        case .none: environment["SECRETFILL_PKCS11_PIN"] = self.pin
        case .some(let other): if let other { environment["SECRETFILL_PKCS11_PIN"] = other }
        }
        return environment
    }
}

/// `--key-pkcs11` and `rekey --new-key-pkcs11` through the built program,
/// against SoftHSM2: a database moved into the token and out again, served,
/// rotated, backed up and restored with the key in the token, on SQLite and
/// PostgreSQL; and every refusal with its words. The PIN appears in no output.
@Suite("the store key in an HSM", .serialized)
struct HSMCLITests {
    static let spec = "env:\n- name: A\n  value: secret:a\n- name: B\n  value: secret:b\n"

    static func fingerprint(in text: String) -> String? {
        text.range(of: #"pkcs11:sha256:[0-9a-f]{32}"#, options: .regularExpression).map { String(text[$0]) }
    }

    @Test("move into the token (rekey --new-key-pkcs11), serve, rekey --data, backup, restore, and back to a key file", arguments: Backend.allCases)
    func lifeInTheToken(_ backend: Backend) throws {
        let cli = try CLI()
        let hsm = try SoftHSM(in: cli)
        try hsm.makeKey("store-key")
        let spec = hsm.spec(key: "store-key")
        let token = hsm.environment()
        try Self.spec.write(toFile: cli.path("spec.yaml"), atomically: true, encoding: .utf8)
        var outputs: [String] = []

        // A database sealed under the key file, with two versions of a value.
        let database = try backend.freshURL(in: cli)
        let admin = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        let first = try TestServer(cli: cli, database: database)
        for (name, value) in [("a", "A-1"), ("a", "A-2"), ("b", "B-1")] {
            let set = cli.remote(first, token: admin).run(["secrets", "set", "team", "--name", name, "--value-stdin"], stdin: Array(value.utf8))
            #expect(set.status == 0, "\(set.stderr)")
        }
        let expected = cli.remote(first, token: admin).run(["render", cli.path("spec.yaml")])
        #expect(expected.status == 0 && expected.stdoutText.contains("A-2"), "\(expected.allOutput)")
        outputs.append(first.log)
        _ = first.stop()

        // Into the token.
        let moveIn = cli.run(["rekey", "--database", database, "--new-key-pkcs11", spec], environment: token)
        outputs.append(moveIn.allOutput)
        #expect(moveIn.status == 0, "\(moveIn.stderr)")
        let fingerprint = try #require(Self.fingerprint(in: moveIn.stdoutText), "\(moveIn.stdoutText)")
        #expect(moveIn.stdoutText.contains("--key-pkcs11"), "\(moveIn.stdoutText)")

        // The key file opens nothing now: serve refuses, naming the token key's fingerprint.
        let refused = cli.run(["serve", "--database", database, "--listen", "127.0.0.1:0"])
        outputs.append(refused.allOutput)
        #expect(refused.status == 2 && refused.stderr.contains("sealed with key \(fingerprint)"), "\(refused.stderr)")

        // Served from the token: the same values; a write; a data key rotation while it runs.
        let served = try TestServer(cli: cli, database: database, arguments: ["--key-pkcs11", spec], environment: token)
        let remote = cli.remote(served, token: admin)
        let read = remote.run(["render", cli.path("spec.yaml")])
        #expect(read.status == 0 && read.stdout == expected.stdout, "\(read.allOutput)")
        #expect(remote.run(["secrets", "set", "team", "--name", "b", "--value-stdin"], stdin: Array("B-2".utf8)).status == 0)
        let rotate = cli.run(["rekey", "--database", database, "--data", "--key-pkcs11", spec], environment: token)
        outputs.append(rotate.allOutput)
        #expect(rotate.status == 0 && rotate.stdoutText.contains("the old data key is destroyed"), "\(rotate.allOutput)")
        // The running server unwraps the new data key in the token.
        let afterRotation = remote.run(["render", cli.path("spec.yaml")])
        #expect(afterRotation.status == 0 && afterRotation.stdoutText.contains("A-2") && afterRotation.stdoutText.contains("B-2"), "\(afterRotation.allOutput)")
        let history = remote.run(["secrets", "history", "team", "--name", "a", "--format", "json"])
        #expect(history.status == 0, "\(history.stderr)")
        // A rotation through the server (POST /v1/rekey): the server wraps the fresh data key in the token.
        let throughRekey = remote.run(["rekey", "--data"])
        #expect(throughRekey.status == 0, "\(throughRekey.allOutput)")
        let afterServerRotation = remote.run(["render", cli.path("spec.yaml")])
        #expect(afterServerRotation.stdout == afterRotation.stdout, "\(afterServerRotation.allOutput)")
        // A backup through the server: its MAC key is derived in the token too.
        let throughServer = remote.run(["backup", "--out", cli.path("server.backup")])
        #expect(throughServer.status == 0, "\(throughServer.stderr)")
        let restoreThrough = cli.run(["restore", "--database", try backend.freshURL(in: cli), cli.path("server.backup"), "--key-pkcs11", spec], environment: token)
        outputs.append(restoreThrough.allOutput)
        #expect(restoreThrough.status == 0, "\(restoreThrough.stderr)")
        outputs.append(served.log)
        _ = served.stop()
        let current = afterRotation.stdout

        // Backup with the token's key; the key file is refused.
        let file = cli.path("team.backup")
        let backup = cli.run(["backup", "--database", database, "--out", file, "--key-pkcs11", spec], environment: token)
        outputs.append(backup.allOutput)
        #expect(backup.status == 0, "\(backup.stderr)")
        let withFile = cli.run(["backup", "--database", database, "--out", cli.path("other.backup")])
        #expect(withFile.status == 2 && withFile.stderr.contains(fingerprint), "\(withFile.stderr)")
        let header = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        #expect(header.contains(fingerprint), "\(header)")

        // Restore: the key file is refused before anything is written; the token's key restores.
        let target = try backend.freshURL(in: cli)
        let restoreWithFile = cli.run(["restore", "--database", target, file])
        #expect(restoreWithFile.status == 2 && restoreWithFile.stderr.contains(fingerprint), "\(restoreWithFile.stderr)")
        let restore = cli.run(["restore", "--database", target, file, "--key-pkcs11", spec], environment: token)
        outputs.append(restore.allOutput)
        #expect(restore.status == 0, "\(restore.stderr)")
        let restored = try TestServer(cli: cli, database: target, arguments: ["--key-pkcs11", spec], environment: token)
        let again = cli.remote(restored, token: admin).run(["render", cli.path("spec.yaml")])
        #expect(again.status == 0 && again.stdout == current, "\(again.allOutput)")
        let restoredHistory = cli.remote(restored, token: admin).run(["secrets", "history", "team", "--name", "a", "--format", "json"])
        #expect(restoredHistory.stdout == history.stdout, "\(restoredHistory.allOutput)")
        outputs.append(restored.log)
        _ = restored.stop()

        // Out of the token, to a new key file.
        let keyFile = cli.path("keys/out.key")
        let moveOut = cli.run(["rekey", "--database", database, "--key-pkcs11", spec, "--new-key-file", keyFile, "--generate"], environment: token)
        outputs.append(moveOut.allOutput)
        #expect(moveOut.status == 0 && moveOut.stdoutText.contains("(it was \(fingerprint))"), "\(moveOut.allOutput)")
        let newKey = try String(contentsOfFile: keyFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let tokenRefused = cli.run(["serve", "--database", database, "--listen", "127.0.0.1:0", "--key-pkcs11", spec], environment: token)
        outputs.append(tokenRefused.allOutput)
        #expect(tokenRefused.status == 2 && tokenRefused.stderr.contains("but the key given is \(fingerprint)"), "\(tokenRefused.stderr)")
        let fromFile = try TestServer(cli: cli, database: database, environment: ["SECRETFILL_KEY": newKey])
        let last = cli.remote(fromFile, token: admin).run(["render", cli.path("spec.yaml")])
        #expect(last.status == 0 && last.stdout == current, "\(last.allOutput)")
        outputs.append(fromFile.log)
        _ = fromFile.stop()

        for output in outputs { #expect(!output.contains(hsm.pin), "the PIN was printed: \(output)") }
    }

    @Test("SECRETFILL_KEY_PKCS11 gives the spec of --key-pkcs11 (serve, rekey, backup, restore); the option wins; beside a key file it is refused; exec's child never sees it")
    func specFromTheEnvironment() throws {
        var cli = try CLI()
        let hsm = try SoftHSM(in: cli)
        try hsm.makeKey("store-key")
        try hsm.makeKey("other-key")
        let spec = hsm.spec(key: "store-key")
        let database = try Backend.sqlite.freshURL(in: cli)
        _ = try cli.createKeyDirect("admin", grants: ["admin"], database: database)
        var outputs: [String] = []
        func run(_ arguments: [String], variable: String?, keepKey: Bool = false, extra: [String: String] = [:]) -> CLI.Outcome {
            var environment = hsm.environment().merging(extra) { $1 }
            if let variable { environment["SECRETFILL_KEY_PKCS11"] = variable }
            let outcome = cli.run(arguments, environment: environment, removing: keepKey ? [] : ["SECRETFILL_KEY"])
            outputs.append(outcome.allOutput)
            return outcome
        }

        // rekey: into the token with the key file; then the variable is the current key.
        let moveIn = run(["rekey", "--database", database, "--new-key-pkcs11", spec], variable: nil, keepKey: true)
        #expect(moveIn.status == 0, "\(moveIn.allOutput)")
        let fingerprint = try #require(Self.fingerprint(in: moveIn.stdoutText), "\(moveIn.stdoutText)")
        let rotate = run(["rekey", "--database", database, "--data"], variable: spec)
        #expect(rotate.status == 0 && rotate.stdoutText.contains("the old data key is destroyed"), "\(rotate.allOutput)")

        // backup and restore with the variable alone.
        let backup = run(["backup", "--database", database, "--out", cli.path("team.backup")], variable: spec)
        #expect(backup.status == 0, "\(backup.allOutput)")
        let header = try String(contentsOfFile: cli.path("team.backup"), encoding: .utf8).split(separator: "\n").first.map(String.init) ?? ""
        #expect(header.contains(fingerprint), "\(header)")
        let target = try Backend.sqlite.freshURL(in: cli)
        let restore = run(["restore", "--database", target, cli.path("team.backup")], variable: spec)
        #expect(restore.status == 0, "\(restore.allOutput)")

        // serve reads it: given the token's other key, it refuses naming the expected fingerprint.
        let other = run(["serve", "--database", database, "--listen", "127.0.0.1:0"], variable: hsm.spec(key: "other-key"))
        #expect(other.status == 2 && other.stderr.contains("sealed with key \(fingerprint)"), "\(other.stderr)")
        // The option wins over the variable.
        let wins = run(["backup", "--database", database, "--out", cli.path("wins.backup"), "--key-pkcs11", spec], variable: hsm.spec(key: "other-key"))
        #expect(wins.status == 0, "\(wins.allOutput)")
        // A served database, from the variable.
        cli.environment.removeValue(forKey: "SECRETFILL_KEY")
        let served = try TestServer(cli: cli, database: database, environment: hsm.environment().merging(["SECRETFILL_KEY_PKCS11": spec]) { $1 })
        outputs.append(served.log)
        #expect(!served.url.isEmpty, "\(served.log)")
        _ = served.stop()

        // A malformed spec in the variable is named as coming from it (bad usage).
        let malformed = run(["backup", "--database", database, "--out", cli.path("m.backup")], variable: "module=\(hsm.module);token=\(hsm.token)")
        #expect(malformed.status == 64 && malformed.stderr.contains("SECRETFILL_KEY_PKCS11 takes") && malformed.stderr.contains("key is missing"), "\(malformed.stderr)")

        // Beside a key file (SECRETFILL_KEY or SECRETFILL_KEY_FILE): refused, naming both, for each command; nothing written.
        let keyFile = cli.path("store.key")
        try "\(cli.key)\n".write(toFile: keyFile, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyFile)
        let both: [(String, [String: String])] = [("SECRETFILL_KEY", ["SECRETFILL_KEY": cli.key]), ("SECRETFILL_KEY_FILE", ["SECRETFILL_KEY_FILE": keyFile])]
        for (name, extra) in both {
            for arguments in [["backup", "--database", database, "--out", cli.path("both.backup")],
                              ["restore", "--database", try Backend.sqlite.freshURL(in: cli), cli.path("team.backup")],
                              ["rekey", "--database", database, "--data"]] {
                let refused = run(arguments, variable: spec, keepKey: true, extra: extra)
                #expect(refused.status == 64 && refused.stderr.contains("SECRETFILL_KEY_PKCS11 and \(name) are both set"), "\(arguments[0]): \(refused.allOutput)")
            }
            // serve under timeout(1): a serve that did not refuse would run on.
            var environment = cli.environment.merging(hsm.environment()) { $1 }.merging(extra) { $1 }
            environment["SECRETFILL_KEY_PKCS11"] = spec
            let serve = CLI.execute("/usr/bin/timeout", ["-s", "KILL", "30", CLI.binary.path, "serve", "--database", database, "--listen", "127.0.0.1:0"], environment: environment)
            outputs.append(serve.allOutput)
            #expect(serve.status == 64 && serve.stderr.contains("SECRETFILL_KEY_PKCS11 and \(name) are both set"), "serve: \(serve.allOutput)")
        }
        #expect(!FileManager.default.fileExists(atPath: cli.path("both.backup")))
        // The local store file's commands read the variable too: beside SECRETFILL_KEY, refused the same way, nothing written.
        let local = run(["rekey", "--new-key-file", cli.path("new.key"), "--generate"], variable: spec, keepKey: true, extra: ["SECRETFILL_KEY": cli.key])
        #expect(local.status == 64 && local.stderr.contains("SECRETFILL_KEY_PKCS11 and SECRETFILL_KEY are both set"), "\(local.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("new.key")))

        for output in outputs { #expect(!output.contains(hsm.pin), "the PIN was printed: \(output)") }
    }

    @Test("the local store file: into the token (rekey --new-key-pkcs11), every verb with SECRETFILL_KEY_PKCS11, rekey --data, exec's child without it, the refusals, init in the token, and back to a key file")
    func localStoreInTheToken() throws {
        var cli = try CLI()
        let hsm = try SoftHSM(in: cli)
        try hsm.makeKey("store-key")
        let spec = hsm.spec(key: "store-key")
        let keyFile = cli.path("config/secretfill/key")
        cli.environment["SECRETFILL_KEY"] = nil
        cli.environment["SECRETFILL_KEY_FILE"] = nil
        cli.environment["XDG_CONFIG_HOME"] = cli.path("config")
        #expect(cli.run(["init"]).status == 0)
        try cli.set(.team, "a", "A-1")
        try cli.set(.project("p1"), "b", "B-p1")
        try "env:\n- name: A\n  value: secret:a\n- name: B\n  value: secret:b\n".write(toFile: cli.path("spec.yaml"), atomically: true, encoding: .utf8)
        let expected = cli.run(["render", cli.path("spec.yaml"), "--project", "p1"])
        try #require(expected.status == 0, "\(expected.stderr)")
        let (dataKeyID, sealedBefore) = try RekeyCLITests.localSealed(cli.storePath)
        try "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - name: A\n      value: secret:a\n"
            .write(toFile: cli.path("pod.yaml"), atomically: true, encoding: .utf8)
        /// The Secret's name `render --k8s-secret` gives (its suffix is keyed by the store key).
        func secretName(_ outcome: CLI.Outcome) -> String? {
            outcome.stdoutText.split(separator: "\n").first { $0.hasPrefix("  name: app-") }.map { String($0.dropFirst("  name: ".count)) }
        }
        let nameWithFile = try #require(secretName(cli.run(["render", cli.path("pod.yaml"), "--k8s-secret", "app"])))
        var outputs: [String] = []
        func run(_ arguments: [String], token: Bool = true, extra: [String: String] = [:], stdin: String? = nil) -> CLI.Outcome {
            var environment = hsm.environment()
            if token { environment["SECRETFILL_KEY_PKCS11"] = spec }
            let outcome = cli.run(arguments, stdin: stdin.map { Array($0.utf8) }, environment: environment.merging(extra) { $1 })
            outputs.append(outcome.allOutput)
            return outcome
        }

        // Into the token: the data key is wrapped again, no value is re-encrypted, the store names the token key.
        let moveIn = run(["rekey", "--new-key-pkcs11", spec], token: false)
        #expect(moveIn.status == 0 && moveIn.stdoutText.contains("no value was re-encrypted") && moveIn.stdoutText.contains("SECRETFILL_KEY_PKCS11"), "\(moveIn.allOutput)")
        let fingerprint = try #require(Self.fingerprint(in: moveIn.stdoutText), "\(moveIn.stdoutText)")
        let (idInToken, sealedInToken) = try RekeyCLITests.localSealed(cli.storePath)
        #expect(idInToken == dataKeyID && sealedInToken == sealedBefore)
        #expect(String(decoding: CLI.bytes(cli.storePath), as: UTF8.self).contains("\"keyFingerprint\": \"\(fingerprint)\""))
        #expect(CLI.mode(cli.storePath) == 0o600)
        // Run again: already there.
        let rerun = run(["rekey", "--new-key-pkcs11", spec])
        #expect(rerun.status == 0 && rerun.stdoutText.contains("already sealed under the new key"), "\(rerun.allOutput)")

        // The key file no longer opens it, and the refusal says where the key is.
        let withFile = run(["render", cli.path("spec.yaml"), "--project", "p1"], token: false)
        #expect(withFile.status == 2 && withFile.stderr.contains(fingerprint) && withFile.stderr.contains("set SECRETFILL_KEY_PKCS11"), "\(withFile.stderr)")
        // With the variable, every verb works as before.
        let render = run(["render", cli.path("spec.yaml"), "--project", "p1"])
        #expect(render.status == 0 && render.stdout == expected.stdout, "\(render.allOutput)")
        #expect(run(["secrets", "set", "team", "--name", "c", "--value-stdin"], stdin: "C-1\n").status == 0)
        let env = run(["env", cli.path("spec.yaml"), "--project", "p1"])
        #expect(env.status == 0 && env.stdoutText.contains("B-p1"), "\(env.allOutput)")
        let exec = run(["exec", cli.path("spec.yaml"), "--project", "p1", "--", "/usr/bin/env"])
        #expect(exec.status == 0 && exec.stdoutText.contains("A=A-1") && exec.stdoutText.contains("B=B-p1"), "\(exec.allOutput)")
        // exec's child has neither the spec nor the PIN.
        #expect(!exec.stdoutText.contains("SECRETFILL_KEY_PKCS11") && !exec.stdoutText.contains("SECRETFILL_PKCS11_PIN") && !exec.stdoutText.contains(hsm.pin))
        // render --k8s-secret: the Secret's name is keyed by a key the token derives: stable, and not the key file's.
        let k8s = run(["render", cli.path("pod.yaml"), "--k8s-secret", "app"])
        #expect(k8s.status == 0 && k8s.stdoutText.contains("A-1"), "\(k8s.allOutput)")
        let nameInToken = try #require(secretName(k8s), "\(k8s.stdoutText)")
        #expect(nameInToken != nameWithFile && secretName(run(["render", cli.path("pod.yaml"), "--k8s-secret", "app"])) == nameInToken)
        let data = run(["rekey", "--data"])
        #expect(data.status == 0 && data.stdoutText.contains("Re-encrypted 3 value(s)"), "\(data.allOutput)")
        let (idAfterData, sealedAfterData) = try RekeyCLITests.localSealed(cli.storePath)
        #expect(idAfterData != dataKeyID && sealedAfterData.isDisjoint(with: sealedBefore))
        #expect(run(["rekey", "--status"]).stdoutText == "done\n")
        #expect(run(["render", cli.path("spec.yaml"), "--project", "p1"]).stdout == expected.stdout)

        // Refusals, each naming what is wrong, and the store left as it was.
        let before = CLI.bytes(cli.storePath)
        let noPIN = run(["secrets", "set", "team", "--name", "d", "--value-stdin"], extra: ["SECRETFILL_PKCS11_PIN": ""], stdin: "x\n")
        #expect(noPIN.status == 2 && noPIN.stderr.contains("SECRETFILL_PKCS11_PIN, which is not set"), "\(noPIN.stderr)")
        let wrongPIN = run(["render", cli.path("spec.yaml")], extra: ["SECRETFILL_PKCS11_PIN": "0" + hsm.pin])
        #expect(wrongPIN.status == 2 && wrongPIN.stderr.contains("refused the PIN"), "\(wrongPIN.stderr)")
        let unknown = run(["render", cli.path("spec.yaml")], extra: ["SECRETFILL_KEY_PKCS11": hsm.spec(key: "no-such-key")])
        #expect(unknown.status == 2 && unknown.stderr.contains("no secret key labelled \"no-such-key\""), "\(unknown.stderr)")
        let malformed = run(["render", cli.path("spec.yaml")], extra: ["SECRETFILL_KEY_PKCS11": "module=\(hsm.module)"])
        #expect(malformed.status == 64 && malformed.stderr.contains("SECRETFILL_KEY_PKCS11 takes"), "\(malformed.stderr)")
        let both = run(["render", cli.path("spec.yaml")], extra: ["SECRETFILL_KEY_FILE": keyFile])
        #expect(both.status == 64 && both.stderr.contains("SECRETFILL_KEY_PKCS11 and SECRETFILL_KEY_FILE are both set"), "\(both.stderr)")
        #expect(CLI.bytes(cli.storePath) == before, "a refused command changed the store")

        // init with the variable: a new store sealed under the token key, and no key file.
        let second = cli.path("second/store.json")
        let created = run(["init", "--store", second])
        #expect(created.status == 0 && created.stdoutText.contains(fingerprint), "\(created.allOutput)")
        #expect(String(decoding: CLI.bytes(second), as: UTF8.self).contains(fingerprint))

        // Back to a key file: the configured key file holds the new key; the variable must go.
        let oldKey = CLI.bytes(keyFile)
        let moveOut = run(["rekey", "--new-key-file", cli.path("k2"), "--generate"])
        #expect(moveOut.status == 0 && moveOut.stdoutText.contains("unset SECRETFILL_KEY_PKCS11"), "\(moveOut.allOutput)")
        #expect(CLI.bytes(keyFile) == CLI.bytes(cli.path("k2")) && CLI.bytes(keyFile) != oldKey)
        #expect(run(["render", cli.path("spec.yaml"), "--project", "p1"], token: false).stdout == expected.stdout)
        let stale = run(["render", cli.path("spec.yaml")])
        #expect(stale.status == 2 && stale.stderr.contains("unset SECRETFILL_KEY_PKCS11"), "\(stale.stderr)")

        for output in outputs { #expect(!output.contains(hsm.pin), "the PIN was printed: \(output)") }
    }

    @Test("refusals: no PIN, a wrong PIN, an unknown token or key, an extractable or readable key, a malformed spec, another token key; the token never gives the key's bytes")
    func refusals() throws {
        let cli = try CLI()
        let hsm = try SoftHSM(in: cli)
        try hsm.makeKey("store-key")
        try hsm.makeKey("other-key")
        try hsm.makeKey("loose-key", ["--extractable"])
        try hsm.makeKey("readable-key", [])
        let database = try Backend.sqlite.freshURL(in: cli)
        var outputs: [String] = []
        func serve(_ spec: String, _ environment: [String: String]) -> CLI.Outcome {
            let outcome = cli.run(["serve", "--database", database, "--listen", "127.0.0.1:0", "--key-pkcs11", spec], environment: environment)
            outputs.append(outcome.allOutput)
            return outcome
        }

        let noPIN = serve(hsm.spec(key: "store-key"), hsm.environment(pin: .some(nil)))
        #expect(noPIN.status == 2 && noPIN.stderr.contains("SECRETFILL_PKCS11_PIN, which is not set"), "\(noPIN.stderr)")
        let wrong = serve(hsm.spec(key: "store-key"), hsm.environment(pin: "00000000"))
        #expect(wrong.status == 2 && wrong.stderr.contains("refused the PIN"), "\(wrong.stderr)")
        #expect(!wrong.allOutput.contains("00000000"))
        let noToken = serve(hsm.spec(key: "store-key", token: "no-such-token"), hsm.environment())
        #expect(noToken.status == 2 && noToken.stderr.contains("no token labelled \"no-such-token\"") && noToken.stderr.contains("\"\(hsm.token)\""), "\(noToken.stderr)")
        let noKey = serve(hsm.spec(key: "no-such-key"), hsm.environment())
        #expect(noKey.status == 2 && noKey.stderr.contains("no secret key labelled \"no-such-key\""), "\(noKey.stderr)")
        let loose = serve(hsm.spec(key: "loose-key"), hsm.environment())
        #expect(loose.status == 2 && loose.stderr.contains("CKA_EXTRACTABLE = true"), "\(loose.stderr)")
        let readable = serve(hsm.spec(key: "readable-key"), hsm.environment())
        #expect(readable.status == 2 && readable.stderr.contains("CKA_SENSITIVE = false"), "\(readable.stderr)")
        let malformed = serve("module=\(hsm.module);token=\(hsm.token)", hsm.environment())
        #expect(malformed.status == 64 && malformed.stderr.contains("key is missing"), "\(malformed.stderr)")
        let unknownPart = serve("module=\(hsm.module);slot=1;token=\(hsm.token);key=store-key", hsm.environment())
        #expect(unknownPart.status == 64 && unknownPart.stderr.contains("\"slot\" is not one of module, token and key"), "\(unknownPart.stderr)")
        let badModule = serve("module=/nonexistent/libpkcs11.so;token=\(hsm.token);key=store-key", hsm.environment())
        #expect(badModule.status == 2 && badModule.stderr.contains("cannot load the PKCS#11 module /nonexistent/libpkcs11.so"), "\(badModule.stderr)")
        // Usage: through --server the server uses its own store key (refused before any request).
        let remote = cli.run(["rekey", "--server", "https://secrets.example.invalid", "--new-key-pkcs11", hsm.spec(key: "store-key")], environment: hsm.environment())
        #expect(remote.status == 64 && remote.stderr.contains("through --server the server uses its own store key"), "\(remote.stderr)")

        // A database sealed under one token key: a server given another refuses, naming the one it expected.
        let first = try TestServer(cli: cli, database: database, arguments: ["--key-pkcs11", hsm.spec(key: "store-key")], environment: hsm.environment())
        outputs.append(first.log)
        _ = first.stop()
        let backup = cli.run(["backup", "--database", database, "--out", cli.path("b.backup"), "--key-pkcs11", hsm.spec(key: "store-key")], environment: hsm.environment())
        #expect(backup.status == 0, "\(backup.stderr)")
        let expected = try #require(HSMCLITests.fingerprint(in: try String(contentsOfFile: cli.path("b.backup"), encoding: .utf8)))
        let other = serve(hsm.spec(key: "other-key"), hsm.environment())
        #expect(other.status == 2 && other.stderr.contains("sealed with key \(expected)"), "\(other.stderr)")
        let supplied = HSMCLITests.fingerprint(in: other.stderr.replacingOccurrences(of: expected, with: ""))
        #expect(supplied != nil && supplied != expected, "\(other.stderr)")

        // The token itself refuses to give out the store key's bytes.
        let read = hsm.tool("/usr/bin/pkcs11-tool", ["--module", hsm.module, "--token-label", hsm.token, "--login", "--pin", hsm.pin,
                                                     "--read-object", "--type", "secrkey", "--label", "store-key"])
        #expect(read.status != 0 && read.allOutput.contains("CKR_ATTRIBUTE_SENSITIVE"), "\(read.allOutput)")

        for output in outputs { #expect(!output.contains(hsm.pin), "the PIN was printed: \(output)") }
    }
}
