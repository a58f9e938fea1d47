#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The environment a child process of secretfill gets.
///
/// Never the parent's whole environment: `SECRETFILL_*` (the key among them)
/// is always dropped, so a program the child runs (git's `core.fsmonitor`,
/// an editor's plugin, a pager) cannot capture it. Start from `minimal`
/// (only what a tool needs to run) or `inherited` (everything else, for a
/// command the user asked to run, such as `exec`), then `set` what the
/// child should have on top.
public struct ChildEnvironment: Sendable, Equatable {
    public private(set) var variables: [String: String]

    /// The variables `minimal` keeps from the parent.
    public static let essentials = ["PATH", "HOME", "LANG"]

    /// Whether `name` is one of secretfill's own variables (never passed on).
    public static func isSecretfillVariable(_ name: String) -> Bool {
        name.hasPrefix("SECRETFILL_")
    }

    /// Only `names` (default: PATH, HOME, LANG) from `parent`.
    public static func minimal(from parent: [String: String] = current(), keeping names: [String] = essentials) -> ChildEnvironment {
        var variables: [String: String] = [:]
        for name in names where !isSecretfillVariable(name) {
            if let value = parent[name] { variables[name] = value }
        }
        return ChildEnvironment(variables: variables)
    }

    /// All of `parent` except `SECRETFILL_*`.
    public static func inherited(from parent: [String: String] = current()) -> ChildEnvironment {
        ChildEnvironment(variables: parent.filter { !isSecretfillVariable($0.key) })
    }

    /// Adds or replaces a variable. `SECRETFILL_*` names are refused
    /// (returns false) so no caller can hand the key on by mistake.
    @discardableResult
    public mutating func set(_ name: String, _ value: String) -> Bool {
        guard !ChildEnvironment.isSecretfillVariable(name), !name.isEmpty, !name.contains("=") else { return false }
        variables[name] = value
        return true
    }

    public mutating func remove(_ name: String) { variables.removeValue(forKey: name) }

    /// This process's environment as a dictionary.
    public static func current() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// `NAME=value` strings, sorted, for `execve`/`posix_spawn`.
    public var entries: [String] { variables.keys.sorted().map { $0 + "=" + variables[$0]! } }
}

/// Finds a program by an absolute path that no one but root or this user
/// could have put there.
///
/// The search never trusts `PATH` order on its own: a `git` planted earlier
/// on `PATH` (a relative entry, a project's `bin/`, a folder others can
/// write) must not run in secretfill's place. The standard system folders
/// come first (`/usr/bin`, `/bin`, `/usr/local/bin`, `/opt/homebrew/bin`,
/// `/usr/sbin`, `/sbin`); then absolute `PATH` entries. A candidate counts
/// only when it is an executable regular file (links followed), and it and
/// its folder are owned by root or this user and not writable by group or
/// others.
public enum TrustedExecutable {
    public static let systemFolders = ["/usr/bin", "/bin", "/usr/local/bin", "/opt/homebrew/bin", "/usr/sbin", "/sbin"]

    /// The absolute path of `name`, or nil when no trusted one exists.
    public static func find(_ name: String, path: String? = ChildEnvironment.current()["PATH"]) -> String? {
        guard !name.isEmpty, !name.contains("/") else { return nil }
        let fromPath = (path ?? "").split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
        for folder in systemFolders + fromPath {
            let candidate = (folder.hasSuffix("/") ? folder : folder + "/") + name
            if isTrusted(candidate) { return candidate }
        }
        return nil
    }

    /// Whether `candidate` is an executable regular file that only root or
    /// this user could have written, in a folder only they could write.
    public static func isTrusted(_ candidate: String) -> Bool {
        guard let resolved = realpath(candidate, nil) else { return false }
        let file = String(cString: resolved)
        free(resolved)
        var info = stat()
        guard stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(file, X_OK) == 0,
              isSafeOwner(info) else { return false }
        var folder = stat()
        guard stat(FileIO.split(file).directory, &folder) == 0, isSafeOwner(folder) else { return false }
        return true
    }

    private static func isSafeOwner(_ info: stat) -> Bool {
        (info.st_uid == 0 || info.st_uid == geteuid()) && info.st_mode & 0o022 == 0
    }
}

/// Runs a program found by absolute path, with an explicit environment,
/// stdin from and stderr to `/dev/null`, and waits for it.
public enum ChildProcess {
    /// The child's exit status, or nil when it could not be started or was
    /// killed by a signal. Its stdout goes to `/dev/null`.
    public static func run(_ executable: String, _ arguments: [String], environment: ChildEnvironment) -> Int32? {
        spawn(executable, arguments, environment: environment, captureUpTo: nil)?.status
    }

    /// The child's stdout when it exits 0 having written at most `limit`
    /// bytes; nil otherwise (not started, a signal, another status, too much).
    public static func output(_ executable: String, _ arguments: [String], environment: ChildEnvironment,
                              limit: Int = 64 << 20) -> [UInt8]? {
        guard let result = spawn(executable, arguments, environment: environment, captureUpTo: limit),
              result.status == 0, result.output.count <= limit else { return nil }
        return result.output
    }

    private static func spawn(_ executable: String, _ arguments: [String], environment: ChildEnvironment,
                              captureUpTo limit: Int?) -> (status: Int32?, output: [UInt8])? {
        var pipeEnds: [Int32] = [-1, -1]
        if limit != nil { guard pipe(&pipeEnds) == 0 else { return nil } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if limit != nil {
            posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeEnds[0])
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.entries.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        // posix_spawn, not posix_spawnp: the path is absolute and PATH is not searched.
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        if limit != nil { close(pipeEnds[1]) }
        guard spawned == 0 else {
            if limit != nil { close(pipeEnds[0]) }
            return nil
        }
        var output: [UInt8] = []
        if let limit {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(pipeEnds[0], $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                // Past the limit, keep draining (so the child can finish) but keep nothing more.
                if output.count <= limit { output.append(contentsOf: buffer[0..<min(n, limit + 1 - output.count)]) }
            }
            close(pipeEnds[0])
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { return nil }
        }
        // WIFEXITED / WEXITSTATUS, spelled out: the macros are not imported.
        return (status & 0x7F == 0 ? (status >> 8) & 0xFF : nil, output)
    }
}
