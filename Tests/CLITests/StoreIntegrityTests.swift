import Foundation
import SecretFill
import Testing

// The store file authenticated as a whole (issue 12.3), through the binary:
// each edit that could be made without the key is refused with exit 2 while
// the key is present; `store accept` takes a reviewed hand edit; `store
// upgrade` turns a version 1 store into a version 2 one; duplicate names and
// scopes are refused with their lines by every command, `check` included.

/// Helpers for this file only.
enum StoreIntegrity {
    static func text(_ cli: CLI) -> String { String(decoding: CLI.bytes(cli.storePath), as: UTF8.self) }

    static func write(_ cli: CLI, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: cli.storePath))
    }

    /// The one line of the store file that holds `"name": {…}` in the given order of appearance.
    static func lines(_ cli: CLI, containing needle: String) -> [String] {
        text(cli).split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { $0.contains(needle) }
    }

    /// What someone with the key (outside secretfill) would do: re-seal the
    /// mac over whatever the file holds now.
    static func remac(_ cli: CLI) throws {
        let key = try StoreKey(base64: cli.key, source: "test")
        let document = try StoreDocument.decode(CLI.bytes(cli.storePath), path: cli.storePath)
        try Data(document.sealed(with: key).encoded()).write(to: URL(fileURLWithPath: cli.storePath))
    }

    /// A store with team A, B and project p1 A, values known.
    static func setup() throws -> CLI {
        let cli = try CLI().initialise(team: ["A": "team-value-a", "B": "team-value-b"])
        try cli.set(.project("p1"), "A", "project-value-a")
        return cli
    }

    static let spec = "env:\n- name: A\n  value: secret:A\n"

    /// Runs the commands that need the key against the (edited) store and
    /// expects each to be refused with exit 2 and `message` on stderr, the
    /// file left as it was and no value printed.
    static func expectRefused(_ cli: CLI, message: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let before = CLI.bytes(cli.storePath)
        let spec = cli.path("spec-\(UUID().uuidString).yaml")
        try Data(Self.spec.utf8).write(to: URL(fileURLWithPath: spec))
        let runs: [(String, CLI.Outcome)] = [
            ("render", cli.run(["render", spec, "--project", "p1"])),
            ("env", cli.run(["env", spec, "--format", "json"])),
            ("redact", cli.run(["redact", "--project", "p1"], stdin: Array("team-value-a\n".utf8))),
            ("set", cli.run(["secrets", "set", "team", "--name", "C", "--value-stdin"], stdin: Array("c\n".utf8))),
            ("delete", cli.run(["secrets", "delete", "team", "--name", "B"])),
            ("import", cli.run(["secrets", "import", "team", "-"], stdin: Array("D=d\n".utf8))),
        ]
        for (label, outcome) in runs {
            #expect(outcome.status == 2, "\(label): \(outcome.stderr)", sourceLocation: sourceLocation)
            #expect(outcome.stdout.isEmpty, "\(label) wrote to stdout", sourceLocation: sourceLocation)
            #expect(outcome.stderr.contains(message), "\(label): \(outcome.stderr)", sourceLocation: sourceLocation)
            #expect(!outcome.allOutput.contains("-value-"), "\(label) printed a value", sourceLocation: sourceLocation)
        }
        #expect(CLI.bytes(cli.storePath) == before, "a refused command changed the store", sourceLocation: sourceLocation)
    }

    static func tamperedMessage(_ cli: CLI) -> String {
        "secretfill: error: the store at \(cli.storePath) was changed outside secretfill: its \"mac\" does not match its content"
    }
}

@Suite("Store integrity: the whole-file mac")
struct StoreIntegrityTests {
    @Test func everyWriteKeepsAMacThatVerifies() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let text = StoreIntegrity.text(cli)
        #expect(text.contains("\"version\": 2,\n"))
        #expect(StoreIntegrity.lines(cli, containing: "\"mac\": \"hmac-sha256:").count == 1)
        let key = try StoreKey(base64: cli.key, source: "test")
        #expect(StoreMAC.verify(try StoreDocument.decode(CLI.bytes(cli.storePath), path: "s"), key: key))
        // A mac made with another key does not verify.
        #expect(!StoreMAC.verify(try StoreDocument.decode(CLI.bytes(cli.storePath), path: "s"), key: StoreKey.generate().key))
        let before = StoreIntegrity.lines(cli, containing: "\"mac\"")
        try cli.set(.team, "C", "team-value-c")
        #expect(StoreIntegrity.lines(cli, containing: "\"mac\"") != before)
        #expect(cli.run(["secrets", "delete", "team", "--name", "C"]).status == 0)
        #expect(StoreMAC.verify(try StoreDocument.decode(CLI.bytes(cli.storePath), path: "s"), key: key))
    }

    @Test func rolledBackSealedValueIsRefused() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let oldLine = try #require(StoreIntegrity.lines(cli, containing: "\"A\": {").first)
        try cli.set(.team, "A", "rotated-value-a")
        let newLine = try #require(StoreIntegrity.lines(cli, containing: "\"A\": {").first)
        #expect(oldLine != newLine)
        // The older sealed value of the same name, pasted back: it still opens on its own.
        try StoreIntegrity.write(cli, StoreIntegrity.text(cli).replacingOccurrences(of: newLine, with: oldLine))
        try StoreIntegrity.expectRefused(cli, message: StoreIntegrity.tamperedMessage(cli))
        #expect(cli.run(["secrets", "list", "team"]).stderr.isEmpty, "list needs no key and checks shape only")
    }

    @Test func deletedProjectEntryIsRefused() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        // Downgrade: drop project p1 so 'A' falls back to team.
        var text = StoreIntegrity.text(cli)
        let projectLine = try #require(StoreIntegrity.lines(cli, containing: "\"A\": {").last)
        text = text.replacingOccurrences(of: "\"project\": {\n      \"p1\": {\n" + projectLine + "\n      }\n    }", with: "\"project\": {}")
        // The key "p1" is gone (a sealed value may contain the letters p1 by chance).
        #expect(!text.contains("\"p1\""))
        try StoreIntegrity.write(cli, text)
        try StoreIntegrity.expectRefused(cli, message: StoreIntegrity.tamperedMessage(cli))
    }

    @Test func duplicateNameFurtherDownIsRefusedWithLines() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        try cli.set(.team, "C", "team-value-c")
        let all = StoreIntegrity.text(cli).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let aLine = try #require(all.firstIndex { $0.contains("\"A\": {") })
        let cLine = try #require(all.firstIndex { $0.contains("\"C\": {") })
        var edited = all
        // A second 'A' after 'C', not adjacent to the first.
        edited[cLine] = all[cLine] + ","
        edited.insert(all[aLine].hasSuffix(",") ? String(all[aLine].dropLast()) : all[aLine], at: cLine + 1)
        try StoreIntegrity.write(cli, edited.joined(separator: "\n"))
        let message = "scopes.team has the name 'A' twice (lines \(aLine + 1) and \(cLine + 2))"
        try StoreIntegrity.expectRefused(cli, message: message)
        // check has no key, and refuses it too.
        let spec = cli.path("c.yaml")
        try Data(StoreIntegrity.spec.utf8).write(to: URL(fileURLWithPath: spec))
        let check = cli.run(["check", spec], removing: ["SECRETFILL_KEY"])
        #expect(check.status == 2)
        #expect(check.stderr.contains(message), "\(check.stderr)")
        let list = cli.run(["secrets", "list", "team"], removing: ["SECRETFILL_KEY"])
        #expect(list.status == 2 && list.stderr.contains(message))
    }

    @Test func secondTeamObjectIsRefusedWithLines() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let all = StoreIntegrity.text(cli).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let team = try #require(all.firstIndex { $0.hasPrefix("    \"team\": {") })
        let cluster = try #require(all.firstIndex { $0.hasPrefix("    \"cluster\": ") })
        var edited = all
        edited[cluster] = all[cluster] + ","
        edited.insert("    \"team\": {\"A\": {\"updated\": \"2026-01-01T00:00:00Z\", \"sealed\": \"AAAA\"}}", at: cluster + 1)
        try StoreIntegrity.write(cli, edited.joined(separator: "\n"))
        let message = "scopes has \"team\" twice (lines \(team + 1) and \(cluster + 2))"
        try StoreIntegrity.expectRefused(cli, message: message)
        let spec = cli.path("c.yaml")
        try Data(StoreIntegrity.spec.utf8).write(to: URL(fileURLWithPath: spec))
        let checked = cli.run(["check", spec], removing: ["SECRETFILL_KEY"])
        #expect(checked.status == 2 && checked.stderr.contains(message), "\(checked.stderr)")
    }

    @Test func sameProjectIdTwiceIsRefused() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        try cli.set(.project("p2"), "A", "project-value-a2")
        var text = StoreIntegrity.text(cli)
        text = text.replacingOccurrences(of: "\"p2\": {", with: "\"p1\": {")
        try StoreIntegrity.write(cli, text)
        let p1 = StoreIntegrity.text(cli).split(separator: "\n", omittingEmptySubsequences: false)
            .enumerated().filter { $0.element.contains("\"p1\": {") }.map { $0.offset + 1 }
        try #require(p1.count == 2)
        try StoreIntegrity.expectRefused(cli, message: "scopes.project has the id 'p1' twice (lines \(p1[0]) and \(p1[1]))")
    }

    @Test func removedMacIsRefused() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let macLine = try #require(StoreIntegrity.lines(cli, containing: "\"mac\"").first)
        try StoreIntegrity.write(cli, StoreIntegrity.text(cli).replacingOccurrences(of: macLine + "\n", with: ""))
        try StoreIntegrity.expectRefused(cli, message: "secretfill: error: the store at \(cli.storePath) has no \"mac\"")
    }

    @Test func changedFormatVersionIsRefused() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let original = StoreIntegrity.text(cli)
        // Down to 1 (what a pre-mac store says), and up to 3.
        try StoreIntegrity.write(cli, original.replacingOccurrences(of: "\"version\": 2,", with: "\"version\": 1,"))
        try StoreIntegrity.expectRefused(cli, message: "is a version 1 store, written before secretfill authenticated the whole file")
        try StoreIntegrity.write(cli, original.replacingOccurrences(of: "\"version\": 2,", with: "\"version\": 3,"))
        try StoreIntegrity.expectRefused(cli, message: "expected \"version\": 2")
    }

    @Test func sealedValueThatDoesNotOpenUnderAValidMacIsExit2NamingIt() throws {
        // Someone with the key re-macs a store whose sealed value was moved:
        // the per-value binding still refuses it, naming the secret.
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let lines = StoreIntegrity.lines(cli, containing: "\"sealed\"")
        func sealed(_ line: String) -> String {
            String(line.components(separatedBy: "\"sealed\": \"")[1].prefix { $0 != "\"" })
        }
        let bLine = try #require(lines.first { $0.contains("\"B\"") })
        let aLine = try #require(lines.first { $0.contains("\"A\"") })
        try StoreIntegrity.write(cli, StoreIntegrity.text(cli).replacingOccurrences(of: sealed(bLine), with: sealed(aLine)))
        try StoreIntegrity.remac(cli)
        let spec = cli.path("b.yaml")
        try Data("env:\n- name: B\n  value: secret:B\n".utf8).write(to: URL(fileURLWithPath: spec))
        for arguments in [["render", spec], ["env", spec]] {
            let outcome = cli.run(arguments)
            #expect(outcome.status == 2, "\(arguments[0]): \(outcome.stderr)")
            #expect(outcome.stderr.contains("secret 'B' (team) does not decrypt"))
            #expect(!outcome.allOutput.contains("-value-"))
        }
        let redact = cli.run(["redact"], stdin: Array("x\n".utf8))
        #expect(redact.status == 2 && redact.stderr.contains("secret 'B' (team) does not decrypt"))
        // The mac matches what was sealed: accept has nothing to do.
        let accept = cli.run(["store", "accept", "--yes"])
        #expect(accept.status == 0, "the mac matches: nothing to accept")
    }

    // MARK: accept and upgrade

    @Test func acceptTakesAReviewedHandEdit() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        // Deliberate edit: remove team B by hand.
        let bLine = try #require(StoreIntegrity.lines(cli, containing: "\"B\": {").first)
        var text = StoreIntegrity.text(cli).replacingOccurrences(of: "\n" + bLine, with: "")
        text = text.replacingOccurrences(of: "\"},\n    },", with: "\"}\n    },")
        try StoreIntegrity.write(cli, text)
        let edited = CLI.bytes(cli.storePath)
        try #require(cli.run(["secrets", "list", "team"]).stdoutText == "A\n", "the edit must keep the JSON valid")
        try StoreIntegrity.expectRefused(cli, message: StoreIntegrity.tamperedMessage(cli))
        try StoreIntegrity.expectRefused(cli, message: "If you edited it on purpose, review the change and run `secretfill store accept --store \(cli.storePath)`")

        // Without a terminal and without --yes: nothing written, exit 64, the review still shown.
        let asked = cli.run(["store", "accept"])
        #expect(asked.status == 64, "\(asked.stderr)")
        #expect(asked.stderr.contains("pass --yes"))
        #expect(asked.stdoutText.contains("  team:\n    A  opens\n"))
        #expect(asked.stdoutText.contains("  project p1:\n    A  opens\n"))
        #expect(CLI.bytes(cli.storePath) == edited)

        let accepted = cli.run(["store", "accept", "--yes"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stdoutText.contains("does not match its mac"))
        #expect(accepted.stdoutText.contains("Accepted: the store at \(cli.storePath) has a new mac over 2 secret(s) in 2 scope(s)."))
        #expect(!accepted.allOutput.contains("-value-"))
        #expect(try StoreCLIValues.resolve(cli, ["A"]) == ["A": "team-value-a"])
        #expect(try StoreCLIValues.resolve(cli, ["A"], ["--project", "p1"]) == ["A": "project-value-a"])
        // Accepting again: nothing to do.
        let again = cli.run(["store", "accept", "--yes"])
        #expect(again.status == 0 && again.stdoutText.contains("nothing to accept"))
    }

    @Test func acceptRefusesValuesThatDoNotOpen() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let lines = StoreIntegrity.lines(cli, containing: "\"sealed\"")
        let bLine = try #require(lines.first { $0.contains("\"B\"") })
        let aLine = try #require(lines.first { $0.contains("\"A\"") })
        let sealedA = aLine.components(separatedBy: "\"sealed\": \"")[1].prefix { $0 != "\"" }
        let sealedB = bLine.components(separatedBy: "\"sealed\": \"")[1].prefix { $0 != "\"" }
        try StoreIntegrity.write(cli, StoreIntegrity.text(cli).replacingOccurrences(of: String(sealedB), with: String(sealedA)))
        let before = CLI.bytes(cli.storePath)
        let accept = cli.run(["store", "accept", "--yes"])
        #expect(accept.status == 2)
        #expect(accept.stdoutText.contains("    B  DOES NOT OPEN with this key\n"))
        #expect(accept.stderr.contains("1 sealed value(s) do not open with this key: team 'B'. Nothing was accepted"))
        #expect(CLI.bytes(cli.storePath) == before)
    }

    @Test func acceptListsNamesThatDifferFromTheCommittedVersion() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let git = ["git", "-C", cli.directory.path, "-c", "user.email=t@example.com", "-c", "user.name=t"]
        func sh(_ arguments: [String]) -> CLI.Outcome {
            CLI.execute("/usr/bin/env", arguments, environment: ["PATH": cli.environment["PATH"]!, "HOME": cli.directory.path])
        }
        try #require(sh(git + ["init", "-q"]).status == 0)
        try #require(sh(git + ["add", "store.json"]).status == 0)
        try #require(sh(git + ["commit", "-q", "-m", "store"]).status == 0)
        // Two changes through secretfill (C added, A rotated), then A's committed line pasted back by hand.
        try cli.set(.team, "C", "team-value-c")
        try cli.set(.team, "A", "team-value-a2")
        let committed = String(decoding: sh(git + ["show", "HEAD:store.json"]).stdout, as: UTF8.self)
        let oldA = try #require(committed.split(separator: "\n").first { $0.contains("\"A\": {") && !$0.hasPrefix("        ") })
        let newA = try #require(StoreIntegrity.lines(cli, containing: "\"A\": {").first)
        try StoreIntegrity.write(cli, StoreIntegrity.text(cli).replacingOccurrences(of: newA, with: String(oldA)))
        let accept = cli.run(["store", "accept", "--yes"])
        #expect(accept.status == 0, "\(accept.stderr)")
        // A is back to its committed sealed value; C is new.
        #expect(accept.stdoutText.contains("Differences from the version committed in git (HEAD):\n  team 'C': added\n"), "\(accept.stdoutText)")
        #expect(!accept.stdoutText.contains("team 'A'"))
    }

    @Test func upgradeTurnsAVersion1StoreIntoVersion2() throws {
        let cli = try StoreIntegrity.setup()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        // A version 1 store: no mac, "version": 1.
        let macLine = try #require(StoreIntegrity.lines(cli, containing: "\"mac\"").first)
        let legacy = StoreIntegrity.text(cli).replacingOccurrences(of: macLine + "\n", with: "")
            .replacingOccurrences(of: "\"version\": 2,", with: "\"version\": 1,")
        try StoreIntegrity.write(cli, legacy)
        try StoreIntegrity.expectRefused(cli, message: "run `secretfill store upgrade --store \(cli.storePath)` once")
        let spec = cli.path("c.yaml")
        try Data(StoreIntegrity.spec.utf8).write(to: URL(fileURLWithPath: spec))
        let check = cli.run(["check", spec], removing: ["SECRETFILL_KEY"])
        #expect(check.status == 2 && check.stderr.contains("is a version 1 store"), "\(check.stderr)")
        let upgrade = cli.run(["store", "upgrade", "--yes"])
        #expect(upgrade.status == 0, "\(upgrade.stderr)")
        #expect(upgrade.stdoutText.hasPrefix("Upgrading the store at \(cli.storePath) from version 1 to version 2: this adds a \"mac\""))
        #expect(upgrade.stdoutText.contains("Upgraded the store at \(cli.storePath) to version 2: its mac covers 3 secret(s) in 2 scope(s)."))
        #expect(StoreIntegrity.text(cli).contains("\"version\": 2,\n"))
        #expect(try StoreCLIValues.resolve(cli, ["A", "B"]) == ["A": "team-value-a", "B": "team-value-b"])
        let again = cli.run(["store", "upgrade", "--yes"])
        #expect(again.status == 0 && again.stdoutText.contains("already version 2; nothing to upgrade"))
    }

    @Test func demoStoreVerifiesWithTheDemoKey() throws {
        let cli = try CLI()
        defer { try? FileManager.default.removeItem(at: cli.directory) }
        let key = String(decoding: CLI.bytes(CLI.fixture("demo/DEMO-KEY-not-a-secret.txt")), as: UTF8.self)
        let document = try StoreDocument.decode(CLI.bytes(CLI.fixture("demo/store.json")), path: "demo")
        #expect(StoreMAC.verify(document, key: try StoreKey(base64: key, source: "demo")))
        let render = cli.run(["render", CLI.fixture("paperspace-deployment.yaml"), "--project", "pr-demo"],
                             environment: ["SECRETFILL_STORE": CLI.fixture("demo/store.json"), "SECRETFILL_KEY": key])
        #expect(render.status == 0, "\(render.stderr)")
    }
}

/// `env --format json` resolution, for this file.
enum StoreCLIValues {
    static func resolve(_ cli: CLI, _ names: [String], _ extra: [String] = []) throws -> [String: String]? {
        let spec = "env:\n" + names.map { "- name: \($0)\n  value: secret:\($0)\n" }.joined()
        let path = cli.path("resolve-\(UUID().uuidString).yaml")
        try Data(spec.utf8).write(to: URL(fileURLWithPath: path))
        let outcome = cli.run(["env", path, "--format", "json"] + extra)
        return (try? JSONSerialization.jsonObject(with: Data(outcome.stdout))) as? [String: String]
    }
}
