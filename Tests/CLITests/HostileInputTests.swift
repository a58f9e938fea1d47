import Foundation
import Testing

/// Odd and hostile specs through render, env and check, from a file and from
/// stdin: each ends cleanly, in bounded time and memory, with the documented outcome.
@Suite("Hostile and odd input", .serialized)
struct HostileInputTests {
    /// What a case must produce for render (env and check are asserted where they differ).
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var make: @Sendable () -> [UInt8]
        var renderStatus: Int32
        /// A fragment stderr must contain when render fails.
        var message: String? = nil
        var checkStatus: Int32? = nil
        var seconds: Double = 20
        var megabytes: Int = 300
        var testDescription: String { name }
    }

    static func text(_ s: String) -> @Sendable () -> [UInt8] { { Array(s.utf8) } }

    static let cases: [Case] = [
        Case(name: "alias bomb (billion laughs)", make: {
            var s = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
            let letters = Array("abcdefghi")
            for i in 1..<9 { s += "\(letters[i]): &\(letters[i]) [" + Array(repeating: "*\(letters[i - 1])", count: 9).joined(separator: ",") + "]\n" }
            s += "env:\n- {name: A, value: secret:known}\n"
            return Array(s.utf8)
        }, renderStatus: 0, checkStatus: 0),
        Case(name: "flow nesting 200,000 deep", make: { Array(String(repeating: "[", count: 200_000).utf8) + Array(String(repeating: "]", count: 200_000).utf8) },
             renderStatus: 1, message: "nesting is deeper than 1000 levels", checkStatus: 1),
        Case(name: "block nesting 3,000 deep", make: {
            var s = ""
            for i in 0..<3_000 { s += String(repeating: " ", count: i) + "k:\n" }
            return Array(s.utf8)
        }, renderStatus: 1, message: "nesting is deeper than 1000 levels", checkStatus: 1),
        Case(name: "a 64 MiB scalar", make: {
            var bytes = Array("env:\n- name: BIG\n  value: \"".utf8)
            bytes += [UInt8](repeating: UInt8(ascii: "x"), count: 64 << 20)
            bytes += Array("\"\n- {name: A, value: secret:known}\n".utf8)
            return bytes
        }, renderStatus: 0, checkStatus: 0, seconds: 60, megabytes: 700),
        Case(name: "20,000 documents", make: {
            var s = ""
            for i in 0..<20_000 { s += "---\nkind: Job\nenv:\n- {name: N\(i), value: secret:known}\n" }
            return Array(s.utf8)
        }, renderStatus: 0, checkStatus: 0),
        Case(name: "an empty file", make: { [] }, renderStatus: 0, checkStatus: 0),
        Case(name: "comments only", make: text("# nothing here\n# secret:known\n"), renderStatus: 0, checkStatus: 0),
        Case(name: "invalid UTF-8", make: { Array("env:\n- {name: A, value: secret:known}\n- {name: B, value: x".utf8) + [0xC3, 0x28] + Array("}\n".utf8) },
             renderStatus: 1, message: "invalid trailing UTF-8 octet", checkStatus: 1),
        Case(name: "NUL bytes", make: { Array("env:\n- {name: A, value: secret:known}\nx: a".utf8) + [0] + Array("b\n".utf8) },
             renderStatus: 1, message: "control characters are not allowed", checkStatus: 1),
        Case(name: "UTF-16 with a BOM", make: { [0xFF, 0xFE] + Array("env: {A: secret:known}\n".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }) },
             renderStatus: 1, message: "the input is UTF-16LE", checkStatus: 1),
        Case(name: "UTF-32 with a BOM", make: { [0x00, 0x00, 0xFE, 0xFF] + Array("env: {A: secret:known}\n".unicodeScalars.flatMap { [0, 0, 0, UInt8($0.value)] }) },
             renderStatus: 1, message: "the input is UTF-32BE", checkStatus: 1),
        Case(name: "tab indentation", make: text("env:\n\t- {name: A, value: secret:known}\n"),
             renderStatus: 1, message: "found character that cannot start any token", checkStatus: 1),
        Case(name: "an unclosed quote after a resolved reference", make: text("env:\n- {name: A, value: secret:known}\n- {name: B, value: \"open\n"),
             renderStatus: 1, message: "found unexpected end of stream", checkStatus: 1),
        Case(name: "duplicate keys", make: text("a: 1\na: 2\nenv:\n- {name: A, value: secret:known}\n"), renderStatus: 0, checkStatus: 0),
        Case(name: "odd env shapes", make: text("""
            env:
            - {name: NUM, value: 5}
            - {name: LIST, value: [a, b]}
            - {name: NULL, value: null}
            - {name: NOVALUE}
            - name: FROM
              valueFrom: {secretKeyRef: {name: s, key: secret:known}}
            - {name: TAGGED, value: !!str secret:known}
            other:
              env: secret:known

            """), renderStatus: 0, checkStatus: 0),
        Case(name: "a reference with a non-string tag", make: text("env:\n- {name: A, value: !!binary secret:known}\n"),
             renderStatus: 1, message: "cannot carry the tag 'tag:yaml.org,2002:binary'", checkStatus: 1),
    ]

    static let canary = "CANARY-hostile-5e1f"

    static func environment() throws -> CLI {
        try CLI().initialise(team: ["known": "known value \(canary)"])
    }

    /// Runs under /usr/bin/time to measure peak memory; returns (outcome, seconds, KiB).
    static func measured(_ cli: CLI, _ arguments: [String], stdinFile: String? = nil) -> (CLI.Outcome, Double, Int) {
        let started = Date()
        let redirect = stdinFile.map { " < '\($0)'" } ?? ""
        let command = "/usr/bin/time -f 'PEAK-KIB %M' -o '\(cli.path("time.txt"))' '\(CLI.binary.path)' "
            + arguments.map { "'\($0)'" }.joined(separator: " ") + redirect
        let outcome = CLI.execute("/bin/sh", ["-c", command], environment: cli.environment, currentDirectory: cli.directory)
        let seconds = Date().timeIntervalSince(started)
        let report = String(decoding: CLI.bytes(cli.path("time.txt")), as: UTF8.self)
        let kib = report.split(separator: "\n").last { $0.hasPrefix("PEAK-KIB") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? -1
        return (outcome, seconds, kib)
    }

    @Test("render, env and check end cleanly in bounded time and memory, from a file and from stdin", arguments: cases)
    func hostile(_ testCase: Case) throws {
        let cli = try Self.environment()
        let spec = cli.path("spec.yaml")
        try Data(testCase.make()).write(to: URL(fileURLWithPath: spec))
        for fromStdin in [false, true] {
            let args = fromStdin ? ["render"] : ["render", spec]
            let (render, seconds, kib) = Self.measured(cli, args, stdinFile: fromStdin ? spec : nil)
            #expect(render.status == testCase.renderStatus, "render (stdin: \(fromStdin)): \(render.stderr.prefix(300))")
            #expect(seconds < testCase.seconds, "render took \(seconds) s")
            if !CLI.underSanitizer { #expect(kib > 0 && kib < testCase.megabytes * 1024, "render peaked at \(kib) KiB") }
            #expect(!render.stderr.contains(Self.canary))
            #expect(!render.stderr.contains("Fatal error") && !render.stderr.contains("Crash"))
            if let message = testCase.message {
                #expect(render.stderr.contains(message), "\(render.stderr.prefix(300))")
                #expect(render.stderr.contains(fromStdin ? "<stdin>:" : "\(spec):"))
                #expect(render.stdout.isEmpty)
            }
            if testCase.renderStatus == 0 && testCase.name != "a 64 MiB scalar" {
                // Only the reference changed: remove the rendered value and the input comes back.
                let rendered = render.stdoutText.replacingOccurrences(of: "\"known value \(Self.canary)\"", with: "secret:known")
                #expect(Array(rendered.utf8) == testCase.make())
            }
        }
        let check = cli.run(["check", spec])
        if let expected = testCase.checkStatus { #expect(check.status == expected, "check: \(check.stdoutText.prefix(300))") }
        let env = cli.run(["env", spec, "--format", "json"])
        #expect([0, 1].contains(env.status))
        #expect(!env.stderr.contains(Self.canary))
        #expect(!check.allOutput.contains(Self.canary))
    }

    @Test("odd env shapes give the documented env output")
    func oddShapesThroughEnv() throws {
        let cli = try Self.environment()
        try "env:\n- {name: NUM, value: 5}\n- {name: NULL, value: null}\n- {name: NOVALUE}\n- name: FROM\n  valueFrom: {fieldRef: {fieldPath: x}}\n- {name: TAGGED, value: !!str secret:known}\n"
            .write(toFile: cli.path("s.yaml"), atomically: true, encoding: .utf8)
        let outcome = cli.run(["env", cli.path("s.yaml"), "--format", "json"])
        #expect(outcome.status == 0)
        #expect(outcome.stdoutText == "{\n  \"NUM\": \"5\",\n  \"NULL\": \"\",\n  \"TAGGED\": \"known value \(Self.canary)\"\n}\n")
        #expect(outcome.stderr.contains("env 'NOVALUE' has no 'value'"))
        #expect(outcome.stderr.contains("env 'FROM' has no 'value'"))
        try "env:\n- {name: LIST, value: [a, b]}\n".write(toFile: cli.path("l.yaml"), atomically: true, encoding: .utf8)
        let list = cli.run(["env", cli.path("l.yaml")])
        #expect(list.status == 1)
        #expect(list.stderr.contains("env 'LIST' has a mapping or list as its value"))
    }
}
