import Foundation
import Testing

/// Issue 24 items 5 and 8: every verb's error paths give the same hints
/// locally and with `--server` ("it exists in …", "did you mean", an empty
/// scope's note), the server's answer limited to the scopes the key may list.
@Suite("hints, locally and remotely", .serialized)
struct RemoteHintsTests {
    static let secrets: [(CLI.ScopeArg, String, String)] = [
        (.team, "db_password", "CANARY-team-pw"), (.team, "api_key", "CANARY-team-key"),
        (.project("pr-1"), "db_url", "CANARY-pr1-url"), (.project("pr-2"), "tls_key", "CANARY-pr2-tls"),
        (.cluster("gpu-east"), "tls_key", "CANARY-gpu-tls"), (.cluster("c-1"), "only_here", "CANARY-c1"),
    ]

    struct Setup {
        let local: CLI
        let team: ServerTests.Team
        let spec: String
        let good: String
        func remote(_ token: String) -> CLI { team.cli.remote(team.server, token: token) }
    }

    static func setup(_ backend: Backend) throws -> Setup {
        let local = try CLI().initialise()
        let team = try ServerTests.Team(backend)
        let writer = team.cli.remote(team.server, token: team.admin)
        for cli in [local, writer] {
            for (scope, name, value) in secrets { try cli.set(scope, name, value) }
        }
        let spec = local.path("s.yaml")
        try "env:\n- name: A\n  value: secret:db_pasword\n- name: B\n  value: secret:tls_key\n- name: C\n  value: secret:nothing_like\n- name: D\n  value: secret:db_url\n"
            .write(toFile: spec, atomically: true, encoding: .utf8)
        let good = local.path("good.yaml")
        try "env:\n- name: A\n  value: secret:db_password\n- name: D\n  value: secret:db_url\n".write(toFile: good, atomically: true, encoding: .utf8)
        return Setup(local: local, team: team, spec: spec, good: good)
    }

    /// The same verb both ways: stdout, stderr and exit status alike, and no value anywhere.
    static func same(_ local: CLI, _ remote: CLI, _ arguments: [String], _ note: Comment? = nil) -> CLI.Outcome {
        let l = local.run(arguments)
        let r = remote.run(arguments)
        let label = arguments.joined(separator: " ")
        #expect(r.status == l.status, "\(label): \(r.stderr)")
        #expect(r.stdoutText == l.stdoutText, "\(label)")
        #expect(r.stderr == l.stderr, "\(label)")
        for (_, _, value) in secrets { #expect(!r.allOutput.contains(value) && !l.allOutput.contains(value), "\(label)") }
        return l
    }

    @Test("render, env, exec, check, which and list: the same hints with --server as on the local file", arguments: Backend.allCases)
    func sameHints(_ backend: Backend) throws {
        let s = try Self.setup(backend)
        defer { s.team.server.stop() }
        let reader = s.remote(try s.team.key("reader", ["team:read", "project:*:read", "cluster:*:read"]))
        let expected = """
            \(s.spec):3:10: error: unknown secret 'db_pasword' (looked in project pr-1, team; did you mean 'db_password'?)
            \(s.spec):5:10: error: unknown secret 'tls_key' (looked in project pr-1, team; it exists in project pr-2 and cluster gpu-east: choose one with --project ID or --cluster ID)
            \(s.spec):7:10: error: unknown secret 'nothing_like' (looked in project pr-1, team)

            """
        let chain = ["--project", "pr-1"]
        let render = Self.same(s.local, reader, ["render", s.spec] + chain)
        #expect(render.status == 1 && render.stdout.isEmpty)
        #expect(render.stderr == expected)
        #expect(Self.same(s.local, reader, ["env", s.spec] + chain).stderr == expected)
        #expect(Self.same(s.local, reader, ["exec", s.spec] + chain + ["--", "/bin/true"]).stderr == expected)
        _ = Self.same(s.local, reader, ["render", s.spec, "--k8s-secret", "app"] + chain)
        for format in ["text", "json", "github"] {
            let check = Self.same(s.local, reader, ["check", s.spec, "--format", format] + chain)
            #expect(check.status == 1)
            if format == "text" { #expect(check.stdoutText.hasPrefix(expected)) }
        }
        // Another chain: the project given is the wrong one.
        let other = Self.same(s.local, reader, ["render", s.spec, "--project", "pr-2", "--cluster", "c-1"])
        #expect(other.stderr.contains("unknown secret 'db_url' (looked in project pr-2, cluster c-1, team; it exists in project pr-1: use --project pr-1)"))
        for name in ["tls_key", "db_pasword", "nothing_like", "only_here", "db_password"] {
            _ = Self.same(s.local, reader, ["secrets", "which", name] + chain)
        }
        #expect(s.local.run(["secrets", "which", "db_pasword"] + chain).stderr
            == "secretfill: 'db_pasword' does not resolve (looked in project pr-1, team; did you mean 'db_password'?)\n")
        for scope in [["project", "--id", "nope"], ["cluster", "--id", "nope"], ["team"], ["project", "--id", "pr-1"]] {
            _ = Self.same(s.local, reader, ["secrets", "list"] + scope)
        }
        #expect(s.local.run(["secrets", "list", "project", "--id", "nope"]).stderr
            == "secretfill: note: project nope holds no secrets (projects with secrets: pr-1, pr-2)\n")
        // A names key is enough for check, which and list, and gives the same.
        let lister = s.remote(try s.team.key("lister", ["team:names", "project:*:names", "cluster:*:names"]))
        _ = Self.same(s.local, lister, ["check", s.spec] + chain)
        _ = Self.same(s.local, lister, ["secrets", "list", "project", "--id", "nope"])
    }

    @Test("the success path costs one request; the hints' request comes only with a hint", arguments: [Backend.sqlite])
    func oneRequestWhenAllResolve(_ backend: Backend) throws {
        let s = try Self.setup(backend)
        defer { s.team.server.stop() }
        let reader = s.remote(try s.team.key("reader", ["team:read", "project:*:read", "cluster:*:read"]))
        for arguments in [["render", s.good, "--project", "pr-1"], ["env", s.good, "--project", "pr-1"], ["check", s.good, "--project", "pr-1"],
                          ["secrets", "which", "db_url", "--project", "pr-1"], ["secrets", "list", "team"]] {
            #expect(reader.run(arguments).status == 0, "\(arguments)")
        }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(!s.team.server.log.contains("/v1/scopes"), "no hint asked for")
        #expect(reader.run(["render", s.spec, "--project", "pr-1"]).status == 1)
        var asked = false
        for _ in 0..<20 where !asked {
            asked = s.team.server.log.contains("POST /v1/scopes 200")
            if !asked { Thread.sleep(forTimeInterval: 0.1) }
        }
        #expect(asked)
    }

    @Test("a scope the key may not list is never named, and 'no project has any' is never said falsely", arguments: [Backend.sqlite])
    func hiddenScopes(_ backend: Backend) throws {
        let s = try Self.setup(backend)
        defer { s.team.server.stop() }
        let narrow = s.remote(try s.team.key("narrow", ["team:read", "project:pr-1:read"]))
        let render = narrow.run(["render", s.spec, "--project", "pr-1"])
        #expect(render.status == 1)
        #expect(render.stderr.contains("unknown secret 'tls_key' (looked in project pr-1, team)\n"))
        #expect(render.stderr.contains("did you mean 'db_password'?"), "the chain's names are the key's to see")
        #expect(!render.stderr.contains("pr-2") && !render.stderr.contains("gpu-east"))
        let which = narrow.run(["secrets", "which", "only_here", "--project", "pr-1"])
        #expect(which.stderr == "secretfill: 'only_here' does not resolve (looked in project pr-1, team)\n")
        let lonely = s.remote(try s.team.key("lonely", ["project:nope:names"]))
        let list = lonely.run(["secrets", "list", "project", "--id", "nope"])
        #expect(list.status == 0)
        #expect(list.stderr == "secretfill: note: project nope holds no secrets\n")
        // The route itself: only listable scopes, and which kinds are complete.
        let answer = s.team.server.post("/v1/scopes", "{}", token: try s.team.key("pr1", ["project:pr-1:names", "cluster:*:names"]))
        #expect(answer.status == 200)
        #expect(answer.body.contains("\"db_url\"") && answer.body.contains("gpu-east") && !answer.body.contains("pr-2"))
        #expect(!answer.body.contains("db_password"), "team is not the key's to list")
        #expect(answer.body.contains("\"every\":[\"cluster\"]"))
        for (_, _, value) in Self.secrets { #expect(!answer.body.contains(value)) }
    }
}
