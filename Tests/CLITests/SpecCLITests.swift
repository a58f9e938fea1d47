import Foundation
import Testing

/// render, env and check through the built binary, read back by the real consumers.
@Suite("render, env and check end to end")
struct SpecCLITests {
    static let demoEnvironment = [
        "SECRETFILL_KEY": "EkaHn/ZMFyf1vcLRyALir2+7xebjorgn/IfiD3uTe0s=",
        "SECRETFILL_STORE": CLI.fixture("demo/store.json"),
    ]

    static let hostile: [String] = {
        let data = try! Data(contentsOf: CLI.fixtures.appendingPathComponent("hostile-values.json"))
        return try! JSONDecoder().decode([String].self, from: data)
    }()

    /// A store holding every hostile value as v0…vN, and a spec referencing each as V0…VN.
    static func hostileSetup() throws -> (cli: CLI, spec: String) {
        let cli = try CLI().initialise()
        var object: [String: String] = [:]
        for (i, value) in hostile.enumerated() { object["v\(i)"] = value }
        let json = try JSONSerialization.data(withJSONObject: object)
        try json.write(to: URL(fileURLWithPath: cli.path("values.json")))
        let imported = cli.run(["secrets", "import", "team", cli.path("values.json")])
        try #require(imported.status == 0, "\(imported.stderr)")
        var spec = "# hostile values, ünï\nenv:\n"
        for i in hostile.indices { spec += "- name: V\(i)\n  value: secret:v\(i)\n" }
        try spec.write(toFile: cli.path("spec.yaml"), atomically: true, encoding: .utf8)
        return (cli, cli.path("spec.yaml"))
    }

    static func python(_ arguments: [String]) throws -> Any {
        let outcome = CLI.execute("/usr/bin/env", ["python3", CLI.fixture("tools/readback.py")] + arguments,
                                  environment: ProcessInfo.processInfo.environment)
        try #require(outcome.status == 0, "readback failed: \(outcome.stderr)")
        return try JSONSerialization.jsonObject(with: Data(outcome.stdout))
    }

    static var expected: [String: String] {
        Dictionary(uniqueKeysWithValues: hostile.enumerated().map { ("V\($0.offset)", $0.element) })
    }

    // MARK: render

    @Test("fixtures render to their golden files and differ from the input only in references", arguments: [
        "paperspace-deployment", "gradient-workflow", "kubernetes-multi",
    ])
    func goldenThroughBinary(_ name: String) throws {
        let cli = try CLI()
        let outcome = cli.run(["render", CLI.fixture("\(name).yaml"), "--project", "pr-demo", "--cluster", "demo-cluster"],
                              environment: Self.demoEnvironment)
        #expect(outcome.status == 0)
        #expect(outcome.stderr.isEmpty)
        #expect(outcome.stdout == CLI.bytes(CLI.fixture("golden/\(name).rendered.yaml")))
        let replaced = try Self.python(["spans", CLI.fixture("\(name).yaml"), CLI.fixture("golden/\(name).rendered.yaml")]) as? [[String]]
        #expect((replaced ?? []).count >= 3)
    }

    @Test("hostile values load back exactly in PyYAML, libyaml (YAML 1.1) and ruamel (YAML 1.2)")
    func hostileThroughRender() throws {
        let (cli, spec) = try Self.hostileSetup()
        let out = cli.path("rendered.yaml")
        let outcome = cli.run(["render", spec, "-o", out])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let loaded = try #require(try Self.python(["yaml", out]) as? [String: [String: String]])
        for loader in ["pyyaml", "libyaml", "ruamel"] {
            let seen = loaded[loader] ?? [:]
            for (name, value) in Self.expected where seen[name] != value {
                Issue.record("\(loader) read \(name) as \(String(reflecting: seen[name])), expected \(String(reflecting: value))")
            }
        }
        let replaced = try #require(try Self.python(["spans", spec, out]) as? [[String]])
        #expect(replaced.count == Self.hostile.count)
    }

    @Test("a large render through a pipe arrives whole and in order")
    func largeRenderThroughPipe() throws {
        let cli = try CLI().initialise(team: ["alpha": "first value", "beta": "second: value", "gamma": "ünï"])
        var spec = "# large spec, ünïcödé before every reference\n"
        var expected = spec
        let names = ["alpha", "beta", "gamma"]
        let quoted = ["alpha": "\"first value\"", "beta": "\"second: value\"", "gamma": "\"ünï\""]
        for i in 0..<20_000 {
            let name = names[i % 3]
            let head = "---\n# é \(i)\nenv:\n- name: V\(i)\n  value: "
            spec += head + "secret:\(name)\n"
            expected += head + quoted[name]! + "\n"
        }
        try spec.write(toFile: cli.path("big.yaml"), atomically: true, encoding: .utf8)
        let outcome = cli.run(["render", cli.path("big.yaml")])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.count > 1_000_000)
        #expect(outcome.stdout == Array(expected.utf8))
    }

    @Test("-o is written with mode 0600, and no temporary file is left")
    func outputFileMode() throws {
        let cli = try CLI().initialise(team: ["x": "v"])
        try "env: {A: secret:x}\n".write(toFile: cli.path("s.yaml"), atomically: true, encoding: .utf8)
        let outcome = cli.run(["render", cli.path("s.yaml"), "-o", cli.path("out.yaml")])
        #expect(outcome.status == 0)
        #expect(CLI.mode(cli.path("out.yaml")) == 0o600)
        #expect(String(decoding: CLI.bytes(cli.path("out.yaml")), as: UTF8.self) == "env: {A: \"v\"}\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: cli.directory.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test("stdin is read for `-` and for no argument, and errors name <stdin>")
    func standardInput() throws {
        let cli = try CLI().initialise(team: ["x": "v"])
        for arguments in [["render"], ["render", "-"]] {
            let ok = cli.run(arguments, stdin: Array("env: {A: secret:x}\n".utf8))
            #expect(ok.stdoutText == "env: {A: \"v\"}\n")
        }
        let bad = cli.run(["render"], stdin: Array("env: {A: secret:nope}\n".utf8))
        #expect(bad.status == 1)
        #expect(bad.stderr == "<stdin>:1:10: error: unknown secret 'nope' (looked in team)\n")
    }

    static let failingSpecs: [(String, String)] = [
        ("unknown", "env:\n- {name: A, value: secret:known}\n- {name: B, value: secret:unknown}\n"),
        ("malformed", "env:\n- {name: A, value: secret:known}\n- {name: B, value: 'secret:bad name'}\n"),
        ("invalid YAML", "env:\n- {name: A, value: secret:known}\n- {name: B, value: \"unclosed\n"),
        ("alias", "a: &x\n  - {name: A, value: secret:known}\nenv: *x\n"),
        ("tab indentation", "env:\n\t- {name: A, value: secret:known}\n"),
    ]

    @Test("any failure writes nothing: stdout empty, -o untouched, every problem listed, exit 1",
          arguments: ["unknown", "malformed", "invalid YAML", "alias", "tab indentation"])
    func failClosed(_ kind: String) throws {
        let text = try #require(Self.failingSpecs.first { $0.0 == kind }?.1)
        let cli = try CLI().initialise(team: ["known": "CANARY-fail-closed-01"])
        try text.write(toFile: cli.path("s.yaml"), atomically: true, encoding: .utf8)
        try "previous content\n".write(toFile: cli.path("out.yaml"), atomically: true, encoding: .utf8)
        for arguments in [["render", cli.path("s.yaml")], ["render", cli.path("s.yaml"), "-o", cli.path("out.yaml")],
                          ["env", cli.path("s.yaml"), "-o", cli.path("out.yaml")]] {
            let outcome = cli.run(arguments)
            #expect(outcome.status == 1, "\(arguments): \(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
            #expect(outcome.stderr.contains(cli.path("s.yaml") + ":"))
            #expect(!outcome.allOutput.contains("CANARY"))
            #expect(String(decoding: CLI.bytes(cli.path("out.yaml")), as: UTF8.self) == "previous content\n")
        }
    }

    @Test("all problems are reported at once with file:line:col")
    func everyProblemListed() throws {
        let cli = try CLI().initialise(team: ["a": "x"])
        try "env:\n- {name: A, value: secret:b}\n- {name: B, value: secret:c}\n- {name: C, value: 'secret:'}\n"
            .write(toFile: cli.path("s.yaml"), atomically: true, encoding: .utf8)
        let outcome = cli.run(["render", cli.path("s.yaml"), "--project", "p1"])
        let file = cli.path("s.yaml")
        #expect(outcome.stderr == """
            \(file):2:20: error: unknown secret 'b' (looked in project p1, team)
            \(file):3:20: error: unknown secret 'c' (looked in project p1, team)
            \(file):4:20: error: malformed secret reference 'secret:': it has no name after 'secret:'

            """)
    }

    @Test("a reader that closes the pipe early ends the render quietly")
    func brokenPipe() throws {
        let cli = try CLI().initialise(team: ["x": "v"])
        var big = "env:\n"
        for i in 0..<60_000 { big += "- {name: N\(i), value: secret:x}\n" }
        try big.write(toFile: cli.path("big.yaml"), atomically: true, encoding: .utf8)
        let outcome = CLI.execute("/bin/sh", ["-c", "'\(CLI.binary.path)' render big.yaml | head -c 100 >/dev/null; echo \"${PIPESTATUS:-}\""],
                                  environment: cli.environment, currentDirectory: cli.directory)
        #expect(outcome.stderr.isEmpty)
    }

    // MARK: env

    @Test("dotenv output reads back exactly through python-dotenv")
    func dotenvReadBack() throws {
        let (cli, spec) = try Self.hostileSetup()
        let outcome = cli.run(["env", spec, "-o", cli.path("out.env")])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let seen = try #require(try Self.python(["dotenv", cli.path("out.env")]) as? [String: String])
        for (name, value) in Self.expected where seen[name] != value {
            Issue.record("python-dotenv read \(name) as \(String(reflecting: seen[name])), expected \(String(reflecting: value))")
        }
    }

    @Test("shell output sources back exactly in bash and dash", arguments: ["bash", "dash"])
    func shellReadBack(_ shell: String) throws {
        let (cli, spec) = try Self.hostileSetup()
        let outcome = cli.run(["env", spec, "--format", "shell", "-o", cli.path("out.sh")])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let names = Self.hostile.indices.map { "V\($0)" }
        let script = ". \"$1\"; shift; exec python3 -c 'import os, json, sys; print(json.dumps({k: os.environ.get(k) for k in sys.argv[1:]}))' \"$@\""
        let read = CLI.execute("/usr/bin/env", [shell, "-c", script, shell, cli.path("out.sh")] + names,
                               environment: ProcessInfo.processInfo.environment)
        #expect(read.status == 0, "\(read.stderr)")
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(read.stdout)) as? [String: String])
        for (name, value) in Self.expected where seen[name] != value {
            Issue.record("\(shell) read \(name) as \(String(reflecting: seen[name])), expected \(String(reflecting: value))")
        }
    }

    @Test("json output parses back exactly")
    func jsonReadBack() throws {
        let (cli, spec) = try Self.hostileSetup()
        let outcome = cli.run(["env", spec, "--format", "json"])
        let seen = try #require(try JSONSerialization.jsonObject(with: Data(outcome.stdout)) as? [String: String])
        #expect(seen == Self.expected)
    }

    @Test("docker output is raw and refuses line breaks, naming each key and writing nothing")
    func dockerFormat() throws {
        let (cli, spec) = try Self.hostileSetup()
        try "previous\n".write(toFile: cli.path("out.env"), atomically: true, encoding: .utf8)
        let refused = cli.run(["env", spec, "--format", "docker", "-o", cli.path("out.env")])
        #expect(refused.status == 1)
        let multiLine = Self.hostile.enumerated().filter { $0.element.contains("\n") || $0.element.contains("\r") }.map { "V\($0.offset)" }
        for name in multiLine { #expect(refused.stderr.contains("env '\(name)' cannot be written as docker")) }
        #expect(String(decoding: CLI.bytes(cli.path("out.env")), as: UTF8.self) == "previous\n")

        // Without the multi-line values, docker's reader gets every value back.
        var single = "env:\n"
        for (i, value) in Self.hostile.enumerated() where !value.contains("\n") && !value.contains("\r") {
            single += "- name: V\(i)\n  value: secret:v\(i)\n"
        }
        try single.write(toFile: cli.path("single.yaml"), atomically: true, encoding: .utf8)
        let written = cli.run(["env", cli.path("single.yaml"), "--format", "docker", "-o", cli.path("docker.env")])
        #expect(written.status == 0, "\(written.stderr)")
        let seen = try #require(try Self.python(["docker", cli.path("docker.env")]) as? [String: String])
        #expect(seen == Self.expected.filter { !$0.value.contains("\n") && !$0.value.contains("\r") })
    }

    @Test("env picks containers, jobs (defaults overlaid) and refuses ambiguity with the candidates")
    func selection() throws {
        let cli = try CLI()
        let k8s = CLI.fixture("kubernetes-multi.yaml")
        let ambiguous = cli.run(["env", k8s], environment: Self.demoEnvironment)
        #expect(ambiguous.status == 1)
        #expect(ambiguous.stderr.contains("choose one with --select NAME: 'api' at 31:13, 'sidecar' at 41:16"))
        let api = cli.run(["env", k8s, "--select", "api", "--format", "json"], environment: Self.demoEnvironment)
        #expect(api.stdoutText == "{\n  \"DB_PASSWORD\": \"- x: y # ünï\",\n  \"REDIS_URL\": \"redis://:pa\\\\ss@redis:6379/0\\\\\",\n  \"FEATURE_FLAGS\": \"a,b\"\n}\n")
        #expect(api.stderr.contains("env 'POD_NAME' has no 'value'"))

        let workflow = CLI.fixture("gradient-workflow.yaml")
        let train = cli.run(["env", workflow, "--select", "train", "--format", "json", "--project", "pr-demo", "--cluster", "demo-cluster"],
                            environment: Self.demoEnvironment)
        #expect(train.status == 0, "\(train.stderr)")
        #expect(train.stdoutText == """
            {
              "WANDB_PROJECT": "résumé-ranker",
              "WANDB_API_KEY": "demo-wandb-0123456789abcdef",
              "LOG_LEVEL": "debug",
              "HF_TOKEN": "hf_PROJECT_override",
              "S3_SECRET": "line one\\nline two\\n"
            }

            """)
        let clone = cli.run(["env", workflow, "--select", "CloneRepo", "--format", "json"], environment: Self.demoEnvironment)
        #expect(clone.stdoutText.contains("\"LOG_LEVEL\": \"info\""))
        // A `name` beside a workflow block does not make it another name's block.
        let named = cli.path("named-job.yaml")
        try """
            defaults:
              name: shared
              env: {A: a}
            jobs:
              train:
                name: trainer
                env: {B: b}
            """.write(toFile: named, atomically: true, encoding: .utf8)
        let namedJob = cli.run(["env", named, "--select", "train", "--format", "json"], environment: Self.demoEnvironment)
        #expect(namedJob.stdoutText == "{\n  \"A\": \"a\",\n  \"B\": \"b\"\n}\n")
        let none = cli.run(["env", workflow, "--select", "nope"], environment: Self.demoEnvironment)
        #expect(none.status == 1)
        #expect(none.stderr.contains("no env block is named 'nope'; candidates: 'CloneRepo'"))
    }

    @Test("shell format refuses names that are not shell identifiers")
    func shellNames() throws {
        let cli = try CLI()
        let outcome = cli.run(["env", CLI.fixture("paperspace-deployment.yaml"), "--format", "shell"], environment: Self.demoEnvironment)
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("'some-env' is not a shell variable name"))
        #expect(outcome.stdout.isEmpty)
    }

    @Test("env -o inside a git work tree warns when git would commit the file")
    func committableWarning() throws {
        let cli = try CLI().initialise(team: ["x": "v"])
        _ = CLI.execute("/usr/bin/env", ["git", "init", "-q", cli.directory.path], environment: ProcessInfo.processInfo.environment)
        try "env: {A: secret:x}\n".write(toFile: cli.path("s.yaml"), atomically: true, encoding: .utf8)
        let exposed = cli.run(["env", cli.path("s.yaml"), "-o", cli.path(".env")])
        #expect(exposed.status == 0)
        #expect(exposed.stderr.contains("git add` would commit these secrets"))
        try ".env\n".write(toFile: cli.path(".gitignore"), atomically: true, encoding: .utf8)
        let ignored = cli.run(["env", cli.path("s.yaml"), "-o", cli.path(".env")])
        #expect(ignored.stderr.isEmpty)
    }

    // MARK: check

    @Test("check: exit 0 clean, 1 with findings on stdout, 2 for an unreadable file, 64 for usage")
    func checkExitCodes() throws {
        let cli = try CLI()
        let clean = cli.run(["check", CLI.fixture("paperspace-deployment.yaml"), "--project", "pr-demo"], environment: Self.demoEnvironment)
        #expect(clean.status == 0)
        #expect(clean.stdoutText.hasSuffix("no problems\n"))
        let findings = cli.run(["check", CLI.fixture("gradient-workflow.yaml")], environment: Self.demoEnvironment)
        #expect(findings.status == 1)
        #expect(findings.stdoutText.hasPrefix("\(CLI.fixture("gradient-workflow.yaml")):28:18: error: unknown secret 's3_secret' (looked in team; it exists in cluster demo-cluster: add --cluster demo-cluster)\n"))
        let missing = cli.run(["check", cli.path("nope.yaml")], environment: Self.demoEnvironment)
        #expect(missing.status == 2)
        let usage = cli.run(["check"], environment: Self.demoEnvironment)
        #expect(usage.status == 64)
    }

    @Test("check needs no key, and only consults the scopes it is given")
    func checkWithoutKey() throws {
        let cli = try CLI()
        let environment = ["SECRETFILL_STORE": CLI.fixture("demo/store.json")]
        let outcome = cli.run(["check", CLI.fixture("gradient-workflow.yaml"), "--cluster", "demo-cluster"],
                              environment: environment, removing: ["SECRETFILL_KEY"])
        #expect(outcome.status == 0, "\(outcome.allOutput)")
        let withoutCluster = cli.run(["check", CLI.fixture("gradient-workflow.yaml")], environment: environment, removing: ["SECRETFILL_KEY"])
        #expect(withoutCluster.status == 1)
    }

    @Test("check reports duplicates and YAML errors in every file, in json and github formats")
    func checkFormats() throws {
        let cli = try CLI().initialise(team: ["a": "x"])
        try "env:\n- {name: A, value: secret:a}\n- {name: A, value: secret:zz}\n".write(toFile: cli.path("one.yaml"), atomically: true, encoding: .utf8)
        try "env: [\n".write(toFile: cli.path("two.yaml"), atomically: true, encoding: .utf8)
        let json = cli.run(["check", cli.path("one.yaml"), cli.path("two.yaml"), "--format", "json"])
        #expect(json.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout)) as? [String: Any])
        let findings = try #require(object["findings"] as? [[String: Any]])
        #expect(findings.map { $0["code"] as? String } == ["duplicate-env-name", "unknown-secret", "yaml-syntax"])
        #expect(findings[1]["name"] as? String == "zz")
        #expect(findings[1]["line"] as? Int == 3)
        #expect(findings[1]["column"] as? Int == 20)
        let github = cli.run(["check", cli.path("one.yaml"), "--format", "github"])
        #expect(github.stdoutText.contains("::error file=\(cli.path("one.yaml")),line=3,col=20,title=secretfill unknown-secret::unknown secret 'zz' (looked in team)"))
    }

    @Test("check --explain shows where each reference resolves from and what it shadows, never a value")
    func explain() throws {
        let cli = try CLI()
        let outcome = cli.run(["check", CLI.fixture("paperspace-deployment.yaml"), "--project", "pr-demo", "--explain"],
                              environment: Self.demoEnvironment)
        #expect(outcome.stdoutText.contains("note: env 'HF_TOKEN' ← secret 'hf_token' resolves from project pr-demo (shadows team)"))
        #expect(!outcome.stdoutText.contains("hf_PROJECT_override"))
        #expect(!outcome.stdoutText.contains("hf_DEMOteam"))
    }
}
