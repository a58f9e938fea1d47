import Foundation
import Testing

/// `secretfill exec` through the built binary.
@Suite("exec through the binary", .serialized, .timeLimit(.minutes(2)))
struct ExecCLITests {
    static let dbValue = "hunter2-password-9f3"
    static let multiValue = "first line of it\nsecond line of it"

    static func setup() throws -> CLI {
        let cli = try CLI().initialise(team: ["db": dbValue, "multi": multiValue, "shadowed": "team-value-abc"])
        try cli.set(.project("p1"), "shadowed", "project-value-xyz")
        return cli
    }

    static func write(_ cli: CLI, _ name: String, _ text: String) throws -> String {
        try text.write(toFile: cli.path(name), atomically: true, encoding: .utf8)
        return cli.path(name)
    }

    /// Writes an executable shell script and returns its path.
    static func script(_ cli: CLI, _ name: String, _ body: String) throws -> String {
        let path = try write(cli, name, "#!/bin/sh\n" + body + "\n")
        chmod(path, 0o755)
        return path
    }

    static let spec = """
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers:
          - name: api
            env:
            - name: DB_PASSWORD
              value: secret:db
            - name: FOO
              value: from-the-block
            - name: MULTI
              value: secret:multi
            - name: FROM_REF
              valueFrom: {secretKeyRef: {name: x, key: y}}
          - name: other
            env:
            - {name: OTHER, value: secret:db}

        """

    /// `env -0` output as a dictionary (values may hold line breaks).
    static func parseEnv(_ bytes: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        for entry in bytes.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return result
    }

    @Test("the child sees the parent's environment less the credentials, with the block on top")
    func environment() throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let extra = ["FOO": "from-the-parent", "KEEP": "kept", "SECRETFILL_KEY_FILE": cli.path("nokey"), "SECRETFILL_TOKEN": "tok"]
        let outcome = cli.run(["exec", spec, "--select", "api", "--", "/usr/bin/env", "-0"], environment: extra)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        var expected = cli.environment.merging(extra) { $1 }
        for name in ["SECRETFILL_KEY", "SECRETFILL_KEY_FILE", "SECRETFILL_TOKEN"] { expected.removeValue(forKey: name) }
        expected["DB_PASSWORD"] = Self.dbValue
        expected["FOO"] = "from-the-block"
        expected["MULTI"] = Self.multiValue
        #expect(Self.parseEnv(outcome.stdout) == expected)
        // The valueFrom entry is left out, with a note that names it.
        #expect(outcome.stderr.contains("env 'FROM_REF' has no 'value'"))
        #expect(!outcome.stderr.contains(Self.dbValue))
    }

    @Test("--pristine keeps only the listed parent variables, plus the block")
    func pristine() throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let extra = ["USER": "someone", "LANG": "C.UTF-8", "TZ": "UTC", "TERM": "dumb", "KEEP": "dropped", "FOO": "parent"]
        let outcome = cli.run(["exec", spec, "--select", "other", "--pristine", "--", "/usr/bin/env", "-0"], environment: extra)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let expected = [
            "PATH": cli.environment["PATH"]!, "HOME": cli.environment["HOME"]!, "USER": "someone", "LANG": "C.UTF-8",
            "TZ": "UTC", "TERM": "dumb", "OTHER": Self.dbValue,
        ]
        #expect(Self.parseEnv(outcome.stdout) == expected)
    }

    @Test("without --redact-output the command replaces secretfill: same PID")
    func samePID() throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let bin = CLI.binary.path
        func pids(_ flags: String) -> (String, String) {
            let outcome = CLI.execute("/bin/bash", ["-c", "'\(bin)' exec '\(spec)' --select api \(flags) -- /bin/sh -c 'echo child:$$' & echo parent:$!; wait"],
                                      environment: cli.environment, currentDirectory: cli.directory)
            let lines = outcome.stdoutText.split(separator: "\n")
            let parent = lines.first { $0.hasPrefix("parent:") }.map { String($0.dropFirst(7)) } ?? "none"
            let child = lines.first { $0.hasPrefix("child:") }.map { String($0.dropFirst(6)) } ?? "missing"
            return (parent, child)
        }
        let (parent, child) = pids("")
        #expect(parent == child)
        #expect(parent != "none")
        let (supervisor, redactedChild) = pids("--redact-output")
        #expect(supervisor != redactedChild, "under --redact-output the command is a child")
        #expect(redactedChild != "missing")
    }

    @Test("exit statuses pass through: 0, 3, 127, 126, 128+15, in both modes", arguments: ["", "--redact-output"])
    func exitStatuses(mode: String) throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let notExecutable = try Self.write(cli, "plain.sh", "#!/bin/sh\necho never\n")
        chmod(notExecutable, 0o644)
        let bin = CLI.binary.path
        func status(_ command: String) -> (Int, String) {
            let outcome = CLI.execute("/bin/bash", ["-c", "'\(bin)' exec '\(spec)' --select api \(mode) -- \(command); echo \"status:$?\""],
                                      environment: cli.environment, currentDirectory: cli.directory)
            let line = outcome.stdoutText.split(separator: "\n").last { $0.hasPrefix("status:") }
            return (line.flatMap { Int($0.dropFirst(7)) } ?? -1, outcome.stderr)
        }
        #expect(status("/bin/true").0 == 0)
        #expect(status("/bin/sh -c 'exit 3'").0 == 3)
        let (missing, missingError) = status("no-such-command-zz9")
        #expect(missing == 127)
        #expect(missingError.contains("'no-such-command-zz9'"), "\(missingError)")
        let (denied, deniedError) = status("'\(notExecutable)'")
        #expect(denied == 126)
        #expect(deniedError.contains(notExecutable), "\(deniedError)")
        // Found on PATH but not executable is 126 as well, naming the command.
        let onPath = CLI.execute("/bin/bash", ["-c", "PATH='\(cli.directory.path)':\"$PATH\" '\(bin)' exec '\(spec)' --select api \(mode) -- plain.sh; echo \"status:$?\""],
                                 environment: cli.environment, currentDirectory: cli.directory)
        #expect(onPath.stdoutText.contains("status:126"), "\(onPath.stdoutText) \(onPath.stderr)")
        #expect(onPath.stderr.contains("'plain.sh'"))
        #expect(status("/bin/sh -c 'kill -TERM $$'").0 == 128 + 15)
    }

    @Test("kill -TERM of a supervising secretfill reaches the child, which traps it and exits 7; no process is left")
    func forwardsSignals() throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let child = try Self.script(cli, "child.sh", """
            echo $$ > '\(cli.path("child.pid"))'
            trap 'echo trapped-term; exit 7' TERM
            trap 'echo trapped-usr1' USR1
            echo ready
            for i in $(seq 200); do sleep 0.05; done
            """)
        let out = cli.path("out.txt")
        let script = """
            '\(CLI.binary.path)' exec '\(spec)' --select api --redact-output -- '\(child)' > '\(out)' 2>&1 &
            pid=$!
            for i in $(seq 200); do grep -q ready '\(out)' 2>/dev/null && break; sleep 0.05; done
            kill -USR1 $pid; sleep 0.3
            kill -TERM $pid
            wait $pid; echo "status:$?"
            sleep 0.1
            if kill -0 "$(cat '\(cli.path("child.pid"))')" 2>/dev/null; then echo child-alive; fi
            """
        let outcome = CLI.execute("/bin/bash", ["-c", script], environment: cli.environment, currentDirectory: cli.directory)
        #expect(outcome.stdoutText.contains("status:7"), "\(outcome.stdoutText) \(outcome.stderr)")
        #expect(!outcome.stdoutText.contains("child-alive"))
        let text = String(decoding: CLI.bytes(out), as: UTF8.self)
        #expect(text.contains("trapped-usr1"))
        #expect(text.contains("trapped-term"))
    }

    @Test("on a terminal, --redact-output hands it to the child: it reads the terminal, and Ctrl-C reaches it once")
    func terminal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else {
            Issue.record("util-linux `script` is not installed at /usr/bin/script: this test needs it to run secretfill on a terminal")
            return
        }
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let reader = try Self.script(cli, "reader.sh", "read line; echo \"got:$line $DB_PASSWORD\"")
        let interrupted = try Self.script(cli, "interrupted.sh", """
            trap 'echo got-int; exit 5' INT
            echo ready
            for i in $(seq 100); do sleep 0.05; done
            echo no-int
            """)
        let bin = CLI.binary.path
        let driver = try Self.write(cli, "driver.sh", """
            (sleep 1; printf 'hello\\n'; sleep 1) | script -qec "'\(bin)' exec '\(spec)' --select api --redact-output -- '\(reader)'; echo status:\\$?" '\(cli.path("typescript1"))'
            (sleep 1; printf '\\003'; sleep 1) | script -qec "'\(bin)' exec '\(spec)' --select api --redact-output -- '\(interrupted)'; echo status:\\$?" '\(cli.path("typescript2"))'
            """)
        let outcome = CLI.execute("/bin/bash", [driver], environment: cli.environment, currentDirectory: cli.directory)
        let text = outcome.stdoutText.replacingOccurrences(of: "\r", with: "")
        #expect(text.contains("got:hello [secret:db]\nstatus:0"), "\(text)")
        #expect(text.contains("got-int\nstatus:5"), "\(text)")
        #expect(text.components(separatedBy: "got-int").count == 2, "Ctrl-C delivered more than once: \(text)")
        #expect(!text.contains("no-int") && !text.contains(Self.dbValue))
    }

    @Test("--redact-output replaces values on both streams: whole, split over two writes, multi-line, and shadowed ones")
    func redactsOutput() throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let child = try Self.script(cli, "child.sh", """
            printf 'whole %s end\\n' "$DB_PASSWORD"
            printf 'err %s end\\n' "$DB_PASSWORD" >&2
            printf 'split hunter2-pa'; sleep 0.3; printf 'ssword-9f3 done\\n'
            printf 'split hunter2-pa' >&2; sleep 0.3; printf 'ssword-9f3 done\\n' >&2
            printf 'multi %s end\\n' "$MULTI"
            printf 'multi %s end\\n' "$MULTI" >&2
            echo project-value-xyz team-value-abc
            """)
        let outcome = cli.run(["exec", spec, "--select", "api", "--project", "p1", "--redact-output", "--", child])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdoutText == """
            whole [secret:db] end
            split [secret:db] done
            multi [secret:multi] end
            [secret:shadowed] [secret:shadowed]

            """)
        // secretfill's own note comes first, then the child's stderr.
        let childErrors = outcome.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.contains("warning: env 'FROM_REF'") }
        #expect(childErrors.joined(separator: "\n") == "err [secret:db] end\nsplit [secret:db] done\nmulti [secret:multi] end\n", "\(outcome.stderr)")
        for word in [Self.dbValue, "first line of it", "second line of it", "project-value-xyz", "team-value-abc"] {
            #expect(!outcome.allOutput.contains(word), "\(word) got through")
        }
    }

    @Test("an unknown reference runs nothing, exit 1, naming it")
    func unknownRunsNothing() throws {
        let cli = try Self.setup()
        let unknown = try Self.write(cli, "unknown.yaml", "env:\n- {name: A, value: secret:db}\n- {name: B, value: secret:nope}\n- {name: C, value: secret:nope_either}\n")
        let malformed = try Self.write(cli, "malformed.yaml", "env:\n- {name: A, value: secret:db}\n- {name: C, value: 'secret:bad name'}\n- {name: D, value: 'secret:'}\n")
        let marker = cli.path("marker")
        for mode in [[], ["--redact-output"]] {
            let outcome = cli.run(["exec", unknown] + mode + ["--", "/usr/bin/touch", marker])
            #expect(outcome.status == 1)
            #expect(outcome.stderr.contains("unknown.yaml:3:20: error: unknown secret 'nope'"), "\(outcome.stderr)")
            #expect(outcome.stderr.contains("unknown.yaml:4:20: error: unknown secret 'nope_either'"), "\(outcome.stderr)")
            let bad = cli.run(["exec", malformed] + mode + ["--", "/usr/bin/touch", marker])
            #expect(bad.status == 1)
            #expect(bad.stderr.split(separator: "\n").count == 2 && bad.stderr.contains("malformed.yaml:3:") && bad.stderr.contains("malformed.yaml:4:"),
                    "\(bad.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
    }

    @Test("values that cannot be environment strings are refused before anything runs, every one listed")
    func unpassableValues() throws {
        let cli = try Self.setup()
        try cli.set(.team, "huge", String(repeating: "x", count: 200 * 1024))
        let spec = try Self.write(cli, "odd.yaml", """
            env:
            - {name: BIG, value: secret:huge}
            - {name: "A=B", value: fine}
            - {name: NUL, value: "a\\0b"}
            - {name: MISSING, value: secret:not_there}

            """)
        let marker = cli.path("marker")
        let outcome = cli.run(["exec", spec, "--", "/usr/bin/touch", marker])
        #expect(outcome.status == 1)
        #expect(!FileManager.default.fileExists(atPath: marker))
        let lines = outcome.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(outcome.stderr)")
        #expect(lines.contains { $0.hasPrefix("\(spec):2:") && $0.contains("'BIG'") && $0.contains("128 KiB") })
        #expect(lines.contains { $0.hasPrefix("\(spec):3:") && $0.contains("'A=B'") && $0.contains("'='") })
        #expect(lines.contains { $0.hasPrefix("\(spec):4:") && $0.contains("'NUL'") && $0.contains("NUL byte") })
        #expect(lines.contains { $0.hasPrefix("\(spec):5:") && $0.contains("unknown secret 'not_there'") })
        #expect(!outcome.stderr.contains("xxxxxxxx"))
        // A value just under the limit is passed.
        try cli.set(.team, "large", String(repeating: "y", count: 120 * 1024))
        let fits = try Self.write(cli, "fits.yaml", "env:\n- {name: LARGE, value: secret:large}\n")
        let ok = cli.run(["exec", fits, "--", "/bin/sh", "-c", "printf %s \"$LARGE\" | wc -c"])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "\(120 * 1024)")
    }

    @Test("a missing command after -- is a usage error; the spec can come from stdin")
    func usage() throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let outcome = cli.run(["exec", spec, "--select", "api"])
        #expect(outcome.status == 64)
        #expect(outcome.stderr.contains("after `--`"))
        let piped = cli.run(["exec", "--select", "other", "--", "/bin/sh", "-c", "echo \"${#OTHER}\""], stdin: Array(Self.spec.utf8))
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(piped.stdoutText == "\(Self.dbValue.count)\n")
    }

    @Test("a store problem (wrong key) runs nothing and exits 2")
    func storeProblem() throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "deploy.yaml", Self.spec)
        let marker = cli.path("marker")
        let otherKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        for mode in [[], ["--redact-output"]] {
            let outcome = cli.run(["exec", spec, "--select", "api"] + mode + ["--", "/usr/bin/touch", marker],
                                  environment: ["SECRETFILL_KEY": otherKey])
            #expect(outcome.status == 2, "\(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
    }
    @Test("the command gets back the core-file limit secretfill was started with (secretfill itself runs with 0)", arguments: [[String](), ["--redact-output"]])
    func coreLimitRestoredForTheCommand(_ mode: [String]) throws {
        let cli = try Self.setup()
        let spec = try Self.write(cli, "spec.yaml", Self.spec)
        // The command prints its own soft core limit, as /proc/self/limits gives it (in bytes).
        let probe = try Self.script(cli, "limit.sh", "grep 'Max core file size' /proc/self/limits | awk '{print $5}'")
        let command = "ulimit -S -c 2048 && exec '\(CLI.binary.path)' exec '\(spec)' --select api \(mode.joined(separator: " ")) -- '\(probe)'"
        let outcome = CLI.execute("/bin/bash", ["-c", command], environment: cli.environment, currentDirectory: cli.directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdoutText == "2097152\n")
    }
}
