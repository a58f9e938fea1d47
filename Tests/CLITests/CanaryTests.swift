import Foundation
import Testing

/// Every command and failure path, driven with secret values that all carry
/// a unique canary: the canary may appear only in output the user asked for.
@Suite("Secret values never leak", .serialized)
struct CanaryTests {
    static let canary = "CANARY-\(UUID().uuidString)"

    /// A store whose every value carries the canary, and a spec using them.
    static func setup() throws -> CLI {
        let cli = try CLI().initialise(team: [
            "db": "db-\(canary)",
            "multi": "line one \(canary)\nline two \(canary)",
            "quoted": "\"\(canary)\" $HOME ${X} \\",
        ])
        try cli.set(.project("p1"), "db", "project-\(canary)")
        try cli.set(.cluster("c1"), "only_cluster", "cluster-\(canary)")
        return cli
    }

    static func write(_ cli: CLI, _ name: String, _ text: String) throws -> String {
        try text.write(toFile: cli.path(name), atomically: true, encoding: .utf8)
        return cli.path(name)
    }

    func expectClean(_ outcome: CLI.Outcome, _ label: String, stdoutAllowed: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!outcome.stderr.contains(Self.canary), "\(label): canary in stderr", sourceLocation: sourceLocation)
        if !stdoutAllowed {
            #expect(!outcome.stdoutText.contains(Self.canary), "\(label): canary in stdout", sourceLocation: sourceLocation)
        }
        #expect(!outcome.stderr.contains("Fatal error"), "\(label): crashed", sourceLocation: sourceLocation)
    }

    @Test("render, env, check, redact and the secrets verbs keep the canary out of every message and file")
    func everyPath() throws {
        let cli = try Self.setup()
        let good = try Self.write(cli, "good.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: Q, value: secret:quoted}\n- {name: M, value: secret:multi}\n")
        let mixed = try Self.write(cli, "mixed.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: X, value: secret:unknown}\n- {name: Y, value: 'secret:bad name'}\n- {name: M, value: secret:multi}\n")
        let broken = try Self.write(cli, "broken.yaml", "env:\n- {name: DB, value: secret:db}\n- {name: B, value: \"unclosed\n")

        // Successful runs: stdout is the requested output; stderr stays clean.
        expectClean(cli.run(["render", good]), "render", stdoutAllowed: true)
        expectClean(cli.run(["env", good, "--format", "json"]), "env json", stdoutAllowed: true)
        expectClean(cli.run(["render", good, "-o", cli.path("out.yaml")]), "render -o")
        expectClean(cli.run(["env", good, "-o", cli.path("out.env")]), "env -o")

        // Failures.
        for (label, arguments) in [
            ("unknown and malformed next to resolved", ["render", mixed]),
            ("env unknown and malformed", ["env", mixed]),
            ("invalid YAML after a resolved reference", ["render", broken]),
            ("docker refusing a multi-line value", ["env", good, "--format", "docker"]),
            ("shell with a fine value", ["env", good, "--format", "shell"]),
            ("unwritable -o (no such folder)", ["render", good, "-o", cli.path("missing/dir/out.yaml")]),
            ("-o is a folder", ["render", good, "-o", cli.directory.path]),
            ("check --explain", ["check", good, mixed, "--explain", "--project", "p1", "--cluster", "c1"]),
            ("check json", ["check", mixed, "--format", "json", "--explain"]),
            ("check github", ["check", mixed, "--format", "github", "--explain"]),
            ("list", ["secrets", "list", "team"]),
            ("list json", ["secrets", "list", "project", "--id", "p1", "--format", "json"]),
            ("which", ["secrets", "which", "db", "--project", "p1", "--cluster", "c1"]),
            ("which nothing", ["secrets", "which", "nope"]),
        ] {
            let outcome = cli.run(arguments)
            expectClean(outcome, label, stdoutAllowed: label.hasPrefix("shell"))
        }

        // A wrong key and a tampered store.
        let otherKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        expectClean(cli.run(["render", good], environment: ["SECRETFILL_KEY": otherKey]), "wrong key")
        let store = try String(contentsOfFile: cli.storePath, encoding: .utf8)
        #expect(!store.contains(Self.canary), "the store holds plaintext")
        let tampered = store.replacingOccurrences(of: "\"sealed\": \"", with: "\"sealed\": \"AAAA")
        try tampered.write(toFile: cli.path("tampered.json"), atomically: true, encoding: .utf8)
        expectClean(cli.run(["render", good], environment: ["SECRETFILL_STORE": cli.path("tampered.json")]), "tampered store")
        expectClean(cli.run(["secrets", "set", "team", "--name", "x", "--value", "v-\(Self.canary)"],
                            environment: ["SECRETFILL_KEY": otherKey]), "set with a wrong key")

        // redact: the canary in a log is replaced; warnings name names only.
        let log = Array("connecting with db-\(Self.canary) ok\nline two \(Self.canary)\n".utf8)
        let redacted = cli.run(["redact", "--project", "p1"], stdin: log)
        #expect(redacted.status == 0)
        expectClean(redacted, "redact")
        #expect(redacted.stdoutText.contains("[secret:db]"))

        // No file other than the requested outputs (and the sealed store) holds the canary.
        let allowed: Set<String> = ["out.yaml", "out.env"]
        for name in try FileManager.default.contentsOfDirectory(atPath: cli.directory.path) where !allowed.contains(name) {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: cli.path(name), isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            let text = String(decoding: CLI.bytes(cli.path(name)), as: UTF8.self)
            #expect(!text.contains(Self.canary), "\(name) holds the canary")
        }
    }

    @Test("a consumer that closes the pipe early ends the render quietly")
    func closedPipe() throws {
        let cli = try Self.setup()
        var big = "env:\n"
        for i in 0..<40_000 { big += "- {name: N\(i), value: secret:db}\n" }
        let spec = try Self.write(cli, "big.yaml", big)
        let outcome = CLI.execute("/bin/bash", ["-c", "'\(CLI.binary.path)' render '\(spec)' | head -c 100 > /dev/null; echo \"${PIPESTATUS[0]}\" >&2"],
                                  environment: cli.environment, currentDirectory: cli.directory)
        #expect(outcome.stderr.trimmingCharacters(in: .whitespacesAndNewlines) == "141")
    }

    @Test("an error mid-write leaves the old -o file whole and no temporary file behind")
    func failedWriteKeepsOldFile() throws {
        let cli = try Self.setup()
        var big = "env:\n"
        for i in 0..<20_000 { big += "- {name: N\(i), value: secret:db}\n" }
        let spec = try Self.write(cli, "big.yaml", big)
        try "old content\n".write(toFile: cli.path("out.yaml"), atomically: true, encoding: .utf8)
        // A 64 KiB file-size limit makes write() fail with EFBIG part-way through.
        let outcome = CLI.execute("/bin/bash", ["-c", "trap '' XFSZ; ulimit -f 64; exec '\(CLI.binary.path)' render '\(spec)' -o '\(cli.path("out.yaml"))'"],
                                  environment: cli.environment, currentDirectory: cli.directory)
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("File too large"))
        expectClean(outcome, "EFBIG")
        #expect(String(decoding: CLI.bytes(cli.path("out.yaml")), as: UTF8.self) == "old content\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }
}
