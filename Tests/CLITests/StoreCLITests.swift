import Foundation
import SecretFill
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// End-to-end tests of the store (issue 3) through the built binary: init,
// the `secrets` verbs in every scope, precedence, permissions, refused input,
// wrong keys and tampering, concurrent and killed writers, and redaction.

private let storeCLINameRule = "a secret name must match [A-Za-z_][A-Za-z0-9_.-]* and be at most 128 characters"
private let storeCLIValueRule = "a secret value must be 1 byte to 1 MiB of valid UTF-8 without NUL bytes"

/// Helpers for this file only, named so they cannot collide with other test files.
private enum StoreCLI {
    static func write(_ cli: CLI, _ name: String, _ bytes: [UInt8]) throws -> String {
        let path = cli.path(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func write(_ cli: CLI, _ name: String, _ text: String) throws -> String {
        try write(cli, name, Array(text.utf8))
    }

    /// Resolves `names` with `secretfill env SPEC --format json` (extra
    /// arguments such as `--project P` appended) and decodes the object.
    static func resolved(_ cli: CLI, _ names: [String], _ extra: [String] = [],
                         environment: [String: String] = [:], removing: [String] = []) throws -> (outcome: CLI.Outcome, values: [String: String]?) {
        let spec = "env:\n" + names.map { "- name: \($0)\n  value: secret:\($0)\n" }.joined()
        let path = try write(cli, "spec-\(UUID().uuidString).yaml", spec)
        let outcome = cli.run(["env", path, "--format", "json"] + extra, environment: environment, removing: removing)
        let values = (try? JSONSerialization.jsonObject(with: Data(outcome.stdout))) as? [String: String]
        return (outcome, values)
    }

    /// `.store.json.tmp-*` files beside the store.
    static func temporaryFiles(_ cli: CLI) -> [String] {
        let (directory, name) = FileIO.split(cli.storePath)
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter { $0.hasPrefix("." + name + ".tmp-") }.sorted()
    }

    static func fingerprint(_ base64: String) throws -> String {
        try StoreKey(base64: base64, source: "test").fingerprint
    }

    static func randomKey() -> String {
        Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    /// The `sealed` string of `name` in a scope (`team`, `project.P`, `cluster.C`) of the store file.
    static func sealed(_ cli: CLI, _ name: String, in scope: String = "team") throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(CLI.bytes(cli.storePath)))
        var node = try #require((object as? [String: Any])?["scopes"] as? [String: Any])
        let parts = scope.split(separator: ".", maxSplits: 1).map(String.init)
        node = try #require(node[parts[0]] as? [String: Any])
        if parts.count == 2 { node = try #require(node[parts[1]] as? [String: Any]) }
        let entry = try #require(node[name] as? [String: Any])
        return try #require(entry["sealed"] as? String)
    }

    /// Edits the store file as text: the one occurrence of `old` becomes `new`.
    static func replaceSealed(_ cli: CLI, _ old: String, with new: String) throws {
        let text = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
        let needle = "\"sealed\": \"\(old)\""
        try #require(text.components(separatedBy: needle).count == 2, "sealed string not found exactly once")
        let edited = text.replacingOccurrences(of: needle, with: "\"sealed\": \"\(new)\"")
        try Data(edited.utf8).write(to: URL(fileURLWithPath: cli.storePath))
    }

    /// Re-seals the whole-file mac over the file as it is, as someone holding
    /// the key could; then only the per-value binding stands in the way.
    static func remac(_ cli: CLI) throws {
        let key = try StoreKey(base64: cli.key, source: "test")
        let document = try StoreDocument.decode(CLI.bytes(cli.storePath), path: cli.storePath)
        try Data(document.sealed(with: key).encoded()).write(to: URL(fileURLWithPath: cli.storePath))
    }

    /// Without the key, any edit of a sealed value is refused as a whole by the mac.
    static func expectMacRefusal(_ cli: CLI, _ names: [String]) throws {
        let outcome = try resolved(cli, names).outcome
        #expect(outcome.status == 2)
        #expect(outcome.stdout.isEmpty)
        #expect(outcome.stderr.hasPrefix("secretfill: error: the store at \(cli.storePath) was changed outside secretfill"), "\(outcome.stderr)")
    }

    /// The same base64 with one bit flipped in the middle of the ciphertext
    /// (after the data key's `ID:`, which stays).
    static func flipped(_ sealed: String) throws -> String {
        let id = sealed.firstIndex(of: ":").map { String(sealed[...$0]) } ?? ""
        var raw = [UInt8](try #require(Data(base64Encoded: String(sealed.dropFirst(id.count)))))
        raw[raw.count / 2] ^= 0x04
        return id + Data(raw).base64EncodedString()
    }

    /// A copy of `cli` reading its key from files only (no SECRETFILL_KEY).
    static func keyFileOnly(_ cli: CLI, keyFile: String? = nil) -> CLI {
        var copy = cli
        copy.environment.removeValue(forKey: "SECRETFILL_KEY")
        if let keyFile { copy.environment["SECRETFILL_KEY_FILE"] = keyFile }
        return copy
    }

    static func defaultKeyPath(_ cli: CLI) -> String { cli.environment["XDG_CONFIG_HOME"]! + "/secretfill/key" }

    /// Starts the binary without waiting; output goes to files under the store folder.
    static func start(_ cli: CLI, _ arguments: [String], stderrPath: String) throws -> Process {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.environment = cli.environment
        process.currentDirectoryURL = cli.directory
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
        return process
    }
}

/// One input `secrets …` must refuse without touching the store.
struct StoreCLIRefusal: Sendable, CustomTestStringConvertible {
    var label: String
    var arguments: [String]
    var stdin: [UInt8]? = nil
    var files: [String: [UInt8]] = [:]
    var status: Int32 = 64
    var message: String
    /// What precedes `message` on stderr: ours, or ArgumentParser's for parse errors.
    var prefix = "secretfill: error: "

    var testDescription: String { label }

    static let all: [StoreCLIRefusal] = [
        .init(label: "name starting with a digit", arguments: ["secrets", "set", "team", "--name", "9abc", "--value-stdin"],
              stdin: Array("v\n".utf8), message: "'9abc' is not a valid secret name: \(storeCLINameRule)"),
        .init(label: "name with a space", arguments: ["secrets", "set", "team", "--name", "a b", "--value-stdin"],
              stdin: Array("v\n".utf8), message: "'a b' is not a valid secret name: \(storeCLINameRule)"),
        .init(label: "129-character name", arguments: ["secrets", "set", "team", "--name", String(repeating: "n", count: 129), "--value-stdin"],
              stdin: Array("v\n".utf8), message: "'\(String(repeating: "n", count: 64))…' (129 characters) is not a valid secret name: \(storeCLINameRule)"),
        .init(label: "empty name", arguments: ["secrets", "set", "team", "--name", "", "--value-stdin"],
              stdin: Array("v\n".utf8), message: "the secret name is empty; \(storeCLINameRule)"),
        .init(label: "empty name with --name=", arguments: ["secrets", "set", "team", "--name=", "--value-stdin"],
              stdin: Array("v\n".utf8), message: "Missing value for '--name <name>'", prefix: "Error: "),
        .init(label: "empty --value", arguments: ["secrets", "set", "team", "--name", "N", "--value", ""],
              message: "the value is empty; \(storeCLIValueRule)"),
        .init(label: "stdin of one newline", arguments: ["secrets", "set", "team", "--name", "N", "--value-stdin"],
              stdin: [0x0A], message: "the value is empty; \(storeCLIValueRule)"),
        .init(label: "empty --value-file", arguments: ["secrets", "set", "team", "--name", "N", "--value-file", "empty.bin"],
              files: ["empty.bin": []], message: "the value is empty; \(storeCLIValueRule)"),
        .init(label: "NUL in --value-file", arguments: ["secrets", "set", "team", "--name", "N", "--value-file", "nul.bin"],
              files: ["nul.bin": [0x61, 0x00, 0x62, 0x0A]], message: "the value contains a NUL byte; \(storeCLIValueRule)"),
        .init(label: "invalid UTF-8 in --value-file", arguments: ["secrets", "set", "team", "--name", "N", "--value-file", "bad.bin"],
              files: ["bad.bin": [0x61, 0xC3, 0x28, 0x62]], message: "the value is not valid UTF-8; \(storeCLIValueRule)"),
        .init(label: "value over 1 MiB", arguments: ["secrets", "set", "team", "--name", "N", "--value-file", "big.bin"],
              files: ["big.bin": [UInt8](repeating: 0x78, count: (1 << 20) + 1)], message: "the value is 1048577 bytes; \(storeCLIValueRule)"),
        .init(label: "project without --id", arguments: ["secrets", "set", "project", "--name", "N", "--value-stdin"],
              stdin: Array("v\n".utf8), message: "project secrets need --id (the project id)"),
        .init(label: "cluster without --id", arguments: ["secrets", "set", "cluster", "--name", "N", "--value-stdin"],
              stdin: Array("v\n".utf8), message: "cluster secrets need --id (the cluster id)"),
        .init(label: "list project without --id", arguments: ["secrets", "list", "project"],
              message: "project secrets need --id (the project id)"),
        .init(label: "delete cluster without --id", arguments: ["secrets", "delete", "cluster", "--name", "KEEP"],
              message: "cluster secrets need --id (the cluster id)"),
        .init(label: "import project without --id", arguments: ["secrets", "import", "project", "ok.env"],
              files: ["ok.env": Array("N=1\n".utf8)], message: "project secrets need --id (the project id)"),
        .init(label: "team with --id", arguments: ["secrets", "set", "team", "--id", "t1", "--name", "N", "--value-stdin"],
              stdin: Array("v\n".utf8), message: "team secrets take no --id (there is one team scope)"),
        .init(label: "delete team with --id", arguments: ["secrets", "delete", "team", "--id", "t1", "--name", "KEEP"],
              message: "team secrets take no --id (there is one team scope)"),
        .init(label: "invalid --id", arguments: ["secrets", "set", "project", "--id", "a/b", "--name", "N", "--value-stdin"],
              stdin: Array("v\n".utf8), message: "'a/b' is not a valid scope id: \(Scope.idRuleDescription)"),
        .init(label: "--value and --value-stdin", arguments: ["secrets", "set", "team", "--name", "N", "--value", "v", "--value-stdin"],
              stdin: Array("w\n".utf8), message: "give one value source: --value, --value-stdin or --value-file"),
        .init(label: "--value-stdin and --value-file", arguments: ["secrets", "set", "team", "--name", "N", "--value-stdin", "--value-file", "v.txt"],
              stdin: Array("w\n".utf8), files: ["v.txt": Array("v".utf8)], message: "give one value source: --value, --value-stdin or --value-file"),
        .init(label: "--value and --value-file", arguments: ["secrets", "set", "team", "--name", "N", "--value=v", "--value-file", "v.txt"],
              files: ["v.txt": Array("v".utf8)], message: "give one value source: --value, --value-stdin or --value-file"),
        .init(label: "no value source and no terminal", arguments: ["secrets", "set", "team", "--name", "N"],
              message: "no value given: use --value-stdin, --value-file FILE or --value V"),
        .init(label: "delete with a bad name", arguments: ["secrets", "delete", "team", "--name", "9abc"], message: "'9abc' is not a valid secret name: \(storeCLINameRule)"),
        .init(label: "delete of a missing name", arguments: ["secrets", "delete", "team", "--name", "NOPE"], status: 1,
              message: "there is no secret 'NOPE' in the team scope"),
        .init(label: "missing --value-file", arguments: ["secrets", "set", "team", "--name", "N", "--value-file", "absent.txt"], status: 2,
              message: "cannot read absent.txt: No such file or directory"),
    ]
}

@Suite("Store through the CLI")
struct StoreCLITests {
    // MARK: init, key file and permissions

    @Test func initCreatesKeyAndStoreMode0600AndNeverOverwrites() throws {
        let base = try CLI()
        defer { try? FileManager.default.removeItem(at: base.directory) }
        let cli = StoreCLI.keyFileOnly(base)
        let keyPath = StoreCLI.defaultKeyPath(cli)
        // A permissive umask must not widen the files.
        let first = CLI.execute("/bin/sh", ["-c", "umask 000; exec \"$0\" init", CLI.binary.path],
                                environment: cli.environment, currentDirectory: cli.directory)
        try #require(first.status == 0, "init failed: \(first.stderr)")
        let keyText = String(decoding: CLI.bytes(keyPath), as: UTF8.self)
        let fingerprint = try StoreCLI.fingerprint(keyText)
        #expect(keyText.hasSuffix("\n") && Data(base64Encoded: keyText.trimmingCharacters(in: .whitespacesAndNewlines))?.count == 32)
        #expect(first.stdoutText == "Created key \(keyPath) (\(fingerprint)); keep it out of git\nCreated store \(cli.storePath) sealed with key \(fingerprint)\n")
        #expect(first.stderr == "")
        #expect(CLI.mode(keyPath) == 0o600)
        #expect(CLI.mode(cli.storePath) == 0o600)
        #expect(CLI.mode(cli.environment["XDG_CONFIG_HOME"]! + "/secretfill") == 0o700)
        #expect(StoreCLI.temporaryFiles(cli) == [])
        let storeText = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
        #expect(storeText.contains("\"keyFingerprint\": \"\(fingerprint)\""))
        #expect(!storeText.contains(keyText.trimmingCharacters(in: .whitespacesAndNewlines)))

        // Writes keep mode 0600, leave no temporary file, and use the key file.
        let set = CLI.execute("/bin/sh", ["-c", "umask 000; exec \"$0\" secrets set team --name A --value-stdin", CLI.binary.path],
                              stdin: Array("alpha\n".utf8), environment: cli.environment, currentDirectory: cli.directory)
        #expect(set.status == 0, "\(set.stderr)")
        #expect(CLI.mode(cli.storePath) == 0o600)
        #expect(CLI.mode(cli.storePath + ".lock") == 0o600)
        #expect(StoreCLI.temporaryFiles(cli) == [])
        #expect(try StoreCLI.resolved(cli, ["A"]).values == ["A": "alpha"])

        // A second init refuses the existing store and changes nothing.
        let storeBefore = CLI.bytes(cli.storePath)
        let keyBefore = CLI.bytes(keyPath)
        let again = cli.run(["init"])
        #expect(again.status == 2)
        #expect(again.stderr == "secretfill: error: a store already exists at \(cli.storePath); secretfill init never overwrites one\n")
        #expect(again.stdoutText == "")
        #expect(CLI.bytes(cli.storePath) == storeBefore)
        #expect(CLI.bytes(keyPath) == keyBefore)

        // With the store gone, init still refuses to replace the key file.
        try FileManager.default.removeItem(atPath: cli.storePath)
        let keyExists = cli.run(["init"])
        #expect(keyExists.status == 2)
        #expect(keyExists.stderr.contains("secretfill: error: a key file already exists at \(keyPath); init never overwrites a key"))
        #expect(!FileIO.exists(cli.storePath))
        #expect(CLI.bytes(keyPath) == keyBefore)

        // --use-existing-key seals a new store with it.
        let reuse = cli.run(["init", "--use-existing-key"])
        #expect(reuse.status == 0, "\(reuse.stderr)")
        #expect(reuse.stdoutText == "Created store \(cli.storePath) sealed with key \(fingerprint)\n")
        #expect(CLI.bytes(keyPath) == keyBefore)
        #expect(CLI.mode(cli.storePath) == 0o600)
    }

    @Test func initWithKeyFileVariableCreatesThatFile() throws {
        let base = try CLI()
        defer { try? FileManager.default.removeItem(at: base.directory) }
        let keyPath = base.path("keys/deploy.key")
        let cli = StoreCLI.keyFileOnly(base, keyFile: keyPath)
        let created = cli.run(["init"])
        try #require(created.status == 0, "\(created.stderr)")
        let fingerprint = try StoreCLI.fingerprint(String(decoding: CLI.bytes(keyPath), as: UTF8.self))
        #expect(created.stdoutText.hasPrefix("Created key \(keyPath) (\(fingerprint)); keep it out of git\n"))
        #expect(CLI.mode(keyPath) == 0o600)
        #expect(CLI.mode(cli.storePath) == 0o600)
        #expect(!FileIO.exists(StoreCLI.defaultKeyPath(cli)), "the default key file must not be written")

        try cli.set(.team, "A", "from-key-file")
        #expect(try StoreCLI.resolved(cli, ["A"]).values == ["A": "from-key-file"])

        // The same store with another key file is refused, naming the file.
        let otherKey = try StoreCLI.write(cli, "other.key", StoreCLI.randomKey() + "\n")
        chmod(otherKey, 0o600)
        let other = StoreCLI.keyFileOnly(cli, keyFile: otherKey)
        let refused = try StoreCLI.resolved(other, ["A"])
        #expect(refused.outcome.status == 2)
        #expect(refused.outcome.stderr.contains("the key from \(otherKey) does not open this store"))
        #expect(refused.outcome.stdout.isEmpty)
    }

    @Test func initWithKeyVariableWritesNoKeyFile() throws {
        let cli = try CLI()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let outcome = cli.run(["init"])
        let fingerprint = try StoreCLI.fingerprint(cli.key)
        #expect(outcome.status == 0)
        #expect(outcome.stdoutText == "Created store \(cli.storePath) sealed with key \(fingerprint)\n")
        #expect(!FileIO.exists(StoreCLI.defaultKeyPath(cli)))
        #expect(CLI.mode(cli.storePath) == 0o600)
        #expect(String(decoding: CLI.bytes(cli.storePath), as: UTF8.self).contains("\"keyFingerprint\": \"\(fingerprint)\""))
        // A store exists now, so a second init is refused even with a different key.
        let again = cli.run(["init"], environment: ["SECRETFILL_KEY": StoreCLI.randomKey()])
        #expect(again.status == 2)
        #expect(again.stderr.contains("a store already exists at \(cli.storePath)"))
    }

    @Test func keyFileReadableByOthersIsRefused() throws {
        let cli = StoreCLI.keyFileOnly(try CLI())
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let keyPath = StoreCLI.defaultKeyPath(cli)
        try #require(cli.run(["init"]).status == 0)
        try cli.set(.team, "A", "value-a")
        let before = CLI.bytes(cli.storePath)

        for mode: mode_t in [0o644, 0o640, 0o604] {
            chmod(keyPath, mode)
            let expected = "secretfill: error: the key file \(keyPath) is readable or writable by others (mode \(String(mode, radix: 8))); run `chmod 600 \(keyPath)`\n"
            let set = cli.run(["secrets", "set", "team", "--name", "B", "--value-stdin"], stdin: Array("b\n".utf8))
            #expect(set.status == 2)
            #expect(set.stderr == expected)
            let env = try StoreCLI.resolved(cli, ["A"])
            #expect(env.outcome.status == 2)
            #expect(env.outcome.stderr == expected)
            #expect(env.outcome.stdout.isEmpty)
            let delete = cli.run(["secrets", "delete", "team", "--name", "A"])
            #expect(delete.status == 2)
            #expect(delete.stderr == expected)
            #expect(CLI.bytes(cli.storePath) == before)
        }
        // init --use-existing-key refuses such a key file too, and creates no store.
        try FileManager.default.removeItem(atPath: cli.storePath)
        chmod(keyPath, 0o644)
        let reuse = cli.run(["init", "--use-existing-key"])
        #expect(reuse.status == 2)
        #expect(reuse.stderr.contains("run `chmod 600 \(keyPath)`"))
        #expect(!FileIO.exists(cli.storePath))

        chmod(keyPath, 0o600)
        #expect(cli.run(["init", "--use-existing-key"]).status == 0)
        try cli.set(.team, "A", "value-a")
        #expect(try StoreCLI.resolved(cli, ["A"]).values == ["A": "value-a"])
    }

    @Test func commandsWithoutAStoreSayHowToCreateOne() throws {
        let cli = try CLI()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let expected = "secretfill: error: no secret store at \(cli.storePath); create one with `secretfill init` (or point --store / SECRETFILL_STORE at yours)\n"
        for arguments in [["secrets", "list", "team"], ["secrets", "which", "A"], ["secrets", "delete", "team", "--name", "A"],
                          ["secrets", "set", "team", "--name", "A", "--value", "x"]] {
            let outcome = cli.run(arguments)
            #expect(outcome.status == 2, "\(arguments)")
            #expect(outcome.stderr.hasSuffix(expected), "\(arguments)")
        }
        #expect(!FileIO.exists(cli.storePath))
    }

    // MARK: the verbs in every scope

    @Test func setListDeleteInEveryScope() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let sets: [([String], String)] = [
            (["secrets", "set", "team", "--name", "A", "--value-stdin"], "Set team secret 'A'\n"),
            (["secrets", "set", "team", "--name=B", "--value-stdin"], "Set team secret 'B'\n"),
            (["secrets", "set", "project", "--id", "pr-1", "--name", "A", "--value-stdin"], "Set project pr-1 secret 'A'\n"),
            (["secrets", "set", "project", "--id=pr-1", "--name=P", "--value-stdin"], "Set project pr-1 secret 'P'\n"),
            (["secrets", "set", "cluster", "--id", "c.1", "--name", "A", "--value-stdin"], "Set cluster c.1 secret 'A'\n"),
            (["secrets", "set", "cluster", "--name=C_x-1.y", "--id=c.1", "--value-stdin"], "Set cluster c.1 secret 'C_x-1.y'\n"),
            (["secrets", "set", "team", "--name", String(repeating: "L", count: 128), "--value-stdin"],
             "Set team secret '\(String(repeating: "L", count: 128))'\n"),
        ]
        for (index, (arguments, expected)) in sets.enumerated() {
            let outcome = cli.run(arguments, stdin: Array("value-\(index)\n".utf8))
            #expect(outcome.status == 0, "\(arguments): \(outcome.stderr)")
            #expect(outcome.stdoutText == expected)
            #expect(outcome.stderr == "")
        }

        #expect(cli.run(["secrets", "list", "team"]).stdoutText == "A\nB\n\(String(repeating: "L", count: 128))\n")
        #expect(cli.run(["secrets", "list", "project", "--id", "pr-1"]).stdoutText == "A\nP\n")
        #expect(cli.run(["secrets", "list", "cluster", "--id=c.1"]).stdoutText == "A\nC_x-1.y\n")
        let otherProject = cli.run(["secrets", "list", "project", "--id", "pr-2"])
        #expect(otherProject.status == 0 && otherProject.stdoutText == "")
        let emptyJSON = cli.run(["secrets", "list", "cluster", "--id", "none", "--format", "json"])
        #expect(emptyJSON.status == 0 && emptyJSON.stdoutText == "[]\n")

        let json = cli.run(["secrets", "list", "project", "--id", "pr-1", "--format", "json"])
        #expect(json.status == 0)
        let items = try #require((try? JSONSerialization.jsonObject(with: Data(json.stdout))) as? [[String: String]])
        #expect(items.map { $0["name"] } == ["A", "P"])
        for item in items {
            #expect(Set(item.keys) == ["name", "updated"])
            #expect(item["updated"]?.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#, options: .regularExpression) != nil)
        }

        // Values landed in the scope they were set in.
        #expect(try StoreCLI.resolved(cli, ["A", "B"]).values == ["A": "value-0", "B": "value-1"])
        #expect(try StoreCLI.resolved(cli, ["A", "P"], ["--project", "pr-1"]).values == ["A": "value-2", "P": "value-3"])
        #expect(try StoreCLI.resolved(cli, ["A"], ["--cluster", "c.1"]).values == ["A": "value-4"])

        // Setting again replaces the value, and a store left readable by others
        // (say, checked out from git) goes back to 0600 on the next write.
        chmod(cli.storePath, 0o644)
        try cli.set(.project("pr-1"), "A", "replaced")
        #expect(CLI.mode(cli.storePath) == 0o600)
        #expect(try StoreCLI.resolved(cli, ["A"], ["--project", "pr-1"]).values == ["A": "replaced"])
        #expect(cli.run(["secrets", "list", "project", "--id", "pr-1"]).stdoutText == "A\nP\n")

        let deletes: [([String], String)] = [
            (["secrets", "delete", "team", "--name", "B"], "Deleted team secret 'B'\n"),
            (["secrets", "delete", "project", "--id", "pr-1", "--name=A"], "Deleted project pr-1 secret 'A'\n"),
            (["secrets", "delete", "cluster", "--id=c.1", "--name", "C_x-1.y"], "Deleted cluster c.1 secret 'C_x-1.y'\n"),
        ]
        for (arguments, expected) in deletes {
            let outcome = cli.run(arguments)
            #expect(outcome.status == 0, "\(arguments): \(outcome.stderr)")
            #expect(outcome.stdoutText == expected)
        }
        #expect(cli.run(["secrets", "list", "team"]).stdoutText == "A\n\(String(repeating: "L", count: 128))\n")
        #expect(cli.run(["secrets", "list", "project", "--id", "pr-1"]).stdoutText == "P\n")
        #expect(cli.run(["secrets", "list", "cluster", "--id", "c.1"]).stdoutText == "A\n")

        let again = cli.run(["secrets", "delete", "project", "--id", "pr-1", "--name", "A"])
        #expect(again.status == 1)
        #expect(again.stderr == "secretfill: error: there is no secret 'A' in the project pr-1 scope\n")
        #expect(CLI.mode(cli.storePath) == 0o600)
        #expect(StoreCLI.temporaryFiles(cli) == [])
    }

    @Test func importIntoEveryScope() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let dotenv = try StoreCLI.write(cli, "team.env", "# team\nexport T1=one\nT2=\"two words\"\n")
        let teamImport = cli.run(["secrets", "import", "team", dotenv])
        #expect(teamImport.status == 0, "\(teamImport.stderr)")
        #expect(teamImport.stdoutText == "Imported 2 team secret(s) (2 added, 0 replaced): T1, T2\n")

        let projectImport = cli.run(["secrets", "import", "project", "--id", "pr-1", "-"], stdin: Array("P1='single'\nT1=${P1}-x\n".utf8))
        #expect(projectImport.status == 0, "\(projectImport.stderr)")
        #expect(projectImport.stdoutText == "Imported 2 project pr-1 secret(s) (2 added, 0 replaced): P1, T1\n")

        _ = try StoreCLI.write(cli, "cluster.json", "{\n  \"C1\": \"c-one\",\n  \"T2\": \"line\\nbreak\"\n}\n")
        let clusterImport = cli.run(["secrets", "import", "cluster", "--id=c-1", "cluster.json"])
        #expect(clusterImport.status == 0, "\(clusterImport.stderr)")
        #expect(clusterImport.stdoutText == "Imported 2 cluster c-1 secret(s) (2 added, 0 replaced): C1, T2\n")

        // JSON given by --format, from stdin.
        let forced = cli.run(["secrets", "import", "team", "-", "--format", "json"], stdin: Array("{\"J\": \"jay\"}".utf8))
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(forced.stdoutText == "Imported 1 team secret(s) (1 added, 0 replaced): J\n")

        #expect(cli.run(["secrets", "list", "team"]).stdoutText == "J\nT1\nT2\n")
        #expect(cli.run(["secrets", "list", "project", "--id", "pr-1"]).stdoutText == "P1\nT1\n")
        #expect(cli.run(["secrets", "list", "cluster", "--id", "c-1"]).stdoutText == "C1\nT2\n")
        #expect(try StoreCLI.resolved(cli, ["T1", "T2", "J"]).values == ["T1": "one", "T2": "two words", "J": "jay"])
        #expect(try StoreCLI.resolved(cli, ["T1", "T2", "P1", "C1"], ["--project", "pr-1", "--cluster", "c-1"]).values
            == ["T1": "single-x", "T2": "line\nbreak", "P1": "single", "C1": "c-one"])
    }

    @Test func precedenceIsProjectThenClusterThenTeam() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        try cli.set(.team, "DB", "team-db")
        try cli.set(.cluster("c1"), "DB", "cluster-db")
        try cli.set(.project("p1"), "DB", "project-db")
        try cli.set(.team, "TP", "team-tp")
        try cli.set(.project("p1"), "TP", "project-tp")
        try cli.set(.cluster("c1"), "CO", "cluster-only")

        func which(_ arguments: [String]) -> CLI.Outcome { cli.run(["secrets", "which"] + arguments) }
        let all = which(["DB", "--project", "p1", "--cluster", "c1"])
        #expect(all.status == 0)
        #expect(all.stdoutText == "'DB' resolves from project p1 (shadows cluster c1, team)\n")
        #expect(which(["DB", "--cluster", "c1"]).stdoutText == "'DB' resolves from cluster c1 (shadows team)\n")
        #expect(which(["DB", "--project=p1"]).stdoutText == "'DB' resolves from project p1 (shadows team)\n")
        #expect(which(["DB"]).stdoutText == "'DB' resolves from team\n")
        #expect(which(["DB", "--project", "p2", "--cluster", "c2"]).stdoutText == "'DB' resolves from team\n")
        #expect(which(["TP", "--project", "p1", "--cluster", "c1"]).stdoutText == "'TP' resolves from project p1 (shadows team)\n")
        #expect(which(["CO", "--project", "p1", "--cluster", "c1"]).stdoutText == "'CO' resolves from cluster c1\n")
        // The environment supplies the chain too.
        let fromEnvironment = cli.run(["secrets", "which", "DB"], environment: ["SECRETFILL_PROJECT": "p1", "SECRETFILL_CLUSTER": "c1"])
        #expect(fromEnvironment.stdoutText == "'DB' resolves from project p1 (shadows cluster c1, team)\n")

        let none = which(["CO", "--project", "p1"])
        #expect(none.status == 1)
        #expect(none.stdoutText == "")
        #expect(none.stderr == "secretfill: 'CO' does not resolve (looked in project p1, team; it exists in cluster c1: add --cluster c1)\n")
        let missing = which(["NOPE", "--project", "p1", "--cluster", "c1"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "secretfill: 'NOPE' does not resolve (looked in project p1, cluster c1, team)\n")
        #expect(which(["9bad"]).status == 64)

        // which needs no key at all.
        let keyless = cli.run(["secrets", "which", "DB", "--cluster", "c1"], removing: ["SECRETFILL_KEY"])
        #expect(keyless.status == 0, "\(keyless.stderr)")
        #expect(keyless.stdoutText == "'DB' resolves from cluster c1 (shadows team)\n")

        // The values follow the same order.
        #expect(try StoreCLI.resolved(cli, ["DB", "TP", "CO"], ["--project", "p1", "--cluster", "c1"]).values
            == ["DB": "project-db", "TP": "project-tp", "CO": "cluster-only"])
        #expect(try StoreCLI.resolved(cli, ["DB", "TP", "CO"], ["--cluster", "c1"]).values
            == ["DB": "cluster-db", "TP": "team-tp", "CO": "cluster-only"])
        #expect(try StoreCLI.resolved(cli, ["DB", "TP"], ["--project", "p1"]).values == ["DB": "project-db", "TP": "project-tp"])
        #expect(try StoreCLI.resolved(cli, ["DB", "TP"]).values == ["DB": "team-db", "TP": "team-tp"])

        // Deleting the project value uncovers the cluster one, then the team one.
        #expect(cli.run(["secrets", "delete", "project", "--id", "p1", "--name", "DB"]).status == 0)
        #expect(which(["DB", "--project", "p1", "--cluster", "c1"]).stdoutText == "'DB' resolves from cluster c1 (shadows team)\n")
        #expect(try StoreCLI.resolved(cli, ["DB"], ["--project", "p1", "--cluster", "c1"]).values == ["DB": "cluster-db"])
        #expect(cli.run(["secrets", "delete", "cluster", "--id", "c1", "--name", "DB"]).status == 0)
        #expect(which(["DB", "--project", "p1", "--cluster", "c1"]).stdoutText == "'DB' resolves from team\n")
        #expect(try StoreCLI.resolved(cli, ["DB"], ["--project", "p1", "--cluster", "c1"]).values == ["DB": "team-db"])
    }

    // MARK: values as given

    @Test func valueSourcesKeepTheRightBytes() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let stdinCases: [(String, String, String)] = [
            ("S_LF", "abc\n", "abc"),
            ("S_CRLF", "abc\r\n", "abc"),
            ("S_TWO_LF", "abc\n\n", "abc\n"),
            ("S_TWO_CRLF", "abc\r\n\r\n", "abc\r\n"),
            ("S_NONE", "abc", "abc"),
            ("S_CR", "abc\r", "abc\r"),
            ("S_LF_ONLY_TWICE", "\n\n", "\n"),
            ("S_SPACES", "  a b  \n", "  a b  "),
        ]
        for (name, input, _) in stdinCases {
            let outcome = cli.run(["secrets", "set", "team", "--name", name, "--value-stdin"], stdin: Array(input.utf8))
            #expect(outcome.status == 0, "\(name): \(outcome.stderr)")
        }
        let fileCases: [(String, String)] = [("F_LF", "abc\n"), ("F_CRLF", "abc\r\n"), ("F_TWO", "x\n\n"), ("F_UTF8", "päss wörd €\n")]
        for (name, content) in fileCases {
            let path = try StoreCLI.write(cli, "\(name).txt", content)
            let outcome = cli.run(["secrets", "set", "team", "--name=\(name)", "--value-file", path])
            #expect(outcome.status == 0, "\(name): \(outcome.stderr)")
        }
        let inline = cli.run(["secrets", "set", "team", "--name", "V", "--value", " spaced \n"])
        #expect(inline.status == 0)
        #expect(inline.stderr.contains("--value leaves the secret in your shell history"))
        let inlineEquals = cli.run(["secrets", "set", "team", "--name=VE", "--value=a=b"])
        #expect(inlineEquals.status == 0)

        var expected: [String: String] = ["V": " spaced \n", "VE": "a=b"]
        for (name, _, value) in stdinCases { expected[name] = value }
        for (name, content) in fileCases { expected[name] = content }
        let resolved = try StoreCLI.resolved(cli, expected.keys.sorted())
        #expect(resolved.outcome.status == 0, "\(resolved.outcome.stderr)")
        #expect(resolved.values == expected)

        // The largest value passes, and stdin's newline does not count against it.
        let limit = [UInt8](repeating: 0x7A, count: 1 << 20)
        let big = cli.run(["secrets", "set", "team", "--name", "BIG", "--value-stdin"], stdin: limit + [0x0A])
        #expect(big.status == 0, "\(big.stderr)")
        #expect(try StoreCLI.resolved(cli, ["BIG"]).values?["BIG"]?.utf8.count == 1 << 20)
    }

    /// `list --format json` is JSON whatever the store file holds in `updated`
    /// (the store file is reviewed and edited in git; names are checked on
    /// reading, timestamps are not).
    @Test func listJSONStaysValidForAnyTimestampText() throws {
        let cli = try CLI().initialise(team: ["A": "a"])
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let text = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
        let stamp = try #require(text.range(of: #"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"#, options: .regularExpression).map { text[$0] })
        let edited = text.replacingOccurrences(of: "\"updated\": \"\(stamp)\"", with: #""updated": "2026-01-01 \"noon\"""#)
        try #require(edited != text)
        try Data(edited.utf8).write(to: URL(fileURLWithPath: cli.storePath))
        let list = cli.run(["secrets", "list", "team", "--format", "json"])
        #expect(list.status == 0, "\(list.stderr)")
        let items = (try? JSONSerialization.jsonObject(with: Data(list.stdout))) as? [[String: String]]
        #expect(items == [["name": "A", "updated": "2026-01-01 \"noon\""]], "not JSON: \(list.stdoutText)")
    }

    // MARK: refused input

    @Test(arguments: StoreCLIRefusal.all)
    func refusedInputLeavesTheStoreAlone(_ refusal: StoreCLIRefusal) throws {
        let cli = try CLI().initialise(team: ["KEEP": "kept"])
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        for (name, bytes) in refusal.files { _ = try StoreCLI.write(cli, name, bytes) }
        let before = CLI.bytes(cli.storePath)
        let outcome = cli.run(refusal.arguments, stdin: refusal.stdin)
        #expect(outcome.status == refusal.status)
        #expect(outcome.stderr.contains(refusal.prefix + refusal.message + "\n"), "stderr: \(outcome.stderr)")
        #expect(outcome.stdoutText == "")
        #expect(CLI.bytes(cli.storePath) == before)
        #expect(StoreCLI.temporaryFiles(cli) == [])
        #expect(cli.run(["secrets", "list", "team"]).stdoutText == "KEEP\n")
    }

    @Test func importIsAllOrNothing() throws {
        let cli = try CLI().initialise(team: ["KEEP": "kept"])
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let before = CLI.bytes(cli.storePath)
        _ = try StoreCLI.write(cli, "bad.env", "GOOD1=fine\n\n9bad=x\nGOOD2=fine\nNOEQ\n'quoted name'=y\nGOOD1=twice\n")
        let outcome = cli.run(["secrets", "import", "team", "bad.env"])
        #expect(outcome.status == 1)
        #expect(outcome.stdoutText == "")
        #expect(outcome.stderr == """
            bad.env:3: error: \(storeCLINameRule)
            bad.env:5: error: the line has no '=' (expected NAME=VALUE)
            bad.env:6: error: \(storeCLINameRule)
            bad.env:7: error: 'GOOD1' is set twice (first on line 1)
            secretfill: nothing imported (4 problem(s))

            """)
        #expect(CLI.bytes(cli.storePath) == before)

        // Into a project, from stdin, as JSON: same rule.
        let json = "{\n  \"OK\": \"fine\",\n  \"bad name\": \"x\",\n  \"NUM\": 1\n}\n"
        let stdinImport = cli.run(["secrets", "import", "project", "--id", "p1", "-", "--format", "json"], stdin: Array(json.utf8))
        #expect(stdinImport.status == 1)
        #expect(stdinImport.stderr == """
            <stdin>:3: error: \(storeCLINameRule)
            <stdin>:4: error: the value of 'NUM' is not a JSON string
            secretfill: nothing imported (2 problem(s))

            """)
        #expect(CLI.bytes(cli.storePath) == before)

        let notUTF8 = try StoreCLI.write(cli, "latin1.env", [0x41, 0x3D, 0xE9, 0x0A])
        let latin = cli.run(["secrets", "import", "cluster", "--id", "c", notUTF8])
        #expect(latin.status == 1)
        #expect(latin.stderr.hasPrefix("\(notUTF8):1: error: the file is not valid UTF-8\n"))
        #expect(CLI.bytes(cli.storePath) == before)
        #expect(cli.run(["secrets", "list", "team"]).stdoutText == "KEEP\n")
        #expect(cli.run(["secrets", "list", "project", "--id", "p1"]).stdoutText == "")
        #expect(StoreCLI.temporaryFiles(cli) == [])
    }

    // MARK: keys and tampering

    @Test func wrongKeyIsRefusedBeforeDecrypting() throws {
        let cli = try CLI().initialise(team: ["A": "value-of-a", "B": "value-of-b"])
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let right = try StoreCLI.fingerprint(cli.key)
        let otherKey = StoreCLI.randomKey()
        let wrong = try StoreCLI.fingerprint(otherKey)
        let expected = "secretfill: error: the key from SECRETFILL_KEY does not open this store: the store was sealed with key \(right), the key given is \(wrong)\n"
        let before = CLI.bytes(cli.storePath)

        let env = try StoreCLI.resolved(cli, ["A", "B"], environment: ["SECRETFILL_KEY": otherKey])
        #expect(env.outcome.status == 2)
        #expect(env.outcome.stderr == expected)
        #expect(env.outcome.stdout.isEmpty)

        let set = cli.run(["secrets", "set", "team", "--name", "C", "--value-stdin"], stdin: Array("c\n".utf8),
                          environment: ["SECRETFILL_KEY": otherKey])
        #expect(set.status == 2)
        #expect(set.stderr == expected)
        let delete = cli.run(["secrets", "delete", "team", "--name", "A"], environment: ["SECRETFILL_KEY": otherKey])
        #expect(delete.status == 2)
        #expect(delete.stderr == expected)
        let importing = cli.run(["secrets", "import", "team", "-"], stdin: Array("C=c\n".utf8), environment: ["SECRETFILL_KEY": otherKey])
        #expect(importing.status == 2)
        #expect(importing.stderr == expected)
        #expect(CLI.bytes(cli.storePath) == before)

        // With A also tampered, the key is still what is refused: nothing was decrypted.
        try StoreCLI.replaceSealed(cli, try StoreCLI.sealed(cli, "A"), with: try StoreCLI.flipped(try StoreCLI.sealed(cli, "A")))
        let both = try StoreCLI.resolved(cli, ["A"], environment: ["SECRETFILL_KEY": otherKey])
        #expect(both.outcome.status == 2)
        #expect(both.outcome.stderr == expected)
        #expect(!both.outcome.allOutput.contains("does not decrypt"))

        // A malformed key is refused too.
        let malformed = try StoreCLI.resolved(cli, ["B"], environment: ["SECRETFILL_KEY": "c2hvcnQ="])
        #expect(malformed.outcome.status == 2)
        #expect(malformed.outcome.stderr == "secretfill: error: the key from SECRETFILL_KEY is unusable: it must be 32 bytes (base64-encoded), found 5\n")
        for outcome in [env.outcome, set, delete, importing, both.outcome, malformed.outcome] {
            #expect(!outcome.allOutput.contains("value-of-"))
        }
    }

    @Test func tamperedCiphertextIsRefusedNamingTheSecret() throws {
        let cli = try CLI().initialise(team: ["A": "value-of-a", "B": "value-of-b"])
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        try cli.set(.project("p1"), "A", "project-value-of-a")
        try StoreCLI.replaceSealed(cli, try StoreCLI.sealed(cli, "A"), with: try StoreCLI.flipped(try StoreCLI.sealed(cli, "A")))
        try StoreCLI.expectMacRefusal(cli, ["B"])
        try StoreCLI.remac(cli)
        let tampered = CLI.bytes(cli.storePath)

        let env = try StoreCLI.resolved(cli, ["A", "B"])
        #expect(env.outcome.status == 2)
        #expect(env.outcome.stdout.isEmpty)
        #expect(env.outcome.stderr.contains("error: secret 'A' (team) does not decrypt: its sealed value was altered, or copied from another name or scope"))
        #expect(!env.outcome.stderr.contains("'B'"))
        #expect(!env.outcome.allOutput.contains("value-of-"))

        let spec = try StoreCLI.write(cli, "render.yaml", "env:\n- name: A\n  value: secret:A\n")
        let render = cli.run(["render", spec])
        #expect(render.status == 2)
        #expect(render.stdout.isEmpty)
        #expect(render.stderr.contains("secret 'A' (team) does not decrypt"))

        // Untouched secrets and scopes still open; the file was not changed by reading.
        #expect(try StoreCLI.resolved(cli, ["B"]).values == ["B": "value-of-b"])
        #expect(try StoreCLI.resolved(cli, ["A"], ["--project", "p1"]).values == ["A": "project-value-of-a"])
        #expect(CLI.bytes(cli.storePath) == tampered)
        // Replacing the damaged secret repairs it.
        try cli.set(.team, "A", "fresh")
        #expect(try StoreCLI.resolved(cli, ["A", "B"]).values == ["A": "fresh", "B": "value-of-b"])
    }

    @Test func ciphertextMovedToAnotherNameOrScopeIsRefused() throws {
        let cli = try CLI().initialise(team: ["A": "value-of-a", "B": "value-of-b"])
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        try cli.set(.project("p1"), "A", "project-value")
        let sealedA = try StoreCLI.sealed(cli, "A")
        try StoreCLI.replaceSealed(cli, try StoreCLI.sealed(cli, "B"), with: sealedA)
        try StoreCLI.replaceSealed(cli, try StoreCLI.sealed(cli, "A", in: "project.p1"), with: sealedA)
        try StoreCLI.expectMacRefusal(cli, ["A"])
        try StoreCLI.remac(cli)

        let moved = try StoreCLI.resolved(cli, ["B"])
        #expect(moved.outcome.status == 2)
        #expect(moved.outcome.stdout.isEmpty)
        #expect(moved.outcome.stderr.contains("error: secret 'B' (team) does not decrypt: its sealed value was altered, or copied from another name or scope"))
        #expect(!moved.outcome.allOutput.contains("value-of-"))

        let otherScope = try StoreCLI.resolved(cli, ["A"], ["--project", "p1"])
        #expect(otherScope.outcome.status == 2)
        #expect(otherScope.outcome.stdout.isEmpty)
        #expect(otherScope.outcome.stderr.contains("error: secret 'A' (project p1) does not decrypt"))
        #expect(!otherScope.outcome.allOutput.contains("value-of-") && !otherScope.outcome.allOutput.contains("project-value"))

        // The original still answers for its own name and scope.
        #expect(try StoreCLI.resolved(cli, ["A"]).values == ["A": "value-of-a"])
    }

    @Test func corruptStoreIsReportedAndLeftUnchanged() throws {
        let cli = try CLI().initialise(team: ["A": "value-of-a"])
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let whole = CLI.bytes(cli.storePath)
        // Each content with a stable fragment of what its message must say.
        let cases: [([UInt8], String)] = [
            (Array(whole.prefix(whole.count / 2)), "truncated or edited by hand"),
            ([], "empty"),
            (Array("{\"format\": \"secretfill-store\", \"version\": 9, \"keyFingerprint\": \"sha256:00\", \"scopes\": {}}".utf8),
             "\"version\": 2"),
        ]
        for (content, fragment) in cases {
            try Data(content).write(to: URL(fileURLWithPath: cli.storePath))
            let first = cli.run(["secrets", "list", "team"]).stderr
            let head = "secretfill: error: the store at \(cli.storePath) is not a valid secretfill store: "
            #expect(first.hasPrefix(head) && first.hasSuffix(". It was left as it is\n") && first.contains(fragment), "\(first)")
            // Every command gives that same message.
            let expected = first
            let commands: [([String], [UInt8]?)] = [
                (["secrets", "list", "team"], nil),
                (["secrets", "which", "A"], nil),
                (["secrets", "set", "team", "--name", "B", "--value-stdin"], Array("b\n".utf8)),
                (["secrets", "delete", "team", "--name", "A"], nil),
                (["secrets", "import", "team", "-"], Array("C=c\n".utf8)),
            ]
            for (arguments, stdin) in commands {
                let outcome = cli.run(arguments, stdin: stdin)
                #expect(outcome.status == 2, "\(arguments)")
                #expect(outcome.stderr == expected, "\(arguments)")
                #expect(outcome.stdoutText == "")
            }
            let env = try StoreCLI.resolved(cli, ["A"])
            #expect(env.outcome.status == 2)
            #expect(env.outcome.stderr == expected)
            #expect(CLI.bytes(cli.storePath) == content)
            #expect(StoreCLI.temporaryFiles(cli) == [])
        }
    }

    // MARK: redaction

    @Test func canaryNeverAppearsInOutput() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let canary = "CANARY-7f3a9-\(UUID().uuidString)"
        let core = String(canary.suffix(36))
        var outcomes: [(label: String, outcome: CLI.Outcome)] = []
        func run(_ label: String, _ arguments: [String], stdin: String? = nil, environment: [String: String] = [:]) {
            outcomes.append((label, cli.run(arguments, stdin: stdin.map { Array($0.utf8) }, environment: environment)))
        }

        // Every way in.
        run("set --value", ["secrets", "set", "team", "--name", "C1", "--value", canary])
        run("set --value-stdin", ["secrets", "set", "team", "--name", "C2", "--value-stdin"], stdin: canary + "\n")
        let file = try StoreCLI.write(cli, "canary.txt", canary + "\n")
        run("set --value-file", ["secrets", "set", "project", "--id", "p", "--name", "C3", "--value-file", file])
        let dotenv = try StoreCLI.write(cli, "canary.env", "C4=\(canary)\nexport C5=\"\(canary)-quoted\"\n")
        run("import dotenv", ["secrets", "import", "team", dotenv])
        let json = try StoreCLI.write(cli, "canary.json", "{\"C6\": \"\(canary)\"}")
        run("import json", ["secrets", "import", "cluster", "--id", "c", json])
        for (label, outcome) in outcomes { #expect(outcome.status == 0, "\(label): \(outcome.stderr)") }
        let succeeding = outcomes.count

        // The values did land, encrypted.
        let landed = try StoreCLI.resolved(cli, ["C1", "C2", "C4", "C5"])
        #expect(landed.values == ["C1": canary, "C2": canary, "C4": canary, "C5": canary + "-quoted"])
        #expect(try StoreCLI.resolved(cli, ["C3", "C6"], ["--project", "p", "--cluster", "c"]).values == ["C3": canary + "\n", "C6": canary])
        let storeText = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
        #expect(!storeText.contains(core) && !storeText.contains("CANARY"))

        // Every way of looking at names.
        run("list", ["secrets", "list", "team"])
        run("list json", ["secrets", "list", "team", "--format", "json"])
        run("list project json", ["secrets", "list", "project", "--id", "p", "--format", "json"])
        run("list cluster", ["secrets", "list", "cluster", "--id", "c"])
        run("which", ["secrets", "which", "C3", "--project", "p", "--cluster", "c"])
        run("delete", ["secrets", "delete", "team", "--name", "C1"])
        for (label, outcome) in outcomes[succeeding...] { #expect(outcome.status == 0, "\(label): \(outcome.stderr)") }
        let failing = outcomes.count
        run("which missing", ["secrets", "which", "NOPE", "--project", "p"])

        // Every kind of error, with the canary nearby.
        let wrongKey = ["SECRETFILL_KEY": StoreCLI.randomKey()]
        run("set with wrong key", ["secrets", "set", "team", "--name", "C7", "--value", canary], environment: wrongKey)
        run("stdin set with wrong key", ["secrets", "set", "team", "--name", "C7", "--value-stdin"], stdin: canary, environment: wrongKey)
        run("import with wrong key", ["secrets", "import", "team", dotenv], environment: wrongKey)
        outcomes.append(("env with wrong key", try StoreCLI.resolved(cli, ["C2"], environment: wrongKey).outcome))
        run("bad name", ["secrets", "set", "team", "--name", "9bad", "--value", canary])
        run("two sources", ["secrets", "set", "team", "--name", "C8", "--value", canary, "--value-stdin"], stdin: canary)
        run("missing id", ["secrets", "set", "project", "--name", "C8", "--value", canary])
        let nul = try StoreCLI.write(cli, "nul.bin", Array(canary.utf8) + [0] + Array(canary.utf8))
        run("NUL value", ["secrets", "set", "team", "--name", "C8", "--value-file", nul])
        let latin = try StoreCLI.write(cli, "latin.bin", Array(canary.utf8) + [0xFF])
        run("invalid UTF-8 value", ["secrets", "set", "team", "--name", "C8", "--value-file", latin])
        let badImport = try StoreCLI.write(cli, "bad.env", """
            OK=\(canary)
            9bad=\(canary)
            NOEQ\(canary)
            BAD LINE \(canary)
            OK=\(canary)
            Q="\(canary)
            """)
        run("bad dotenv import", ["secrets", "import", "team", badImport])
        let badJSON = try StoreCLI.write(cli, "bad.json", "{\n\"9x\": \"\(canary)\",\n\"N\": [\"\(canary)\"],\n\"E\": \"\"\n}")
        run("bad json import", ["secrets", "import", "team", badJSON])
        run("not json import", ["secrets", "import", "team", "-", "--format", "json"], stdin: "{\"\(canary)\": ")

        try StoreCLI.replaceSealed(cli, try StoreCLI.sealed(cli, "C2"), with: try StoreCLI.flipped(try StoreCLI.sealed(cli, "C2")))
        try StoreCLI.replaceSealed(cli, try StoreCLI.sealed(cli, "C5"), with: try StoreCLI.sealed(cli, "C4"))
        try StoreCLI.remac(cli)
        outcomes.append(("env tampered", try StoreCLI.resolved(cli, ["C2"]).outcome))
        outcomes.append(("env moved", try StoreCLI.resolved(cli, ["C5"]).outcome))
        let renderSpec = try StoreCLI.write(cli, "r.yaml", "env:\n- name: C2\n  value: secret:C2\n- name: C4\n  value: secret:C4\n")
        run("render tampered", ["render", renderSpec])

        for (label, outcome) in outcomes {
            #expect(!outcome.allOutput.contains(core), "\(label) printed the canary: \(outcome.allOutput)")
            #expect(!outcome.allOutput.contains("CANARY"), "\(label) printed part of the canary: \(outcome.allOutput)")
        }
        // Every error case did fail, with an error message (so there was output to leak into).
        #expect(outcomes.count - failing == 16)
        for (label, outcome) in outcomes[failing...] {
            #expect(outcome.status != 0, "\(label) did not fail")
            #expect(outcome.stdout.isEmpty, "\(label) wrote to stdout")
            #expect(!outcome.stderr.isEmpty, "\(label) said nothing")
        }
    }

    // MARK: concurrency and crashes

    @Suite(.serialized)
    struct Stress {
        @Test(.timeLimit(.minutes(2)))
        func eightConcurrentWritersLoseNothing() throws {
            let cli = try CLI().initialise()
            defer { try? FileManager.default.removeItem(at: cli.directory) }
            let workers = 8, perWorker = 40
            let script = """
                i=0
                while [ "$i" -lt \(perWorker) ]; do
                  printf 'value-%s-%s\\n' "$1" "$i" | "$0" secrets set team --name "w$1_n$i" --value-stdin >/dev/null \
                    || { echo "worker $1: set w$1_n$i failed" >&2; exit 1; }
                  i=$((i + 1))
                done
                """
            var processes: [(Process, String)] = []
            for worker in 0..<workers {
                let errors = cli.path("worker-\(worker).err")
                _ = FileManager.default.createFile(atPath: errors, contents: nil)
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", script, CLI.binary.path, String(worker)]
                process.environment = cli.environment
                process.currentDirectoryURL = cli.directory
                process.standardInput = FileHandle.nullDevice
                process.standardOutput = FileHandle.nullDevice
                process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
                processes.append((process, errors))
            }
            for (process, _) in processes { try process.run() }
            for (process, errors) in processes {
                process.waitUntilExit()
                #expect(process.terminationStatus == 0, "\(String(decoding: CLI.bytes(errors), as: UTF8.self))")
            }

            var expected: [String: String] = [:]
            for worker in 0..<workers {
                for i in 0..<perWorker { expected["w\(worker)_n\(i)"] = "value-\(worker)-\(i)" }
            }
            let list = cli.run(["secrets", "list", "team"])
            #expect(list.status == 0)
            let names = list.stdoutText.split(separator: "\n").map(String.init)
            #expect(names.count == workers * perWorker)
            #expect(Set(names) == Set(expected.keys))
            let resolved = try StoreCLI.resolved(cli, expected.keys.sorted())
            #expect(resolved.outcome.status == 0, "\(resolved.outcome.stderr)")
            #expect(resolved.values == expected)
            #expect(StoreCLI.temporaryFiles(cli) == [])
            #expect(CLI.mode(cli.storePath) == 0o600)
        }

        @Test(.timeLimit(.minutes(2)))
        func writersKilledMidWriteNeverCorruptTheStore() throws {
            let cli = try CLI().initialise()
            defer { try? FileManager.default.removeItem(at: cli.directory) }
            let names = ["K0", "K1"]
            let size = 256 * 1024
            func value(_ attempt: Int) -> String {
                let head = "attempt-\(attempt)-"
                return head + String(repeating: "x", count: size - head.utf8.count)
            }
            let errors = cli.path("killed.err")
            let valueFile = cli.path("value.txt")

            // Every name twice, uninterrupted, to learn how long a write to the full store takes here.
            var history: [String: [(attempt: Int, succeeded: Bool)]] = [:]
            var durations: [Double] = []
            for round in 0..<2 {
                for (index, name) in names.enumerated() {
                    let attempt = -1 - index - round * names.count
                    try Data(value(attempt).utf8).write(to: URL(fileURLWithPath: valueFile))
                    let started = Date()
                    let outcome = cli.run(["secrets", "set", "team", "--name", name, "--value-file", valueFile])
                    try #require(outcome.status == 0, "\(outcome.stderr)")
                    if round == 1 { durations.append(Date().timeIntervalSince(started)) }
                    history[name] = [(attempt, true)]
                }
            }
            let typical = max(durations.sorted()[durations.count / 2], 0.01)

            // Even attempts die at a random point of their run; odd ones within
            // 2 ms of their own temporary file appearing, so some surely die mid-write.
            var killed = 0, killedMidWrite = 0, succeeded = 0
            for attempt in 0..<50 {
                let name = names[attempt % names.count]
                try Data(value(attempt).utf8).write(to: URL(fileURLWithPath: valueFile))
                let process = try StoreCLI.start(cli, ["secrets", "set", "team", "--name", name, "--value-file", valueFile], stderrPath: errors)
                let ownPrefix = "." + FileIO.split(cli.storePath).name + ".tmp-\(process.processIdentifier)-"
                func ownTemporaryFile() -> Bool { StoreCLI.temporaryFiles(cli).contains { $0.hasPrefix(ownPrefix) } }
                if attempt % 2 == 0 {
                    usleep(useconds_t(Double.random(in: 0.2...1.8) * typical * 1_000_000))
                } else {
                    let limit = Date().addingTimeInterval(typical * 4 + 1)
                    while process.isRunning && !ownTemporaryFile() && Date() < limit { usleep(200) }
                    usleep(useconds_t.random(in: 0...2000))
                }
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                if process.terminationReason == .uncaughtSignal {
                    #expect(process.terminationStatus == SIGKILL)
                    killed += 1
                    if ownTemporaryFile() { killedMidWrite += 1 }
                    history[name, default: []].append((attempt, false))
                } else {
                    #expect(process.terminationStatus == 0, "attempt \(attempt): \(String(decoding: CLI.bytes(errors), as: UTF8.self))")
                    succeeded += 1
                    history[name, default: []].append((attempt, process.terminationStatus == 0))
                }
                if attempt % 10 == 9 {
                    let list = cli.run(["secrets", "list", "team"])
                    #expect(list.status == 0, "store unreadable after attempt \(attempt): \(list.stderr)")
                }
            }
            #expect(killed > 0)
            #expect(killedMidWrite > 0, "no kill landed while a temporary file existed (\(killed) kills, \(succeeded) completed)")

            let list = cli.run(["secrets", "list", "team"])
            #expect(list.status == 0, "\(list.stderr)")
            #expect(list.stdoutText == names.joined(separator: "\n") + "\n")
            let resolved = try StoreCLI.resolved(cli, names)
            #expect(resolved.outcome.status == 0, "\(resolved.outcome.stderr)")
            let values = try #require(resolved.values)
            for name in names {
                // The last successful write, or a later one killed after its rename.
                let attempts = history[name]!
                let lastSuccess = attempts.lastIndex { $0.succeeded }!
                let allowed = attempts[lastSuccess...].map { value($0.attempt) }
                let got = values[name] ?? ""
                #expect(allowed.contains(got), "\(name) holds \(got.prefix(20))…, expected one of attempts \(attempts[lastSuccess...].map(\.attempt))")
            }

            // The next writer clears what the killed ones left.
            try cli.set(.team, "AFTER", "after")
            #expect(StoreCLI.temporaryFiles(cli) == [])
            #expect(CLI.mode(cli.storePath) == 0o600)
            #expect(try StoreCLI.resolved(cli, ["AFTER"]).values == ["AFTER": "after"])
        }
    }
}
