import Foundation
import SecretFill
import Testing

// One test per row of the exit-code table (README "Exit codes",
// `secretfill --help`), each case through the built binary (issue 11.5).

/// A prepared folder: a store with team `A` and project p1 `A`, specs, files.
private struct ExitCodeCase: Sendable, CustomTestStringConvertible {
    var label: String
    var arguments: [String]
    var stdin: String? = nil
    var environment: [String: String] = [:]
    var removing: [String] = []
    /// Runs before the command, given the CLI (for edits of the store).
    var prepare: @Sendable (CLI) throws -> Void = { _ in }
    var testDescription: String { label }
}

private enum ExitCodeFixture {
    static func make() throws -> CLI {
        let cli = try CLI().initialise(team: ["A": "exit-value-a"])
        try cli.set(.project("p1"), "A", "exit-value-pa")
        for (name, text) in [
            ("good.yaml", "env:\n- name: A\n  value: secret:A\n"),
            ("unknown.yaml", "env:\n- name: X\n  value: secret:nope\n"),
            ("malformed.yaml", "env:\n- name: X\n  value: secret:9bad\n"),
            ("invalid.yaml", "env:\n- name: X\n  value: \"unclosed\n"),
            ("multiline.yaml", "env:\n- name: M\n  value: \"a\\nb\"\n"),
            ("bad.env", "GOOD=1\nthis is not dotenv\n"),
        ] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: cli.path(name)))
        }
        return cli
    }

    /// Replaces the sealed value of team A with project p1's and re-seals the mac
    /// (as someone holding the key could): the mac passes, the value does not open.
    static func moveSealedValue(_ cli: CLI) throws {
        let text = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
        let lines = text.split(separator: "\n").map(String.init).filter { $0.contains("\"A\": {") }
        func sealed(_ line: String) -> String { String(line.components(separatedBy: "\"sealed\": \"")[1].prefix { $0 != "\"" }) }
        let edited = text.replacingOccurrences(of: sealed(lines[0]), with: sealed(lines[1]))
        let key = try StoreKey(base64: cli.key, source: "test")
        let document = try StoreDocument.decode(Array(edited.utf8), path: cli.storePath)
        try Data(document.sealed(with: key).encoded()).write(to: URL(fileURLWithPath: cli.storePath))
    }
}

@Suite("Exit codes as documented")
struct ExitCodeTests {
    private static func run(_ testCase: ExitCodeCase, expect status: Int32) throws {
        let cli = try ExitCodeFixture.make()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        try testCase.prepare(cli)
        let outcome = cli.run(testCase.arguments, stdin: testCase.stdin.map { Array($0.utf8) },
                              environment: testCase.environment, removing: testCase.removing)
        #expect(outcome.status == status, "\(testCase.label): exit \(outcome.status), stderr: \(outcome.stderr)")
        #expect(!outcome.stderr.contains("exit-value-"), "\(testCase.label) printed a value")
        if status != 0 {
            #expect(!outcome.stdoutText.contains("exit-value-"), "\(testCase.label) printed a value")
            #expect(!outcome.allOutput.isEmpty, "\(testCase.label) said nothing")
        }
    }

    private static let successes: [ExitCodeCase] = [
        .init(label: "render", arguments: ["render", "good.yaml"]),
        .init(label: "check clean", arguments: ["check", "good.yaml"], removing: ["SECRETFILL_KEY"]),
        .init(label: "secrets which", arguments: ["secrets", "which", "A", "--project", "p1"]),
        .init(label: "secrets list of an empty scope", arguments: ["secrets", "list", "cluster", "--id", "c9"]),
        .init(label: "redact", arguments: ["redact"], stdin: "a log line\n"),
    ]

    @Test("0: success", arguments: successes)
    private func success(_ testCase: ExitCodeCase) throws { try Self.run(testCase, expect: 0) }

    private static let inputProblems: [ExitCodeCase] = [
        .init(label: "unknown reference", arguments: ["render", "unknown.yaml"]),
        .init(label: "malformed reference", arguments: ["render", "malformed.yaml"]),
        .init(label: "invalid YAML", arguments: ["env", "invalid.yaml"]),
        .init(label: "check findings", arguments: ["check", "unknown.yaml"], removing: ["SECRETFILL_KEY"]),
        .init(label: "a value docker cannot carry", arguments: ["env", "multiline.yaml", "--format", "docker"]),
        .init(label: "secrets which resolved nothing", arguments: ["secrets", "which", "nope"]),
        .init(label: "a bad import file", arguments: ["secrets", "import", "team", "bad.env"]),
        .init(label: "an empty value in an import", arguments: ["secrets", "import", "team", "-"], stdin: "EMPTY=\n"),
        .init(label: "secrets delete of a name that is not there", arguments: ["secrets", "delete", "team", "--name", "NOPE"]),
    ]

    @Test("1: problems in the input", arguments: inputProblems)
    private func input(_ testCase: ExitCodeCase) throws { try Self.run(testCase, expect: 1) }

    private static let storeProblems: [ExitCodeCase] = [
        .init(label: "no store", arguments: ["render", "good.yaml"], environment: ["SECRETFILL_STORE": "/nonexistent-secretfill/store.json"]),
        .init(label: "no key", arguments: ["render", "good.yaml"], removing: ["SECRETFILL_KEY"]),
        .init(label: "wrong key", arguments: ["render", "good.yaml"],
              environment: ["SECRETFILL_KEY": Data(repeating: 7, count: 32).base64EncodedString()]),
        .init(label: "corrupt store", arguments: ["secrets", "list", "team"],
              prepare: { cli in try Data("{\"format\": ".utf8).write(to: URL(fileURLWithPath: cli.storePath)) }),
        .init(label: "store changed outside secretfill", arguments: ["render", "good.yaml"], prepare: { cli in
            let text = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
            try Data(text.replacingOccurrences(of: "\"p1\"", with: "\"p2\"").utf8).write(to: URL(fileURLWithPath: cli.storePath))
        }),
        .init(label: "render of a sealed value that does not open", arguments: ["render", "good.yaml"], prepare: ExitCodeFixture.moveSealedValue),
        .init(label: "env of a sealed value that does not open", arguments: ["env", "good.yaml"], prepare: ExitCodeFixture.moveSealedValue),
        .init(label: "redact with a sealed value that does not open", arguments: ["redact"], stdin: "x\n", prepare: ExitCodeFixture.moveSealedValue),
        .init(label: "unwritable -o", arguments: ["render", "good.yaml", "-o", "no-such-folder/out.yaml"]),
        .init(label: "missing spec file", arguments: ["render", "absent.yaml"]),
        .init(label: "missing --value-file", arguments: ["secrets", "set", "team", "--name", "N", "--value-file", "absent.txt"]),
    ]

    @Test("2: the store, the key or a file could not be used", arguments: storeProblems)
    private func store(_ testCase: ExitCodeCase) throws { try Self.run(testCase, expect: 2) }

    private static let usage: [ExitCodeCase] = [
        .init(label: "bad flag", arguments: ["render", "--no-such-flag"]),
        .init(label: "bad name", arguments: ["secrets", "set", "team", "--name", "9bad", "--value", "v"]),
        .init(label: "bad value", arguments: ["secrets", "set", "team", "--name", "N", "--value", ""]),
        .init(label: "missing --id", arguments: ["secrets", "list", "project"]),
        .init(label: "extra --id", arguments: ["secrets", "list", "team", "--id", "t"]),
        .init(label: "store accept without a terminal or --yes", arguments: ["store", "accept"], prepare: { cli in
            let text = String(decoding: CLI.bytes(cli.storePath), as: UTF8.self)
            let edited = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("\"mac\"") }
            try Data(edited.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: cli.storePath))
        }),
    ]

    @Test("64: usage", arguments: usage)
    private func usageErrors(_ testCase: ExitCodeCase) throws { try Self.run(testCase, expect: 64) }

    @Test("141: stdout closed early")
    func brokenPipe() throws {
        let cli = try ExitCodeFixture.make()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        var spec = "env:\n"
        for i in 0..<20000 { spec += "- name: N\(i)\n  value: secret:A\n" }
        try Data(spec.utf8).write(to: URL(fileURLWithPath: cli.path("big.yaml")))
        let outcome = CLI.execute("/bin/bash", ["-c", "\"$0\" render big.yaml | head -c 10 > head.txt; echo \"${PIPESTATUS[0]}\"", CLI.binary.path],
                                  environment: cli.environment, currentDirectory: cli.directory)
        #expect(outcome.stdoutText == "141\n", "\(outcome.stdoutText) \(outcome.stderr)")
        #expect(outcome.stderr.isEmpty)
    }
}
