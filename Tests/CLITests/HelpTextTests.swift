import Foundation
import Testing

/// `--help` of every command and subcommand, as a person reads it at 80
/// columns (issue 11.6): examples never wrap, and the help says what README
/// says.
@Suite("help text")
struct HelpTextTests {
    static let commands: [[String]] = [
        [], ["render"], ["env"], ["exec"], ["check"], ["redact"], ["init"], ["secrets"],
        ["secrets", "set"], ["secrets", "list"], ["secrets", "delete"], ["secrets", "which"], ["secrets", "import"],
        ["store"], ["store", "accept"], ["store", "upgrade"], ["members"], ["login"], ["logout"], ["whoami"],
    ]

    static func help(_ command: [String]) throws -> String {
        let outcome = try CLI().run(command + ["--help"])
        try #require(outcome.status == 0, "\(command) --help: \(outcome.stderr)")
        return outcome.stdoutText
    }

    @Test("no help line is the wrapped tail of the line before, and none but USAGE exceeds 80 columns",
          arguments: commands)
    func noWrappedLines(_ command: [String]) throws {
        let lines = try Self.help(command).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (number, line) in lines.enumerated() {
            if !line.hasPrefix("USAGE:") {
                #expect(line.count <= 80, "\(command) line \(number + 1) is \(line.count) columns: \(line)")
            }
            // A line at column 0 straight after an indented one is a wrap of it
            // (an example, a table row); paragraphs and headers follow a blank.
            guard number > 0, let first = line.first, first != " " else { continue }
            let previous = lines[number - 1]
            #expect(previous.isEmpty || previous.first != " ",
                    "\(command) line \(number + 1) continues the indented line before it: '\(previous)' / '\(line)'")
        }
    }

    @Test("every command's help has examples, and each example fits on its line", arguments: commands.filter { !$0.isEmpty })
    func examplesPresent(_ command: [String]) throws {
        let text = try Self.help(command)
        let examples = text.components(separatedBy: "\n").drop { !$0.hasPrefix("Example") }.dropFirst()
            .prefix { !$0.isEmpty }
        #expect(!examples.isEmpty, "\(command) --help has no examples")
        for example in examples {
            #expect(example.hasPrefix("  secretfill ") || example.hasPrefix("  kubectl ") || example.hasPrefix("  cat ")
                    || example.hasPrefix("  ./"), "\(command): '\(example)'")
        }
    }

    @Test("env --help describes dotenv quoting as README does: single quotes when nothing needs care")
    func envQuoting() throws {
        let text = try Self.help(["env"])
        #expect(text.contains("dotenv  NAME='…' when nothing needs care, else NAME=\"…\""))
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("`NAME='…'` when nothing needs care, else `NAME=\"…\"`"))
        // Docker's limits as README lists them.
        #expect(text.contains("line\n") && text.contains("breaks and lines over 64 KiB are refused"))
    }

    @Test("README's command table lists every command `secretfill --help` has (init aside, shown under Using it)")
    func readmeJobs() throws {
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let rows = readme.components(separatedBy: "\n").filter { $0.hasPrefix("| `secretfill ") }
        let root = try Self.help([])
        let listed = root.components(separatedBy: "SUBCOMMANDS:").last ?? ""
        let commands = listed.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let word = line.split(separator: " ").first else { return nil }
            return String(word)
        }.filter { $0 != "See" }
        #expect(commands.count >= 8, "--help lists too few commands: \(commands)")
        for command in commands where command != "init" {
            #expect(rows.contains { $0.hasPrefix("| `secretfill \(command)") }, "README's table lacks \(command)")
        }
        #expect(readme.contains("init"))
    }

    @Test("check --help states the exit codes README gives check")
    func checkExit() throws {
        let text = try Self.help(["check"])
        #expect(text.contains("Exit: 0 clean (warnings alone too), 1 errors found, 2 a spec or the store could"))
        let readme = try String(contentsOf: CLI.packageRoot.appendingPathComponent("README.md"), encoding: .utf8)
        #expect(readme.contains("warnings alone leave check's exit at 0"))
        #expect(readme.contains("the others are still checked, and the exit\nis 2 at the end"))
    }
}
