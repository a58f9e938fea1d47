import Foundation
import Testing

/// Shell completion scripts and the custom completions behind them.
@Suite("shell completions through the binary", .serialized)
struct CompletionCLITests {
    @Test("completion scripts generate for bash, zsh and fish; bash -n accepts the bash one", arguments: ["bash", "zsh", "fish"])
    func scripts(shell: String) throws {
        let cli = try CLI()
        let outcome = cli.run(["--generate-completion-script", shell])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let script = outcome.stdoutText
        // Every verb and the custom completions are in the script.
        for word in ["exec", "render", "secrets", "---completion"] {
            #expect(script.contains(word), "\(shell) script lacks \(word)")
        }
        guard shell == "bash" else { return }
        let path = cli.path("secretfill.bash")
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        let syntax = CLI.execute("/bin/bash", ["-n", path], environment: cli.environment)
        #expect(syntax.status == 0, "bash -n: \(syntax.stderr)")
        // Sourcing it registers the completion function.
        let sourced = CLI.execute("/bin/bash", ["-c", "source '\(path)' && complete -p secretfill"], environment: cli.environment)
        #expect(sourced.stdoutText.contains("secretfill"), "\(sourced.stderr)")
    }

    @Test("--name and secrets which NAME complete the store's names, without the key")
    func secretNames() throws {
        let cli = try CLI().initialise(team: ["db_password": "team-value-1", "db_url": "team-value-2", "api_token": "team-value-3"])
        try cli.set(.project("p1"), "project_only", "project-value")
        try cli.set(.cluster("c1"), "cluster_only", "cluster-value")
        func complete(_ words: [String], _ subcommand: [String], _ argument: String) -> CLI.Outcome {
            let index = String(words.count - 1)
            let cursor = String(words.last!.count)
            return cli.run(["---completion"] + subcommand + ["--", argument, index, cursor] + words, removing: ["SECRETFILL_KEY"])
        }
        let which = complete(["secretfill", "secrets", "which", ""], ["secrets", "which"], "positional@0")
        #expect(which.status == 0, "\(which.stderr)")
        #expect(which.stdoutText == "api_token\ndb_password\ndb_url\n")
        let prefixed = complete(["secretfill", "secrets", "which", "--project", "p1", "db"], ["secrets", "which"], "positional@0")
        #expect(prefixed.stdoutText == "db_password\ndb_url\n")
        let project = complete(["secretfill", "secrets", "which", "--project", "p1", ""], ["secrets", "which"], "positional@0")
        #expect(project.stdoutText == "api_token\ndb_password\ndb_url\nproject_only\n")
        let set = complete(["secretfill", "secrets", "set", "cluster", "--id", "c1", "--name", ""], ["secrets", "set"], "--name")
        #expect(set.stdoutText == "api_token\ncluster_only\ndb_password\ndb_url\n")
        // Another store via --store; a missing store offers nothing, quietly.
        let missing = complete(["secretfill", "secrets", "delete", "team", "--store", cli.path("nope.json"), "--name", ""], ["secrets", "delete"], "--name")
        #expect(missing.status == 0)
        #expect(missing.stdoutText.isEmpty && missing.stderr.isEmpty)
        for outcome in [which, prefixed, project, set] { #expect(!outcome.allOutput.contains("value")) }
    }

    @Test("--select completes the candidate block names of the spec on the line")
    func selectNames() throws {
        let cli = try CLI()
        let spec = CLI.fixture("k8s/app.yaml")
        for command in ["env", "exec"] {
            let words = ["secretfill", command, "--project", "p1", spec, "--select", ""]
            let outcome = cli.run(["---completion", command, "--", "--select", String(words.count - 1), "0"] + words)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(outcome.stdoutText == "migrate\napi\nworker\nreport\nshell\n", "\(command): \(outcome.stdoutText)")
        }
        let workflow = ["secretfill", "env", CLI.fixture("gradient-workflow.yaml"), "--select", "t"]
        let jobs = cli.run(["---completion", "env", "--", "--select", String(workflow.count - 1), "1"] + workflow)
        #expect(jobs.stdoutText == "train\n", "\(jobs.stdoutText)")
    }

    @Test("the shipped man page has every verb, the newest options and the exit codes")
    func manPage() throws {
        let page = String(decoding: CLI.bytes(CLI.packageRoot.appendingPathComponent("secretfill.1").path), as: UTF8.self)
        for verb in ["render", "env", "exec", "check", "redact", "init", "secrets", "set", "list", "delete", "which", "import"] {
            #expect(page.contains(".It Em \(verb)\n"), "secretfill.1 lacks \(verb): run bash scripts/man.sh")
        }
        for text in ["k8s-secret", "secret-out", "redact-output", "pristine", "metrics-listen", "log-format", "126  exec", "127  exec", "141  standard output"] {
            #expect(page.contains(text), "secretfill.1 lacks \(text): run bash scripts/man.sh")
        }
    }
}
