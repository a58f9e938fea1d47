import Foundation
import Testing
@testable import SecretFill
#if canImport(Glibc)
import Glibc
#endif

@Suite("Child processes: environment and trusted executables")
struct ChildProcessTests {
    let parent = [
        "PATH": "/usr/bin:/bin", "HOME": "/home/u", "LANG": "C.UTF-8", "TERM": "xterm",
        "SECRETFILL_KEY": "a2V5", "SECRETFILL_KEY_FILE": "/k", "SECRETFILL_STORE": "/s",
    ]

    @Test("minimal keeps only PATH, HOME and LANG; inherited keeps all but SECRETFILL_*")
    func environments() {
        #expect(ChildEnvironment.minimal(from: parent).variables == ["PATH": "/usr/bin:/bin", "HOME": "/home/u", "LANG": "C.UTF-8"])
        #expect(ChildEnvironment.minimal(from: parent, keeping: ["TERM", "SECRETFILL_KEY"]).variables == ["TERM": "xterm"])
        let inherited = ChildEnvironment.inherited(from: parent)
        #expect(inherited.variables.keys.sorted() == ["HOME", "LANG", "PATH", "TERM"])
        #expect(inherited.entries == ["HOME=/home/u", "LANG=C.UTF-8", "PATH=/usr/bin:/bin", "TERM=xterm"])
    }

    @Test("set refuses SECRETFILL_* and malformed names")
    func setting() {
        var environment = ChildEnvironment.minimal(from: parent)
        let accepted = environment.set("GIT_CONFIG_NOSYSTEM", "1")
        let key = environment.set("SECRETFILL_KEY", "a2V5")
        let equals = environment.set("A=B", "x")
        let empty = environment.set("", "x")
        #expect(accepted && !key && !equals && !empty)
        #expect(environment.variables["GIT_CONFIG_NOSYSTEM"] == "1")
        #expect(environment.variables["SECRETFILL_KEY"] == nil)
    }

    @Test("a program in a folder others can write is not trusted; the system folders come before PATH")
    func trustedExecutables() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("secretfill-trust-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let program = folder + "/sf-test-tool"
        try "#!/bin/sh\n".write(toFile: program, atomically: true, encoding: .utf8)
        chmod(program, 0o755)
        chmod(folder, 0o755)
        #expect(TrustedExecutable.isTrusted(program))
        #expect(TrustedExecutable.find("sf-test-tool", path: "relative/bin:" + folder) == program)
        chmod(folder, 0o777)
        #expect(!TrustedExecutable.isTrusted(program))
        #expect(TrustedExecutable.find("sf-test-tool", path: folder) == nil)
        chmod(folder, 0o755)
        chmod(program, 0o775)
        #expect(!TrustedExecutable.isTrusted(program))
        #expect(TrustedExecutable.find("sf-test-tool", path: "relative") == nil)
        #expect(TrustedExecutable.find("../sf-test-tool", path: folder) == nil)
        // A `git` first on PATH loses to the system one.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/git") {
            let git = folder + "/git"
            try "#!/bin/sh\n".write(toFile: git, atomically: true, encoding: .utf8)
            chmod(git, 0o755)
            #expect(TrustedExecutable.find("git", path: folder + ":/usr/bin")?.hasPrefix(folder) == false)
        }
    }

    @Test("ChildProcess.run starts the program by path with exactly the environment given")
    func runsWithGivenEnvironment() throws {
        var environment = ChildEnvironment.minimal(from: parent)
        environment.set("PROBE", "yes")
        #expect(ChildProcess.run("/bin/sh", ["-c", "[ \"$PROBE\" = yes ] && [ -z \"$SECRETFILL_KEY\" ] && [ -z \"$TERM\" ]"], environment: environment) == 0)
        #expect(ChildProcess.run("/bin/sh", ["-c", "exit 3"], environment: environment) == 3)
        #expect(ChildProcess.run("/nonexistent/program", [], environment: environment) == nil)
    }
}
