import Foundation
import Testing

/// What a new user reads when something is wrong: where a name does exist
/// (issue 11.3), messages that name the thing (11.4), every problem at once
/// (11.8) and control characters escaped in everything printed (12.9).
@Suite("messages that name the problem")
struct MessagesTests {
    func write(_ cli: CLI, _ name: String, _ text: String) throws -> String {
        try text.write(toFile: cli.path(name), atomically: true, encoding: .utf8)
        return cli.path(name)
    }

    // MARK: 11.3 scopes the user forgot

    @Test("an unknown name says where it exists: render, env, check and secrets which")
    func unknownNameSaysWhereItExists() throws {
        let cli = try CLI().initialise(team: ["db": "team-value-1"])
        try cli.set(.cluster("gpu-east"), "tls_key", "CANARY-cluster-value")
        let spec = try write(cli, "s.yaml", "env:\n- name: TLS\n  value: secret:tls_key\n")
        let expected = "\(spec):3:10: error: unknown secret 'tls_key' (looked in team; it exists in cluster gpu-east: add --cluster gpu-east)"

        let render = cli.run(["render", spec])
        #expect(render.status == 1)
        #expect(render.stdout.isEmpty)
        #expect(render.stderr == expected + "\n")
        let env = cli.run(["env", spec])
        #expect(env.status == 1)
        #expect(env.stderr == expected + "\n")
        let check = cli.run(["check", spec], removing: ["SECRETFILL_KEY"])
        #expect(check.status == 1)
        #expect(check.stdoutText.hasPrefix(expected + "\n"))
        let which = cli.run(["secrets", "which", "tls_key"], removing: ["SECRETFILL_KEY"])
        #expect(which.status == 1)
        #expect(which.stderr == "secretfill: 'tls_key' does not resolve (looked in team; it exists in cluster gpu-east: add --cluster gpu-east)\n")
        // Given another cluster, the hint says which one to use instead.
        let other = cli.run(["render", spec, "--cluster", "gpu-west"])
        #expect(other.stderr.contains("(looked in cluster gpu-west, team; it exists in cluster gpu-east: use --cluster gpu-east)"))
        // With the hint followed, it renders.
        #expect(cli.run(["render", spec, "--cluster", "gpu-east"]).status == 0)
        for outcome in [render, env, check, which, other] { #expect(!outcome.allOutput.contains("CANARY")) }
    }

    @Test("several places are listed sorted, projects then clusters, bounded with 'and N more'")
    func severalPlacesAreBounded() throws {
        let cli = try CLI().initialise()
        try cli.set(.cluster("c-b"), "k", "value-1")
        try cli.set(.project("p-1"), "k", "value-2")
        try cli.set(.cluster("c-a"), "k", "value-3")
        let spec = try write(cli, "s.yaml", "env:\n- name: K\n  value: secret:k\n")
        let three = cli.run(["check", spec])
        #expect(three.stdoutText.contains("unknown secret 'k' (looked in team; it exists in project p-1, cluster c-a and cluster c-b: choose one with --project ID or --cluster ID)"))
        try cli.set(.project("p-0"), "k", "value-4")
        try cli.set(.cluster("c-c"), "k", "value-5")
        let five = cli.run(["check", spec])
        #expect(five.stdoutText.contains("(looked in team; it exists in project p-0, project p-1, cluster c-a and 2 more: choose one with --project ID or --cluster ID)"))
        // Two clusters only: one flag.
        let clusters = try CLI().initialise()
        try clusters.set(.cluster("x"), "k", "value-1")
        try clusters.set(.cluster("y"), "k", "value-2")
        let spec2 = try write(clusters, "s.yaml", "env:\n- name: K\n  value: secret:k\n")
        #expect(clusters.run(["render", spec2, "--project", "p"]).stderr
            .contains("(looked in project p, team; it exists in cluster x and cluster y: choose one with --cluster ID)"))
    }

    @Test("a name that exists nowhere keeps the plain message")
    func unknownEverywhere() throws {
        let cli = try CLI().initialise(team: ["a": "value-a"])
        let spec = try write(cli, "s.yaml", "env:\n- name: A\n  value: secret:nope\n")
        #expect(cli.run(["render", spec]).stderr == "\(spec):3:10: error: unknown secret 'nope' (looked in team)\n")
    }

    @Test("secrets list of an empty scope says so on stderr, naming the scopes that have secrets, and exits 0")
    func emptyListSaysSo() throws {
        let cli = try CLI().initialise()
        try cli.set(.project("pr-1"), "a", "value-1")
        try cli.set(.project("pr-2"), "b", "value-2")
        let nope = cli.run(["secrets", "list", "project", "--id", "nope"], removing: ["SECRETFILL_KEY"])
        #expect(nope.status == 0)
        #expect(nope.stdout.isEmpty)
        #expect(nope.stderr == "secretfill: note: project nope holds no secrets (projects with secrets: pr-1, pr-2)\n")
        let cluster = cli.run(["secrets", "list", "cluster", "--id", "c"])
        #expect(cluster.status == 0)
        #expect(cluster.stderr == "secretfill: note: cluster c holds no secrets (no cluster has any)\n")
        let team = cli.run(["secrets", "list", "team", "--format", "json"])
        #expect(team.stdoutText == "[]\n")
        #expect(team.stderr == "secretfill: note: team holds no secrets\n")
        // A scope with names prints them and no note.
        let full = cli.run(["secrets", "list", "project", "--id", "pr-1"])
        #expect(full.stdoutText == "a\n")
        #expect(full.stderr.isEmpty)
    }

    // MARK: 11.4 messages that name the thing

    @Test("a refused name or id is quoted as given")
    func refusedNameIsQuoted() throws {
        let cli = try CLI().initialise()
        let name = cli.run(["secrets", "set", "team", "--name", "bad name", "--value-stdin"], stdin: Array("v\n".utf8))
        #expect(name.status == 64)
        #expect(name.stderr.hasPrefix("secretfill: error: 'bad name' is not a valid secret name: a secret name must match"))
        let id = cli.run(["secrets", "list", "project", "--id", "a/b"])
        #expect(id.status == 64)
        #expect(id.stderr.hasPrefix("secretfill: error: 'a/b' is not a valid scope id: a scope id must match"))
        let project = cli.run(["render", "--project", "p q"], stdin: Array("a: 1\n".utf8))
        #expect(project.status == 64)
        #expect(project.stderr.hasPrefix("secretfill: error: 'p q' is not a valid scope id"))
        let which = cli.run(["secrets", "which", "9x"])
        #expect(which.stderr.hasPrefix("secretfill: error: '9x' is not a valid secret name"))
    }

    @Test("a malformed reference is quoted, so a trailing space shows")
    func malformedReferenceIsQuoted() throws {
        let cli = try CLI().initialise(team: ["db_password": "value-1"])
        let spec = try write(cli, "s.yaml", "env:\n- name: DB\n  value: \"secret:db_password \"\n")
        let check = cli.run(["check", spec])
        #expect(check.status == 1)
        #expect(check.stdoutText.hasPrefix("\(spec):3:10: error: malformed secret reference 'secret:db_password ': it does not name a valid secret"))
    }

    @Test("a reference in another case is a warning from check (exit 0 alone), and render and env warn and go on")
    func otherCaseIsAWarning() throws {
        let cli = try CLI().initialise(team: ["db_password": "value-1"])
        let spec = try write(cli, "s.yaml", "env:\n- name: A\n  value: SECRET:db_password\n- name: B\n  value: 'Secret:x'\n- name: C\n  value: secret:db_password\n")
        let check = cli.run(["check", spec])
        #expect(check.status == 0)
        #expect(check.stdoutText == """
            \(spec):3:10: warning: 'SECRET:db_password' is not a secret reference: the prefix is lower-case 'secret:'; for a reference write 'secret:db_password'; as written it stays literal text
            \(spec):5:10: warning: 'Secret:x' is not a secret reference: the prefix is lower-case 'secret:'; for a reference write 'secret:x'; as written it stays literal text
            checked 1 file(s), 1 reference(s): no problems, 2 warning(s)

            """)
        let github = cli.run(["check", spec, "--format", "github"])
        #expect(github.status == 0)
        #expect(github.stdoutText.hasPrefix("::warning file=\(spec),line=3,col=10,title=secretfill reference-case::"))
        // With an error beside it, the exit is 1.
        let both = try write(cli, "b.yaml", "env:\n- name: A\n  value: SECRET:db_password\n- name: B\n  value: secret:nope\n")
        #expect(cli.run(["check", both]).status == 1)
        // Not in env blocks, not a reference shape: no warning.
        let elsewhere = try write(cli, "e.yaml", "note: SECRET:x\nenv:\n- name: A\n  value: SECRETS:x\n")
        #expect(cli.run(["check", elsewhere]).stdoutText == "checked 1 file(s), 0 reference(s): no problems\n")

        let render = cli.run(["render", spec])
        #expect(render.status == 0)
        #expect(render.stdoutText.contains("value: SECRET:db_password\n"))
        #expect(render.stderr.hasPrefix("\(spec):3:10: warning: 'SECRET:db_password' is not a secret reference"))
        let env = cli.run(["env", spec, "--format", "json"])
        #expect(env.status == 0)
        #expect(env.stderr.contains("\(spec):3:10: warning: 'SECRET:db_password' is not a secret reference"))
    }

    @Test("a key path that is a directory says so")
    func keyPathIsADirectory() throws {
        let cli = try CLI().initialise()
        try FileManager.default.createDirectory(atPath: cli.path("keydir"), withIntermediateDirectories: true)
        let spec = try write(cli, "s.yaml", "env:\n- name: A\n  value: secret:a\n")
        let outcome = cli.run(["render", spec], environment: ["SECRETFILL_KEY_FILE": cli.path("keydir")], removing: ["SECRETFILL_KEY"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "secretfill: error: the key from \(cli.path("keydir")) is unusable: it is a directory, not a key file; point SECRETFILL_KEY_FILE at the key file itself\n")
        #expect(!outcome.stderr.contains("chmod"))
    }

    @Test("a missing key beside an existing store never sends the user to init")
    func missingKeyWithStore() throws {
        let cli = try CLI().initialise(team: ["a": "value-a"])
        let spec = try write(cli, "s.yaml", "env:\n- name: A\n  value: secret:a\n")
        let keyPath = cli.path("config/secretfill/key")
        let outcome = cli.run(["render", spec], removing: ["SECRETFILL_KEY"])
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "secretfill: error: no key: \(keyPath) does not exist and SECRETFILL_KEY is not set. The store \(cli.storePath) exists, and a store cannot be opened without the key it was sealed with (a new key will not open it): put that key in \(keyPath) (mode 0600), or set SECRETFILL_KEY or SECRETFILL_KEY_FILE\n")
        #expect(!outcome.stderr.contains("secretfill init"))
        // And init would indeed refuse.
        #expect(cli.run(["init"], removing: ["SECRETFILL_KEY"]).status != 0)
        // Without a store, init is still the way.
        let fresh = try CLI()
        let none = fresh.run(["render", spec], removing: ["SECRETFILL_KEY"])
        #expect(none.stderr.contains("with `secretfill init`"))
    }

    @Test("gradient's --projectId, --clusterId and --apiKey get a pointer; an unknown command is named", arguments: [
        (["secrets", "list", "project", "--projectId", "pr-1"], "unknown option '--projectId'. Did you mean '--id'? (as in `secrets list project --id ID`)"),
        (["secrets", "set", "cluster", "--clusterId=c1", "--name", "N"], "unknown option '--clusterId'. Did you mean '--id'? (as in `secrets set cluster --id ID`)"),
        (["secrets", "which", "N", "--projectId", "p"], "unknown option '--projectId'. Did you mean '--project'?"),
        (["render", "s.yaml", "--clusterId", "c"], "unknown option '--clusterId'. Did you mean '--cluster'?"),
        (["render", "s.yaml", "--apiKey", "CANARY-api-key"], "secretfill has no --apiKey: it takes its key from SECRETFILL_KEY (base64 of 32 bytes) or the key file (SECRETFILL_KEY_FILE, default ${XDG_CONFIG_HOME:-~/.config}/secretfill/key)"),
        (["secrets", "list", "team", "--apiKey=CANARY-api-key"], "secretfill has no --apiKey: it takes its key from SECRETFILL_KEY (base64 of 32 bytes) or the key file (SECRETFILL_KEY_FILE, default ${XDG_CONFIG_HOME:-~/.config}/secretfill/key)"),
        (["run", "spec.yaml", "--select", "api"], "unknown command 'run'; the commands are render, env, exec, check, redact, init, secrets, store, serve, keys, members, roles, login, logout, whoami, audit, backup, restore and rekey (see `secretfill --help`)"),
        (["secrets", "get", "team"], "unknown secrets verb 'get'; the verbs are set, list, delete, which, import, history and rollback (see `secretfill secrets --help`)"),
    ])
    func gradientSpellings(_ arguments: [String], _ message: String) throws {
        let cli = try CLI().initialise()
        let outcome = cli.run(arguments)
        #expect(outcome.status == 64)
        #expect(outcome.stderr == "secretfill: error: \(message)\n")
        #expect(!outcome.allOutput.contains("CANARY"))
    }

    @Test("valid command lines and other usage errors are untouched by the hints")
    func hintsOnlyOnFailure() throws {
        let cli = try CLI().initialise()
        #expect(cli.run(["secrets", "list", "project", "--id", "pr-1"]).status == 0)
        let help = cli.run(["render", "--help"])
        #expect(help.status == 0)
        #expect(help.stdoutText.hasPrefix("OVERVIEW:"))
        let bogus = cli.run(["render", "--bogus"])
        #expect(bogus.status == 64)
        #expect(bogus.stderr.hasPrefix("Error: Unknown option '--bogus'"))
    }

    // MARK: 11.8 every problem, every time

    @Test("check reports a missing file, still checks the rest, and exits 2 at the end")
    func checkGoesOnAfterAMissingFile() throws {
        let cli = try CLI().initialise(team: ["a": "value-a"])
        let good = try write(cli, "good.yaml", "env:\n- name: A\n  value: secret:a\n")
        let bad = try write(cli, "bad.yaml", "env:\n- name: B\n  value: secret:b\n")
        let missing = cli.path("missing.yaml")
        let outcome = cli.run(["check", missing, good, bad])
        #expect(outcome.status == 2)
        #expect(outcome.stderr == """
            secretfill: error: cannot read \(missing): No such file or directory
            secretfill: error: 1 of 3 spec(s) could not be read; the others were checked

            """)
        #expect(outcome.stdoutText == """
            \(bad):3:10: error: unknown secret 'b' (looked in team)
            checked 2 file(s), 2 reference(s): 1 problem(s)

            """)
        let clean = cli.run(["check", missing, good, "--format", "json"])
        #expect(clean.status == 2)
        #expect(clean.stdoutText.contains("\"filesChecked\": 1"))
    }

    @Test("env lists malformed and unknown references at once, like render")
    func envListsEveryProblem() throws {
        let cli = try CLI().initialise(team: ["a": "value-a"])
        let spec = try write(cli, "s.yaml", "env:\n- name: A\n  value: secret:a\n- name: B\n  value: 'secret:'\n- name: C\n  value: secret:nope\n- name: D\n  value: !!binary secret:x\n")
        let expected = """
            \(spec):5:10: error: malformed secret reference 'secret:': it has no name after 'secret:'
            \(spec):7:10: error: unknown secret 'nope' (looked in team)
            \(spec):9:19: error: a secret reference cannot carry the tag 'tag:yaml.org,2002:binary'; remove the tag or use !!str

            """
        let env = cli.run(["env", spec])
        #expect(env.status == 1)
        #expect(env.stdout.isEmpty)
        #expect(env.stderr == expected)
        #expect(cli.run(["render", spec]).stderr == expected)
    }

    // MARK: 12.9 control characters escaped

    @Test("an env name holding ESC and BEL, or a line break, is escaped in check text and github, render and env")
    func controlCharactersAreEscaped() throws {
        let cli = try CLI().initialise(team: ["a": "value-a"])
        let spec = try write(cli, "s.yaml", """
            env:
            - name: "T\\e]0;pwned\\a"
              value: secret:nope
            - name: "L\\nforged.yaml:1:1: error: forged"
              value: x
            - name: "L\\nforged.yaml:1:1: error: forged"
              value: y
            - name: "T\\e]0;pwned\\a"
              value: !foo%1B%5B31m secret:q

            """)
        let text = cli.run(["check", spec, "--explain"])
        let github = cli.run(["check", spec, "--format", "github"])
        let render = cli.run(["render", spec])
        let env = cli.run(["env", spec])
        for outcome in [text, github, render, env] {
            #expect(outcome.status == 1)
            #expect(!outcome.allOutput.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" || $0.value == 0x7F })
            #expect(!outcome.allOutput.contains("\nforged.yaml"))
        }
        #expect(text.stdoutText.contains("\(spec):3:10: note: env 'T\\x1b]0;pwned\\x07' ← secret 'nope' resolves nowhere"))
        #expect(text.stdoutText.contains("env name 'L\\nforged.yaml:1:1: error: forged' is set twice in this block"))
        #expect(github.stdoutText.contains("::error file=\(spec),line=6,col=3,title=secretfill duplicate-env-name::env name 'L\\nforged.yaml:1:1: error: forged' is set twice"))
        #expect(render.stderr.contains("cannot carry the tag '!foo\\x1b[31m'"))
        #expect(env.stderr.contains("cannot carry the tag '!foo\\x1b[31m'"))
        // json keeps its own escapes.
        let json = cli.run(["check", spec, "--format", "json"])
        #expect(json.stdoutText.contains("env name 'L\\nforged.yaml:1:1: error: forged'"))
        #expect(!json.stdoutText.contains("\\\\x1b"))
    }

    @Test("a file path holding a line break or ESC is escaped in messages and in check's output")
    func pathsAreEscaped() throws {
        let cli = try CLI().initialise()
        let spec = try write(cli, "bad\nname\u{1B}[2J.yaml", "env:\n- name: A\n  value: secret:nope\n")
        let escaped = cli.path("bad\\nname\\x1b[2J.yaml")
        let check = cli.run(["check", spec])
        #expect(check.stdoutText.hasPrefix("\(escaped):3:10: error: unknown secret 'nope'"))
        let github = cli.run(["check", spec, "--format", "github"])
        #expect(github.stdoutText.hasPrefix("::error file=\(escaped.replacingOccurrences(of: ":", with: "%3A")),line=3"))
        let render = cli.run(["render", spec])
        #expect(render.stderr.hasPrefix("\(escaped):3:10: error: unknown secret 'nope'"))
        let missing = cli.run(["render", cli.path("gone\n\u{07}.yaml")])
        #expect(missing.status == 2)
        #expect(missing.stderr == "secretfill: error: cannot read \(cli.path("gone\\n\\x07.yaml")): No such file or directory\n")
        // No forged lines: each output has exactly the lines it should.
        for (outcome, lines) in [(check, 2), (github, 1), (render, 1), (missing, 1)] {
            #expect(!outcome.allOutput.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
            #expect(outcome.allOutput.split(separator: "\n").count == lines)
        }
    }
}
