import Foundation
import SecretFill
import Testing

// `secrets import` and `secrets set` reporting (issues 11.7, 12.7) through the binary.

@Suite("Import and set through the CLI")
struct ImportCLITests {
    private static func file(_ cli: CLI, _ name: String, _ text: String) throws -> String {
        let path = cli.path(name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func setSaysUpdatedWhenTheNameExisted() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let first = cli.run(["secrets", "set", "team", "--name", "N", "--value-stdin"], stdin: Array("one\n".utf8))
        #expect(first.status == 0 && first.stdoutText == "Set team secret 'N'\n")
        let second = cli.run(["secrets", "set", "team", "--name", "N", "--value-stdin"], stdin: Array("two\n".utf8))
        #expect(second.status == 0 && second.stdoutText == "Updated team secret 'N'\n")
        let project = cli.run(["secrets", "set", "project", "--id", "pr-1", "--name", "N", "--value-stdin"], stdin: Array("three\n".utf8))
        #expect(project.stdoutText == "Set project pr-1 secret 'N'\n")
        let again = cli.run(["secrets", "set", "project", "--id", "pr-1", "--name", "N", "--value-stdin"], stdin: Array("four\n".utf8))
        #expect(again.stdoutText == "Updated project pr-1 secret 'N'\n")
    }

    @Test func importCountsAddedAndReplaced() throws {
        let cli = try CLI().initialise(team: ["A": "old-a"])
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let outcome = cli.run(["secrets", "import", "team", "-"], stdin: Array("A=new-a\nB=b\nC=c\n".utf8))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdoutText == "Imported 3 team secret(s) (2 added, 1 replaced): A, B, C\n")
    }

    @Test func emptyValueIsRefusedNamingTheLineOrSkippedWithANote() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let env = try Self.file(cli, "e.env", "A=a\nEMPTY=\nB=b\n")
        let before = CLI.bytes(cli.storePath)
        let refused = cli.run(["secrets", "import", "team", env])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("\(env):2: error: 'EMPTY': the value is empty; a secret value must be 1 byte to 1 MiB"))
        #expect(refused.stderr.contains("--skip-empty"))
        #expect(CLI.bytes(cli.storePath) == before)
        let skipped = cli.run(["secrets", "import", "team", env, "--skip-empty"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        #expect(skipped.stderr == "\(env):2: note: 'EMPTY' has an empty value; left out (--skip-empty)\n")
        #expect(skipped.stdoutText == "Imported 2 team secret(s) (2 added, 0 replaced): A, B\n")
        #expect(cli.run(["secrets", "list", "team"]).stdoutText == "A\nB\n")
    }

    // The limit is a net for a hang (an expansion that never ends); the bomb's
    // speed is the 10 s check below. A synchronous test waits for one of the
    // two cooperative threads, which other tests may hold for minutes: a run
    // beside another build here exceeded 1 minute with the import itself fast.
    @Test(.timeLimit(.minutes(5)))
    func nestedExpansionStopsAtTheValueLimitWithItsLine() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        var text = "L0=" + String(repeating: "x", count: 100) + "\n"
        for level in 1...10 { text += "L\(level)=" + String(repeating: "${L\(level - 1)}", count: 16) + "\n" }
        #expect(text.utf8.count < 1500)
        _ = try Self.file(cli, "bomb.env", text)
        // 100 × 16^n bytes: L4 is 6.5 MB, past 1 MiB.
        let start = Date()
        let outcome = CLI.execute("/bin/sh", ["-c", "ulimit -v 1000000; exec \"$0\" secrets import team bomb.env", CLI.binary.path],
                                  environment: cli.environment, currentDirectory: cli.directory)
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(outcome.status == 1, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("bomb.env:5: error: 'L4' is more than 1 MiB with its ${…} references expanded"),
                "\(outcome.stderr)")
        #expect(outcome.stderr.contains("bomb.env:6: error: 'L5' uses ${L4}, which could not be expanded"))
        #expect(!outcome.stderr.contains("xxxx"))
    }

    @Test func unclosedQuoteIsReportedOnceAtItsLineAndQuotesNothingElse() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let body = [
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
            "QmFzZTY0TGluZU9mQUtleQ",
            "fakeKeyLine_with.dots-and_underscores",
            "NOTANAME = still not",
            "export X=y",
        ]
        let text = "FIRST=ok\nTLS_KEY=\"-----BEGIN PRIVATE KEY-----\n" + body.joined(separator: "\n") + "\n-----END PRIVATE KEY-----\n"
        let env = try Self.file(cli, "key.env", text)
        let outcome = cli.run(["secrets", "import", "team", env])
        #expect(outcome.status == 1)
        #expect(outcome.stderr == "\(env):2: error: a quoted value opened on this line is never closed; nothing after it was read\n"
                + "secretfill: nothing imported (1 problem(s))\n", "\(outcome.stderr)")
        for line in body + ["BEGIN PRIVATE KEY", "END PRIVATE KEY"] {
            for word in line.split(separator: " ") where word.count >= 6 {
                #expect(!outcome.stderr.contains(word), "stderr quotes '\(word)'")
            }
        }
    }

    @Test func aLineWithoutEqualsIsNotQuotedBack() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let env = try Self.file(cli, "loose.env", "A=a\nMIIEvQIBADANBgkqhkiG9w0BAQ\n")
        let outcome = cli.run(["secrets", "import", "team", env])
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("\(env):2: error: the line has no '=' (expected NAME=VALUE)"))
        #expect(!outcome.stderr.contains("MIIE"))
    }

    @Test func jsonSurrogatePairsAreAcceptedAndLoneOnesRefused() throws {
        let cli = try CLI().initialise()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let good = try Self.file(cli, "emoji.json", "{\"KEY\": \"lock \\ud83d\\udd11 ok\", \"PLAIN\": \"\\u00e9\"}")
        let outcome = cli.run(["secrets", "import", "team", good])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let spec = try Self.file(cli, "s.yaml", "env:\n- name: K\n  value: secret:KEY\n")
        let env = cli.run(["env", spec, "--format", "json"])
        let values = try JSONSerialization.jsonObject(with: Data(env.stdout)) as? [String: String]
        #expect(values == ["K": "lock \u{1F511} ok"])

        for (label, json) in [("high alone", "{\n\"KEY\": \"a \\ud83d b\"\n}"), ("low alone", "{\n\"KEY\": \"a \\udd11\"\n}"),
                              ("high then not low", "{\n\"KEY\": \"\\ud83d\\u0041\"\n}")] {
            let bad = try Self.file(cli, "bad.json", json)
            let refused = cli.run(["secrets", "import", "team", bad])
            #expect(refused.status == 1, "\(label)")
            #expect(refused.stderr.contains("\(bad):2: error: the file is not valid JSON: a \\u escape that is a lone UTF-16 surrogate"),
                    "\(label): \(refused.stderr)")
        }
    }
}
