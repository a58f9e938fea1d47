import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `secretfill` links no networking and hands every command that talks to a
/// team server to `secretfill-team`, the program beside it.
@Suite("Two programs")
struct TeamProgramTests {
    static let team = CLI.binary.deletingLastPathComponent().appendingPathComponent("secretfill-team")

    /// Whether `needle` occurs in the file's bytes (module names survive in
    /// Swift's metadata and symbols, stripped or not).
    static func contains(_ file: URL, _ needle: String) throws -> Bool {
        let data = try Data(contentsOf: file, options: .alwaysMapped)
        let pattern = Array(needle.utf8)
        return data.withUnsafeBytes { (haystack: UnsafeRawBufferPointer) -> Bool in
            guard let base = haystack.baseAddress, pattern.count <= haystack.count else { return false }
            var offset = 0
            let last = haystack.count - pattern.count
            while offset <= last, let hit = memchr(base + offset, Int32(pattern[0]), last - offset + 1) {
                let at = base.distance(to: UnsafeRawPointer(hit))
                if memcmp(base + at, pattern, pattern.count) == 0 { return true }
                offset = at + 1
            }
            return false
        }
    }

    @Test("secretfill has none of the server's or client's modules in it; secretfill-team has them all")
    func localProgramLinksNoNetworking() throws {
        for module in ["NIOPosix", "NIOSSL", "AsyncHTTPClient", "Hummingbird", "PostgresNIO", "SQLiteNIO", "SecretFillServer", "SecretFillClient"] {
            #expect(try !Self.contains(CLI.binary, module), "secretfill links \(module)")
            #expect(try Self.contains(Self.team, module), "secretfill-team lacks \(module)")
        }
    }

    @Test("without secretfill-team beside it, team commands exit 2 naming the program; local ones still work")
    func missingTeamProgram() throws {
        let cli = try CLI().initialise(team: ["db_password": "hunter2"])
        let folder = cli.path("bin")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let lonely = folder + "/secretfill"
        try FileManager.default.copyItem(atPath: CLI.binary.path, toPath: lonely)
        let spec = Array("env:\n  - name: DB\n    value: secret:db_password\n".utf8)
        let local = CLI.execute(lonely, ["render", "-"], stdin: spec, environment: cli.environment)
        #expect(local.status == 0, "local render: \(local.stderr)")
        #expect(local.stdoutText.contains("hunter2"))
        var remoteEnvironment = cli.environment
        remoteEnvironment["SECRETFILL_SERVER"] = "http://127.0.0.1:9"
        for (arguments, environment) in [(["serve"], cli.environment), (["keys", "list"], cli.environment), (["audit"], cli.environment),
                                         (["secrets", "list", "team", "--server", "http://127.0.0.1:9"], cli.environment),
                                         (["render", "-"], remoteEnvironment)] {
            let outcome = CLI.execute(lonely, arguments, stdin: spec, environment: environment)
            #expect(outcome.status == 2, "\(arguments): \(outcome.stderr)")
            #expect(outcome.stderr.contains("needs the secretfill-team program installed beside secretfill (\(folder)/secretfill-team)"), "\(arguments): \(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
            #expect(!outcome.stderr.contains("hunter2"))
        }
        // An empty SECRETFILL_SERVER means no server, as before.
        var empty = cli.environment
        empty["SECRETFILL_SERVER"] = ""
        let emptyServer = CLI.execute(lonely, ["render", "-"], stdin: spec, environment: empty)
        #expect(emptyServer.status == 0, "render with SECRETFILL_SERVER empty: \(emptyServer.stderr)")
    }

    @Test("a spec on stdin reaches secretfill-team whole: remote render equals local render")
    func stdinSurvivesTheHandoff() throws {
        let team = try ServerTests.Team(.sqlite)
        defer { team.server.stop() }
        let writer = try team.key("writer", ["team:write"])
        let reader = try team.key("reader", ["team:read"])
        let set = team.cli.remote(team.server, token: writer).run(["secrets", "set", "team", "--name", "db_password", "--value-stdin"],
                                                                  stdin: Array("s3cr3t value\n".utf8))
        try #require(set.status == 0, "set: \(set.stderr)")
        let local = try CLI().initialise(team: ["db_password": "s3cr3t value"])
        let text = Array("env:\n  - name: DB\n    value: secret:db_password\n".utf8)
        let remote = team.cli.remote(team.server, token: reader).run(["render", "-"], stdin: text)
        let expected = local.run(["render", "-"], stdin: text)
        #expect(remote.status == 0, "remote render: \(remote.stderr)")
        #expect(remote.stdout == expected.stdout)
        #expect(remote.stdoutText.contains("s3cr3t value"))
        // exec: the command gets the value from the server; with --redact-output it never prints it.
        let script = ["/bin/sh", "-c", "printf '%s' \"$DB\""]
        let exec = team.cli.remote(team.server, token: reader).run(["exec", "-", "--"] + script, stdin: text)
        #expect(exec.status == 0, "remote exec: \(exec.stderr)")
        #expect(exec.stdoutText == "s3cr3t value")
        let redacted = team.cli.remote(team.server, token: reader).run(["exec", "-", "--redact-output", "--"] + script, stdin: text)
        #expect(redacted.status == 0, "remote exec --redact-output: \(redacted.stderr)")
        #expect(!redacted.stdoutText.contains("s3cr3t"))
        #expect(redacted.stdoutText == local.run(["exec", "-", "--redact-output", "--"] + script, stdin: text).stdoutText)
    }
}
