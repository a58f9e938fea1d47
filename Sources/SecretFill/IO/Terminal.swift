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
public enum GitExposure {
    /// True when `path` is inside a git work tree and git does not ignore it.
    public static func isCommittable(_ path: String) -> Bool {
        let directory = FileIO.split(path).directory
        guard run(["-C", directory, "rev-parse", "--is-inside-work-tree"]) == 0 else { return false }
        // check-ignore exits 0 when ignored, 1 when not ignored.
        return run(["-C", directory, "check-ignore", "-q", "--", FileIO.split(path).name]) == 1
    }

    /// Runs `git` with `posix_spawnp`, output discarded; its exit status, or -1.
    /// (Foundation's Process leaks an allocation per run under LeakSanitizer.)
    private static func run(_ arguments: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = (["git"] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, "git", &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return -1 }
        }
        // WIFEXITED / WEXITSTATUS, spelled out: the macros are not imported.
        return status & 0x7F == 0 ? (status >> 8) & 0xFF : -1
    }
}
