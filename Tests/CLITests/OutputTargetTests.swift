import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `-o` onto things that are not regular files, onto links, onto the input
/// itself, and inside a git work tree (issue 11.1, 11.2). Every device,
/// FIFO and link is a private one in the test's own folder.
@Suite("-o targets: devices, FIFOs, sockets, links, the input itself")
struct OutputTargetTests {
    static let rendered = "env:\n- {name: DB, value: \"s3cret-value\"}\n"

    static func setup() throws -> (CLI, String) {
        let cli = try CLI().initialise(team: ["db": "s3cret-value"])
        let spec = cli.path("spec.yaml")
        try "env:\n- {name: DB, value: secret:db}\n".write(toFile: spec, atomically: true, encoding: .utf8)
        return (cli, spec)
    }

    static func fileType(_ path: String) -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT
    }

    /// Names in `folder` that look like secretfill's temporary files.
    static func temporaries(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.contains(".tmp-") }
    }

    @Test("-o onto a FIFO writes through it: the reader gets the output, the FIFO stays a FIFO")
    func fifo() throws {
        let (cli, spec) = try Self.setup()
        let fifo = cli.path("pipe")
        try #require(mkfifo(fifo, 0o644) == 0)
        nonisolated(unsafe) var received = Data()
        let reader = DispatchGroup()
        DispatchQueue.global().async(group: reader) {
            if let handle = FileHandle(forReadingAtPath: fifo) { received = handle.readDataToEndOfFile() }
        }
        let outcome = cli.run(["render", spec, "-o", fifo])
        if reader.wait(timeout: .now() + 20) != .success {
            Issue.record("the FIFO's reader got no end of file")
            close(open(fifo, O_WRONLY | O_NONBLOCK))
        }
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(String(decoding: received, as: UTF8.self) == Self.rendered)
        #expect(Self.fileType(fifo) == S_IFIFO)
        #expect(CLI.mode(fifo) == 0o644)
        #expect(Self.temporaries(in: cli.directory.path).isEmpty)
    }

    @Test("-o onto a character device (a private one like /dev/null, 1:3) writes in place: no rename, no chmod")
    func characterDevice() throws {
        let (cli, spec) = try Self.setup()
        let device = cli.path("null")
        try #require(mknod(device, S_IFCHR | 0o666, dev_t(1 << 8 | 3) /* makedev(1, 3) */) == 0, "mknod needs root")
        chmod(device, 0o666)
        for arguments in [["render", spec, "-o", device], ["env", spec, "-o", device]] {
            let outcome = cli.run(arguments)
            #expect(outcome.status == 0, "\(arguments[0]): \(outcome.stderr)")
            #expect(Self.fileType(device) == S_IFCHR, "\(arguments[0]) replaced the device")
            #expect(CLI.mode(device) == 0o666)
            #expect(!outcome.stderr.contains("git add"))
        }
        #expect(Self.temporaries(in: cli.directory.path).isEmpty)
    }

    @Test("-o onto a private link to /proc/self/fd/1 writes to the process's stdout (a pipe here); the link stays")
    func linkToStandardOutput() throws {
        let (cli, spec) = try Self.setup()
        let link = cli.path("stdout")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/proc/self/fd/1")
        let outcome = cli.run(["render", spec, "-o", link])
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdoutText == Self.rendered)
        #expect(Self.fileType(link) == S_IFLNK)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "/proc/self/fd/1")
    }

    @Test("-o onto /proc/self/fd/N through a link, where fd N is a socket, writes to that socket")
    func linkToSocketDescriptor() throws {
        let (cli, spec) = try Self.setup()
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[0]) }
        let link = cli.path("socket-out")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/proc/self/fd/1")
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["render", spec, "-o", link]
        process.environment = cli.environment
        process.standardOutput = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        process.standardOutput = nil
        close(fds[1])
        let received = FileHandle(fileDescriptor: fds[0], closeOnDealloc: false).readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(String(decoding: received, as: UTF8.self) == Self.rendered)
    }

    @Test("-o onto a link to /proc/self/fd/1, with stdout appending to a file, writes through the descriptor: appended, same inode, mode kept")
    func linkToRedirectedStandardOutput() throws {
        let (cli, spec) = try Self.setup()
        let log = cli.path("log.txt")
        try "earlier line\n".write(toFile: log, atomically: false, encoding: .utf8)
        chmod(log, 0o640)
        var before = stat()
        try #require(stat(log, &before) == 0)
        let link = cli.path("stdout")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/proc/self/fd/1")
        let appending = open(log, O_WRONLY | O_APPEND)
        try #require(appending >= 0)
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["render", spec, "-o", link]
        process.environment = cli.environment
        process.standardOutput = FileHandle(fileDescriptor: appending, closeOnDealloc: true)
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        process.waitUntilExit()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "\(stderr)")
        var after = stat()
        try #require(stat(log, &after) == 0)
        #expect(after.st_ino == before.st_ino, "the file behind stdout was replaced")
        #expect(CLI.mode(log) == 0o640)
        #expect(String(decoding: CLI.bytes(log), as: UTF8.self) == "earlier line\n" + Self.rendered)
        #expect(Self.temporaries(in: cli.directory.path).isEmpty)
    }

    @Test("-o onto a link to a regular file replaces the target (mode 0600) in its own folder and keeps the link")
    func linkToRegularFile() throws {
        let (cli, spec) = try Self.setup()
        let elsewhere = cli.path("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let target = elsewhere + "/out.yaml"
        try "old content\n".write(toFile: target, atomically: true, encoding: .utf8)
        chmod(target, 0o644)
        let link = cli.path("out.yaml")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "elsewhere/out.yaml")
        for command in ["render", "env"] {
            let outcome = cli.run([command, spec, "-o", link])
            #expect(outcome.status == 0, "\(command): \(outcome.stderr)")
            #expect(Self.fileType(link) == S_IFLNK, "\(command) replaced the link")
            #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "elsewhere/out.yaml")
            #expect(Self.fileType(target) == S_IFREG)
            #expect(CLI.mode(target) == 0o600)
            #expect(String(decoding: CLI.bytes(target), as: UTF8.self).contains("s3cret-value"))
            #expect(Self.temporaries(in: cli.directory.path).isEmpty)
            #expect(Self.temporaries(in: elsewhere).isEmpty)
        }
        // The last write was env's dotenv, not render's YAML.
        #expect(String(decoding: CLI.bytes(target), as: UTF8.self).hasPrefix("DB="))
    }

    @Test("-o onto a link that leads nowhere is refused, naming the link; nothing is created")
    func danglingLink() throws {
        let (cli, spec) = try Self.setup()
        let link = cli.path("out.yaml")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "missing/out.yaml")
        let outcome = cli.run(["render", spec, "-o", link])
        #expect(outcome.status == 2)
        #expect(outcome.stderr.contains("cannot follow the symbolic link \(link)"))
        #expect(Self.fileType(link) == S_IFLNK)
        #expect(!FileManager.default.fileExists(atPath: cli.path("missing")))
        #expect(!outcome.allOutput.contains("s3cret-value"))
    }

    @Test("-o onto the spec being read is refused before any work, by path, through a link and from stdin")
    func ontoTheInput() throws {
        let (cli, spec) = try Self.setup()
        let original = CLI.bytes(spec)
        let link = cli.path("spec-link.yaml")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: spec)
        for arguments in [["render", spec, "-o", spec], ["env", spec, "-o", spec],
                          ["render", link, "-o", spec], ["render", spec, "-o", link]] {
            let outcome = cli.run(arguments)
            #expect(outcome.status == 64, "\(arguments): \(outcome.stderr)")
            #expect(outcome.stderr.contains("is the spec being read"), "\(arguments)")
            #expect(CLI.bytes(spec) == original)
            #expect(Self.fileType(link) == S_IFLNK)
        }
        // `render -o spec.yaml < spec.yaml`: the same file on stdin.
        var env = cli.environment
        env["SF"] = CLI.binary.path
        let shell = CLI.execute("/bin/sh", ["-c", "exec \"$SF\" render -o spec.yaml < spec.yaml"], environment: env, currentDirectory: cli.directory)
        #expect(shell.status == 64, "\(shell.stderr)")
        #expect(shell.stderr.contains("is the spec being read (<stdin>)"))
        #expect(CLI.bytes(spec) == original)
        // A different file is fine, and no store is needed to be refused:
        // the check happens first (the store is never opened here).
        let refusedFirst = cli.run(["render", spec, "-o", spec], environment: ["SECRETFILL_STORE": cli.path("no-store.json")])
        #expect(refusedFirst.status == 64)
        #expect(cli.run(["render", spec, "-o", cli.path("other.yaml")]).status == 0)
    }

    @Test("render -o inside a git work tree warns as env -o does, unless git ignores the file")
    func renderWarnsInGitTree() throws {
        let (cli, spec) = try Self.setup()
        let git = CLI.execute("/usr/bin/git", ["init", "-q", cli.directory.path], environment: ProcessInfo.processInfo.environment)
        try #require(git.status == 0, "git init: \(git.stderr)")
        let exposed = cli.run(["render", spec, "-o", cli.path("rendered.yaml")])
        #expect(exposed.status == 0)
        #expect(exposed.stderr.contains("secretfill: warning: \(cli.path("rendered.yaml")) is inside a git work tree and not ignored: `git add` would commit these secrets; add it to .gitignore"))
        #expect(!exposed.stderr.contains("s3cret-value"))
        try "rendered.yaml\n".write(toFile: cli.path(".gitignore"), atomically: true, encoding: .utf8)
        let ignored = cli.run(["render", spec, "-o", cli.path("rendered.yaml")])
        #expect(ignored.status == 0)
        #expect(ignored.stderr.isEmpty, "\(ignored.stderr)")
    }
}
