import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 12: the key kept from child processes and crash output, the store
/// file's lock and links, temporary files of killed writers, key file rules.
@Suite("Hardening: child processes, crashes, locks, links, temporary files, key files")
struct HardeningTests {
    static func write(_ text: String, to path: String, mode: mode_t = 0o644) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
    }

    static func spec(_ cli: CLI) throws -> String {
        let spec = cli.path("spec.yaml")
        try write("env:\n- {name: DB, value: secret:db}\n", to: spec)
        return spec
    }

    // MARK: 12.1 git gets no key and runs no repository program

    @Test("the git-ignore check runs no fsmonitor and no git planted on PATH, passes no SECRETFILL_*, and still warns")
    func gitChildProcess() throws {
        let cli = try CLI().initialise(team: ["db": "s3cret-value"])
        let repo = cli.path("repo")
        let git = CLI.execute("/usr/bin/git", ["init", "-q", repo], environment: ProcessInfo.processInfo.environment)
        try #require(git.status == 0, "git init: \(git.stderr)")
        let captured = cli.path("fsmonitor.env")
        let monitor = cli.path("fsmonitor.sh")
        try Self.write("#!/bin/sh\nenv > '\(captured)'\n", to: monitor, mode: 0o755)
        let configured = CLI.execute("/usr/bin/git", ["-C", repo, "config", "core.fsmonitor", monitor], environment: ProcessInfo.processInfo.environment)
        try #require(configured.status == 0)
        // A `git` earlier on PATH that would record its environment.
        let planted = cli.path("bin")
        try FileManager.default.createDirectory(atPath: planted, withIntermediateDirectories: true)
        let plantedCapture = cli.path("planted.env")
        try Self.write("#!/bin/sh\nenv > '\(plantedCapture)'\nexec /usr/bin/git \"$@\"\n", to: planted + "/git", mode: 0o755)
        // Sanity: git on its own does run the fsmonitor for check-ignore, so the test can fail.
        _ = CLI.execute("/usr/bin/git", ["-C", repo, "check-ignore", "-q", "--", "x"], environment: ProcessInfo.processInfo.environment)
        try #require(FileManager.default.fileExists(atPath: captured), "git did not run core.fsmonitor; the test would prove nothing")
        try FileManager.default.removeItem(atPath: captured)

        let spec = try Self.spec(cli)
        let path = planted + ":" + (cli.environment["PATH"] ?? "/usr/bin:/bin")
        for command in ["render", "env"] {
            let output = repo + "/out-\(command)"
            let outcome = cli.run([command, spec, "-o", output], environment: ["PATH": path])
            #expect(outcome.status == 0, "\(command): \(outcome.stderr)")
            #expect(outcome.stderr.contains("\(output) is inside a git work tree and not ignored: `git add` would commit these secrets"),
                    "\(command): the warning is gone: \(outcome.stderr)")
            for file in [captured, plantedCapture] {
                let text = String(decoding: CLI.bytes(file), as: UTF8.self)
                #expect(!FileManager.default.fileExists(atPath: file), "\(command): \(file) was written")
                #expect(!text.contains("SECRETFILL_"))
                #expect(!text.contains(cli.key))
            }
        }
    }

    // MARK: 12.2 crash output and core dumps

    /// Starts `redact` with a raised soft core limit, waits until it has
    /// decrypted the values (it redacted a first line), then sends SIGSEGV.
    func crashRedact(_ cli: CLI, value: String, extra: [String: String]) throws -> (limits: String, status: Int32, stderr: String) {
        var env = cli.environment.merging(extra) { $1 }
        env["SF"] = CLI.binary.path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell raises the soft limit (the hard one allows it), then becomes secretfill.
        process.arguments = ["-c", "ulimit -S -c unlimited || exit 99; [ \"$(ulimit -S -c)\" = unlimited ] || exit 98; exec \"$SF\" redact"]
        process.environment = env
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        nonisolated(unsafe) var errorBytes = Data()
        let errorReader = DispatchGroup()
        DispatchQueue.global().async(group: errorReader) { errorBytes = errors.fileHandleForReading.readDataToEndOfFile() }
        input.fileHandleForWriting.write(Data("log line with \(value) in it\n".utf8))
        var seen = Data()
        let deadline = Date().addingTimeInterval(20)
        while !String(decoding: seen, as: UTF8.self).contains("[secret:db]") && Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
        }
        try #require(String(decoding: seen, as: UTF8.self).contains("[secret:db]"), "redact did not start")
        let limits = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)) ?? ""
        kill(process.processIdentifier, SIGSEGV)
        // Unhardened, the Swift runtime's crash reporter can keep the process
        // alive for a long time: bound the wait rather than hang the suite.
        let exitDeadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < exitDeadline { usleep(20_000) }
        if process.isRunning {
            Issue.record("redact was still running 30 s after SIGSEGV")
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        try? input.fileHandleForWriting.close()
        if errorReader.wait(timeout: .now() + 10) != .success { Issue.record("stderr stayed open after redact ended") }
        let stderr = String(decoding: errorBytes, as: UTF8.self)
        return (limits, process.terminationStatus, stderr)
    }

    @Test("SIGSEGV during redact prints one fixed line, no key byte or value, and the core limit is 0",
          arguments: [[String: String](), ["SWIFT_BACKTRACE": "enable=yes"], ["SWIFT_BACKTRACE": "enable=yes,interactive=no,sanitize=no,preset=full"]])
    func crashPrintsNoMemory(_ extra: [String: String]) throws {
        let value = "value-\(UUID().uuidString)-tail"
        let cli = try CLI().initialise(team: ["db": value])
        let (limits, status, stderr) = try crashRedact(cli, value: value, extra: extra)
        let coreLine = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }.map(String.init) ?? ""
        let fields = coreLine.dropFirst("Max core file size".count).split(separator: " ")
        #expect(fields.first == "0", "soft core limit: \(coreLine)")
        #expect(fields.dropFirst().first == "unlimited", "the hard limit is left as it was: \(coreLine)")
        #expect(status == 128 + SIGSEGV, "\(stderr)")
        #expect(stderr == "secretfill: fatal signal 11; no memory contents are printed\n")
        let key = Array(Data(base64Encoded: cli.key)!)
        let lower = stderr.lowercased().replacingOccurrences(of: " ", with: "")
        // Any 4 bytes of the key in hex, in memory order or as a little-endian register.
        for start in 0...(key.count - 4) {
            let window = Array(key[start..<start + 4])
            for bytes in [window, window.reversed()] {
                let hex = bytes.map { String(format: "%02x", $0) }.joined()
                #expect(!lower.contains(hex), "key bytes \(start)… in hex")
            }
        }
        #expect(!stderr.contains(cli.key))
        #expect(!stderr.contains(String(cli.key.prefix(12))))
        #expect(!stderr.contains(value))
        #expect(!stderr.contains("value-"))
    }

    @Test("secretfill is not dumpable: run as another user, its /proc files belong to root (PR_SET_DUMPABLE 0)",
          .enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root and setpriv"))
    func notDumpable() throws {
        func procOwner(_ program: [String]) throws -> uid_t {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups"] + program
            process.environment = ["PATH": "/usr/bin:/bin", "HOME": "/"]
            let input = Pipe()
            process.standardInput = input
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer {
                try? input.fileHandleForWriting.close()
                process.terminate()
                process.waitUntilExit()
            }
            // Wait until setpriv has become the program (its uid is the new one).
            var info = stat()
            let deadline = Date().addingTimeInterval(10)
            while Date() < deadline {
                let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
                if status.contains("Uid:\t65534") && !status.contains("Name:\tsetpriv") { break }
                usleep(10_000)
            }
            usleep(100_000)
            try #require(stat("/proc/\(process.processIdentifier)/environ", &info) == 0)
            return info.st_uid
        }
        // `render` blocks reading the spec from stdin, after start-up hardening.
        #expect(try procOwner([CLI.binary.path, "render"]) == 0)
        // The control: an ordinary program run the same way is dumpable.
        #expect(try procOwner(["/bin/cat"]) == 65534)
    }

    // MARK: 12.4 a symlinked store

    @Test("a store path that is a link: set and delete write the target in its own folder and lock it there; the link stays")
    func symlinkedStore() throws {
        var cli = try CLI()
        let realFolder = cli.path("dotfiles")
        try FileManager.default.createDirectory(atPath: realFolder, withIntermediateDirectories: true)
        let real = realFolder + "/store.json"
        let link = cli.storePath
        let created = cli.run(["init"], environment: ["SECRETFILL_STORE": real])
        try #require(created.status == 0, "\(created.stderr)")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "dotfiles/store.json")
        cli.environment["SECRETFILL_STORE"] = link
        try cli.set(.team, "db", "s3cret-value")
        try cli.set(.project("p1"), "api", "another-value")
        #expect(OutputTargetTests.fileType(link) == S_IFLNK)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "dotfiles/store.json")
        #expect(cli.run(["secrets", "list", "team"], environment: ["SECRETFILL_STORE": real]).stdoutText == "db\n")
        #expect(FileManager.default.fileExists(atPath: real + ".lock"))
        #expect(!FileManager.default.fileExists(atPath: link + ".lock"))
        #expect(CLI.mode(real) == 0o600)
        #expect(OutputTargetTests.temporaries(in: realFolder).isEmpty)
        #expect(cli.run(["secrets", "delete", "project", "--id", "p1", "--name", "api"]).status == 0)
        #expect(OutputTargetTests.fileType(link) == S_IFLNK)
        #expect(cli.run(["secrets", "list", "project", "--id", "p1"], environment: ["SECRETFILL_STORE": real]).stdoutText == "")
        let spec = try Self.spec(cli)
        #expect(cli.run(["render", spec]).stdoutText.contains("s3cret-value"))
    }

    // MARK: 12.5 the lock file

    /// Holds `flock` on `path` in this process until `release()`.
    final class HeldLock: @unchecked Sendable {
        let fd: Int32
        init(_ path: String) throws {
            fd = open(path, O_RDWR | O_CREAT, 0o600)
            try #require(fd >= 0)
            try #require(flock(fd, LOCK_EX) == 0)
        }
        func release() { flock(fd, LOCK_UN); close(fd) }
    }

    @Test("a lock held past --lock-timeout fails with exit 2 naming the lock file; nothing is written")
    func lockTimeout() throws {
        let cli = try CLI().initialise(team: ["db": "old-value"])
        let lockPath = cli.storePath + ".lock"
        let held = try HeldLock(lockPath)
        defer { held.release() }
        let before = CLI.bytes(cli.storePath)
        let started = Date()
        let outcome = cli.run(["secrets", "set", "team", "--name", "db", "--value-stdin", "--lock-timeout", "0.5"], stdin: Array("new-value".utf8))
        let waited = Date().timeIntervalSince(started)
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "secretfill: error: cannot lock \(lockPath): another process has held it for 0.5 s; try again when it is done, or wait longer with --lock-timeout SECONDS\n")
        #expect(waited >= 0.5 && waited < 10, "waited \(waited) s")
        #expect(CLI.bytes(cli.storePath) == before)
        for arguments in [["secrets", "delete", "team", "--name", "db", "--lock-timeout", "0"],
                          ["secrets", "import", "team", cli.path("none.env"), "--lock-timeout", "0"]] {
            if arguments[1] == "import" { try Self.write("X=abcdefgh\n", to: cli.path("none.env")) }
            let refused = cli.run(arguments)
            #expect(refused.status == 2, "\(arguments[1]): \(refused.stderr)")
            #expect(refused.stderr.contains("cannot lock \(lockPath)"), "\(arguments[1])")
        }
        #expect(cli.run(["secrets", "set", "team", "--name", "db", "--value-stdin", "--lock-timeout", "-1"], stdin: Array("x".utf8)).status == 64)
    }

    @Test("a lock released during the wait is simply waited for")
    func lockReleasedDuringWait() throws {
        let cli = try CLI().initialise(team: ["db": "old-value"])
        let held = try HeldLock(cli.storePath + ".lock")
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { held.release() }
        let started = Date()
        let outcome = cli.run(["secrets", "set", "team", "--name", "db", "--value-stdin"], stdin: Array("new-value".utf8))
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(Date().timeIntervalSince(started) >= 0.9)
        let spec = try Self.spec(cli)
        #expect(cli.run(["render", spec]).stdoutText.contains("new-value"))
    }

    @Test("a lock path that is a symbolic link is refused, and its target is never created")
    func lockSymlinkRefused() throws {
        let cli = try CLI().initialise(team: ["db": "old-value"])
        let lockPath = cli.storePath + ".lock"
        try? FileManager.default.removeItem(atPath: lockPath)
        let planted = cli.path("planted-target")
        try FileManager.default.createSymbolicLink(atPath: lockPath, withDestinationPath: planted)
        let outcome = cli.run(["secrets", "set", "team", "--name", "db", "--value-stdin"], stdin: Array("new-value".utf8))
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("cannot open lock file \(lockPath): it is a symbolic link"))
        #expect(!FileManager.default.fileExists(atPath: planted))
    }

    @Test("a lock file owned by another user is refused", .enabled(if: geteuid() == 0, "needs root to chown"))
    func lockOwnedByAnotherUser() throws {
        let cli = try CLI().initialise(team: ["db": "old-value"])
        let lockPath = cli.storePath + ".lock"
        try Self.write("", to: lockPath, mode: 0o600)
        try #require(chown(lockPath, 4242, 4242) == 0)
        let outcome = cli.run(["secrets", "set", "team", "--name", "db", "--value-stdin"], stdin: Array("new-value".utf8))
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("cannot open lock file \(lockPath): it is owned by uid 4242"))
    }

    // MARK: 12.6 temporary files

    /// Starts the binary as a shell would: default signal actions and an
    /// empty signal mask (the test's dispatch threads block SIGINT, SIGTERM
    /// and SIGHUP, and a child started from them would inherit that).
    static func spawnAsFromShell(_ arguments: [String], environment: [String: String], log: String) -> pid_t? {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([CLI.binary.path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0.key + "=" + $0.value) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, CLI.binary.path, &actions, &attributes, argv, envp) == 0 else { return nil }
        return pid
    }

    @Test("SIGTERM, SIGINT or SIGHUP while render -o writes removes its temporary file; the target is not created",
          arguments: [SIGTERM, SIGINT, SIGHUP])
    func signalRemovesTemporaryFile(_ signal: Int32) throws {
        let value = String(repeating: "v", count: 1 << 20)
        let cli = try CLI().initialise(team: ["big": value])
        let spec = cli.path("big.yaml")
        try Self.write("env:\n" + (0..<60).map { "- {name: V\($0), value: secret:big}\n" }.joined(), to: spec)
        let folder = cli.path("out")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let target = folder + "/rendered.yaml"
        var caught = false
        for _ in 0..<10 where !caught {
            let pid = try #require(Self.spawnAsFromShell(["render", spec, "-o", target], environment: cli.environment, log: cli.path("render.log")))
            // Stop it the moment its temporary file appears, then signal it.
            var status: Int32 = 0
            var exited = false
            while OutputTargetTests.temporaries(in: folder).isEmpty {
                if waitpid(pid, &status, WNOHANG) == pid { exited = true; break }
            }
            if !exited {
                kill(pid, SIGSTOP)
                if FileManager.default.fileExists(atPath: target) || OutputTargetTests.temporaries(in: folder).isEmpty {
                    kill(pid, SIGCONT)
                    waitpid(pid, &status, 0)
                } else {
                    kill(pid, signal)
                    kill(pid, SIGCONT)
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                    #expect(status & 0x7F == signal, "ended with status \(status), not by signal \(signal)")
                    #expect(OutputTargetTests.temporaries(in: folder).isEmpty, "left \(OutputTargetTests.temporaries(in: folder))")
                    #expect(!FileManager.default.fileExists(atPath: target))
                    caught = true
                }
            }
            try? FileManager.default.removeItem(atPath: target)
        }
        #expect(caught, "never caught render -o mid-write")
    }

    /// A PID that no longer runs: a finished child's.
    static func deadPID() -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try? process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    @Test("a stale temporary file of the same target whose writer is gone is removed on the next write; a live writer's is kept")
    func staleTemporaryFiles() throws {
        let cli = try CLI().initialise(team: ["db": "s3cret-value"])
        let spec = try Self.spec(cli)
        let dead = Self.deadPID()
        try #require(kill(dead, 0) != 0)
        for (command, name) in [("render", "out.yaml"), ("env", ".env")] {
            let stale = cli.path(".\(name).tmp-\(dead)-abc123")
            let live = cli.path(".\(name).tmp-\(getpid())-def456")
            let other = cli.path(".other.tmp-\(dead)-abc123")
            for file in [stale, live, other] { try Self.write("leftover s3cret-value\n", to: file, mode: 0o600) }
            let outcome = cli.run([command, spec, "-o", cli.path(name)])
            #expect(outcome.status == 0, "\(outcome.stderr)")
            #expect(!FileManager.default.fileExists(atPath: stale), "\(command): stale file kept")
            #expect(FileManager.default.fileExists(atPath: live), "\(command): a running writer's file was removed")
            #expect(FileManager.default.fileExists(atPath: other), "\(command): another target's file was removed")
            for file in [live, other] { try FileManager.default.removeItem(atPath: file) }
        }
        // The store: under its lock no writer can be mid-write, so every leftover goes.
        let storeStale = cli.path(".store.json.tmp-\(dead)-abc123")
        try Self.write("leftover\n", to: storeStale, mode: 0o600)
        try cli.set(.team, "other", "another-value")
        #expect(!FileManager.default.fileExists(atPath: storeStale))
    }

    // MARK: 12.11 key files and keys

    /// A CLI whose key is a file in `folder` (SECRETFILL_KEY unset).
    static func keyFileCLI() throws -> (CLI, String) {
        var cli = try CLI()
        cli.environment.removeValue(forKey: "SECRETFILL_KEY")
        let folder = cli.path("keys")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        chmod(folder, 0o700)
        let key = folder + "/key"
        cli.environment["SECRETFILL_KEY_FILE"] = key
        let created = cli.run(["init"])
        try #require(created.status == 0, "\(created.stderr)")
        try cli.set(.team, "db", "s3cret-value")
        return (cli, key)
    }

    @Test("a key file whose own folder group or others can write is refused; a 0700 folder under /tmp is fine")
    func keyFolderWritable() throws {
        let (cli, key) = try Self.keyFileCLI()
        let spec = try Self.spec(cli)
        let folder = Self.folder(of: key)
        #expect(cli.run(["render", spec]).status == 0)
        for mode: mode_t in [0o770, 0o707, 0o1777] {
            chmod(folder, mode)
            let outcome = cli.run(["render", spec])
            #expect(outcome.status == 2, "mode \(String(mode, radix: 8))")
            #expect(outcome.stderr.contains("its folder \(folder) can be written by group or others"), "\(outcome.stderr)")
            #expect(outcome.stdout.isEmpty)
        }
        chmod(folder, 0o755)
        #expect(cli.run(["render", spec]).status == 0)
    }

    @Test("a key file owned by another user is refused", .enabled(if: geteuid() == 0, "needs root to chown"))
    func keyOwnedByAnotherUser() throws {
        let (cli, key) = try Self.keyFileCLI()
        try #require(chown(key, 4242, 4242) == 0)
        let outcome = cli.run(["render", try Self.spec(cli)])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("the key from \(key) is unusable: it is owned by uid 4242"))
    }

    @Test("a key with extra '=' padding is refused with a message that says so")
    func keyPadding() throws {
        let cli = try CLI().initialise(team: ["db": "s3cret-value"])
        let spec = try Self.spec(cli)
        try #require(cli.key.hasSuffix("=") && !cli.key.hasSuffix("=="))
        let body = String(cli.key.dropLast())
        for bad in [cli.key + "=", cli.key + "==", body + "==", body] {
            let outcome = cli.run(["render", spec], environment: ["SECRETFILL_KEY": bad])
            #expect(outcome.status == 2, "\(bad.suffix(3))")
            #expect(outcome.stderr.contains("the key from SECRETFILL_KEY is unusable: its '=' padding is wrong"), "\(outcome.stderr)")
            #expect(!outcome.stderr.contains(body))
        }
        #expect(cli.run(["render", spec], environment: ["SECRETFILL_KEY": " \(cli.key)\n"]).status == 0)
    }

    static func folder(of path: String) -> String { (path as NSString).deletingLastPathComponent }
}
