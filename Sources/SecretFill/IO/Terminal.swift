#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Small terminal and process helpers the CLI needs.
public enum Terminal {
    public static var stdinIsTerminal: Bool { isatty(0) == 1 }

    /// Prints `prompt` on stderr and reads one line from the terminal with
    /// echo off, so the value is neither shown nor kept in shell history.
    public static func readHidden(prompt: String) throws(IOError) -> [UInt8] {
        writeToStandardError(prompt)
        var original = termios()
        let hasTerminal = tcgetattr(0, &original) == 0
        if hasTerminal {
            var silent = original
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSAFLUSH, &silent)
        }
        defer {
            if hasTerminal { tcsetattr(0, TCSAFLUSH, &original) }
            writeToStandardError("\n")
        }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(0, &byte, 1)
            if n < 0 {
                if errno == EINTR { continue }
                throw IOError("read", path: "the terminal")
            }
            if n == 0 || byte == 0x0A { break }
            bytes.append(byte)
        }
        if bytes.last == 0x0D { bytes.removeLast() }
        return bytes
    }

    /// Writes all of `text` to stderr; errors are dropped, since there is
    /// nowhere left to report them.
    private static func writeToStandardError(_ text: String) {
        var text = text
        text.withUTF8 { try? FileIO.writeAll(fd: 2, UnsafeRawBufferPointer($0), path: "standard error") }
    }

    /// Writes a line to stderr (names and locations only, by convention),
    /// with control characters escaped (`TerminalText`).
    public static func warn(_ line: String) {
        writeToStandardError(TerminalText.escaped(line) + "\n")
    }
}

/// Whether a path would be picked up by `git add`.
///
/// git runs by the absolute path `TrustedExecutable` finds (once per
/// process), with only PATH, HOME and LANG from the environment (never
/// `SECRETFILL_KEY`), `GIT_CONFIG_NOSYSTEM=1`, and every setting through
/// which a repository's config could start a program turned off for the call.
public enum GitExposure {
    /// True when `path` is inside a git work tree and git does not ignore it.
    public static func isCommittable(_ path: String) -> Bool {
        let directory = FileIO.split(path).directory
        guard run(["-C", directory, "rev-parse", "--is-inside-work-tree"]) == 0 else { return false }
        // check-ignore exits 0 when ignored, 1 when not ignored.
        return run(["-C", directory, "check-ignore", "-q", "--", FileIO.split(path).name]) == 1
    }

    /// The warning `render -o` and `env -o` print when `output` would be
    /// committed by `git add`; nil when it would not, or when it is not a
    /// file git could add (stdout, a device, a FIFO).
    public static func warning(forOutput output: String?) -> String? {
        guard let output, output != "-" else { return nil }
        var info = stat()
        if stat(output, &info) == 0 && (info.st_mode & S_IFMT) != S_IFREG { return nil }
        guard isCommittable(output) else { return nil }
        return "\(output) is inside a git work tree and not ignored: `git add` would commit these secrets; add it to .gitignore"
    }

    /// Settings that would make the commands above start a program the
    /// repository chose (fsmonitor hooks, hooks, pagers, editors, askpass).
    static let safetyOptions = [
        "-c", "core.fsmonitor=false",
        "-c", "core.hooksPath=/dev/null",
        "-c", "core.pager=cat",
        "-c", "core.editor=false",
        "-c", "core.askPass=",
        "-c", "core.sshCommand=false",
        "-c", "credential.helper=",
        "-c", "protocol.allow=never",
    ]

    private static func run(_ arguments: [String]) -> Int32 {
        Git.status(arguments) ?? -1
    }
}

/// git, run so that nothing a repository or the environment configures can
/// start a program or see secretfill's key: by the absolute path
/// `TrustedExecutable` finds (once per process), with only PATH, HOME and
/// LANG from the environment, `GIT_CONFIG_NOSYSTEM=1`, no prompts, no
/// optional locks, and `GitExposure.safetyOptions` on every call.
public enum Git {
    private static let executable: String? = TrustedExecutable.find("git")

    private static var environment: ChildEnvironment {
        var environment = ChildEnvironment.minimal()
        environment.set("GIT_CONFIG_NOSYSTEM", "1")
        environment.set("GIT_TERMINAL_PROMPT", "0")
        environment.set("GIT_OPTIONAL_LOCKS", "0")
        return environment
    }

    /// git's exit status; nil when there is no trusted git or it did not exit.
    public static func status(_ arguments: [String]) -> Int32? {
        guard let executable else { return nil }
        return ChildProcess.run(executable, ["--no-pager"] + GitExposure.safetyOptions + arguments, environment: environment)
    }

    /// git's stdout when it exits 0 (at most 64 MiB); nil otherwise.
    public static func output(_ arguments: [String]) -> [UInt8]? {
        guard let executable else { return nil }
        return ChildProcess.output(executable, ["--no-pager"] + GitExposure.safetyOptions + arguments, environment: environment)
    }
}
